//! ID-token verification: RS256 against the pool's JWKS (fetched once, cached,
//! refetched when a token names an unknown key), issuer, audience (the app
//! client), `token_use = id`, and expiry by the injectable clock.

use std::sync::{Arc, Mutex};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

use crate::error::{AuthError, Result};
use crate::time::Clock;

/// Who is signed in, from a verified ID token.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Identity {
    pub username: String,
    pub email: Option<String>,
    pub groups: Vec<String>,
    /// Unix seconds at which the ID token expires.
    pub expires_at: u64,
    pub sub: String,
}

/// The group whose members may broadcast.
pub const MENTOR_GROUP: &str = "mentor";

impl Identity {
    pub fn is_mentor(&self) -> bool {
        self.groups.iter().any(|g| g == MENTOR_GROUP)
    }

    /// Ok for members of `mentor`; otherwise the reason, in a sentence.
    pub fn require_mentor(&self) -> Result<()> {
        if self.is_mentor() {
            Ok(())
        } else {
            Err(AuthError::NotMentor(self.username.clone()))
        }
    }
}

#[derive(Debug, Deserialize)]
struct IdClaims {
    sub: String,
    exp: u64,
    token_use: Option<String>,
    #[serde(rename = "cognito:username")]
    username: Option<String>,
    /// Access tokens name the user here (ID tokens in `cognito:username`).
    #[serde(rename = "username")]
    access_username: Option<String>,
    /// Access tokens name the app client here (ID tokens in `aud`).
    client_id: Option<String>,
    #[serde(default)]
    aud: Option<serde_json::Value>,
    email: Option<String>,
    #[serde(rename = "cognito:groups", default)]
    groups: Vec<String>,
}

pub struct Verifier {
    jwks_url: String,
    issuer: String,
    client_id: String,
    clock: Arc<dyn Clock>,
    cache: Mutex<Option<Arc<JwkSet>>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("jwks_url", &self.jwks_url)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    pub fn new(jwks_url: String, issuer: String, client_id: String, clock: Arc<dyn Clock>) -> Verifier {
        Verifier { jwks_url, issuer, client_id, clock, cache: Mutex::new(None) }
    }

    /// Seeds the key cache (tests; or an app that ships the pool's keys).
    pub fn with_keys(self, keys: JwkSet) -> Verifier {
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(keys));
        self
    }

    async fn fetch(&self) -> Result<Arc<JwkSet>> {
        let url = self.jwks_url.clone();
        tracing::debug!(%url, "fetching JWKS");
        let res = tokio::task::spawn_blocking(move || -> Result<JwkSet> {
            let agent = ureq::AgentBuilder::new().timeout(std::time::Duration::from_secs(10)).build();
            match agent.get(&url).call() {
                Ok(resp) => {
                    let text = resp.into_string().map_err(|e| AuthError::Network {
                        endpoint: url.clone(),
                        detail: format!("reading the pool's signing keys failed: {e}"),
                    })?;
                    serde_json::from_str::<JwkSet>(&text)
                        .map_err(|e| AuthError::Misconfigured(format!("the JWKS at {url} is not a key set: {e}")))
                }
                Err(ureq::Error::Status(code, _)) => Err(AuthError::Misconfigured(format!(
                    "the JWKS at {url} answered HTTP {code}: check jwks_url and user_pool_id"
                ))),
                Err(e) => Err(AuthError::Network {
                    endpoint: url.clone(),
                    detail: format!("fetching the pool's signing keys failed: {}", e.kind()),
                }),
            }
        })
        .await
        .map_err(|e| AuthError::Unexpected(format!("JWKS fetch task: {e}")))??;
        let set = Arc::new(res);
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = Some(set.clone());
        Ok(set)
    }

    fn cached(&self) -> Option<Arc<JwkSet>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Verifies an ID token and reads who it is for.
    pub async fn verify_id_token(&self, token: &str) -> Result<Identity> {
        self.verify(token, false).await
    }

    /// Verifies an ID token or an access token (a backend accepts either):
    /// for an ID token the audience, for an access token its `client_id`,
    /// must be this app client.
    pub async fn verify_token(&self, token: &str) -> Result<Identity> {
        self.verify(token, true).await
    }

    async fn verify(&self, token: &str, access_ok: bool) -> Result<Identity> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| AuthError::InvalidToken("it is not a JWT".into()))?;
        if header.alg != Algorithm::RS256 {
            return Err(AuthError::InvalidToken(format!("it is signed with {:?}, not RS256", header.alg)));
        }
        let kid = header.kid.ok_or_else(|| AuthError::InvalidToken("it names no signing key (kid)".into()))?;
        let keys = match self.cached() {
            Some(k) if k.find(&kid).is_some() => k,
            _ => self.fetch().await?,
        };
        let jwk = keys
            .find(&kid)
            .ok_or_else(|| AuthError::InvalidToken("it is signed by a key the pool does not publish".into()))?;
        let key = DecodingKey::from_jwk(jwk)
            .map_err(|_| AuthError::InvalidToken("the pool's key is not an RSA key".into()))?;
        let mut v = Validation::new(Algorithm::RS256);
        v.set_issuer(&[&self.issuer]);
        // the audience is checked below: ID tokens carry it in `aud`, access tokens in `client_id`
        v.validate_aud = false;
        v.validate_exp = false; // checked below against our clock
        v.set_required_spec_claims(&["exp", "iss", "sub"]);
        let data = jsonwebtoken::decode::<IdClaims>(token, &key, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            AuthError::InvalidToken(
                match e.kind() {
                    K::InvalidSignature => "bad signature",
                    K::InvalidIssuer => "wrong issuer (another user pool?)",
                    K::MissingRequiredClaim(_) => "a required claim is missing",
                    K::ImmatureSignature => "not valid yet",
                    _ => "malformed",
                }
                .into(),
            )
        })?;
        let c = data.claims;
        let for_us = match c.token_use.as_deref() {
            Some("id") => match &c.aud {
                Some(serde_json::Value::String(a)) => a == &self.client_id,
                Some(serde_json::Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(self.client_id.as_str())),
                _ => false,
            },
            Some("access") if access_ok => c.client_id.as_deref() == Some(self.client_id.as_str()),
            Some("access") => return Err(AuthError::InvalidToken("it is not an ID token".into())),
            _ => {
                return Err(AuthError::InvalidToken(
                    if access_ok { "it is neither an ID nor an access token" } else { "it is not an ID token" }.into(),
                ))
            }
        };
        if !for_us {
            return Err(AuthError::InvalidToken("issued for another app client".into()));
        }
        if c.exp <= self.clock.now() {
            return Err(AuthError::InvalidToken("it has expired".into()));
        }
        let username = c.username.or(c.access_username).unwrap_or_else(|| c.sub.clone());
        Ok(Identity { username, email: c.email, groups: c.groups, expires_at: c.exp, sub: c.sub })
    }
}
