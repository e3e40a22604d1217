//! The admin endpoint: plain HTTP on an address of the hospital's choosing, loopback by
//! default, never the internet-facing one ([`AdminConfig::check`]). It serves two pages and
//! nothing else, and reads no request body:
//!
//! | path | answer |
//! |---|---|
//! | `GET /metrics` | the Prometheus text format ([`super::metrics::scrape`]) |
//! | `GET /health` (or `/healthz`) | `200 ok: …` when the connector can work, `503` naming what cannot |
//!
//! The pages carry counts and CA names, never a person's identity or address, so the
//! endpoint has no login: who can reach it is decided by where it listens (and the host's
//! firewall). Connections are few and bounded: a handful at once, a header timeout.
//!
//! Not here: anything that changes the connector. Reloads go through SIGHUP
//! (`vigie-connector reload`).

mod config;
pub mod health;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use config::{AdminConfig, DEFAULT_PORT};

use super::metrics::text::CONTENT_TYPE;
use super::{ServeError, Shared};
use health::Tasks;

/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 8;
/// How long a client has to send its request headers.
const PATIENCE: Duration = Duration::from_secs(10);

/// Binds the endpoint's listener.
pub async fn bind(config: &AdminConfig) -> Result<TcpListener, ServeError> {
    TcpListener::bind(config.listen)
        .await
        .map_err(|e| ServeError::Bind(format!("[admin] listen {}: {e}", config.listen)))
}

/// Serves the endpoint until the task is aborted.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, tasks: Arc<Tasks>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let (shared, tasks) = (shared.clone(), tasks.clone());
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let handler = hyper::service::service_fn(move |request| {
                let (shared, tasks) = (shared.clone(), tasks.clone());
                async move { Ok::<_, Infallible>(handle(&shared, &tasks, &request).await) }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(PATIENCE)
                .keep_alive(false);
            if let Err(error) = builder.serve_connection(io, handler).await {
                tracing::trace!(%error, "admin connection ended with an error");
            }
            drop(slot);
        });
    }
}

async fn handle(
    shared: &Arc<Shared>,
    tasks: &Tasks,
    request: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    if request.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET is served here\n");
    }
    match request.uri().path() {
        "/metrics" => {
            let page = super::metrics::scrape::render(shared, unix_now());
            respond(StatusCode::OK, CONTENT_TYPE, page)
        }
        "/health" | "/healthz" => health(shared, tasks).await,
        _ => text(
            StatusCode::NOT_FOUND,
            "not found; try /metrics or /health\n",
        ),
    }
}

async fn health(shared: &Arc<Shared>, tasks: &Tasks) -> Response<Full<Bytes>> {
    let problems = health::problems(shared, tasks).await;
    if problems.is_empty() {
        let plane = if shared.dataplane.is_some() {
            ", data plane"
        } else {
            ""
        };
        let body = format!("ok: {}{plane}\n", health::PARTS);
        return text(StatusCode::OK, &body);
    }
    tracing::debug!(?problems, "health check failed");
    let body = format!("not ready: {}\n", problems.join("; "));
    text(StatusCode::SERVICE_UNAVAILABLE, &body)
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    respond(status, "text/plain; charset=utf-8", body.to_owned())
}

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn unix_now() -> u64 {
    chrono::Utc::now().timestamp().max(0).unsigned_abs()
}
