//! Batched periodic observation of every managed task definition revision.
//!
//! Instead of one DescribeTaskDefinition per object per resync, the observer lists the ACTIVE
//! revisions of each account and Region (ListTaskDefinitions, 100 ARNs per call) once per
//! resync interval and wakes only the objects whose current revision is no longer ACTIVE
//! (deregistered or deleted outside the operator), which then repair the drift.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Instant;

use futures::channel::mpsc::UnboundedSender;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::api::TaskDefinition;
use crate::api::common::find_condition;
use crate::aws::ecs_task_definition as ecs_td;
use crate::runtime::Context;

/// Where an object's revisions live: (namespace for the role annotation, Region, role).
type Location = (String, Option<String>, Option<String>);

/// Objects worth checking: Ready with a current revision, not being deleted; grouped by the
/// account and Region their revisions are in.
fn group(task_definitions: &[Arc<TaskDefinition>]) -> BTreeMap<Location, Vec<Arc<TaskDefinition>>> {
    let mut groups: BTreeMap<Location, Vec<Arc<TaskDefinition>>> = BTreeMap::new();
    for td in task_definitions {
        let status = td.status.as_ref();
        let ready = status
            .and_then(|s| find_condition(&s.conditions, "Ready"))
            .is_some_and(|c| c.status == "True");
        if ready
            && status.is_some_and(|s| s.task_definition_arn.is_some())
            && td.metadata.deletion_timestamp.is_none()
        {
            let location = (
                td.namespace().unwrap_or_default(),
                td.spec.region.clone(),
                td.spec.role_arn.clone(),
            );
            groups.entry(location).or_default().push(Arc::clone(td));
        }
    }
    groups
}

/// The objects of `group` whose current revision is not among `active`.
pub fn drifted(
    group: &[Arc<TaskDefinition>],
    active: &HashSet<String>,
) -> Vec<ObjectRef<TaskDefinition>> {
    group
        .iter()
        .filter(|td| {
            td.status
                .as_ref()
                .and_then(|s| s.task_definition_arn.as_ref())
                .is_some_and(|arn| !active.contains(arn))
        })
        .map(|td| ObjectRef::from(td.as_ref()))
        .collect()
}

/// Runs until `stopped`: every resync interval, lists the ACTIVE revisions once per account
/// and Region, and wakes the objects whose revision is gone.
pub async fn run(
    ctx: Arc<Context>,
    trigger: UnboundedSender<ObjectRef<TaskDefinition>>,
    mut stopped: watch::Receiver<bool>,
) {
    let interval = ctx.config.resync_interval;
    loop {
        let started = Instant::now();
        let groups = group(&ctx.task_definitions.state());
        // Objects in different namespaces may share an account and Region: list each once.
        let mut listed: BTreeMap<(String, Option<String>), HashSet<String>> = BTreeMap::new();
        let mut failed: BTreeSet<(String, Option<String>)> = BTreeSet::new();
        for ((namespace, region, role), members) in groups {
            if *stopped.borrow() {
                return;
            }
            let aws = match ctx
                .aws_for(&namespace, region.as_deref(), role.as_deref())
                .await
            {
                Ok(aws) => aws,
                Err(err) => {
                    debug!(%namespace, error = %err, "no AWS clients for the observation; the objects report it themselves");
                    continue;
                }
            };
            let key = (aws.region.clone(), aws.role_arn.clone());
            if failed.contains(&key) {
                continue;
            }
            if !listed.contains_key(&key) {
                match ecs_td::list_all_active(&aws.ecs).await {
                    Ok(arns) => {
                        listed.insert(key.clone(), arns.into_iter().collect());
                    }
                    Err(err) => {
                        warn!(region = %aws.region, error = %err, "periodic task definition observation failed");
                        failed.insert(key);
                        continue;
                    }
                }
            }
            if let Some(active) = listed.get(&key) {
                for object in drifted(&members, active) {
                    debug!(name = %object.name, "current revision no longer ACTIVE: reconciling");
                    let _ = trigger.unbounded_send(object);
                }
            }
        }
        let rest = interval.saturating_sub(started.elapsed());
        tokio::select! {
            _ = tokio::time::sleep(rest) => {},
            _ = stopped.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::TaskDefinitionSpec;
    use crate::api::task_definition::TaskDefinitionStatus;

    fn td(name: &str, arn: &str) -> Arc<TaskDefinition> {
        let mut td = TaskDefinition::new(name, TaskDefinitionSpec::default());
        td.metadata.namespace = Some("ns".into());
        td.status = Some(TaskDefinitionStatus {
            task_definition_arn: Some(arn.into()),
            ..Default::default()
        });
        Arc::new(td)
    }

    #[test]
    fn only_objects_whose_revision_left_the_active_list_are_woken() {
        let group = vec![td("a", "arn:a:1"), td("b", "arn:b:3")];
        let active: HashSet<String> = ["arn:a:1".to_string(), "arn:b:2".to_string()].into();
        let woken = drifted(&group, &active);
        assert_eq!(woken.len(), 1);
        assert_eq!(woken[0].name, "b");
    }
}
