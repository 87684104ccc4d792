//! Who is calling: the Cognito ID or access token in `Authorization: Bearer`,
//! verified through the pool's JWKS (RS256, issuer, client, expiry; keys cached
//! by [`mentorcast_auth::Verifier`]). Verified tokens are cached until they
//! expire, so a player's heartbeat does not pay an RSA verification each time.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use mentorcast_auth::{AuthError, Identity, Verifier};
use sha2::{Digest, Sha256};

use crate::error::ApiErr;
use crate::AppState;

/// The Cognito group of mentors (who have channels).
pub const MENTOR: &str = "mentor";
/// The Cognito group of mentees.
pub const MENTEE: &str = "mentee";
/// The Cognito group of admins, who see every recording.
pub const ADMIN: &str = "admin";

/// A verified caller.
#[derive(Debug, Clone)]
pub struct User {
    /// Cognito `sub`: the stable id we store.
    pub sub: String,
    pub username: String,
    pub groups: Vec<String>,
}

impl User {
    /// Whether the user is in the Cognito group `g`.
    pub fn in_group(&self, g: &str) -> bool {
        self.groups.iter().any(|x| x == g)
    }
    /// Whether the user is an admin.
    pub fn is_admin(&self) -> bool {
        self.in_group(ADMIN)
    }
    /// 403 unless the user is a mentor.
    pub fn require_mentor(&self) -> Result<(), ApiErr> {
        if self.in_group(MENTOR) {
            Ok(())
        } else {
            Err(ApiErr::Forbidden(format!("{} is not in the mentor group: only mentors have channels", self.username)))
        }
    }
}

impl From<Identity> for User {
    fn from(i: Identity) -> Self {
        User { sub: i.sub, username: i.username, groups: i.groups }
    }
}

/// Verifies tokens and remembers the ones already verified (by SHA-256, until expiry).
pub struct Tokens {
    verifier: Verifier,
    cache: Mutex<HashMap<[u8; 32], (u64, User)>>,
}

impl Tokens {
    /// Verification through `verifier`, with an empty cache.
    pub fn new(verifier: Verifier) -> Tokens {
        Tokens { verifier, cache: Mutex::new(HashMap::new()) }
    }

    /// The user of `token`: from the cache until the token expires, else verified (401 when it is not accepted).
    pub async fn verify(&self, token: &str) -> Result<User, ApiErr> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = now_unix() as u64;
        if let Some((exp, u)) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            if *exp > now {
                return Ok(u.clone());
            }
        }
        match self.verifier.verify_token(token).await {
            Ok(id) => {
                let exp = id.expires_at;
                let user = User::from(id);
                let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                if cache.len() > 100_000 {
                    cache.retain(|_, (e, _)| *e > now);
                }
                cache.insert(key, (exp, user.clone()));
                Ok(user)
            }
            Err(AuthError::InvalidToken(why)) => {
                Err(ApiErr::Unauthorized(format!("the token was not accepted: {why}; sign in again")))
            }
            Err(e) => Err(ApiErr::Internal(format!("verifying a token: {e}"))),
        }
    }
}

/// Unix seconds now (0 if the clock is before 1970).
pub fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn bearer(parts: &Parts) -> Result<Option<&str>, ApiErr> {
    let Some(h) = parts.headers.get(axum::http::header::AUTHORIZATION) else { return Ok(None) };
    let h = h.to_str().map_err(|_| ApiErr::Unauthorized("the Authorization header is not text".into()))?;
    match h.split_once(' ') {
        Some((scheme, tok)) if scheme.eq_ignore_ascii_case("bearer") && !tok.trim().is_empty() => Ok(Some(tok.trim())),
        _ => Err(ApiErr::Unauthorized("the Authorization header must be `Bearer <Cognito ID or access token>`".into())),
    }
}

impl FromRequestParts<AppState> for User {
    type Rejection = ApiErr;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiErr> {
        match bearer(parts)? {
            Some(tok) => state.tokens.verify(tok).await,
            None => Err(ApiErr::Unauthorized(
                "sign in first: this call needs a Cognito token (Authorization: Bearer)".into(),
            )),
        }
    }
}

/// A caller who may be anonymous (heartbeats from the watch page); a token,
/// when present, must still be valid.
pub struct MaybeUser(pub Option<User>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiErr;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiErr> {
        match bearer(parts)? {
            Some(tok) => Ok(MaybeUser(Some(state.tokens.verify(tok).await?))),
            None => Ok(MaybeUser(None)),
        }
    }
}
