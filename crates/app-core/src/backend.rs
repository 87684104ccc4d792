//! The backend as the signed-in user, over `mentorcast_api::Client` with a fresh
//! ID token per call (refreshed and retried once on a 401). The stream key
//! stays here: the UI gets [`ChannelView`] (masked) and the key only on an
//! explicit [`Backend::reveal_key`].

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use mentorcast_api::{ApiError, Channel, Client, Recording};
use mentorcast_auth::WithTokenError;

use crate::account::{auth_error, Account};
use crate::dto::{ChannelView, ErrorKindDto, RecordingView, UiError, ViewerCountView};

pub fn api_error(e: ApiError) -> UiError {
    match &e {
        ApiError::Unreachable { .. } => UiError::new(ErrorKindDto::Network, format!("{e}: is the backend running?")),
        ApiError::Unauthorized(m) => UiError::new(
            ErrorKindDto::SignedOut,
            format!("the backend did not accept the sign-in ({m}); sign in again"),
        ),
        ApiError::Forbidden(m) => UiError::new(ErrorKindDto::Forbidden, format!("not allowed: {m}")),
        ApiError::NotFound(m) => UiError::new(ErrorKindDto::NotFound, format!("not found: {m}")),
        _ => UiError::new(ErrorKindDto::Other, e.to_string()),
    }
}

/// `sk_AbCd…` → `sk_••••••••••••`: only the key's type prefix (`sk_`, not secret)
/// stays visible, no character of the secret part (the issue date tells keys apart).
pub fn mask_key(key: &str) -> String {
    let prefix = match key.find('_') {
        Some(i) if i <= 3 && key[..i].chars().all(|c| c.is_ascii_alphabetic()) => &key[..=i],
        _ => "",
    };
    format!("{prefix}{}", "•".repeat(12))
}

pub fn channel_view(c: &Channel) -> ChannelView {
    ChannelView {
        app: c.app.clone(),
        ingest_url: c.ingest_url.clone(),
        key_masked: mask_key(&c.stream_key),
        hls_url: c.hls_url.clone(),
        watch_url: c.watch_url.clone(),
        key_issued_at: c.key_issued_at,
    }
}

pub fn recording_view(r: &Recording) -> RecordingView {
    RecordingView {
        id: r.id,
        app: r.app.clone(),
        mentor: r.mentor.clone(),
        started_at: r.started_at,
        ended_at: r.ended_at,
        duration_s: r.duration_s,
        size_bytes: r.size_bytes,
        url: r.url.clone(),
        thumbnail_url: r.thumbnail_url.clone(),
        viewers_total: r.viewers_total,
        viewers_peak: r.viewers_peak,
        avg_play_time_s: r.stats.as_ref().map(|s| s.avg_play_time_s),
    }
}

pub fn viewer_view(v: &mentorcast_api::ViewerCount, connected: bool) -> ViewerCountView {
    let c = |x: u64| x.min(u32::MAX as u64) as u32;
    ViewerCountView { active: c(v.active), peak: c(v.peak), total: c(v.total), connected }
}

pub struct Backend {
    base: String,
    account: Arc<Account>,
    channel: tokio::sync::Mutex<Option<Channel>>,
}

impl Backend {
    pub fn new(base: String, account: Arc<Account>) -> Self {
        Self { base, account, channel: tokio::sync::Mutex::new(None) }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    async fn call<T, F, Fut>(&self, f: F) -> Result<T, UiError>
    where
        F: Fn(Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, ApiError>>,
    {
        let client = Client::new(&self.base).map_err(api_error)?;
        let auth = self.account.auth().await?;
        let r = mentorcast_api::client::as_signed_in(&auth, &client, f).await;
        match r {
            Ok(v) => Ok(v),
            Err(WithTokenError::Call(e)) => Err(api_error(e)),
            Err(WithTokenError::Auth(e)) => Err(auth_error(e)),
        }
    }

    /// The channel (fetched, so a key rotated elsewhere is seen).
    pub async fn channel(&self) -> Result<Channel, UiError> {
        let c = self.call(|c| async move { c.channel().await }).await?;
        *self.channel.lock().await = Some(c.clone());
        Ok(c)
    }

    pub async fn channel_view(&self) -> Result<ChannelView, UiError> {
        Ok(channel_view(&self.channel().await?))
    }

    pub async fn rotate_key(&self) -> Result<ChannelView, UiError> {
        let c = self.call(|c| async move { c.rotate_key().await }).await?;
        *self.channel.lock().await = Some(c.clone());
        Ok(channel_view(&c))
    }

    /// The key in clear: only for the explicit Reveal / Copy buttons.
    pub async fn reveal_key(&self) -> Result<String, UiError> {
        if let Some(c) = self.channel.lock().await.as_ref() {
            return Ok(c.stream_key.clone());
        }
        Ok(self.channel().await?.stream_key)
    }

    pub async fn forget(&self) {
        *self.channel.lock().await = None;
    }

    pub async fn recordings(&self) -> Result<Vec<RecordingView>, UiError> {
        let app = self.channel.lock().await.as_ref().map(|c| c.app.clone());
        let mut list = self
            .call(|c| {
                let app = app.clone();
                async move { c.recordings(app.as_deref()).await }
            })
            .await?;
        list.sort_by_key(|r| std::cmp::Reverse(r.started_at));
        Ok(list.iter().map(recording_view).collect())
    }

    /// Follows the live viewer count of `app` (SSE) until `stop` fires, calling
    /// `on` with every count; reconnects (after 1 s, then up to 10 s) when the
    /// stream breaks, telling `on` it is disconnected meanwhile.
    pub async fn follow_viewers(
        &self,
        app: String,
        on: impl Fn(ViewerCountView) + Send,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut backoff = Duration::from_secs(1);
        let mut last = ViewerCountView::default();
        loop {
            if *stop.borrow() {
                return;
            }
            let opened = self.call(|c| {
                let app = app.clone();
                async move { c.viewers_live(&app).await.map(|s| s.boxed()) }
            });
            let stream = tokio::select! {
                s = opened => s,
                _ = stop.changed() => return,
            };
            match stream {
                Ok(mut s) => {
                    backoff = Duration::from_secs(1);
                    loop {
                        tokio::select! {
                            item = s.next() => match item {
                                Some(Ok(v)) => { last = viewer_view(&v, true); on(last); }
                                Some(Err(e)) => { tracing::debug!("viewer count stream: {e}"); break; }
                                None => break,
                            },
                            _ = stop.changed() => return,
                        }
                    }
                }
                Err(e) => tracing::debug!("viewer count stream not opened: {}", e.message),
            }
            on(ViewerCountView { connected: false, ..last });
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.changed() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_masked() {
        assert_eq!(mask_key("sk_abcdefghijklmnopqrstuvwxyz012345"), format!("sk_{}", "•".repeat(12)));
        // a key of another shape shows nothing of itself
        assert_eq!(mask_key("abcdef_ghijkl"), "•".repeat(12));
        assert_eq!(mask_key("a"), "•".repeat(12));
    }

    #[test]
    fn api_errors_read_as_sentences() {
        let e =
            api_error(ApiError::Unreachable { base: "http://127.0.0.1:1".into(), detail: "connection refused".into() });
        assert_eq!(e.kind, ErrorKindDto::Network);
        assert!(e.message.ends_with("is the backend running?"), "{}", e.message);
    }
}
