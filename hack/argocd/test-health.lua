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

local function task_status(conditions, counts)
  local s = { observedGeneration = 1, conditions = conditions, active = 0, succeeded = 0, failed = 0 }
  for k, v in pairs(counts or {}) do s[k] = v end
  return s
end

local task_only = {
  { "run complete", object(1, task_status({
      cond("Complete", "True", "0 active, 3 succeeded, 0 failed of 3", "Completed"),
      cond("Ready", "True", "0 active, 3 succeeded, 0 failed of 3", "Completed"),
      cond("Reconciling", "False", "", "Completed"), cond("Stalled", "False", "", "Completed") },
      { succeeded = 3 })),
    "Healthy", "complete: 0 active, 3 succeeded, 0 failed of 3" },
  { "run complete without message", object(1, task_status({ cond("Complete", "True", "") })),
    "Healthy", "complete: every task succeeded" },
  { "backoff limit exceeded", object(1, task_status({
      cond("Failed", "True", "4 tasks failed, more than backoffLimit 3", "BackoffLimitExceeded"),
      cond("Ready", "False", "4 tasks failed, more than backoffLimit 3", "BackoffLimitExceeded"),
      cond("Reconciling", "False", "", "BackoffLimitExceeded"),
      cond("Stalled", "True", "4 tasks failed, more than backoffLimit 3", "BackoffLimitExceeded") },
      { failed = 4 })),
    "Degraded", "BackoffLimitExceeded: 4 tasks failed, more than backoffLimit 3" },
  { "deadline exceeded", object(1, task_status({
      cond("Failed", "True", "the run was active longer than activeDeadlineSeconds 3600", "DeadlineExceeded"),
      cond("Stalled", "True", "the run was active longer than activeDeadlineSeconds 3600", "DeadlineExceeded") })),
    "Degraded", "DeadlineExceeded: the run was active longer than activeDeadlineSeconds 3600" },
  { "failed without reason or message", object(1, task_status({ cond("Failed", "True", nil, "") })),
    "Degraded", "Failed: the run failed" },
  { "failed wins over a Ready left True", object(1, task_status({
      cond("Failed", "True", "ECS could not place the tasks: RESOURCE:MEMORY", "CapacityUnavailable"), cond("Ready", "True", "old") })),
    "Degraded", "CapacityUnavailable: ECS could not place the tasks: RESOURCE:MEMORY" },
  { "Complete False is not complete", object(1, task_status({
      cond("Complete", "False", ""), cond("Failed", "False", ""),
      cond("Ready", "False", "1 active, 0 succeeded, 0 failed of 1", "Running") })),
    "Progressing", "1 active, 0 succeeded, 0 failed of 1" },
  { "tasks running", object(1, task_status({
      cond("Ready", "False", "2 active, 1 succeeded, 0 failed of 3", "Running"),
      cond("Reconciling", "True", "2 active, 1 succeeded, 0 failed of 3", "Running"),
      cond("Stalled", "False", "", "Running") }, { active = 2, succeeded = 1 })),
    "Progressing", "2 active, 1 succeeded, 0 failed of 3" },
  { "waiting for the cluster", object(1, task_status({
      cond("Ready", "False", "waiting for ECSCluster main to be Ready", "Waiting"),
      cond("Reconciling", "True", "waiting for ECSCluster main to be Ready", "Waiting") })),
    "Progressing", "waiting for ECSCluster main to be Ready" },
  { "invalid configuration", object(1, task_status({
      cond("Ready", "False", "task definition report has no container app", "InvalidConfiguration"),
      cond("Stalled", "True", "task definition report has no container app", "InvalidConfiguration") })),
    "Degraded", "task definition report has no container app" },
}

local function schedule(generation, status, spec)
  local o = object(generation, status)
  o.spec = spec or {}
  return o
end

local scheduled_only = {
  { "scheduled", schedule(1, { observedGeneration = 1, state = "ENABLED",
      nextRunTime = "2026-11-23T02:00:00Z", conditions = {
      cond("Ready", "True", "cron(0 2 * * ? *); next run 2026-11-23T02:00:00Z", "Scheduled"),
      cond("Reconciling", "False", "", "Scheduled"), cond("Stalled", "False", "", "Scheduled") } },
      { schedule = "cron(0 2 * * ? *)" }),
    "Healthy", "cron(0 2 * * ? *); next run 2026-11-23T02:00:00Z" },
  { "suspended", schedule(2, { observedGeneration = 2, state = "DISABLED", conditions = {
      cond("Ready", "True", "cron(0 2 * * ? *) (suspended)", "Suspended"),
      cond("Stalled", "False", "", "Suspended") } },
      { schedule = "cron(0 2 * * ? *)", suspend = true }),
    "Suspended", "cron(0 2 * * ? *) (suspended)" },
  { "suspended, state not reported", schedule(2, { observedGeneration = 2, conditions = {
      cond("Ready", "True", "") } }, { suspend = true }),
    "Suspended", "suspended" },
  { "suspend asked, not yet observed", schedule(3, { observedGeneration = 2, state = "ENABLED", conditions = {
      cond("Ready", "True", "cron(0 2 * * ? *)", "Scheduled") } }, { suspend = true }),
    "Progressing", waiting },
  { "suspended but stalled", schedule(2, { observedGeneration = 2, state = "DISABLED", conditions = {
      cond("Ready", "False", "role cannot be assumed", "ValidationException"),
      cond("Stalled", "True", "ValidationException: role cannot be assumed", "ValidationException") } },
      { suspend = true }),
    "Degraded", "ValidationException: role cannot be assumed" },
  { "schedule of another owner", schedule(1, { observedGeneration = 1, conditions = {
      cond("Ready", "False", "schedule default/team-a-nightly exists and is not ours", "AlreadyExists"),
      cond("Stalled", "True", "schedule default/team-a-nightly exists and is not ours", "AlreadyExists") } }),
    "Degraded", "schedule default/team-a-nightly exists and is not ours" },
  { "waiting for the task definition", schedule(1, { observedGeneration = 1, conditions = {
      cond("Ready", "False", "waiting for TaskDefinition job to be Ready", "Waiting"),
      cond("Reconciling", "True", "waiting for TaskDefinition job to be Ready", "Waiting") } }),
    "Progressing", "waiting for TaskDefinition job to be Ready" },
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

-- Every kind the chart has a script for; each must pass the common cases.
local kinds = { "TaskDefinition", "ECSService", "ECSCluster", "CapacityProvider", "CloudMapNamespace",
                "ECSTask", "ECSScheduledTask" }
for _, kind in ipairs(kinds) do
  for _, case in ipairs(common) do check(kind, case) end
end
for _, case in ipairs(service_only) do check("ECSService", case) end
for _, case in ipairs(task_only) do check("ECSTask", case) end
for _, case in ipairs(scheduled_only) do check("ECSScheduledTask", case) end

-- A script for a kind this test does not know would go untested.
local listing = io.popen('ls "' .. dir .. '"')
for name in listing:lines() do
  local kind = name:match("^health%-(.+)%.lua$")
  local known = false
  for _, k in ipairs(kinds) do known = known or k == kind end
  if kind ~= nil and not known then
    failed = failed + 1
    print(string.format("FAIL %s: no test cases for this script", name))
  end
end
listing:close()

print(string.format("%d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1)
