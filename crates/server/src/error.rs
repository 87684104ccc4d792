//! The server's errors.
//!
//! - [`ApiErr`]: every error the API answers with: a status and a JSON
//!   [`ErrorBody`] with a stable code and one sentence. Bad input is 4xx, never
//!   500; internal failures are logged (without secrets) and answered with a
//!   generic 500.
//! - [`ServerError`]: why the server could not start (config, database,
//!   storage, listening socket) or stopped serving.

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use mentorcast_api::ErrorBody;

/// An error answer of the API: the variant gives the status and code, its text the message.
#[derive(Debug, thiserror::Error)]
pub enum ApiErr {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Logged with its detail; the client gets a generic sentence.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What handlers (and what they call) return: an [`ApiErr`] becomes the error answer.
pub type ApiResult<T> = Result<T, ApiErr>;

impl ApiErr {
    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiErr::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiErr::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiErr::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiErr::NotFound(_) => StatusCode::NOT_FOUND,
            ApiErr::Conflict(_) => StatusCode::CONFLICT,
            ApiErr::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code ([`ErrorBody::error`]).
    pub fn code(&self) -> &'static str {
        match self {
            ApiErr::BadRequest(_) => "bad_request",
            ApiErr::Unauthorized(_) => "unauthorized",
            ApiErr::Forbidden(_) => "forbidden",
            ApiErr::NotFound(_) => "not_found",
            ApiErr::Conflict(_) => "conflict",
            ApiErr::Internal(_) => "internal",
        }
    }

    /// A 500 whose detail is logged, not sent.
    pub fn internal(e: impl std::fmt::Display) -> ApiErr {
        ApiErr::Internal(e.to_string())
    }

    /// A resource the caller may not see: it does not exist for them.
    pub fn not_found(what: &str) -> ApiErr {
        ApiErr::NotFound(format!("no such {what}"))
    }
}

impl From<sqlx::Error> for ApiErr {
    fn from(e: sqlx::Error) -> Self {
        ApiErr::Internal(format!("database: {e}"))
    }
}

impl IntoResponse for ApiErr {
    fn into_response(self) -> Response {
        let message = match &self {
            ApiErr::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                "the server failed to answer this request; try again".to_string()
            }
            other => other.to_string(),
        };
        (self.status(), Json(ErrorBody { error: self.code().to_string(), message })).into_response()
    }
}

/// `Json<T>` whose rejections are our 400 JSON errors (axum's are plain text, some 422/415).
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiErr;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiErr> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(JsonBody(v)),
            Err(r) => Err(ApiErr::BadRequest(json_rejection(&r))),
        }
    }
}

fn json_rejection(r: &JsonRejection) -> String {
    match r {
        JsonRejection::MissingJsonContentType(_) => "the body must be JSON (Content-Type: application/json)".into(),
        JsonRejection::JsonSyntaxError(_) => "the body is not valid JSON".into(),
        JsonRejection::JsonDataError(e) => format!("the JSON does not have the expected fields: {}", e.body_text()),
        _ => "the body could not be read".into(),
    }
}

/// `Query<T>` whose rejections are our 400 JSON errors.
pub struct QueryArgs<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for QueryArgs<T> {
    type Rejection = ApiErr;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiErr> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(QueryArgs(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(ApiErr::BadRequest(format!("bad query string: {}", e.body_text())))
            }
            Err(_) => Err(ApiErr::BadRequest("bad query string".into())),
        }
    }
}

/// Why the server could not start, or stopped serving. Each message names the
/// file, folder, URL or address at fault (the cause is the error's `source`)
/// and never carries a secret: not the hook secret nor the signing key, and a
/// password in `database_url` shows as `***`.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The config file could not be read.
    #[error("cannot read the server config {}", path.display())]
    ConfigRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid TOML, or a key is missing or of the wrong type.
    /// `detail` says what and where (line, column), without the file's text.
    #[error("{} is not a valid server config: {detail}", path.display())]
    Config { path: PathBuf, detail: String },
    /// `database_url` is not a SQLite URL.
    #[error("database_url {url:?} is not a SQLite URL")]
    DatabaseUrl {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    /// The database could not be opened (or created).
    #[error("cannot open the database {url}")]
    Database {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    /// The migrations in `migrations/` could not be applied.
    #[error("cannot migrate the database {url}")]
    Migrate {
        url: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// The recording storage's folder could not be created.
    #[error("cannot create the recordings folder {}", path.display())]
    Storage {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The listening socket could not be set up.
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server stopped with an error.
    #[error("serving HTTP failed")]
    Serve(#[source] std::io::Error),
}
