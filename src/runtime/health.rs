//! Health endpoints (`/healthz`: the process is alive; `/readyz`: the caches are synced and AWS
//! answers) and the small HTTP server that serves them and `/metrics`. Health stays plain
//! HTTP without authentication for the kubelet's probes; metrics are served over TLS to
//! callers the apiserver allows (see [`metrics_access`](super::metrics_access)) unless the
//! operator is told otherwise.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

use super::metrics::{CONTENT_TYPE as METRICS_CONTENT_TYPE, Metrics};
use super::metrics_access::{Access, MetricsAccess};
use super::tls::ServingCertificate;
use crate::aws::error::{ErrorClass, from_sdk};

/// How long an AWS probe result stays valid.
const PROBE_TTL: Duration = Duration::from_secs(30);
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// What `/readyz` looks at.
pub struct Health {
    caches_synced: AtomicBool,
    ecs: aws_sdk_ecs::Client,
    probe: tokio::sync::Mutex<()>,
    last_probe: Mutex<Option<(Instant, Result<(), String>)>>,
}

impl Health {
    pub fn new(ecs: aws_sdk_ecs::Client) -> Arc<Self> {
        Arc::new(Self {
            caches_synced: AtomicBool::new(false),
            ecs,
            probe: tokio::sync::Mutex::new(()),
            last_probe: Mutex::new(None),
        })
    }

    pub fn set_caches_synced(&self) {
        self.caches_synced.store(true, Ordering::Relaxed);
    }

    /// Ok when ready; otherwise why not.
    pub async fn ready(&self) -> Result<(), String> {
        if !self.caches_synced.load(Ordering::Relaxed) {
            return Err("caches not synced yet".into());
        }
        self.aws_reachable().await
    }

    fn cached_probe(&self) -> Option<Result<(), String>> {
        let last = self.last_probe.lock().unwrap_or_else(|p| p.into_inner());
        last.as_ref()
            .filter(|(at, _)| at.elapsed() < PROBE_TTL)
            .map(|(_, result)| result.clone())
    }

    /// One cheap call (ListTaskDefinitions, one result; the operator's IAM policy allows it),
    /// at most every 30 s whatever the probe rate.
    async fn aws_reachable(&self) -> Result<(), String> {
        if let Some(result) = self.cached_probe() {
            return result;
        }
        let _one_at_a_time = self.probe.lock().await;
        if let Some(result) = self.cached_probe() {
            return result;
        }
        let call = self.ecs.list_task_definitions().max_results(1).send();
        let result = match tokio::time::timeout(PROBE_TIMEOUT, call).await {
            Err(_) => Err("AWS did not answer within 5s".to_string()),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => {
                let err = from_sdk("ListTaskDefinitions", err);
                // Throttled means AWS answered: the operator is working, only busy.
                if err.class == ErrorClass::Throttled {
                    Ok(())
                } else {
                    Err(format!("AWS not usable: {err}"))
                }
            }
        };
        if let Err(reason) = &result {
            warn!(%reason, "readiness probe failed");
        }
        *self.last_probe.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), result.clone()));
        result
    }
}

/// An answer: status, content type, body.
pub type Reply = (StatusCode, &'static str, String);
type Handler = Arc<dyn Fn(String) -> BoxFuture<'static, Reply> + Send + Sync>;

const TEXT: &str = "text/plain; charset=utf-8";

/// `/healthz` and `/readyz`.
pub fn health_routes(
    health: Arc<Health>,
) -> impl Fn(String) -> BoxFuture<'static, Reply> + Send + Sync + 'static {
    move |path| {
        let health = Arc::clone(&health);
        Box::pin(async move {
            match path.as_str() {
                "/healthz" | "/livez" => (StatusCode::OK, TEXT, "ok\n".into()),
                "/readyz" => match health.ready().await {
                    Ok(()) => (StatusCode::OK, TEXT, "ok\n".into()),
                    Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, TEXT, format!("{reason}\n")),
                },
                _ => (StatusCode::NOT_FOUND, TEXT, "not found\n".into()),
            }
        })
    }
}

/// `/metrics`.
pub fn metrics_routes(
    metrics: Metrics,
) -> impl Fn(String) -> BoxFuture<'static, Reply> + Send + Sync + 'static {
    move |path| {
        let metrics = metrics.clone();
        Box::pin(async move {
            match path.as_str() {
                "/metrics" => (StatusCode::OK, METRICS_CONTENT_TYPE, metrics.encode()),
                _ => (StatusCode::NOT_FOUND, TEXT, "not found\n".into()),
            }
        })
    }
}

/// How `/metrics` is served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetricsServing {
    /// HTTPS; each request needs a bearer token that the apiserver authenticates
    /// (TokenReview) and allows `get` on `/metrics` (SubjectAccessReview).
    Secure(ServingCertificate),
    /// Plain HTTP to anyone who can connect: for a loopback bind or a proxy in front.
    Plain,
}

impl Default for MetricsServing {
    fn default() -> Self {
        Self::Secure(ServingCertificate::SelfSigned)
    }
}

/// What protects a listener: TLS, and the apiserver deciding who may call.
pub struct Guard {
    pub tls: TlsAcceptor,
    pub access: Arc<MetricsAccess>,
}

/// How long a client has to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds `addr` (port 0 picks a free port; see `local_addr`).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves GET requests on `listener` with `routes` until dropped; behind `guard` when given.
pub fn serve(
    listener: TcpListener,
    routes: impl Fn(String) -> BoxFuture<'static, Reply> + Send + Sync + 'static,
    guard: Option<Guard>,
) -> impl Future<Output = ()> + Send + 'static {
    let routes: Handler = Arc::new(routes);
    let (tls, access) = match guard {
        Some(Guard { tls, access }) => (Some(tls), Some(access)),
        None => (None, None),
    };
    async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    debug!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let routes = Arc::clone(&routes);
            let access = access.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let Some(tls) = tls else {
                    return serve_connection(stream, peer, routes, access).await;
                };
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
                    Ok(Ok(stream)) => serve_connection(stream, peer, routes, access).await,
                    Ok(Err(err)) => debug!(%peer, error = %err, "TLS handshake failed"),
                    Err(_) => debug!(%peer, "TLS handshake timed out"),
                }
            });
        }
    }
}

async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    routes: Handler,
    access: Option<Arc<MetricsAccess>>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request: Request<Incoming>| {
        let routes = Arc::clone(&routes);
        let access = access.clone();
        async move {
            let (status, content_type, body) = if request.method() != Method::GET {
                (StatusCode::METHOD_NOT_ALLOWED, TEXT, "only GET\n".into())
            } else {
                let authorization = request
                    .headers()
                    .get(AUTHORIZATION)
                    .and_then(|v| v.to_str().ok());
                match allowed(access.as_deref(), authorization).await {
                    None => routes(request.uri().path().to_string()).await,
                    Some(refusal) => refusal,
                }
            };
            let mut response = Response::new(Full::new(Bytes::from(body)));
            *response.status_mut() = status;
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            if status == StatusCode::UNAUTHORIZED {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Ok::<_, Infallible>(response)
        }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .serve_connection(TokioIo::new(stream), service);
    if let Err(err) = connection.await {
        debug!(%peer, error = %err, "HTTP connection ended with an error");
    }
}

/// `None` when the request may proceed; otherwise the answer refusing it.
async fn allowed(access: Option<&MetricsAccess>, authorization: Option<&str>) -> Option<Reply> {
    let access = access?;
    match access.check(authorization).await {
        Ok(Access::Allowed) => None,
        Ok(Access::Unauthenticated) => Some((
            StatusCode::UNAUTHORIZED,
            TEXT,
            "Unauthorized: a bearer token the apiserver accepts is required\n".into(),
        )),
        Ok(Access::Forbidden) => Some((
            StatusCode::FORBIDDEN,
            TEXT,
            "Forbidden: the token's user may not get /metrics\n".into(),
        )),
        Err(err) => {
            warn!(error = %err, "could not check a metrics request");
            Some((
                StatusCode::INTERNAL_SERVER_ERROR,
                TEXT,
                "could not check the request with the apiserver\n".into(),
            ))
        }
    }
}
