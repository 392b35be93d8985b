-- Argo CD health check for ecs-operator.dev/ECSTask (Lua 5.1; Argo CD passes `obj`).
-- A run is Healthy once Complete, Degraded once Failed (or Stalled), Progressing while its
-- tasks run.
local hs = {}

local function condition(status, type)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local function message_of(c, default)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return default
end

local status = obj.status
if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "being deleted: waiting for the operator to clean up in AWS"
  return hs
end

local generation = obj.metadata and obj.metadata.generation
if status == nil or status.observedGeneration == nil
    or (generation ~= nil and status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to observe the latest spec"
  return hs
end

local complete = condition(status, "Complete")
if complete ~= nil and complete.status == "True" then
  hs.status = "Healthy"
  hs.message = "complete: " .. message_of(complete, "every task succeeded")
  return hs
end

local failed = condition(status, "Failed")
if failed ~= nil and failed.status == "True" then
  hs.status = "Degraded"
  local reason = failed.reason
  if reason == nil or reason == "" then
    reason = "Failed"
  end
  hs.message = reason .. ": " .. message_of(failed, "the run failed")
  return hs
end

local stalled = condition(status, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = message_of(stalled, "stalled")
  return hs
end

local ready = condition(status, "Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = message_of(ready, "ready")
  return hs
end

local reconciling = condition(status, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = message_of(reconciling, message_of(ready, "reconciling"))
  return hs
end

hs.status = "Progressing"
hs.message = message_of(ready, "waiting for the Ready condition")
return hs
