//! An HTTP client for the backend API (used by the CLI and the app).
//!
//! Every call carries the signed-in user's Cognito token as a bearer token;
//! errors are typed, and the server's one-sentence message is kept. Tokens
//! never appear in errors or logs.

use std::time::Duration;

use futures_util::{Stream, StreamExt};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Channel, ErrorBody, Heartbeat, HeartbeatAck, Recording, StreamStats, ViewerCount};

/// Why a call to the backend failed (by HTTP status where there was one).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The backend could not be reached at all.
    #[error("the backend at {base} could not be reached ({detail})")]
    Unreachable { base: String, detail: String },
    /// 401: the token is missing, expired or not from this pool.
    #[error("the backend did not accept the sign-in: {0}")]
    Unauthorized(String),
    /// 403: signed in, but not allowed (e.g. not a mentor).
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// 404.
    #[error("not found: {0}")]
    NotFound(String),
    /// 409 (e.g. the two-device limit).
    #[error("{0}")]
    Conflict(String),
    /// 400/422: the request was malformed.
    #[error("the backend refused the request: {0}")]
    BadRequest(String),
    /// 5xx or another status.
    #[error("the backend failed (HTTP {status}): {message}")]
    Server { status: u16, message: String },
    /// The backend answered something that is not the API's JSON.
    #[error("the backend's answer could not be read: {0}")]
    Malformed(String),
}

impl ApiError {
    /// The HTTP status behind the error, where there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Unauthorized(_) => Some(401),
            ApiError::Forbidden(_) => Some(403),
            ApiError::NotFound(_) => Some(404),
            ApiError::Conflict(_) => Some(409),
            ApiError::BadRequest(_) => Some(400),
            ApiError::Server { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The backend API at `base` (e.g. `http://127.0.0.1:8940`).
#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("base", &self.base).field("token", &self.token.as_ref().map(|_| "****")).finish()
    }
}

impl Client {
    /// A client of the backend at `base`, without a token (see [`Client::with_token`]).
    pub fn new(base: &str) -> Result<Client, ApiError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ApiError::Unreachable { base: base.to_string(), detail: e.to_string() })?;
        Ok(Client { base: base.trim_end_matches('/').to_string(), http, token: None })
    }

    /// A client that shares this one's connection pool (for many simulated players).
    pub fn with_http(base: &str, http: reqwest::Client) -> Client {
        Client { base: base.trim_end_matches('/').to_string(), http, token: None }
    }

    /// The same client, sending this Cognito ID or access token.
    pub fn with_token(mut self, token: impl Into<String>) -> Client {
        self.token = Some(token.into());
        self
    }

    /// The backend's base URL, without a trailing `/`.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut rb = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        rb
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> Result<reqwest::Response, ApiError> {
        let resp = rb.send().await.map_err(|e| self.unreachable(&e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let text = resp.text().await.unwrap_or_default();
        let message = match serde_json::from_str::<ErrorBody>(&text) {
            Ok(b) => b.message,
            Err(_) => format!("HTTP {status} without the API's error body"),
        };
        Err(match status {
            StatusCode::UNAUTHORIZED => ApiError::Unauthorized(message),
            StatusCode::FORBIDDEN => ApiError::Forbidden(message),
            StatusCode::NOT_FOUND => ApiError::NotFound(message),
            StatusCode::CONFLICT => ApiError::Conflict(message),
            StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => ApiError::BadRequest(message),
            s => ApiError::Server { status: s.as_u16(), message },
        })
    }

    fn unreachable(&self, e: &reqwest::Error) -> ApiError {
        // reqwest's Display names the URL; ours is not secret, but say it plainly.
        let detail = if e.is_connect() {
            "connection refused or host unknown".to_string()
        } else if e.is_timeout() {
            "timed out".to_string()
        } else {
            strip_url(e)
        };
        ApiError::Unreachable { base: self.base.clone(), detail }
    }

    async fn json<T: DeserializeOwned>(&self, rb: reqwest::RequestBuilder) -> Result<T, ApiError> {
        let resp = self.send(rb).await?;
        let bytes = resp.bytes().await.map_err(|e| self.unreachable(&e))?;
        serde_json::from_slice(&bytes).map_err(|e| ApiError::Malformed(e.to_string()))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        self.json(self.request(Method::GET, path)).await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, ApiError> {
        self.json(self.request(Method::POST, path).json(body)).await
    }

    /// `GET /api/v1/channel`: the signed-in mentor's channel (created on first call).
    pub async fn channel(&self) -> Result<Channel, ApiError> {
        self.get("/api/v1/channel").await
    }

    /// `POST /api/v1/channel/rotate-key`: a new key; the old one stops working at once.
    pub async fn rotate_key(&self) -> Result<Channel, ApiError> {
        self.post("/api/v1/channel/rotate-key", &serde_json::json!({})).await
    }

    /// `GET /api/v1/recordings[?app=]`: what the signed-in user may see.
    pub async fn recordings(&self, app: Option<&str>) -> Result<Vec<Recording>, ApiError> {
        let mut rb = self.request(Method::GET, "/api/v1/recordings");
        if let Some(a) = app {
            rb = rb.query(&[("app", a)]);
        }
        self.json(rb).await
    }

    /// `GET /api/v1/recordings/{id}`.
    pub async fn recording(&self, id: i64) -> Result<Recording, ApiError> {
        self.get(&format!("/api/v1/recordings/{id}")).await
    }

    /// `POST /api/v1/heartbeat`.
    pub async fn heartbeat(&self, hb: &Heartbeat) -> Result<HeartbeatAck, ApiError> {
        self.post("/api/v1/heartbeat", hb).await
    }

    /// `GET /api/v1/streams/{app}/stats`.
    pub async fn stream_stats(&self, app: &str) -> Result<StreamStats, ApiError> {
        self.get(&format!("/api/v1/streams/{}/stats", urlencode(app))).await
    }

    /// `GET /api/v1/streams/{app}/viewers/live` (SSE): the count each time it changes.
    pub async fn viewers_live(&self, app: &str) -> Result<impl Stream<Item = Result<ViewerCount, ApiError>>, ApiError> {
        let rb = self
            .request(Method::GET, &format!("/api/v1/streams/{}/viewers/live", urlencode(app)))
            .timeout(Duration::from_secs(24 * 3600));
        let resp = self.send(rb.header("accept", "text/event-stream")).await?;
        let base = self.base.clone();
        let mut buf = String::new();
        let stream = resp.bytes_stream().flat_map(move |chunk| {
            let out: Vec<Result<ViewerCount, ApiError>> = match chunk {
                Err(e) => vec![Err(ApiError::Unreachable { base: base.clone(), detail: strip_url(&e) })],
                Ok(bytes) => {
                    buf.push_str(&String::from_utf8_lossy(&bytes));
                    let mut events = Vec::new();
                    while let Some(end) = buf.find("\n\n") {
                        let event: String = buf.drain(..end + 2).collect();
                        if let Some(data) = sse_data(&event) {
                            events.push(
                                serde_json::from_str::<ViewerCount>(&data)
                                    .map_err(|e| ApiError::Malformed(e.to_string())),
                            );
                        }
                    }
                    events
                }
            };
            futures_util::stream::iter(out)
        });
        Ok(stream)
    }
}

/// Calls the API as the user signed in through `auth`: with their ID token,
/// refreshed before expiry and once more after a 401.
#[cfg(feature = "auth")]
pub async fn as_signed_in<T, F, Fut>(
    auth: &mentorcast_auth::Auth,
    client: &Client,
    call: F,
) -> Result<T, mentorcast_auth::WithTokenError<ApiError>>
where
    F: Fn(Client) -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    use mentorcast_auth::CallError;
    auth.with_fresh_token(|t| {
        let fut = call(client.clone().with_token(t.id_token));
        async move {
            match fut.await {
                Err(ApiError::Unauthorized(_)) => Err(CallError::Unauthorized),
                Err(e) => Err(CallError::Other(e)),
                Ok(v) => Ok(v),
            }
        }
    })
    .await
}

/// reqwest's error text without the URL (signed media URLs carry a signature).
fn strip_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(u.as_str(), "");
    }
    s
}

/// The `data:` lines of one SSE event, joined; None for comments/keep-alives.
fn sse_data(event: &str) -> Option<String> {
    let lines: Vec<&str> =
        event.lines().filter_map(|l| l.strip_prefix("data:")).map(|d| d.strip_prefix(' ').unwrap_or(d)).collect();
    if lines.is_empty() {
        None
    } else {
        Some(lines.join("\n"))
    }
}

/// Percent-encodes a path segment.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_are_split_and_comments_skipped() {
        assert_eq!(sse_data("event: viewers\ndata: {\"active\":3}\n\n").as_deref(), Some("{\"active\":3}"));
        assert_eq!(sse_data(": keep-alive\n\n"), None);
        assert_eq!(sse_data("data:a\ndata: b\n\n").as_deref(), Some("a\nb"));
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(urlencode("room-1_a.b~"), "room-1_a.b~");
        assert_eq!(urlencode("a/b?c d"), "a%2Fb%3Fc%20d");
    }

    #[test]
    fn debug_never_shows_the_key_or_token() {
        let c = Channel {
            app: "room".into(),
            ingest_url: "rtmp://h/room".into(),
            test_url: "rtmp://h/probe".into(),
            stream_key: "sk_secret".into(),
            hls_url: String::new(),
            watch_url: String::new(),
            key_issued_at: 0,
        };
        assert!(!format!("{c:?}").contains("sk_secret"));
        let cl = Client::new("http://127.0.0.1:1").unwrap().with_token("tok_secret");
        assert!(!format!("{cl:?}").contains("tok_secret"));
    }
}
