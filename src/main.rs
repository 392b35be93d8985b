//! The `ecs-operator` command line.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Parser, Subcommand, ValueEnum};
use ecs_operator::api::common::DeletionPolicy;
use ecs_operator::api::{all_crds, crd_file_content, crd_file_name, crds_yaml};
use ecs_operator::aws::AwsSettings;
use ecs_operator::aws::budget::RateLimits;
use ecs_operator::runtime::Config;
use ecs_operator::runtime::health::MetricsServing;
use ecs_operator::runtime::leader::{LeaseConfig, default_identity};
use ecs_operator::runtime::operator::{RunSettings, run};
use ecs_operator::runtime::tls::ServingCertificate;

#[derive(Parser, Debug)]
#[command(
    name = "ecs-operator",
    version,
    about = "Run Amazon ECS from Kubernetes custom resources"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the controllers against the cluster in the kubeconfig (or in-cluster config).
    Run(Box<RunArgs>),
    /// Print every CustomResourceDefinition as YAML, or write one file per CRD into a directory.
    Crds {
        /// Write `<name>.yaml` files into this directory instead of printing (used for `crds/`).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// Print the version.
    Version,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// AWS Region of the resources (default: the SDK's chain, e.g. AWS_REGION).
    #[arg(long, env = "ECS_OPERATOR_AWS_REGION")]
    aws_region: Option<String>,
    /// AWS endpoint override, e.g. a local emulator (the SDK's AWS_ENDPOINT_URL also works).
    #[arg(long, env = "ECS_OPERATOR_AWS_ENDPOINT_URL")]
    aws_endpoint_url: Option<String>,
    /// Accept plain-HTTP AWS endpoints (local emulators only: requests go unencrypted).
    #[arg(long, env = "ECS_OPERATOR_ALLOW_INSECURE_ENDPOINT", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    allow_insecure_endpoint: bool,
    /// Client-side AWS rate limits overriding the defaults (90% of ECS's published buckets),
    /// as <category>=<per-second>/<burst> pairs, e.g. service-modify=4/40,task-definition-modify=0.8/16.
    #[arg(long, env = "ECS_OPERATOR_AWS_RATE_LIMITS", value_parser = ecs_operator::aws::budget::parse_rate_limits)]
    aws_rate_limits: Option<RateLimits>,
    /// Namespaces to watch, comma-separated or repeated (default: all namespaces).
    #[arg(long, env = "ECS_OPERATOR_WATCH_NAMESPACE", value_name = "NAMESPACE", value_delimiter = ',', action = ArgAction::Append)]
    watch_namespace: Vec<String>,
    /// Label selector: only objects matching it are managed (to shard large fleets).
    #[arg(long, env = "ECS_OPERATOR_WATCH_SELECTOR")]
    watch_selector: Option<String>,
    /// Parallel reconciles per kind.
    #[arg(long, env = "ECS_OPERATOR_CONCURRENCY", default_value_t = 16)]
    concurrency: u16,
    /// How often each resource is observed in AWS to detect drift (e.g. 60s, 5m).
    #[arg(long, env = "ECS_OPERATOR_RESYNC_INTERVAL", default_value = "60s", value_parser = parse_duration)]
    resync_interval: Duration,
    /// Deletion policy for resources that do not set spec.deletionPolicy.
    #[arg(long, env = "ECS_OPERATOR_DEFAULT_DELETION_POLICY", value_enum, default_value_t = PolicyArg::Delete)]
    default_deletion_policy: PolicyArg,
    /// Task definition revisions kept besides the current one (unless the resource says).
    #[arg(long, env = "ECS_OPERATOR_REVISION_HISTORY_LIMIT", default_value_t = 1)]
    revision_history_limit: usize,
    /// Log format.
    #[arg(long, env = "ECS_OPERATOR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Log level or filter (tracing EnvFilter syntax), e.g. info or ecs_operator=debug.
    #[arg(long, env = "ECS_OPERATOR_LOG_LEVEL", default_value = "info")]
    log_level: String,
    /// Address of the Prometheus endpoint (/metrics).
    #[arg(
        long,
        env = "ECS_OPERATOR_METRICS_ADDR",
        default_value = "0.0.0.0:8443"
    )]
    metrics_addr: SocketAddr,
    /// Serve /metrics over HTTPS, only to bearer tokens the apiserver authenticates
    /// (TokenReview) and allows `get` on the non-resource URL /metrics (SubjectAccessReview).
    /// --metrics-secure=false serves plain HTTP to anyone who connects: bind it to loopback or
    /// put a proxy in front. Takes true/false.
    #[arg(long, env = "ECS_OPERATOR_METRICS_SECURE", value_name = "BOOL", num_args = 0..=1, default_value = "true", default_missing_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    metrics_secure: bool,
    /// PEM certificate chain serving /metrics (e.g. tls.crt of a cert-manager Secret), re-read
    /// when it changes. Without it a self-signed certificate is generated at start.
    #[arg(
        long,
        env = "ECS_OPERATOR_METRICS_TLS_CERT_FILE",
        requires = "metrics_tls_key_file"
    )]
    metrics_tls_cert_file: Option<PathBuf>,
    /// PEM private key of --metrics-tls-cert-file.
    #[arg(
        long,
        env = "ECS_OPERATOR_METRICS_TLS_KEY_FILE",
        requires = "metrics_tls_cert_file"
    )]
    metrics_tls_key_file: Option<PathBuf>,
    /// Address of the health endpoints: /healthz (alive), /readyz (caches synced, AWS answers).
    #[arg(long, env = "ECS_OPERATOR_HEALTH_ADDR", default_value = "0.0.0.0:8081")]
    health_addr: SocketAddr,
    /// Reconcile only while holding a Lease, so that one of several replicas acts. Takes
    /// true/false (--leader-elect alone means true).
    #[arg(long, env = "ECS_OPERATOR_LEADER_ELECT", value_name = "BOOL", num_args = 0..=1, default_value = "false", default_missing_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    leader_elect: bool,
    /// Namespace of the Lease (default: POD_NAMESPACE, else default).
    #[arg(long, env = "ECS_OPERATOR_LEADER_ELECTION_NAMESPACE")]
    leader_election_namespace: Option<String>,
    /// Name of the Lease.
    #[arg(
        long,
        env = "ECS_OPERATOR_LEADER_ELECTION_LEASE_NAME",
        default_value = "ecs-operator"
    )]
    leader_election_lease_name: String,
    /// Server-side apply the CRDs at start-up and wait until they are Established. Takes
    /// true/false (--install-crds alone means true).
    #[arg(long, env = "ECS_OPERATOR_INSTALL_CRDS", value_name = "BOOL", num_args = 0..=1, default_value = "false", default_missing_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    install_crds: bool,
}

impl RunArgs {
    fn metrics_serving(&self) -> MetricsServing {
        if !self.metrics_secure {
            return MetricsServing::Plain;
        }
        match (&self.metrics_tls_cert_file, &self.metrics_tls_key_file) {
            (Some(cert), Some(key)) => MetricsServing::Secure(ServingCertificate::Files {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => MetricsServing::Secure(ServingCertificate::SelfSigned),
        }
    }

    fn leader_election(&self) -> Option<LeaseConfig> {
        if !self.leader_elect {
            return None;
        }
        let namespace = self
            .leader_election_namespace
            .clone()
            .filter(|ns| !ns.is_empty())
            .or_else(|| {
                std::env::var("POD_NAMESPACE")
                    .ok()
                    .filter(|ns| !ns.is_empty())
            })
            .unwrap_or_else(|| "default".into());
        Some(LeaseConfig::new(
            namespace,
            self.leader_election_lease_name.clone(),
            default_identity(),
        ))
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum PolicyArg {
    Delete,
    Retain,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let value: u64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: expected e.g. 30s, 5m, 1h"))?;
    let seconds = match unit {
        "" | "s" => value,
        "m" => value * 60,
        "h" => value * 3600,
        _ => return Err(format!("invalid duration unit in {text:?}: use s, m or h")),
    };
    if seconds == 0 {
        return Err("duration must be positive".into());
    }
    Ok(Duration::from_secs(seconds))
}

/// Trimmed, without empties (an empty ECS_OPERATOR_WATCH_NAMESPACE means all) or repeats.
fn watch_namespaces(values: Vec<String>) -> Vec<String> {
    let mut namespaces: Vec<String> = values
        .iter()
        .map(|ns| ns.trim().to_string())
        .filter(|ns| !ns.is_empty())
        .collect();
    namespaces.sort();
    namespaces.dedup();
    namespaces
}

fn init_logging(format: LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        LogFormat::Text => builder.init(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    ecs_operator::runtime::install_crypto_provider();
    match cli.command {
        Command::Crds { dir: None } => match crds_yaml(&all_crds()) {
            Ok(yaml) => {
                if std::io::stdout().write_all(yaml.as_bytes()).is_err() {
                    return ExitCode::FAILURE;
                }
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("error: rendering CRDs: {err}");
                ExitCode::FAILURE
            }
        },
        Command::Crds { dir: Some(dir) } => {
            for crd in all_crds() {
                let path = dir.join(crd_file_name(&crd));
                let written = crd_file_content(&crd)
                    .map_err(|e| e.to_string())
                    .and_then(|text| std::fs::write(&path, text).map_err(|e| e.to_string()));
                if let Err(err) = written {
                    eprintln!("error: writing {}: {err}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("ecs-operator {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Run(args) => {
            init_logging(args.log_format, &args.log_level);
            let leader_election = args.leader_election();
            let metrics_serving = args.metrics_serving();
            let settings = RunSettings {
                aws: AwsSettings {
                    region: args.aws_region,
                    endpoint_url: args.aws_endpoint_url,
                    credentials: None,
                    allow_insecure_endpoint: args.allow_insecure_endpoint,
                    rate_limits: args.aws_rate_limits.unwrap_or_default(),
                    ..AwsSettings::default()
                },
                config: Config {
                    resync_interval: args.resync_interval,
                    default_deletion_policy: match args.default_deletion_policy {
                        PolicyArg::Delete => DeletionPolicy::Delete,
                        PolicyArg::Retain => DeletionPolicy::Retain,
                    },
                    revision_history_limit: args.revision_history_limit,
                },
                concurrency: args.concurrency,
                namespaces: watch_namespaces(args.watch_namespace),
                label_selector: args.watch_selector.filter(|s| !s.trim().is_empty()),
                leader_election,
                metrics_addr: Some(args.metrics_addr),
                metrics_serving,
                health_addr: Some(args.health_addr),
                install_crds: args.install_crds,
            };
            match run(settings).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    tracing::error!(error = %err, "operator failed");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_args(args: &[&str]) -> RunArgs {
        let cli = Cli::try_parse_from(["ecs-operator", "run"].iter().chain(args))
            .unwrap_or_else(|e| panic!("{e}"));
        match cli.command {
            Command::Run(args) => *args,
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn accepts_what_the_helm_chart_passes() {
        let args = run_args(&[
            "--metrics-addr=0.0.0.0:8443",
            "--metrics-tls-cert-file=/tls/tls.crt",
            "--metrics-tls-key-file=/tls/tls.key",
            "--health-addr=0.0.0.0:8081",
            "--concurrency=16",
            "--resync-interval=60s",
            "--default-deletion-policy=delete",
            "--revision-history-limit=1",
            "--log-format=json",
            "--log-level=info",
            "--leader-election-namespace=ops",
            "--leader-election-lease-name=ecs-operator",
            "--watch-namespace=team-a",
            "--watch-selector=shard=1",
        ]);
        assert_eq!(args.metrics_addr.port(), 8443);
        assert_eq!(
            args.metrics_serving(),
            MetricsServing::Secure(ServingCertificate::Files {
                cert: "/tls/tls.crt".into(),
                key: "/tls/tls.key".into()
            })
        );
        assert_eq!(args.health_addr.port(), 8081);
        assert_eq!(args.watch_namespace, vec!["team-a"]);
        assert!(!args.leader_elect);
        assert!(!args.install_crds);
        assert_eq!(args.leader_election_lease_name, "ecs-operator");
    }

    #[test]
    fn boolean_flags_take_an_optional_value() {
        assert!(run_args(&["--leader-elect"]).leader_elect);
        assert!(run_args(&["--leader-elect=true"]).leader_elect);
        assert!(!run_args(&["--leader-elect=false"]).leader_elect);
        assert!(run_args(&["--install-crds", "--leader-elect"]).install_crds);
        let lease = run_args(&["--leader-elect", "--leader-election-namespace=ops"])
            .leader_election()
            .expect("leader election on");
        assert_eq!(
            (lease.namespace.as_str(), lease.name.as_str()),
            ("ops", "ecs-operator")
        );
        assert!(run_args(&[]).leader_election().is_none());
    }

    #[test]
    fn metrics_are_secure_unless_opted_out() {
        assert_eq!(
            run_args(&[]).metrics_serving(),
            MetricsServing::Secure(ServingCertificate::SelfSigned)
        );
        assert_eq!(
            run_args(&["--metrics-secure=false"]).metrics_serving(),
            MetricsServing::Plain
        );
        // A certificate without its key (or the reverse) is refused, not half-used.
        assert!(
            Cli::try_parse_from([
                "ecs-operator",
                "run",
                "--metrics-tls-cert-file=/tls/tls.crt"
            ])
            .is_err()
        );
    }

    #[test]
    fn watch_namespaces_are_comma_separated_or_repeated() {
        let args = run_args(&[
            "--watch-namespace=a,b",
            "--watch-namespace",
            "c",
            "--watch-namespace=a",
        ]);
        assert_eq!(watch_namespaces(args.watch_namespace), vec!["a", "b", "c"]);
        assert!(watch_namespaces(vec![String::new()]).is_empty());
    }
}
