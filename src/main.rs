//! The `ecs-operator` command line.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use ecs_operator::api::common::DeletionPolicy;
use ecs_operator::api::{all_crds, crd_file_content, crd_file_name, crds_yaml};
use ecs_operator::aws::AwsSettings;
use ecs_operator::runtime::Config;
use ecs_operator::runtime::operator::{RunSettings, run};

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
    Run(RunArgs),
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
    /// Namespace to watch (default: all namespaces).
    #[arg(long, env = "ECS_OPERATOR_WATCH_NAMESPACE")]
    watch_namespace: Option<String>,
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
            let settings = RunSettings {
                aws: AwsSettings {
                    region: args.aws_region,
                    endpoint_url: args.aws_endpoint_url,
                    credentials: None,
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
                namespace: args.watch_namespace,
                label_selector: args.watch_selector,
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
