//! Which AWS identities, Regions and pass roles a namespace may use, from the cluster's
//! `AWSAccessGrant`s: the pure decision ([`decide`]) and the cached reads it needs
//! ([`Grants`]). When the grants (or the labels a grant selects by) cannot be read, the
//! answer is no.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};

use crate::api::AWSAccessGrant;

/// How long the grants (and namespace labels) read from the apiserver are used: a changed
/// grant applies within this time.
const TTL: Duration = Duration::from_secs(5);

/// What an object asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessRequest<'a> {
    pub namespace: &'a str,
    /// The Region it acts in (its `spec.region`, or the operator's).
    pub region: &'a str,
    /// The operator's Region.
    pub operator_region: &'a str,
    /// Its `spec.roleArn`.
    pub role_arn: Option<&'a str>,
    /// Task and execution roles it names.
    pub pass_roles: &'a [&'a str],
}

/// What the object may act as.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Access {
    /// The role to assume; `None`: the operator's own identity.
    pub role_arn: Option<String>,
}

/// Why a request is refused: a condition reason and a message that names what was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    pub message: String,
}

/// `*` matches any run of characters (including none); everything else literally.
pub fn pattern_matches(pattern: &str, value: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == value;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if value.len() < first.len() + last.len() || !value.starts_with(first) || !value.ends_with(last)
    {
        return false;
    }
    let mut rest = &value[first.len()..value.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// Whether `labels` satisfy `selector` (matchLabels and matchExpressions, as Kubernetes
/// reads them). An unknown operator matches nothing.
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labels_match = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let expressions_match = selector.match_expressions.iter().flatten().all(|e| {
        let value = labels.get(&e.key);
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    labels_match && expressions_match
}

/// Whether `grant` covers `namespace`. `labels` is `None` when the namespace's labels could
/// not be read: a grant that selects by label cannot then be judged (`None`).
pub fn grant_covers(
    grant: &AWSAccessGrant,
    namespace: &str,
    labels: Option<&BTreeMap<String, String>>,
) -> Option<bool> {
    if grant.spec.namespaces.iter().any(|n| n == namespace) {
        return Some(true);
    }
    match (&grant.spec.namespace_selector, labels) {
        (None, _) => Some(false),
        (Some(selector), Some(labels)) => Some(selector_matches(selector, labels)),
        (Some(_), None) => None,
    }
}

/// The decision for `request` given every grant of the cluster. A namespace no grant covers
/// acts as the operator's own identity (a single-team install needs no grant) and may not
/// name a role. A covered namespace may use the roles, Regions and pass roles of any one
/// grant that covers it.
pub fn decide(
    grants: &[AWSAccessGrant],
    request: &AccessRequest<'_>,
    labels: Option<&BTreeMap<String, String>>,
) -> Result<Access, Refusal> {
    let mut covering = Vec::new();
    for grant in grants {
        match grant_covers(grant, request.namespace, labels) {
            Some(true) => covering.push(grant),
            Some(false) => {}
            None => {
                return Err(Refusal {
                    reason: "GrantsUnavailable",
                    message: format!(
                        "AWSAccessGrant {} selects namespaces by label and the labels of namespace {} cannot be read: access is refused until they can",
                        grant.name_any(),
                        request.namespace
                    ),
                });
            }
        }
    }
    // Stable order: the first grant by name gives the default role.
    covering.sort_by_key(|g| g.name_any());
    if covering.is_empty() {
        return match request.role_arn {
            None => Ok(Access::default()),
            Some(role) => Err(Refusal {
                reason: "RoleNotGranted",
                message: format!(
                    "role {role} is not granted to namespace {}: no AWSAccessGrant covers the namespace, so its objects act as the operator's own identity and cannot set spec.roleArn. A cluster administrator grants roles with an AWSAccessGrant",
                    request.namespace
                ),
            }),
        };
    }
    let role_of = |grant: &AWSAccessGrant| -> Option<String> {
        match request.role_arn {
            Some(role) => grant
                .spec
                .role_arns
                .iter()
                .any(|p| pattern_matches(p, role))
                .then(|| role.to_string()),
            None => Some(grant.spec.default_role_arn.clone().unwrap_or_default()),
        }
    };
    let region_allowed = |grant: &AWSAccessGrant| {
        if grant.spec.regions.is_empty() {
            request.region == request.operator_region
        } else {
            grant.spec.regions.iter().any(|r| r == request.region)
        }
    };
    let pass_role_refused = |grant: &AWSAccessGrant| {
        request.pass_roles.iter().find(|role| {
            !grant
                .spec
                .pass_role_arns
                .iter()
                .any(|p| pattern_matches(p, role))
        })
    };
    let with_role: Vec<(&AWSAccessGrant, String)> = covering
        .iter()
        .filter_map(|g| role_of(g).map(|r| (*g, r)))
        .collect();
    if with_role.is_empty() {
        return Err(Refusal {
            reason: "RoleNotGranted",
            message: format!(
                "role {} is not granted to namespace {}: no AWSAccessGrant that covers the namespace lists it in roleArns",
                request.role_arn.unwrap_or_default(),
                request.namespace
            ),
        });
    }
    let in_region: Vec<&(&AWSAccessGrant, String)> = with_role
        .iter()
        .filter(|(g, _)| region_allowed(g))
        .collect();
    if in_region.is_empty() {
        return Err(Refusal {
            reason: "RegionNotGranted",
            message: format!(
                "Region {} is not granted to namespace {} for this role: no AWSAccessGrant that grants the role lists the Region",
                request.region, request.namespace
            ),
        });
    }
    let mut refused_pass_role = None;
    for (grant, role) in in_region {
        match pass_role_refused(grant) {
            None => {
                return Ok(Access {
                    role_arn: (!role.is_empty()).then(|| role.clone()),
                });
            }
            Some(pass_role) => refused_pass_role = refused_pass_role.or(Some(*pass_role)),
        }
    }
    Err(Refusal {
        reason: "PassRoleNotGranted",
        message: format!(
            "task or execution role {} is not granted to namespace {}: no AWSAccessGrant that grants the role and Region lists it in passRoleArns",
            refused_pass_role.unwrap_or_default(),
            request.namespace
        ),
    })
}

type Labels = BTreeMap<String, String>;

/// The grants and namespace labels, read through a short cache.
pub struct Grants {
    grants: Api<AWSAccessGrant>,
    namespaces: Api<Namespace>,
    cache: Mutex<Option<(Vec<AWSAccessGrant>, Instant)>>,
    labels: Mutex<BTreeMap<String, (Labels, Instant)>>,
}

impl Grants {
    pub fn new(client: Client) -> Self {
        Self {
            grants: Api::all(client.clone()),
            namespaces: Api::all(client),
            cache: Mutex::default(),
            labels: Mutex::default(),
        }
    }

    /// The decision for `request`; a grant or label read that fails refuses access.
    pub async fn decide(&self, request: &AccessRequest<'_>) -> Result<Access, Refusal> {
        let grants = self.all().await.map_err(|err| Refusal {
            reason: "GrantsUnavailable",
            message: format!(
                "the AWSAccessGrants cannot be read ({}): access is refused until they can",
                kube_error_summary(&err)
            ),
        })?;
        let labels = if grants.iter().any(|g| g.spec.namespace_selector.is_some()) {
            self.labels_of(request.namespace).await.ok()
        } else {
            Some(BTreeMap::new())
        };
        decide(&grants, request, labels.as_ref())
    }

    async fn all(&self) -> Result<Vec<AWSAccessGrant>, kube::Error> {
        if let Some((grants, at)) = lock(&self.cache).as_ref()
            && at.elapsed() < TTL
        {
            return Ok(grants.clone());
        }
        let grants = self.grants.list(&ListParams::default()).await?.items;
        *lock(&self.cache) = Some((grants.clone(), Instant::now()));
        Ok(grants)
    }

    async fn labels_of(&self, namespace: &str) -> Result<BTreeMap<String, String>, kube::Error> {
        if let Some((labels, at)) = lock(&self.labels).get(namespace)
            && at.elapsed() < TTL
        {
            return Ok(labels.clone());
        }
        let labels = self.namespaces.get(namespace).await?.labels().clone();
        let mut cache = lock(&self.labels);
        // Bounded: namespaces come and go, and only recent ones matter.
        cache.retain(|_, (_, at)| at.elapsed() < TTL);
        cache.insert(namespace.to_string(), (labels.clone(), Instant::now()));
        Ok(labels)
    }
}

/// A Kubernetes error without response bodies: the status code and reason.
fn kube_error_summary(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) => format!("{} {}", status.code, status.reason),
        other => other.to_string(),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::AWSAccessGrantSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    const TEAM_A: &str = "arn:aws:iam::111111111111:role/team-a/deployer";
    const TEAM_B: &str = "arn:aws:iam::222222222222:role/team-b/deployer";

    fn grant(name: &str, spec: AWSAccessGrantSpec) -> AWSAccessGrant {
        AWSAccessGrant::new(name, spec)
    }

    fn team_a() -> AWSAccessGrant {
        grant(
            "team-a",
            AWSAccessGrantSpec {
                namespaces: vec!["a".into()],
                role_arns: vec!["arn:aws:iam::111111111111:role/team-a/*".into()],
                default_role_arn: Some(TEAM_A.into()),
                regions: vec!["eu-west-1".into()],
                pass_role_arns: vec!["arn:aws:iam::111111111111:role/team-a/tasks/*".into()],
                ..Default::default()
            },
        )
    }

    fn team_b() -> AWSAccessGrant {
        grant(
            "team-b",
            AWSAccessGrantSpec {
                namespace_selector: Some(LabelSelector {
                    match_labels: Some(BTreeMap::from([("team".into(), "b".into())])),
                    ..Default::default()
                }),
                role_arns: vec![TEAM_B.into()],
                regions: vec!["us-east-1".into()],
                ..Default::default()
            },
        )
    }

    fn request<'a>(
        namespace: &'a str,
        region: &'a str,
        role: Option<&'a str>,
        pass: &'a [&'a str],
    ) -> AccessRequest<'a> {
        AccessRequest {
            namespace,
            region,
            operator_region: "us-east-1",
            role_arn: role,
            pass_roles: pass,
        }
    }

    #[test]
    fn patterns_match_with_stars_only() {
        assert!(pattern_matches(
            "arn:aws:iam::1:role/a/*",
            "arn:aws:iam::1:role/a/x"
        ));
        assert!(pattern_matches("*", "anything"));
        assert!(pattern_matches("a*b*c", "abc"));
        assert!(pattern_matches("a*b*c", "a-b-b-c"));
        assert!(!pattern_matches("a*b*c", "acb"));
        assert!(!pattern_matches(
            "arn:aws:iam::1:role/a/*",
            "arn:aws:iam::1:role/ab"
        ));
        assert!(!pattern_matches(
            "arn:aws:iam::1:role/a",
            "arn:aws:iam::1:role/a2"
        ));
        assert!(
            !pattern_matches("ab*ba", "aba"),
            "prefix and suffix must not overlap"
        );
    }

    #[test]
    fn a_namespace_without_grant_is_the_operator_and_names_no_role() {
        let grants = [team_a()];
        let none = BTreeMap::new();
        assert_eq!(
            decide(&grants, &request("c", "us-east-1", None, &[]), Some(&none)),
            Ok(Access::default())
        );
        let refused = decide(
            &grants,
            &request("c", "us-east-1", Some(TEAM_A), &[]),
            Some(&none),
        )
        .expect_err("no grant, no role");
        assert_eq!(refused.reason, "RoleNotGranted");
        assert!(refused.message.contains(TEAM_A));
    }

    #[test]
    fn a_covered_namespace_gets_its_default_role() {
        let access = decide(
            &[team_a(), team_b()],
            &request("a", "eu-west-1", None, &[]),
            Some(&BTreeMap::new()),
        )
        .expect("granted");
        assert_eq!(access.role_arn.as_deref(), Some(TEAM_A));
    }

    #[test]
    fn another_namespaces_role_is_refused() {
        let refused = decide(
            &[team_a(), team_b()],
            &request("a", "eu-west-1", Some(TEAM_B), &[]),
            Some(&BTreeMap::new()),
        )
        .expect_err("B's role");
        assert_eq!(refused.reason, "RoleNotGranted");
        assert!(refused.message.contains(TEAM_B));
    }

    #[test]
    fn a_granted_role_in_another_region_is_refused() {
        let refused = decide(
            &[team_a()],
            &request("a", "us-west-2", Some(TEAM_A), &[]),
            Some(&BTreeMap::new()),
        )
        .expect_err("region");
        assert_eq!(refused.reason, "RegionNotGranted");
        assert!(refused.message.contains("us-west-2"));
    }

    #[test]
    fn pass_roles_must_match_the_grant() {
        let ok = "arn:aws:iam::111111111111:role/team-a/tasks/web";
        let bad = "arn:aws:iam::111111111111:role/admin";
        assert!(
            decide(
                &[team_a()],
                &request("a", "eu-west-1", None, &[ok]),
                Some(&BTreeMap::new())
            )
            .is_ok()
        );
        let refused = decide(
            &[team_a()],
            &request("a", "eu-west-1", None, &[ok, bad]),
            Some(&BTreeMap::new()),
        )
        .expect_err("pass role");
        assert_eq!(refused.reason, "PassRoleNotGranted");
        assert!(refused.message.contains(bad));
    }

    #[test]
    fn label_selected_grants_need_readable_labels() {
        let labels = BTreeMap::from([("team".to_string(), "b".to_string())]);
        let access = decide(
            &[team_b()],
            &request("b", "us-east-1", Some(TEAM_B), &[]),
            Some(&labels),
        )
        .expect("selected by label");
        assert_eq!(access.role_arn.as_deref(), Some(TEAM_B));
        let refused = decide(&[team_b()], &request("b", "us-east-1", None, &[]), None)
            .expect_err("labels unreadable");
        assert_eq!(refused.reason, "GrantsUnavailable");
    }

    #[test]
    fn selector_expressions() {
        let selector = LabelSelector {
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "In".into(),
                    values: Some(vec!["prod".into(), "staging".into()]),
                },
                LabelSelectorRequirement {
                    key: "frozen".into(),
                    operator: "DoesNotExist".into(),
                    values: None,
                },
            ]),
            ..Default::default()
        };
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(selector_matches(&selector, &labels(&[("tier", "prod")])));
        assert!(!selector_matches(&selector, &labels(&[("tier", "dev")])));
        assert!(!selector_matches(
            &selector,
            &labels(&[("tier", "prod"), ("frozen", "")])
        ));
        assert!(selector_matches(&LabelSelector::default(), &labels(&[])));
    }
}
