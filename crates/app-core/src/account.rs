//! Sign-in for the app over [`mentorcast_auth::Auth`]: the pending challenge
//! (new password, MFA) is kept here, tokens stay in the store, and every error
//! becomes a [`UiError`] with the sign-in messages the CLI gives (its hints replaced by the app's).

use std::sync::Arc;

use mentorcast_auth::{
    Auth, AuthError, Challenge, ChallengeKind, CognitoConfig, ErrorKind, Options, RemoteSignOut, Session, Step,
    StoreChoice,
};
use tokio::sync::Mutex;

use crate::dto::{ErrorKindDto, Me, SignInStepDto, UiError};

pub fn kind_of(k: ErrorKind) -> ErrorKindDto {
    match k {
        ErrorKind::WrongCredentials => ErrorKindDto::WrongCredentials,
        ErrorKind::NotConfirmed => ErrorKindDto::NotConfirmed,
        ErrorKind::Disabled => ErrorKindDto::Disabled,
        ErrorKind::PasswordPolicy => ErrorKindDto::PasswordPolicy,
        ErrorKind::WrongMfaCode => ErrorKindDto::WrongMfaCode,
        ErrorKind::TooManyAttempts => ErrorKindDto::TooManyAttempts,
        ErrorKind::Network => ErrorKindDto::Network,
        ErrorKind::Misconfigured => ErrorKindDto::Misconfigured,
        ErrorKind::SignedOut => ErrorKindDto::SignedOut,
        ErrorKind::Forbidden => ErrorKindDto::Forbidden,
        ErrorKind::Storage => ErrorKindDto::Storage,
        ErrorKind::Other => ErrorKindDto::Other,
    }
}

/// An auth error as the app says it.
pub fn auth_error(e: AuthError) -> UiError {
    let kind = kind_of(e.kind());
    let message = match &e {
        AuthError::NotSignedIn => "not signed in: sign in with your Mentorcast account".to_string(),
        AuthError::SignedOut(why) => format!("signed out: {why}; sign in again"),
        other => other.to_string(),
    };
    UiError::new(kind, message)
}

pub fn me_of(s: &Session, store: String) -> Me {
    Me {
        username: s.identity.username.clone(),
        email: s.identity.email.clone(),
        groups: s.identity.groups.clone(),
        is_mentor: s.identity.is_mentor(),
        token_store: store,
    }
}

/// The signed-in account (or the sign-in in progress).
pub struct Account {
    config: Option<CognitoConfig>,
    store: std::sync::Mutex<Option<StoreChoice>>,
    auth: Mutex<Option<Arc<Auth>>>,
    pending: Mutex<Option<Challenge>>,
}

impl Account {
    pub fn new(config: Option<CognitoConfig>, store: Option<StoreChoice>) -> Self {
        Self { config, store: std::sync::Mutex::new(store), auth: Mutex::new(None), pending: Mutex::new(None) }
    }

    /// Changes where tokens are kept from the next sign-in on.
    pub async fn set_store(&self, store: Option<StoreChoice>) {
        *self.store.lock().unwrap_or_else(|p| p.into_inner()) = store;
        *self.auth.lock().await = None;
    }

    /// The opened [`Auth`] (opened on first use).
    pub async fn auth(&self) -> Result<Arc<Auth>, UiError> {
        let mut g = self.auth.lock().await;
        if let Some(a) = g.as_ref() {
            return Ok(a.clone());
        }
        let cfg = self.config.clone().ok_or_else(|| {
            UiError::new(ErrorKindDto::Misconfigured, "no Cognito settings: start the local stack (make stack-up) or set MENTORCAST_CONFIG to a config with a [cognito] section")
        })?;
        let store = *self.store.lock().unwrap_or_else(|p| p.into_inner());
        let a = Arc::new(Auth::open(cfg, Options { store, ..Default::default() }).await.map_err(auth_error)?);
        *g = Some(a.clone());
        Ok(a)
    }

    /// The remembered session, if any (refreshed when near expiry).
    pub async fn current(&self) -> Result<Option<Me>, UiError> {
        let auth = self.auth().await?;
        match auth.session().await {
            Ok(s) => Ok(Some(me_of(&s, auth.store_description()))),
            Err(AuthError::NotSignedIn) => Ok(None),
            Err(e) if e.kind() == ErrorKind::SignedOut => Ok(None),
            Err(e) => Err(auth_error(e)),
        }
    }

    async fn step(&self, auth: &Auth, step: Step) -> Result<SignInStepDto, UiError> {
        match step {
            Step::SignedIn(s) => {
                *self.pending.lock().await = None;
                Ok(SignInStepDto::SignedIn { me: me_of(&s, auth.store_description()) })
            }
            Step::Challenge(ch) => {
                let dto = match ch.kind {
                    ChallengeKind::NewPasswordRequired => {
                        SignInStepDto::NewPasswordRequired { rules: policy_rules(&auth.password_policy().await) }
                    }
                    ChallengeKind::SoftwareTokenMfa => SignInStepDto::MfaRequired,
                };
                *self.pending.lock().await = Some(ch);
                Ok(dto)
            }
        }
    }

    pub async fn sign_in(&self, username: &str, password: &str) -> Result<SignInStepDto, UiError> {
        if username.trim().is_empty() || password.is_empty() {
            return Err(UiError::new(ErrorKindDto::BadInput, "enter your username and password"));
        }
        let auth = self.auth().await?;
        *self.pending.lock().await = None;
        let step = auth.sign_in(username.trim(), password).await.map_err(auth_error)?;
        self.step(&auth, step).await
    }

    async fn challenge(&self, want: ChallengeKind) -> Result<Challenge, UiError> {
        match self.pending.lock().await.clone() {
            Some(c) if c.kind == want => Ok(c),
            _ => Err(UiError::new(ErrorKindDto::SignedOut, "that sign-in step has expired: sign in again")),
        }
    }

    pub async fn answer_new_password(&self, new_password: &str) -> Result<SignInStepDto, UiError> {
        let ch = self.challenge(ChallengeKind::NewPasswordRequired).await?;
        let auth = self.auth().await?;
        auth.password_policy().await.check(new_password).map_err(auth_error)?;
        let step = auth.answer_new_password(&ch, new_password).await.map_err(auth_error)?;
        self.step(&auth, step).await
    }

    pub async fn answer_mfa(&self, code: &str) -> Result<SignInStepDto, UiError> {
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(UiError::new(
                ErrorKindDto::WrongMfaCode,
                "the code is the 6 digits your authenticator app shows",
            ));
        }
        let ch = self.challenge(ChallengeKind::SoftwareTokenMfa).await?;
        let auth = self.auth().await?;
        let step = auth.answer_mfa(&ch, code).await.map_err(auth_error)?;
        self.step(&auth, step).await
    }

    /// Signs out here and (when reachable) everywhere; says what happened.
    pub async fn sign_out(&self) -> Result<String, UiError> {
        *self.pending.lock().await = None;
        let auth = self.auth().await?;
        Ok(match auth.sign_out().await.map_err(auth_error)? {
            RemoteSignOut::Done => "Signed out on every device.".to_string(),
            RemoteSignOut::NotSignedIn => "Signed out.".to_string(),
            RemoteSignOut::Skipped(why) => format!("Signed out on this computer; Cognito was not told ({why}), so other sessions stay valid until they expire."),
        })
    }
}

/// The pool's password rules in one sentence.
pub fn policy_rules(p: &mentorcast_auth::PasswordPolicy) -> String {
    let mut parts = vec![format!("at least {} characters", p.minimum_length)];
    if p.require_uppercase {
        parts.push("an upper-case letter".into());
    }
    if p.require_lowercase {
        parts.push("a lower-case letter".into());
    }
    if p.require_numbers {
        parts.push("a digit".into());
    }
    if p.require_symbols {
        parts.push("a symbol".into());
    }
    format!("Use {}.", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_issue_3_messages_with_the_apps_hints() {
        let e = auth_error(AuthError::WrongCredentials);
        assert_eq!(e.kind, ErrorKindDto::WrongCredentials);
        assert_eq!(e.message, "Wrong username or password.");
        let e = auth_error(AuthError::NotSignedIn);
        assert!(!e.message.contains("mentorcast login"), "{}", e.message);
        assert_eq!(auth_error(AuthError::WrongMfaCode("")).message, "Wrong MFA code.");
    }

    #[test]
    fn rules_read_well() {
        assert_eq!(
            policy_rules(&Default::default()),
            "Use at least 8 characters, an upper-case letter, a lower-case letter, a digit, a symbol."
        );
    }

    #[tokio::test]
    async fn no_cognito_config_is_a_clear_error() {
        let a = Account::new(None, None);
        let e = a.sign_in("mentor1", "pw").await.unwrap_err();
        assert_eq!(e.kind, ErrorKindDto::Misconfigured);
        let e = a.answer_mfa("12").await.unwrap_err();
        assert_eq!(e.kind, ErrorKindDto::WrongMfaCode);
    }
}
