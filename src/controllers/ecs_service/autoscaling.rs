//! Application Auto Scaling of an ECSService: the scalable target of its desired count, its
//! scaling policies (step scaling with the CloudWatch alarms that trigger them) and scheduled
//! actions.
//!
//! Every AWS name is derived from the object's uid (`ecs-operator-<hash>-<namespace>-<name>-
//! <policy>`), so the operator finds what it owns by prefix, also after a crash; alarms, whose
//! names are account-wide, are deleted only when their ownership tag names the object too. A hash of the desired
//! configuration is kept in status: an unchanged spec puts nothing, and only the scalable
//! target (one read) is compared with AWS on each reconcile. Deregistering the target, as
//! someone else might, deletes its policies and actions; the target being gone then makes
//! the operator put everything again.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};
use tracing::{debug, info};

use super::plan::cluster_name;
use crate::api::common::ownership_tags;
use crate::api::ecs_service::{
    AutoScaling, AutoScalingStatus, ECSServiceSpec, LoadBalancer, MetricDimension,
    PredefinedMetric, PredefinedMetricType, ScalingPolicyStatus, ScheduledScaling,
    StepScalingPolicy, TargetTrackingPolicy,
};
use crate::aws::AwsClients;
use crate::aws::autoscaling::{self as aas, ObservedTarget};
use crate::aws::error::{AwsError, ErrorClass};
use crate::runtime::crash;

/// Longest readable part (`<namespace>-<name>`) of a prefix; longer ones are cut (AWS names
/// are at most 255 characters and policy names in the spec at most 64).
const MAX_READABLE: usize = 140;

/// The object the AWS resources belong to.
#[derive(Clone, Copy, Debug)]
pub struct Owner<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
}

/// Prefix of every AWS name the object owns: `ecs-operator-<hash of uid>-<namespace>-<name>-`.
/// The fixed-length hash comes first, so one object's prefix is never the start of another
/// object's names (`web` vs `web-canary`, `shop`/`web-x` vs `shop-web`/`x`).
pub fn name_prefix(owner: Owner<'_>) -> String {
    let hash = hex::encode(&Sha256::digest(owner.uid.as_bytes())[..8]);
    let mut readable = format!("{}-{}", owner.namespace, owner.name);
    let mut cut = readable.len().min(MAX_READABLE);
    while !readable.is_char_boundary(cut) {
        cut -= 1;
    }
    readable.truncate(cut);
    format!("ecs-operator-{hash}-{readable}-")
}

/// The prefix of earlier versions (`ecs-operator-<namespace>-<name>-`), shared by other
/// objects' names: only alarms also tagged with the object's uid are taken as its own.
fn legacy_prefix(owner: Owner<'_>) -> String {
    format!("ecs-operator-{}-{}-", owner.namespace, owner.name)
}

/// The alarms named with the object's prefixes (this version's and the earlier one) whose
/// ownership tag names the object.
async fn owned_alarms(aws: &AwsClients, owner: Owner<'_>) -> Result<Vec<String>, AwsError> {
    let mut owned = Vec::new();
    for prefix in [name_prefix(owner), legacy_prefix(owner)] {
        for (name, arn) in aas::alarms(&aws.cloudwatch, &prefix).await? {
            if aas::alarm_uid(&aws.cloudwatch, &arn).await?.as_deref() == Some(owner.uid) {
                owned.push(name);
            }
        }
    }
    owned.sort();
    owned.dedup();
    Ok(owned)
}

/// A target tracking policy with its AWS name and resolved ALB resource label.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredTargetTracking<'a> {
    pub policy_name: String,
    pub policy: &'a TargetTrackingPolicy,
    pub resource_label: Option<String>,
}

/// A step scaling policy with its AWS names and the alarm's resolved dimensions.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredStepScaling<'a> {
    pub policy_name: String,
    pub alarm_name: String,
    pub policy: &'a StepScalingPolicy,
    pub dimensions: Vec<MetricDimension>,
}

/// Everything the operator puts for `spec.autoScaling`, resolved and named.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredScaling<'a> {
    pub resource_id: String,
    pub prefix: String,
    pub spec: &'a AutoScaling,
    pub target_tracking: Vec<DesiredTargetTracking<'a>>,
    pub step_scaling: Vec<DesiredStepScaling<'a>>,
    pub scheduled: Vec<(String, &'a ScheduledScaling)>,
    /// Hash of all of the above: equal hashes need no Put.
    pub hash: String,
}

impl DesiredScaling<'_> {
    fn policy_names(&self) -> BTreeSet<&str> {
        self.target_tracking
            .iter()
            .map(|t| t.policy_name.as_str())
            .chain(self.step_scaling.iter().map(|s| s.policy_name.as_str()))
            .collect()
    }

    fn alarm_names(&self) -> BTreeSet<&str> {
        self.step_scaling
            .iter()
            .map(|s| s.alarm_name.as_str())
            .collect()
    }

    fn action_names(&self) -> BTreeSet<&str> {
        self.scheduled.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Whether the observed target has the spec's capacity range and suspension.
    pub fn target_matches(&self, observed: &ObservedTarget) -> bool {
        observed.min_capacity == self.spec.min_capacity
            && observed.max_capacity == self.spec.max_capacity
            && observed.suspended == self.spec.suspended.clone().unwrap_or_default()
    }
}

/// `type/name/id` after `marker` in an ELB ARN.
fn arn_resource<'a>(arn: &'a str, marker: &str) -> Option<&'a str> {
    let rest = arn.split_once(marker)?.1;
    (rest.split('/').count() >= 2).then_some(rest)
}

/// The ALB resource label of an `ALBRequestCountPerTarget` metric: the explicit one, or
/// `app/<lb>/<id>` from `loadBalancerArn` with `targetgroup/<tg>/<id>` from the named target
/// group or the service's first. `Err` says what is missing.
pub fn resource_label(
    metric: &PredefinedMetric,
    load_balancers: &[LoadBalancer],
    field: &str,
) -> Result<Option<String>, String> {
    if metric.type_ != PredefinedMetricType::ALBRequestCountPerTarget {
        return Ok(None);
    }
    if let Some(label) = &metric.resource_label {
        return Ok(Some(label.clone()));
    }
    let Some(lb) = &metric.load_balancer_arn else {
        return Err(format!(
            "{field}: ALBRequestCountPerTarget needs resourceLabel or loadBalancerArn"
        ));
    };
    let lb_part = arn_resource(lb, ":loadbalancer/")
        .filter(|p| p.starts_with("app/"))
        .ok_or_else(|| {
            format!("{field}.loadBalancerArn {lb:?} is not an Application Load Balancer ARN")
        })?;
    let tg = match &metric.target_group_arn {
        Some(tg) => tg.as_str(),
        None => load_balancers
            .first()
            .map(|l| l.target_group_arn.as_str())
            .ok_or_else(|| {
                format!("{field}: ALBRequestCountPerTarget needs a load balancer: set spec.loadBalancers")
            })?,
    };
    let tg_part = arn_resource(tg, ":targetgroup/")
        .ok_or_else(|| format!("{field}: {tg:?} is not a target group ARN"))?;
    Ok(Some(format!("{lb_part}/targetgroup/{tg_part}")))
}

/// The desired auto scaling of the service named `service` in `cluster` (name or ARN), or
/// `Ok(None)` without `spec.autoScaling`. `Err` is a spec mistake, naming the field.
pub fn desired<'a>(
    spec: &'a ECSServiceSpec,
    cluster: &str,
    service: &str,
    owner: Owner<'_>,
) -> Result<Option<DesiredScaling<'a>>, String> {
    let Some(scaling) = &spec.auto_scaling else {
        return Ok(None);
    };
    if scaling.min_capacity < 0 || scaling.max_capacity < 0 {
        return Err("spec.autoScaling: minCapacity and maxCapacity must not be negative".into());
    }
    if scaling.min_capacity > scaling.max_capacity {
        return Err(format!(
            "spec.autoScaling.minCapacity ({}) must not exceed maxCapacity ({})",
            scaling.min_capacity, scaling.max_capacity
        ));
    }
    let prefix = name_prefix(owner);
    let cluster = cluster_name(cluster);
    let mut target_tracking = Vec::new();
    for (i, policy) in scaling.target_tracking.iter().enumerate() {
        let field = format!("spec.autoScaling.targetTracking[{i}]");
        let resource_label = match (&policy.predefined_metric, &policy.customized_metric) {
            (Some(metric), None) => resource_label(
                metric,
                &spec.load_balancers,
                &format!("{field}.predefinedMetric"),
            )?,
            (None, Some(_)) => None,
            _ => {
                return Err(format!(
                    "{field}: set exactly one of predefinedMetric and customizedMetric"
                ));
            }
        };
        target_tracking.push(DesiredTargetTracking {
            policy_name: format!("{prefix}{}", policy.name),
            policy,
            resource_label,
        });
    }
    let step_scaling = scaling
        .step_scaling
        .iter()
        .map(|policy| {
            let mut dimensions = policy.alarm.dimensions.clone();
            if dimensions.is_empty() && policy.alarm.namespace == "AWS/ECS" {
                dimensions = vec![
                    MetricDimension {
                        name: "ClusterName".into(),
                        value: cluster.to_string(),
                    },
                    MetricDimension {
                        name: "ServiceName".into(),
                        value: service.to_string(),
                    },
                ];
            }
            DesiredStepScaling {
                policy_name: format!("{prefix}{}", policy.name),
                alarm_name: format!("{prefix}{}", policy.name),
                policy,
                dimensions,
            }
        })
        .collect::<Vec<_>>();
    let scheduled = scaling
        .scheduled
        .iter()
        .map(|a| (format!("{prefix}{}", a.name), a))
        .collect::<Vec<_>>();
    let resource_id = aas::resource_id(cluster, service);
    let fingerprint = serde_json::json!({
        "resourceId": resource_id,
        "spec": scaling,
        "labels": target_tracking.iter().map(|t| &t.resource_label).collect::<Vec<_>>(),
        "dimensions": step_scaling.iter().map(|s| &s.dimensions).collect::<Vec<_>>(),
    });
    let hash = hex::encode(&Sha256::digest(fingerprint.to_string().as_bytes())[..12]);
    Ok(Some(DesiredScaling {
        resource_id,
        prefix,
        spec: scaling,
        target_tracking,
        step_scaling,
        scheduled,
        hash,
    }))
}

/// What to do about the scalable target and its policies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScalingPlan {
    /// Nothing configured, nothing of ours left.
    Nothing,
    /// `autoScaling` was removed: delete our alarms and deregister the target.
    Remove,
    /// In sync: no write.
    UpToDate,
    /// Only the target's range or suspension drifted: register it again.
    RegisterTarget,
    /// Put the target, every policy, alarm and action, then delete the stale ones.
    PutAll,
}

/// Decides from the desired configuration, what status recorded and the observed target.
pub fn plan(
    desired: Option<&DesiredScaling<'_>>,
    previous: Option<&AutoScalingStatus>,
    observed: Option<&ObservedTarget>,
) -> ScalingPlan {
    match (desired, previous) {
        (None, None) => ScalingPlan::Nothing,
        (None, Some(_)) => ScalingPlan::Remove,
        (Some(desired), previous) => {
            let applied =
                previous.and_then(|p| p.applied_hash.as_deref()) == Some(desired.hash.as_str());
            match observed {
                Some(target) if applied && desired.target_matches(target) => ScalingPlan::UpToDate,
                Some(_) if applied => ScalingPlan::RegisterTarget,
                _ => ScalingPlan::PutAll,
            }
        }
    }
}

fn invalid_spec(message: String) -> AwsError {
    AwsError {
        operation: "AutoScaling",
        code: "InvalidSpec".into(),
        message,
        class: ErrorClass::Terminal,
    }
}

/// Makes Application Auto Scaling match `spec.autoScaling` for the ECS service `service` in
/// `cluster`, which exists. Returns the new `status.autoScaling`.
pub async fn ensure(
    aws: &AwsClients,
    spec: &ECSServiceSpec,
    cluster: &str,
    service: &str,
    owner: Owner<'_>,
    previous: Option<&AutoScalingStatus>,
    desired_count: i32,
) -> Result<Option<AutoScalingStatus>, AwsError> {
    let desired = desired(spec, cluster, service, owner).map_err(invalid_spec)?;
    let client = &aws.applicationautoscaling;
    let Some(desired) = desired else {
        if plan(None, previous, None) == ScalingPlan::Remove {
            remove(aws, cluster, service, owner).await?;
            info!("removed auto scaling");
        }
        return Ok(None);
    };
    let observed = aas::describe_target(client, &desired.resource_id).await?;
    let mut status = previous.cloned().unwrap_or_default();
    match plan(Some(&desired), previous, observed.as_ref()) {
        ScalingPlan::Nothing | ScalingPlan::Remove | ScalingPlan::UpToDate => {}
        ScalingPlan::RegisterTarget => {
            info!(resource = %desired.resource_id, "scalable target drifted; registering it again");
            status.scalable_target_arn = register(aws, &desired)
                .await?
                .or(status.scalable_target_arn);
        }
        ScalingPlan::PutAll => {
            let last_activity = status.last_scaling_activity.take();
            status = put_all(aws, &desired, owner).await?;
            status.last_scaling_activity = last_activity;
            info!(resource = %desired.resource_id, hash = %desired.hash, "applied auto scaling");
        }
    }
    status.resource_id = desired.resource_id.clone();
    status.registered = true;
    status.min_capacity = Some(desired.spec.min_capacity);
    status.max_capacity = Some(desired.spec.max_capacity);
    status.suspended = desired.spec.suspended.as_ref().is_some_and(|s| s.any());
    if status.scalable_target_arn.is_none() {
        status.scalable_target_arn = observed.and_then(|o| o.arn);
    }
    // Activities change the desired count: look only when it moved (or nothing is known).
    if previous.and_then(|p| p.desired_count) != Some(desired_count) {
        match aas::last_activity(client, &desired.resource_id).await {
            Ok(Some(activity)) => status.last_scaling_activity = Some(activity),
            Ok(None) => {}
            Err(err) => debug!(error = %err, "could not read the last scaling activity"),
        }
    }
    status.desired_count = Some(desired_count);
    Ok(Some(status))
}

async fn register(
    aws: &AwsClients,
    desired: &DesiredScaling<'_>,
) -> Result<Option<String>, AwsError> {
    aas::register_target(
        &aws.applicationautoscaling,
        &desired.resource_id,
        desired.spec.min_capacity,
        desired.spec.max_capacity,
        &desired.spec.suspended.clone().unwrap_or_default(),
    )
    .await
}

async fn put_all(
    aws: &AwsClients,
    desired: &DesiredScaling<'_>,
    owner: Owner<'_>,
) -> Result<AutoScalingStatus, AwsError> {
    let client = &aws.applicationautoscaling;
    let id = &desired.resource_id;
    let arn = register(aws, desired).await?;
    crash::crash_point(crash::REGISTER_SCALABLE_TARGET, owner.namespace);
    let mut policies = Vec::new();
    for t in &desired.target_tracking {
        let arn = aas::put_target_tracking(
            client,
            id,
            &t.policy_name,
            t.policy,
            t.resource_label.as_deref(),
        )
        .await?;
        policies.push(ScalingPolicyStatus {
            name: t.policy.name.clone(),
            policy_name: t.policy_name.clone(),
            policy_arn: Some(arn),
            alarm_names: vec![],
        });
    }
    let tags = ownership_tags("ECSService", owner.namespace, owner.name, owner.uid);
    for s in &desired.step_scaling {
        let arn = aas::put_step_scaling(client, id, &s.policy_name, s.policy).await?;
        aas::put_alarm(
            &aws.cloudwatch,
            &s.alarm_name,
            &s.policy.alarm,
            &s.dimensions,
            &arn,
            &tags,
        )
        .await?;
        crash::crash_point(crash::PUT_METRIC_ALARM, owner.namespace);
        policies.push(ScalingPolicyStatus {
            name: s.policy.name.clone(),
            policy_name: s.policy_name.clone(),
            policy_arn: Some(arn),
            alarm_names: vec![s.alarm_name.clone()],
        });
    }
    for (name, action) in &desired.scheduled {
        aas::put_scheduled_action(client, id, name, action).await?;
    }
    // What we own and the spec no longer has. Policies and actions belong to the scalable
    // target of the object's own service: every one the operator named is its own (also
    // those of an earlier version's naming).
    let wanted = desired.policy_names();
    for name in aas::policy_names(client, id).await? {
        if name.starts_with("ecs-operator-") && !wanted.contains(name.as_str()) {
            aas::delete_policy(client, id, &name).await?;
            info!(policy = %name, "deleted scaling policy no longer in spec");
        }
    }
    let wanted = desired.action_names();
    for name in aas::scheduled_action_names(client, id).await? {
        if name.starts_with("ecs-operator-") && !wanted.contains(name.as_str()) {
            aas::delete_scheduled_action(client, id, &name).await?;
            info!(action = %name, "deleted scheduled action no longer in spec");
        }
    }
    let wanted = desired.alarm_names();
    let stale: Vec<String> = owned_alarms(aws, owner)
        .await?
        .into_iter()
        .filter(|n| !wanted.contains(n.as_str()))
        .collect();
    if !stale.is_empty() {
        aas::delete_alarms(&aws.cloudwatch, &stale).await?;
        info!(alarms = ?stale, "deleted alarms no longer in spec");
    }
    Ok(AutoScalingStatus {
        resource_id: id.clone(),
        scalable_target_arn: arn,
        registered: true,
        policies,
        scheduled_actions: desired.scheduled.iter().map(|(n, _)| n.clone()).collect(),
        applied_hash: Some(desired.hash.clone()),
        ..Default::default()
    })
}

/// Deletes the policies, scheduled actions and alarms the object owns, then deregisters the
/// scalable target. (AWS deletes policies and actions with the target; deleting them first
/// does not depend on it.)
pub async fn remove(
    aws: &AwsClients,
    cluster: &str,
    service: &str,
    owner: Owner<'_>,
) -> Result<(), AwsError> {
    let client = &aws.applicationautoscaling;
    let id = aas::resource_id(cluster_name(cluster), service);
    for name in aas::policy_names(client, &id).await? {
        if name.starts_with("ecs-operator-") {
            aas::delete_policy(client, &id, &name).await?;
        }
    }
    for name in aas::scheduled_action_names(client, &id).await? {
        if name.starts_with("ecs-operator-") {
            aas::delete_scheduled_action(client, &id, &name).await?;
        }
    }
    let alarms = owned_alarms(aws, owner).await?;
    if !alarms.is_empty() {
        aas::delete_alarms(&aws.cloudwatch, &alarms).await?;
    }
    aas::deregister_target(client, &id).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ecs_service::{
        AdjustmentType, ComparisonOperator, CustomizedMetric, MetricStatistic, ScalingAlarm,
        StepAdjustment, SuspendedState,
    };

    const TG: &str =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef";
    const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/front/fedcba9876543210";

    fn cpu(name: &str) -> TargetTrackingPolicy {
        TargetTrackingPolicy {
            name: name.into(),
            predefined_metric: Some(PredefinedMetric {
                type_: PredefinedMetricType::ECSServiceAverageCPUUtilization,
                ..Default::default()
            }),
            target_value: 50.0,
            ..Default::default()
        }
    }

    fn step(name: &str) -> StepScalingPolicy {
        StepScalingPolicy {
            name: name.into(),
            adjustment_type: AdjustmentType::ChangeInCapacity,
            step_adjustments: vec![StepAdjustment {
                metric_interval_lower_bound: Some(0.0),
                metric_interval_upper_bound: None,
                scaling_adjustment: 2,
            }],
            alarm: ScalingAlarm {
                metric_name: "CPUUtilization".into(),
                namespace: "AWS/ECS".into(),
                statistic: MetricStatistic::Average,
                threshold: 80.0,
                comparison_operator: ComparisonOperator::GreaterThanOrEqualToThreshold,
                evaluation_periods: 2,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn spec() -> ECSServiceSpec {
        ECSServiceSpec {
            auto_scaling: Some(AutoScaling {
                min_capacity: 1,
                max_capacity: 4,
                target_tracking: vec![cpu("cpu")],
                step_scaling: vec![step("burst")],
                scheduled: vec![ScheduledScaling {
                    name: "night".into(),
                    schedule: "cron(0 22 * * ? *)".into(),
                    min_capacity: Some(0),
                    max_capacity: Some(1),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn target(min: i32, max: i32) -> ObservedTarget {
        ObservedTarget {
            arn: None,
            min_capacity: min,
            max_capacity: max,
            suspended: SuspendedState::default(),
        }
    }

    const OWNER: Owner<'static> = Owner {
        namespace: "ns",
        name: "web",
        uid: "uid-1",
    };

    #[test]
    fn names_are_derived_from_the_object_and_bounded() {
        let spec = spec();
        let owner = Owner {
            namespace: "shop",
            name: "web-svc",
            uid: "uid-1",
        };
        let d = desired(
            &spec,
            "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
            "web",
            owner,
        )
        .expect("valid")
        .expect("configured");
        assert_eq!(d.resource_id, "service/prod/web");
        let prefix = name_prefix(owner);
        assert!(
            prefix.starts_with("ecs-operator-") && prefix.ends_with("-shop-web-svc-"),
            "readable: {prefix}"
        );
        assert_eq!(d.target_tracking[0].policy_name, format!("{prefix}cpu"));
        assert_eq!(d.step_scaling[0].alarm_name, format!("{prefix}burst"));
        assert_eq!(d.scheduled[0].0, format!("{prefix}night"));
        assert_eq!(
            d.step_scaling[0].dimensions,
            vec![
                MetricDimension {
                    name: "ClusterName".into(),
                    value: "prod".into()
                },
                MetricDimension {
                    name: "ServiceName".into(),
                    value: "web".into()
                },
            ]
        );
        let (namespace, name) = ("n".repeat(63), "x".repeat(253));
        let long = Owner {
            namespace: &namespace,
            name: &name,
            uid: "uid-1",
        };
        assert!(name_prefix(long).len() <= 180, "{}", name_prefix(long));
        assert_eq!(name_prefix(long), name_prefix(long), "stable");
    }

    #[test]
    fn no_objects_prefix_starts_another_objects_names() {
        let owner = |namespace, name, uid| Owner {
            namespace,
            name,
            uid,
        };
        let pairs = [
            (owner("ns", "web", "u-1"), owner("ns", "web-canary", "u-2")),
            (owner("shop", "web-x", "u-3"), owner("shop-web", "x", "u-4")),
        ];
        for (a, b) in pairs {
            let (pa, pb) = (name_prefix(a), name_prefix(b));
            let alarm_of_b = format!("{pb}cpu");
            let alarm_of_a = format!("{pa}cpu");
            assert!(!alarm_of_b.starts_with(&pa), "{pa} would take {alarm_of_b}");
            assert!(!alarm_of_a.starts_with(&pb), "{pb} would take {alarm_of_a}");
        }
        // Same namespace and name, another object (deleted and created again): other names.
        assert_ne!(
            name_prefix(owner("ns", "web", "u-1")),
            name_prefix(owner("ns", "web", "u-9"))
        );
    }

    #[test]
    fn unchanged_spec_is_up_to_date_and_changes_put_again() {
        let spec = spec();
        let d = desired(&spec, "prod", "web", OWNER).unwrap().unwrap();
        let applied = AutoScalingStatus {
            applied_hash: Some(d.hash.clone()),
            ..Default::default()
        };
        assert_eq!(
            plan(Some(&d), Some(&applied), Some(&target(1, 4))),
            ScalingPlan::UpToDate
        );
        assert_eq!(
            plan(Some(&d), Some(&applied), Some(&target(1, 9))),
            ScalingPlan::RegisterTarget
        );
        assert_eq!(
            plan(Some(&d), Some(&applied), None),
            ScalingPlan::PutAll,
            "target deregistered behind our back"
        );
        assert_eq!(
            plan(Some(&d), None, Some(&target(1, 4))),
            ScalingPlan::PutAll
        );
        let mut changed = spec.clone();
        if let Some(a) = changed.auto_scaling.as_mut() {
            a.target_tracking[0].target_value = 60.0;
        }
        let d2 = desired(&changed, "prod", "web", OWNER).unwrap().unwrap();
        assert_ne!(d.hash, d2.hash);
        assert_eq!(
            plan(Some(&d2), Some(&applied), Some(&target(1, 4))),
            ScalingPlan::PutAll
        );
        assert_eq!(plan(None, Some(&applied), None), ScalingPlan::Remove);
        assert_eq!(plan(None, None, None), ScalingPlan::Nothing);
    }

    #[test]
    fn alb_label_is_derived_or_explicit() {
        let lbs = vec![LoadBalancer {
            target_group_arn: TG.into(),
            container_name: "app".into(),
            container_port: 8080,
        }];
        let mut metric = PredefinedMetric {
            type_: PredefinedMetricType::ALBRequestCountPerTarget,
            load_balancer_arn: Some(LB.into()),
            ..Default::default()
        };
        assert_eq!(
            resource_label(&metric, &lbs, "f").unwrap().as_deref(),
            Some("app/front/fedcba9876543210/targetgroup/web/0123456789abcdef")
        );
        let err = resource_label(&metric, &[], "spec.autoScaling.targetTracking[0]").unwrap_err();
        assert!(err.contains("spec.loadBalancers"), "{err}");
        metric.load_balancer_arn = None;
        assert!(
            resource_label(&metric, &lbs, "f")
                .unwrap_err()
                .contains("resourceLabel")
        );
        metric.resource_label = Some("app/a/1/targetgroup/b/2".into());
        assert_eq!(
            resource_label(&metric, &[], "f").unwrap().as_deref(),
            Some("app/a/1/targetgroup/b/2")
        );
    }

    #[test]
    fn bad_input_names_the_field() {
        let mut s = spec();
        if let Some(a) = s.auto_scaling.as_mut() {
            a.min_capacity = 5;
        }
        assert!(
            desired(&s, "c", "w", OWNER)
                .unwrap_err()
                .contains("minCapacity")
        );
        let mut s = spec();
        if let Some(a) = s.auto_scaling.as_mut() {
            a.target_tracking[0].customized_metric = Some(CustomizedMetric::default());
        }
        assert!(
            desired(&s, "c", "w", OWNER)
                .unwrap_err()
                .contains("targetTracking[0]")
        );
        assert_eq!(
            desired(&ECSServiceSpec::default(), "c", "w", OWNER),
            Ok(None)
        );
    }
}
