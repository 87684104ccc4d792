//! Typed sign-in errors. Every variant's message is one plain sentence fit for a
//! user; none carries a password, token, code or secret (Cognito-compatible
//! servers may echo those in their own messages, so those are never repeated).

/// What went wrong, coarse enough for a distinct exit code each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Unknown user or wrong password (deliberately the same).
    WrongCredentials,
    NotConfirmed,
    Disabled,
    /// Expired password, or a new password the pool's policy refuses.
    PasswordPolicy,
    WrongMfaCode,
    TooManyAttempts,
    Network,
    Misconfigured,
    /// Not signed in, signed out elsewhere, refresh failed, stored token invalid.
    SignedOut,
    /// Signed in, but not allowed (e.g. not a mentor).
    Forbidden,
    /// Token storage failed (keyring or file).
    Storage,
    /// Anything else (an unexpected answer, an unsupported challenge).
    Other,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("wrong username or password")]
    WrongCredentials,
    #[error("this account is not confirmed yet: confirm it from the sign-up message, or ask an administrator")]
    NotConfirmed,
    #[error("this account is disabled: ask an administrator to enable it")]
    Disabled,
    #[error("the password has expired or must be reset: ask an administrator to reset it")]
    PasswordExpired,
    #[error("the new password does not meet the pool's password policy: {0}")]
    PasswordPolicy(String),
    #[error("wrong MFA code{0}")]
    WrongMfaCode(&'static str),
    #[error("too many attempts: wait a few minutes before trying again")]
    TooManyAttempts,
    #[error("cannot reach Cognito at {endpoint}: {detail}")]
    Network { endpoint: String, detail: String },
    #[error("the Cognito settings look wrong: {0}")]
    Misconfigured(String),
    #[error("not signed in: run `mentorcast login`")]
    NotSignedIn,
    #[error("signed out: {0}; sign in again with `mentorcast login`")]
    SignedOut(String),
    #[error("signed in as {0}, who is not in the mentor group: only mentors may broadcast")]
    NotMentor(String),
    #[error("the ID token was rejected: {0}")]
    InvalidToken(String),
    #[error("token storage failed: {0}")]
    Storage(String),
    #[error("Cognito asked for the {0} challenge, which Mentorcast does not support yet")]
    UnsupportedChallenge(String),
    #[error("Cognito answered unexpectedly: {0}")]
    Unexpected(String),
}

impl AuthError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            AuthError::WrongCredentials => ErrorKind::WrongCredentials,
            AuthError::NotConfirmed => ErrorKind::NotConfirmed,
            AuthError::Disabled => ErrorKind::Disabled,
            AuthError::PasswordExpired | AuthError::PasswordPolicy(_) => ErrorKind::PasswordPolicy,
            AuthError::WrongMfaCode(_) => ErrorKind::WrongMfaCode,
            AuthError::TooManyAttempts => ErrorKind::TooManyAttempts,
            AuthError::Network { .. } => ErrorKind::Network,
            AuthError::Misconfigured(_) => ErrorKind::Misconfigured,
            AuthError::NotSignedIn | AuthError::SignedOut(_) | AuthError::InvalidToken(_) => ErrorKind::SignedOut,
            AuthError::NotMentor(_) => ErrorKind::Forbidden,
            AuthError::Storage(_) => ErrorKind::Storage,
            AuthError::UnsupportedChallenge(_) | AuthError::Unexpected(_) => ErrorKind::Other,
        }
    }
}

pub type Result<T, E = AuthError> = std::result::Result<T, E>;
