//! What every controller shares: configuration, the context handed to reconcilers, status
//! writes, Events and retry policy; and the process around them: watch caches, leader
//! election, metrics and health endpoints.

pub mod backoff;
pub mod context;
pub mod crash;
pub mod crds;
pub mod grants;
pub mod health;
pub mod leader;
pub mod metrics;
pub mod metrics_access;
pub mod tls;
pub mod watch;

pub use context::{Config, Context};
pub mod operator;

/// Selects the TLS crypto provider once per process. Both the Kubernetes client and the AWS
/// SDK use rustls; with more than one provider compiled in, rustls needs to be told.
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is all we need.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
