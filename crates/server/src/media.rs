//! Recording media behind short-lived signed URLs:
//! `{public_url}/media/recordings/{id}/video.mp4?exp=…&sig=…` and
//! `…/thumbnail.jpg?…`. The signature is HMAC-SHA256 over `kind|id|exp`
//! (hex); the URL works in a `<video>` element or ffplay without a bearer
//! header. A missing, bad or expired signature is a 404: for whoever holds a
//! wrong URL, the recording does not exist. Files are served with HTTP range
//! requests (206 + Content-Range, 416 when unsatisfiable) so players can seek.

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tower::ServiceExt;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiErr, ApiResult, QueryArgs};
use crate::identity::now_unix;
use crate::storage::{Location, StorageError};
use crate::AppState;

type HmacSha256 = Hmac<Sha256>;

/// What a signed URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Video,
    Thumbnail,
}

impl MediaKind {
    /// The file name in a media URL: `video.mp4` or `thumbnail.jpg`.
    pub fn file_name(self) -> &'static str {
        match self {
            MediaKind::Video => "video.mp4",
            MediaKind::Thumbnail => "thumbnail.jpg",
        }
    }
    fn tag(self) -> &'static str {
        match self {
            MediaKind::Video => "video",
            MediaKind::Thumbnail => "thumbnail",
        }
    }
    fn from_file_name(s: &str) -> Option<MediaKind> {
        match s {
            "video.mp4" => Some(MediaKind::Video),
            "thumbnail.jpg" => Some(MediaKind::Thumbnail),
            _ => None,
        }
    }
}

/// Signs and checks media URLs.
pub struct Signer {
    key: Vec<u8>,
    ttl_s: u64,
}

impl Signer {
    /// `key`: the configured signing key (its bytes); None: 32 random bytes (URLs die with the process).
    pub fn new(key: Option<&str>, ttl_s: u64) -> Signer {
        let key = match key {
            Some(k) if !k.is_empty() => k.as_bytes().to_vec(),
            _ => {
                use rand::RngCore;
                let mut k = vec![0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut k);
                k
            }
        };
        Signer { key, ttl_s: ttl_s.max(1) }
    }

    /// How long a signed URL works, seconds.
    pub fn ttl_s(&self) -> u64 {
        self.ttl_s
    }

    fn mac(&self, kind: MediaKind, id: i64, exp: i64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(format!("{}|{id}|{exp}", kind.tag()).as_bytes());
        mac
    }

    /// The signature of (kind, id, exp): hex HMAC-SHA256.
    pub fn sign(&self, kind: MediaKind, id: i64, exp: i64) -> String {
        hex::encode(self.mac(kind, id, exp).finalize().into_bytes())
    }

    /// True when `sig` is the signature of (kind, id, exp) and `exp` is not past `now`.
    pub fn verify(&self, kind: MediaKind, id: i64, exp: i64, sig: &str, now: i64) -> bool {
        if exp < now {
            return false;
        }
        let Ok(raw) = hex::decode(sig) else { return false };
        self.mac(kind, id, exp).verify_slice(&raw).is_ok()
    }

    /// The expiry for URLs issued now.
    pub fn expiry(&self, now: i64) -> i64 {
        now + self.ttl_s as i64
    }

    /// `{base}/media/recordings/{id}/{file}?exp=…&sig=…`
    pub fn url(&self, base: &str, kind: MediaKind, id: i64, exp: i64) -> String {
        format!(
            "{}/media/recordings/{id}/{}?exp={exp}&sig={}",
            base.trim_end_matches('/'),
            kind.file_name(),
            self.sign(kind, id, exp)
        )
    }
}

/// The media route: `GET /media/recordings/{id}/{file}`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(recording_media))
}

/// The signature part of a media URL's query.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SignedQuery {
    /// Unix seconds after which the URL stops working.
    exp: Option<String>,
    /// Hex HMAC-SHA256 of the URL's kind, id and expiry.
    sig: Option<String>,
}

/// A recording's MP4 or thumbnail, by signed URL (from the recordings listing).
#[utoipa::path(
    get,
    path = "/media/recordings/{id}/{file}",
    tag = "recordings",
    params(
        ("id" = String, Path, description = "Recording id"),
        ("file" = String, Path, description = "`video.mp4` or `thumbnail.jpg`"),
        SignedQuery
    ),
    responses(
        (status = 200, description = "The whole file (video/mp4 or image/jpeg)"),
        (status = 206, description = "The requested byte range, with Content-Range"),
        (
            status = 404,
            description = "No such recording, or the URL's signature is missing, wrong or expired",
            body = mentorcast_api::ErrorBody
        ),
        (status = 416, description = "The range cannot be satisfied")
    )
)]
pub async fn recording_media(
    State(state): State<AppState>,
    Path((id, file)): Path<(String, String)>,
    QueryArgs(q): QueryArgs<SignedQuery>,
    req: Request,
) -> ApiResult<Response> {
    let gone = || ApiErr::not_found("recording");
    let kind = MediaKind::from_file_name(&file).ok_or_else(gone)?;
    let id: i64 = id.parse().map_err(|_| gone())?;
    let exp: i64 = q.exp.as_deref().and_then(|e| e.parse().ok()).ok_or_else(gone)?;
    let sig = q.sig.as_deref().ok_or_else(gone)?;
    if !state.signer.verify(kind, id, exp, sig, now_unix()) {
        tracing::debug!(id, kind = kind.tag(), "media URL with a bad or expired signature");
        return Err(gone());
    }
    let row: Option<(String, String)> = sqlx::query_as("SELECT media_key, thumbnail_key FROM recordings WHERE id = ?")
        .bind(id)
        .fetch_optional(&state.db)
        .await?;
    let (media_key, thumb_key) = row.ok_or_else(gone)?;
    let key = if kind == MediaKind::Video { media_key } else { thumb_key };
    let loc = match state.storage.locate(&key).await {
        Ok(l) => l,
        Err(StorageError::NotFound(_)) | Err(StorageError::BadKey(_)) => {
            tracing::warn!(id, %key, "a recording's media is missing from storage");
            return Err(gone());
        }
        Err(e) => return Err(ApiErr::internal(e)),
    };
    match loc {
        Location::Url(u) => Ok(Redirect::temporary(&u).into_response()),
        Location::File(path) => {
            let resp = tower_http::services::ServeFile::new(path).oneshot(req).await.map_err(ApiErr::internal)?;
            let mut resp = resp.map(axum::body::Body::new);
            if resp.status() == StatusCode::NOT_FOUND {
                return Err(gone());
            }
            let ct = if kind == MediaKind::Video { "video/mp4" } else { "image/jpeg" };
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            // The URL is the credential: caches may keep it only as long as it lives, never shared.
            let max_age = (exp - now_unix()).max(0);
            if let Ok(v) = HeaderValue::from_str(&format!("private, max-age={max_age}")) {
                resp.headers_mut().insert(header::CACHE_CONTROL, v);
            }
            resp.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
            resp.headers_mut().insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("Content-Length, Content-Range, Accept-Ranges"),
            );
            Ok(resp)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_kind_id_and_expiry() {
        let s = Signer::new(Some("k"), 60);
        let sig = s.sign(MediaKind::Video, 7, 1000);
        assert!(s.verify(MediaKind::Video, 7, 1000, &sig, 999));
        assert!(s.verify(MediaKind::Video, 7, 1000, &sig, 1000));
        assert!(!s.verify(MediaKind::Video, 7, 1000, &sig, 1001), "expired");
        assert!(!s.verify(MediaKind::Thumbnail, 7, 1000, &sig, 0), "other kind");
        assert!(!s.verify(MediaKind::Video, 8, 1000, &sig, 0), "other id");
        assert!(!s.verify(MediaKind::Video, 7, 1001, &sig, 0), "other expiry");
        assert!(!s.verify(MediaKind::Video, 7, 1000, "zz", 0), "not hex");
        assert!(!s.verify(MediaKind::Video, 7, 1000, &sig[..10], 0), "truncated");
        assert!(!Signer::new(Some("other"), 60).verify(MediaKind::Video, 7, 1000, &sig, 0), "other key");
        let r1 = Signer::new(None, 60);
        let r2 = Signer::new(None, 60);
        assert_ne!(r1.sign(MediaKind::Video, 1, 1), r2.sign(MediaKind::Video, 1, 1), "random keys");
        assert_eq!(
            s.url("http://h/", MediaKind::Thumbnail, 3, 9),
            format!("http://h/media/recordings/3/thumbnail.jpg?exp=9&sig={}", s.sign(MediaKind::Thumbnail, 3, 9))
        );
    }
}
