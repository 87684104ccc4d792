//! Sign-in as a whole: Cognito calls + token store + ID-token verification +
//! refresh, as the CLI (and later the app) use it.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use crate::cognito::{Challenge, Cognito, SignInStep};
use crate::config::{CognitoConfig, PasswordPolicy, StoreChoice};
use crate::error::{AuthError, Result};
use crate::jwt::{Identity, Verifier};
use crate::store::{self, TokenStore, Tokens};
use crate::time::{Clock, SystemClock};
use crate::totp;

/// Signed-in state: the (fresh) tokens and who they are for.
#[derive(Debug, Clone)]
pub struct Session {
    pub tokens: Tokens,
    pub identity: Identity,
}

/// Where sign-in got to.
#[derive(Debug)]
pub enum Step {
    SignedIn(Session),
    Challenge(Challenge),
}

/// A TOTP enrolment in progress: show `secret` and `uri`, then call [`Auth::finish_totp_setup`].
pub struct TotpSetup {
    pub secret: String,
    pub uri: String,
}

impl std::fmt::Debug for TotpSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSetup { .. }")
    }
}

/// What sign-out did remotely (the local wipe always happens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteSignOut {
    /// GlobalSignOut succeeded.
    Done,
    /// There were no tokens.
    NotSignedIn,
    /// Cognito could not be reached or refused; the reason.
    Skipped(String),
}

/// A call that needs a token: tells `with_fresh_token` whether the server said 401.
#[derive(Debug)]
pub enum CallError<E> {
    Unauthorized,
    Other(E),
}

#[derive(Debug, thiserror::Error)]
pub enum WithTokenError<E: std::fmt::Display + std::fmt::Debug> {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("{0}")]
    Call(E),
}

#[derive(Default)]
pub struct Options {
    pub store: Option<StoreChoice>,
    /// The file store's path (default `<config dir>/mentorcast/tokens.json`).
    pub file_path: Option<PathBuf>,
    pub clock: Option<Arc<dyn Clock>>,
}

pub struct Auth {
    cognito: Cognito,
    verifier: Verifier,
    store: Arc<dyn TokenStore>,
    others: Vec<Arc<dyn TokenStore>>,
    notice: Option<String>,
    clock: Arc<dyn Clock>,
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| AuthError::Storage(format!("storage task failed: {e}")))?
}

impl Auth {
    /// Opens Cognito and the token store (probing the keyring off the async threads).
    pub async fn open(cfg: CognitoConfig, opts: Options) -> Result<Auth> {
        cfg.validate()?;
        let clock = opts.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let choice = opts.store.unwrap_or(cfg.token_store);
        let account = cfg.store_account();
        let file_path = opts.file_path;
        let chosen = blocking(move || store::choose(choice, &account, file_path)).await?;
        if let Some(n) = &chosen.notice {
            tracing::info!("{n}");
        }
        let verifier = Verifier::new(cfg.jwks_url(), cfg.issuer(), cfg.client_id.clone(), clock.clone());
        let cognito = Cognito::new(cfg, clock.clone())?;
        Ok(Auth {
            cognito,
            verifier,
            store: Arc::from(chosen.store),
            others: chosen.others.into_iter().map(Arc::from).collect(),
            notice: chosen.notice,
            clock,
        })
    }

    /// Set when the file store is used because no keyring is available.
    pub fn store_notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    pub fn store_description(&self) -> String {
        self.store.describe()
    }

    pub fn cognito(&self) -> &Cognito {
        &self.cognito
    }

    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    async fn load(&self) -> Result<Option<Tokens>> {
        let s = self.store.clone();
        if let Some(t) = blocking(move || s.load()).await? {
            return Ok(Some(t));
        }
        for o in &self.others {
            let o = o.clone();
            if let Ok(Some(t)) = blocking(move || o.load()).await {
                return Ok(Some(t));
            }
        }
        Ok(None)
    }

    async fn save(&self, t: &Tokens) -> Result<()> {
        let (s, t) = (self.store.clone(), t.clone());
        blocking(move || s.save(&t)).await
    }

    /// Removes the tokens from every store they may be in.
    pub async fn wipe(&self) -> Result<()> {
        let mut first_err = None;
        for s in std::iter::once(&self.store).chain(self.others.iter()) {
            let s = s.clone();
            if let Err(e) = blocking(move || s.clear()).await {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    async fn finish(&self, step: SignInStep) -> Result<Step> {
        match step {
            SignInStep::Challenge(c) => Ok(Step::Challenge(c)),
            SignInStep::Done(tokens) => {
                let identity = self.verifier.verify_id_token(&tokens.id_token).await?;
                self.save(&tokens).await?;
                tracing::info!(username = %identity.username, "signed in");
                Ok(Step::SignedIn(Session { tokens, identity }))
            }
        }
    }

    /// Starts a sign-in (SRP or USER_PASSWORD_AUTH, per config). The password is not kept.
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<Step> {
        let step = self.cognito.sign_in(username, password).await?;
        self.finish(step).await
    }

    /// NEW_PASSWORD_REQUIRED: checked against the pool's policy before it is sent.
    pub async fn answer_new_password(&self, ch: &Challenge, new_password: &str) -> Result<Step> {
        let policy = self.password_policy().await;
        let step = self.cognito.answer_new_password(ch, new_password, &policy).await?;
        self.finish(step).await
    }

    pub async fn answer_mfa(&self, ch: &Challenge, code: &str) -> Result<Step> {
        let step = self.cognito.answer_mfa(ch, code).await?;
        self.finish(step).await
    }

    pub async fn password_policy(&self) -> PasswordPolicy {
        self.cognito.password_policy().await
    }

    /// Refreshes now; a refused refresh wipes the tokens (signed out).
    async fn refresh(&self, old: &Tokens) -> Result<Session> {
        match self.cognito.refresh(old).await {
            Ok(tokens) => {
                let identity = self.verifier.verify_id_token(&tokens.id_token).await?;
                self.save(&tokens).await?;
                tracing::debug!(username = %identity.username, expires_at = tokens.expires_at, "tokens refreshed");
                Ok(Session { tokens, identity })
            }
            Err(e) if e.kind() == crate::ErrorKind::SignedOut => {
                tracing::info!("refresh refused: signed out");
                let _ = self.wipe().await;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// The signed-in session, refreshed first when the tokens expire within the
    /// refresh margin. Offline with still-valid tokens: those are used.
    pub async fn session(&self) -> Result<Session> {
        let tokens = self.load().await?.ok_or(AuthError::NotSignedIn)?;
        let now = self.clock.now();
        if tokens.expires_at <= now + self.cognito.config().refresh_margin() {
            match self.refresh(&tokens).await {
                Ok(s) => return Ok(s),
                Err(e @ AuthError::Network { .. }) if tokens.expires_at > now => {
                    tracing::warn!("could not refresh the tokens ({e}); using them until they expire");
                }
                Err(e) => return Err(e),
            }
        }
        match self.verifier.verify_id_token(&tokens.id_token).await {
            Ok(identity) => Ok(Session { tokens, identity }),
            Err(AuthError::InvalidToken(why)) => {
                let _ = self.wipe().await;
                Err(AuthError::InvalidToken(format!("{why}; the stored sign-in was removed")))
            }
            Err(e) => Err(e),
        }
    }

    /// Runs `call` with fresh tokens; when it reports 401, refreshes once and retries once.
    pub async fn with_fresh_token<T, E, F, Fut>(&self, mut call: F) -> std::result::Result<T, WithTokenError<E>>
    where
        E: std::fmt::Display + std::fmt::Debug,
        F: FnMut(Tokens) -> Fut,
        Fut: Future<Output = std::result::Result<T, CallError<E>>>,
    {
        let s = self.session().await?;
        match call(s.tokens.clone()).await {
            Ok(v) => Ok(v),
            Err(CallError::Other(e)) => Err(WithTokenError::Call(e)),
            Err(CallError::Unauthorized) => {
                tracing::debug!("the call was refused (401): refreshing once");
                let s = self.refresh(&s.tokens).await?;
                match call(s.tokens).await {
                    Ok(v) => Ok(v),
                    Err(CallError::Other(e)) => Err(WithTokenError::Call(e)),
                    Err(CallError::Unauthorized) => {
                        Err(AuthError::SignedOut("the server refused fresh tokens".into()).into())
                    }
                }
            }
        }
    }

    /// GlobalSignOut (+ RevokeToken, best effort) when online; the local wipe always.
    pub async fn sign_out(&self) -> Result<RemoteSignOut> {
        let tokens = match self.load().await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("could not read the stored tokens ({e}); wiping them");
                None
            }
        };
        let remote = match &tokens {
            None => RemoteSignOut::NotSignedIn,
            Some(t) => {
                let mut access = t.access_token.clone();
                if t.expires_at <= self.clock.now() + 30 {
                    if let Ok(fresh) = self.cognito.refresh(t).await {
                        access = fresh.access_token;
                    }
                }
                let r = match self.cognito.global_sign_out(&access).await {
                    Ok(()) => RemoteSignOut::Done,
                    Err(e) => RemoteSignOut::Skipped(e.to_string()),
                };
                if let Err(e) = self.cognito.revoke(&t.refresh_token).await {
                    // the local endpoint does not implement RevokeToken; GlobalSignOut covers it
                    tracing::debug!(kind = ?e.kind(), "RevokeToken not done (best effort)");
                }
                r
            }
        };
        self.wipe().await?;
        tracing::info!(?remote, "signed out");
        Ok(remote)
    }

    /// Step 1 of TOTP enrolment: a new secret and its otpauth:// URI.
    pub async fn start_totp_setup(&self) -> Result<TotpSetup> {
        let s = self.session().await?;
        let secret = self.cognito.associate_software_token(&s.tokens.access_token).await?;
        let uri = totp::otpauth_uri(&s.identity.username, &secret);
        Ok(TotpSetup { secret, uri })
    }

    /// Step 2: verify a code from the authenticator app and make TOTP the preferred MFA.
    pub async fn finish_totp_setup(&self, code: &str) -> Result<()> {
        let s = self.session().await?;
        self.cognito.verify_software_token(&s.tokens.access_token, code).await
    }
}
