-- Runs the Argo CD health checks (charts/ecs-operator/files/argocd/health-<Kind>.lua) against
-- sample objects and checks the status and message each returns. Lua 5.1, as Argo CD's
-- gopher-lua. Usage: lua5.1 hack/argocd/test-health.lua <directory of the health scripts>
local dir = arg[1] or "charts/ecs-operator/files/argocd"

local function run(kind, object)
  local chunk = assert(loadfile(dir .. "/health-" .. kind .. ".lua"))
  -- Argo CD gives the script the object as the global `obj`.
  setfenv(chunk, setmetatable({ obj = object }, { __index = _G }))
  return chunk()
end

local function cond(type, status, message, reason)
  return { type = type, status = status, reason = reason or "Test", message = message,
           lastTransitionTime = "2026-01-01T00:00:00Z" }
end

local function object(generation, status, extra)
  local o = { apiVersion = "ecs-operator.dev/v1alpha1", kind = "X",
              metadata = { name = "web", namespace = "default", generation = generation },
              spec = {}, status = status }
  for k, v in pairs(extra or {}) do o.metadata[k] = v end
  return o
end

local waiting = "waiting for the operator to observe the latest spec"

-- Cases every kind shares: { name, object, expected status, expected message }.
local common = {
  { "being deleted", object(3, { observedGeneration = 3, conditions = { cond("Ready", "True", "synced") } },
      { deletionTimestamp = "2026-01-01T00:00:00Z", finalizers = { "ecs-operator.dev/finalizer" } }),
    "Progressing", "being deleted: waiting for the operator to clean up in AWS" },
  { "no status yet", object(1, nil), "Progressing", waiting },
  { "status without observedGeneration", object(1, { conditions = {} }), "Progressing", waiting },
  { "spec newer than status", object(2, { observedGeneration = 1, conditions = { cond("Ready", "True", "synced") } }),
    "Progressing", waiting },
  { "stalled", object(2, { observedGeneration = 2, conditions = {
      cond("Ready", "False", "spec rejected", "InvalidSpec"),
      cond("Stalled", "True", "ClientException: Invalid cpu value", "InvalidSpec"),
      cond("Reconciling", "False", "") } }),
    "Degraded", "ClientException: Invalid cpu value" },
  { "already exists", object(1, { observedGeneration = 1, conditions = {
      cond("Stalled", "True", "family web belongs to default/other", "AlreadyExists"),
      cond("Ready", "False", "family web belongs to default/other", "AlreadyExists") } }),
    "Degraded", "family web belongs to default/other" },
  { "stalled without message", object(1, { observedGeneration = 1, conditions = { cond("Stalled", "True", nil) } }),
    "Degraded", "stalled" },
  { "ready", object(4, { observedGeneration = 4, conditions = {
      cond("Ready", "True", "revision 7 is registered"), cond("Reconciling", "False", ""),
      cond("Stalled", "False", "") } }),
    "Healthy", "revision 7 is registered" },
  { "ready without message", object(4, { observedGeneration = 4, conditions = { cond("Ready", "True", nil) } }),
    "Healthy", "ready" },
  { "reconciling", object(1, { observedGeneration = 1, conditions = {
      cond("Ready", "False", "not registered yet"),
      cond("Reconciling", "True", "retrying after ThrottlingException") } }),
    "Progressing", "retrying after ThrottlingException" },
  { "reconciling without message uses Ready's", object(1, { observedGeneration = 1, conditions = {
      cond("Ready", "False", "not registered yet"), cond("Reconciling", "True", "") } }),
    "Progressing", "not registered yet" },
  { "not ready", object(1, { observedGeneration = 1, conditions = { cond("Ready", "False", "waiting for a reference") } }),
    "Progressing", "waiting for a reference" },
  { "ready unknown", object(1, { observedGeneration = 1, conditions = { cond("Ready", "Unknown", "AWS unreachable") } }),
    "Progressing", "AWS unreachable" },
  { "no conditions", object(1, { observedGeneration = 1 }), "Progressing", "waiting for the Ready condition" },
}

local function service_status(generation, rollout, conditions, deployments)
  return { observedGeneration = generation, rolloutState = rollout, conditions = conditions,
           deployments = deployments or {} }
end

local service_only = {
  { "rollout failed with ECS's reason", object(2, service_status(2, "FAILED",
      { cond("Ready", "False", "rollout failed"), cond("Progressing", "False", "circuit breaker tripped") },
      { { id = "ecs-svc/1", status = "PRIMARY", rolloutState = "FAILED",
          rolloutStateReason = "ECS deployment circuit breaker: tasks failed to start." },
        { id = "ecs-svc/0", status = "ACTIVE", rolloutState = "COMPLETED" } })),
    "Degraded", "ECS rollout failed: ECS deployment circuit breaker: tasks failed to start." },
  { "rollout failed, reason from Progressing", object(2, service_status(2, "FAILED",
      { cond("Ready", "False", ""), cond("Progressing", "False", "circuit breaker tripped") })),
    "Degraded", "circuit breaker tripped" },
  { "rollout failed even if Ready says True", object(2, service_status(2, "FAILED",
      { cond("Ready", "True", "service is ACTIVE") })),
    "Degraded", "ECS rollout failed" },
  { "failed rollout, newer spec not yet observed", object(3, service_status(2, "FAILED",
      { cond("Ready", "False", "rollout failed") })),
    "Progressing", waiting },
  { "stalled wins over a failed rollout", object(2, service_status(2, "FAILED",
      { cond("Stalled", "True", "cluster prod not found") })),
    "Degraded", "cluster prod not found" },
  { "rollout in progress", object(2, service_status(2, "IN_PROGRESS",
      { cond("Ready", "False", "2 of 3 tasks running"), cond("Reconciling", "True", "rolling out revision 8") })),
    "Progressing", "rolling out revision 8" },
  { "rollout completed", object(2, service_status(2, "COMPLETED",
      { cond("Ready", "True", "3 of 3 tasks running") })),
    "Healthy", "3 of 3 tasks running" },
}

local passed, failed = 0, 0
local function check(kind, case)
  local name, obj, want_status, want_message = case[1], case[2], case[3], case[4]
  obj.kind = kind
  local ok, hs = pcall(run, kind, obj)
  if not ok then
    failed = failed + 1
    print(string.format("FAIL %s / %s: script error: %s", kind, name, tostring(hs)))
  elseif type(hs) ~= "table" or hs.status ~= want_status or hs.message ~= want_message then
    failed = failed + 1
    print(string.format("FAIL %s / %s: got %s %q, want %s %q", kind, name,
      tostring(hs and hs.status), tostring(hs and hs.message), want_status, want_message))
  else
    passed = passed + 1
    print(string.format("ok   %s / %s -> %s", kind, name, hs.status))
  end
end

for _, kind in ipairs({ "TaskDefinition", "ECSService", "ECSCluster", "CapacityProvider", "CloudMapNamespace" }) do
  for _, case in ipairs(common) do check(kind, case) end
end
for _, case in ipairs(service_only) do check("ECSService", case) end

print(string.format("%d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1)
