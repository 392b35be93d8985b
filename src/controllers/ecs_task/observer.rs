//! Batched observation of the tasks of every active ECSTask.
//!
//! Instead of each run describing its own tasks every few seconds, the observer gathers the
//! tasks not yet seen stopped of all ECSTasks, per cluster of one account and Region,
//! describes them 100 per DescribeTasks call, and wakes only the ECSTasks whose tasks changed.
//! Their reconciles take the cached observation instead of calling ECS themselves.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::channel::mpsc::UnboundedSender;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::api::ecs_task::{ECSTask, TaskOutcome, TaskRecord};
use crate::aws::ecs_task::{self as tasks, DESCRIBE_TASKS_MAX};
use crate::aws::error::AwsError;
use crate::controllers::observer::{Location, Rounds, locate};
use crate::runtime::Context;

/// How often the tasks of active runs are described.
pub const TASK_POLL: Duration = Duration::from_secs(3);
/// How long an observation waits for the reconcile it woke; an older one is dropped (the
/// next round sees the same difference and wakes the object again).
pub const OBSERVATION_MAX_AGE: Duration = Duration::from_secs(30);

/// What the observer saw of one run's tasks not yet stopped: fresh records of those ECS
/// described, or the error that kept it from describing them.
pub type TaskObservation = Result<Vec<TaskRecord>, AwsError>;

/// The key of a run's observation: its uid (a re-created object with the same name is
/// another run).
pub fn cache_key(task: &ECSTask) -> String {
    task.uid().unwrap_or_default()
}

/// ARNs of the run's tasks not yet seen stopped.
pub fn watched_arns(task: &ECSTask) -> Vec<String> {
    task.status
        .iter()
        .flat_map(|s| s.tasks.iter())
        .filter(|t| t.outcome == TaskOutcome::Running)
        .map(|t| t.task_arn.clone())
        .collect()
}

/// Runs to observe: not being deleted (deletion lists and stops on its own), with a cluster
/// and tasks not yet seen stopped (also a finished run whose stopped tasks are still
/// stopping).
pub fn observable(runs: &[Arc<ECSTask>]) -> Vec<Arc<ECSTask>> {
    runs.iter()
        .filter(|t| t.metadata.deletion_timestamp.is_none())
        .filter(|t| t.status.as_ref().is_some_and(|s| s.cluster_arn.is_some()))
        .filter(|t| !watched_arns(t).is_empty())
        .cloned()
        .collect()
}

/// The name of a cluster given by name or ARN (`arn:aws:ecs:<region>:<account>:cluster/<name>`),
/// so that runs naming one cluster either way are described together.
pub fn cluster_name(cluster: &str) -> &str {
    cluster
        .rsplit_once(":cluster/")
        .map_or(cluster, |(_, name)| name)
}

/// Whether `observed` tells anything the run's recorded tasks do not.
pub fn changed(recorded: &[TaskRecord], observed: &[TaskRecord]) -> bool {
    observed
        .iter()
        .any(|o| recorded.iter().find(|r| r.task_arn == o.task_arn) != Some(o))
}

/// The runs of one cluster of one account and Region.
struct ClusterRuns {
    /// The cluster as the first run names it (name or ARN).
    cluster: String,
    runs: Vec<Arc<ECSTask>>,
}

/// Groups runs by (location, cluster name).
fn by_cluster(
    located: BTreeMap<Location, Vec<Arc<ECSTask>>>,
) -> BTreeMap<(Location, String), ClusterRuns> {
    let mut groups: BTreeMap<(Location, String), ClusterRuns> = BTreeMap::new();
    for (location, runs) in located {
        for run in runs {
            let Some(cluster) = run.status.as_ref().and_then(|s| s.cluster_arn.clone()) else {
                continue;
            };
            groups
                .entry((location.clone(), cluster_name(&cluster).to_string()))
                .or_insert_with(|| ClusterRuns {
                    cluster,
                    runs: Vec::new(),
                })
                .runs
                .push(run);
        }
    }
    groups
}

/// Runs until `stopped`: every [`TASK_POLL`], describes the tasks not yet stopped of all
/// active runs in `runs` and wakes, through `trigger`, the runs whose tasks changed.
pub async fn run(
    ctx: Arc<Context>,
    runs: Store<ECSTask>,
    trigger: UnboundedSender<ObjectRef<ECSTask>>,
    stopped: watch::Receiver<bool>,
) {
    let mut rounds = Rounds::new(TASK_POLL, stopped);
    while rounds.next().await {
        let located = locate(&ctx, observable(&runs.state()), |t| {
            (t.spec.region.clone(), t.spec.role_arn.clone())
        })
        .await;
        let groups = by_cluster(located);
        let calls: usize = groups
            .values()
            .map(|g| {
                g.runs
                    .iter()
                    .map(|r| watched_arns(r).len())
                    .sum::<usize>()
                    .div_ceil(DESCRIBE_TASKS_MAX)
            })
            .sum();
        let pause = rounds.pause_between(calls);
        for ((location, _), group) in groups {
            let observed = observe_cluster(&ctx, &location, &group, &mut rounds, pause).await;
            let Some(observed) = observed else {
                return;
            };
            wake_changed(&ctx, &group.runs, observed, &trigger);
        }
    }
}

/// Describes the watched tasks of one cluster's runs, 100 per call: the records by ARN, or
/// the first error. `None` when told to stop meanwhile.
async fn observe_cluster(
    ctx: &Context,
    location: &Location,
    group: &ClusterRuns,
    rounds: &mut Rounds,
    pause: Duration,
) -> Option<Result<HashMap<String, TaskRecord>, AwsError>> {
    let mut arns: Vec<String> = group.runs.iter().flat_map(|r| watched_arns(r)).collect();
    arns.sort();
    arns.dedup();
    let aws = match location.clients(ctx).await {
        Ok(aws) => aws,
        Err(err) => return Some(Err(err.into())),
    };
    let mut found = HashMap::new();
    for chunk in arns.chunks(DESCRIBE_TASKS_MAX) {
        match tasks::describe(&aws.ecs, &group.cluster, chunk).await {
            Ok(records) => found.extend(records.into_iter().map(|r| (r.task_arn.clone(), r))),
            Err(err) => {
                warn!(cluster = %group.cluster, region = %location.region, error = %err, "task observation failed; the affected runs report it");
                return Some(Err(err));
            }
        }
        if !rounds.sleep(pause).await {
            return None;
        }
    }
    Some(Ok(found))
}

/// Caches the observation of each run whose tasks changed (or the error) and wakes it.
fn wake_changed(
    ctx: &Context,
    runs: &[Arc<ECSTask>],
    observed: Result<HashMap<String, TaskRecord>, AwsError>,
    trigger: &UnboundedSender<ObjectRef<ECSTask>>,
) {
    for run in runs {
        let observation: TaskObservation = match &observed {
            Ok(found) => {
                // Tasks ECS did not describe (it forgets stopped tasks after a while) keep
                // their record.
                let mine: Vec<TaskRecord> = watched_arns(run)
                    .iter()
                    .filter_map(|arn| found.get(arn).cloned())
                    .collect();
                let recorded = run.status.as_ref().map(|s| s.tasks.as_slice());
                if !changed(recorded.unwrap_or_default(), &mine) {
                    continue;
                }
                Ok(mine)
            }
            Err(err) => Err(err.clone()),
        };
        debug!(
            namespace = run.namespace().unwrap_or_default(),
            name = run.name_any(),
            "tasks changed: reconciling"
        );
        ctx.task_observations.put(cache_key(run), observation);
        let _ = trigger.unbounded_send(ObjectRef::from(run.as_ref()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ecs_task::{ECSTaskSpec, ECSTaskStatus};

    fn record(arn: &str, last_status: &str, outcome: TaskOutcome) -> TaskRecord {
        TaskRecord {
            task_arn: arn.into(),
            last_status: last_status.into(),
            desired_status: "RUNNING".into(),
            outcome,
            ..TaskRecord::default()
        }
    }

    fn run(name: &str, cluster: Option<&str>, tasks: Vec<TaskRecord>) -> Arc<ECSTask> {
        let mut run = ECSTask::new(name, ECSTaskSpec::default());
        run.metadata.namespace = Some("ns".into());
        run.status = Some(ECSTaskStatus {
            cluster_arn: cluster.map(str::to_string),
            tasks,
            ..ECSTaskStatus::default()
        });
        Arc::new(run)
    }

    #[test]
    fn only_runs_with_tasks_not_yet_stopped_are_observed() {
        let runs = vec![
            run(
                "active",
                Some("jobs"),
                vec![
                    record("a1", "RUNNING", TaskOutcome::Running),
                    record("a2", "STOPPED", TaskOutcome::Succeeded),
                ],
            ),
            run(
                "done",
                Some("jobs"),
                vec![record("d1", "STOPPED", TaskOutcome::Failed)],
            ),
            run("unstarted", Some("jobs"), vec![]),
            run(
                "unresolved",
                None,
                vec![record("u1", "RUNNING", TaskOutcome::Running)],
            ),
        ];
        let observed = observable(&runs);
        assert_eq!(observed.len(), 1);
        assert_eq!(observed[0].name_any(), "active");
        assert_eq!(watched_arns(&observed[0]), vec!["a1".to_string()]);
    }

    #[test]
    fn runs_naming_a_cluster_by_name_or_arn_are_described_together() {
        assert_eq!(
            cluster_name("arn:aws:ecs:eu-west-1:123456789012:cluster/jobs"),
            "jobs"
        );
        assert_eq!(cluster_name("jobs"), "jobs");
        let location = Location {
            region: "eu-west-1".into(),
            role_arn: None,
        };
        let tasks = || vec![record("t", "RUNNING", TaskOutcome::Running)];
        let located = BTreeMap::from([(
            location,
            vec![
                run("a", Some("jobs"), tasks()),
                run(
                    "b",
                    Some("arn:aws:ecs:eu-west-1:123456789012:cluster/jobs"),
                    tasks(),
                ),
                run("c", Some("other"), tasks()),
            ],
        )]);
        let groups = by_cluster(located);
        assert_eq!(groups.len(), 2);
        let jobs = groups.values().find(|g| g.runs.len() == 2).unwrap();
        assert_eq!(jobs.cluster, "jobs");
    }

    #[test]
    fn only_differences_from_the_recorded_tasks_count_as_changes() {
        let recorded = vec![record("a", "PROVISIONING", TaskOutcome::Running)];
        assert!(!changed(&recorded, &recorded.clone()));
        assert!(!changed(&recorded, &[]));
        let running = vec![record("a", "RUNNING", TaskOutcome::Running)];
        assert!(changed(&recorded, &running));
        let unknown = vec![record("b", "RUNNING", TaskOutcome::Running)];
        assert!(changed(&recorded, &unknown));
    }
}
