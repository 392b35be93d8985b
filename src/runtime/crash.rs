//! Crash points: the places right after an AWS create/register/run call returned and before
//! the status write that records its result, where a crash is most likely to duplicate
//! something. The integration tests (`tests/crash_points.rs`) arm one for one namespace and the
//! operator dies exactly there, as if killed with `kill -9` the moment AWS answered.
//!
//! They exist only with the cargo feature `failpoints` (the `fail` crate), which only the test
//! suite enables; in a normal build [`crash_point`] is an empty inline function.

/// After RegisterTaskDefinition returned the new revision.
pub const REGISTER_TASK_DEFINITION: &str = "after-register-task-definition";
/// After CreateService (ECS) returned the service.
pub const CREATE_SERVICE: &str = "after-create-service";
/// After RunTask returned the started tasks (the first batch of a reconcile).
pub const RUN_TASK: &str = "after-run-task";
/// After CreateSchedule (EventBridge Scheduler) returned the schedule.
pub const CREATE_SCHEDULE: &str = "after-create-schedule";
/// After Cloud Map CreateService returned the service.
pub const CREATE_CLOUD_MAP_SERVICE: &str = "after-create-cloud-map-service";
/// After CreateCluster returned the cluster.
pub const CREATE_CLUSTER: &str = "after-create-cluster";
/// After PutMetricAlarm (an auto scaling alarm) returned.
pub const PUT_METRIC_ALARM: &str = "after-put-metric-alarm";
/// After RegisterScalableTarget returned.
pub const REGISTER_SCALABLE_TARGET: &str = "after-register-scalable-target";

/// Every crash point.
pub const ALL: [&str; 8] = [
    REGISTER_TASK_DEFINITION,
    CREATE_SERVICE,
    RUN_TASK,
    CREATE_SCHEDULE,
    CREATE_CLOUD_MAP_SERVICE,
    CREATE_CLUSTER,
    PUT_METRIC_ALARM,
    REGISTER_SCALABLE_TARGET,
];

/// The `fail` registry name of `point` for objects in `namespace`: tests run in parallel in
/// one process, each with its own namespace, so a point is armed for one test only.
#[cfg(feature = "failpoints")]
fn key(point: &str, namespace: &str) -> String {
    format!("{point}@{namespace}")
}

/// Panics here when a test armed `point` for `namespace`. The panic unwinds the whole
/// operator run (every controller is polled in the run's task), so nothing after the AWS call
/// happens: no Event, no status write, no other reconcile.
#[inline]
pub fn crash_point(point: &'static str, namespace: &str) {
    #[cfg(feature = "failpoints")]
    fail::eval(&key(point, namespace), |_| ());
    #[cfg(not(feature = "failpoints"))]
    let _ = (point, namespace);
}

/// Arms `point` for `namespace`: the next operator to reach it there panics, once.
pub fn arm(point: &str, namespace: &str) -> Result<(), String> {
    #[cfg(feature = "failpoints")]
    {
        fail::cfg(key(point, namespace), "1*panic")
    }
    #[cfg(not(feature = "failpoints"))]
    {
        let _ = (point, namespace);
        Err("crash points need the cargo feature `failpoints`: \
             `cargo test --features failpoints` (hack/test enables it)"
            .to_string())
    }
}

/// Disarms `point` for `namespace`.
pub fn disarm(point: &str, namespace: &str) {
    #[cfg(feature = "failpoints")]
    fail::remove(key(point, namespace));
    #[cfg(not(feature = "failpoints"))]
    let _ = (point, namespace);
}
