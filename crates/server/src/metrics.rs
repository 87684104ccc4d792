//! `/metrics` in the Prometheus text format: requests by route and status
//! class, latency histograms by route, active streams, active viewers, and
//! hook outcomes.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::AppState;

/// Labels of the HTTP request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
    pub method: String,
    /// 2xx, 3xx, 4xx, 5xx
    pub status: String,
}

/// Labels of the HTTP latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LatencyLabels {
    pub route: String,
}

/// Labels of the ingest hook counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HookLabels {
    /// publish, publish_done, record_done
    pub hook: String,
    /// accepted, rejected, error
    pub outcome: String,
}

/// The server's Prometheus metrics, in their registry.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RouteLabels, Counter>,
    pub latency: Family<LatencyLabels, Histogram>,
    pub hooks: Family<HookLabels, Counter>,
    /// Channels live now.
    pub active_streams: Gauge,
    /// Viewers active now, over all streams.
    pub active_viewers: Gauge,
    pub heartbeats: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric at zero, registered under the `mentorcast` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("mentorcast");
        let requests = Family::<RouteLabels, Counter>::default();
        // 0.5 ms … ~4 s
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.0005, 2.0, 14))
        });
        let hooks = Family::<HookLabels, Counter>::default();
        let active_streams = Gauge::default();
        let active_viewers = Gauge::default();
        let heartbeats = Counter::default();
        registry.register("http_requests", "HTTP requests by route, method and status class", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency by route", latency.clone());
        registry.register("ingest_hooks", "Ingest hook calls by hook and outcome", hooks.clone());
        registry.register("active_streams", "Channels live now", active_streams.clone());
        registry.register(
            "active_viewers",
            "Viewers active now (heartbeat in the active window), all streams",
            active_viewers.clone(),
        );
        registry.register("heartbeats", "Heartbeats accepted", heartbeats.clone());
        Metrics { registry, requests, latency, hooks, active_streams, active_viewers, heartbeats }
    }

    /// Counts one call of `hook` with `outcome`.
    pub fn hook(&self, hook: &str, outcome: &str) {
        self.hooks.get_or_create(&HookLabels { hook: hook.into(), outcome: outcome.into() }).inc();
    }

    /// The metrics in the OpenMetrics text format (empty if encoding fails).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Middleware: counts and times every request by its route template (never the raw path).
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route =
        req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    let class = format!("{}xx", resp.status().as_u16() / 100);
    state.metrics.requests.get_or_create(&RouteLabels { route: route.clone(), method, status: class }).inc();
    state.metrics.latency.get_or_create(&LatencyLabels { route }).observe(start.elapsed().as_secs_f64());
    resp
}

/// `GET /metrics`.
pub async fn handler(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        state.metrics.render(),
    )
}
