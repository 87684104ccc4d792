//! Mentorcast sign-in with an Amazon Cognito user pool, for the CLI now and the
//! desktop app later.
//!
//! - [`Cognito`]: the user-pool calls (SRP by default, USER_PASSWORD_AUTH by
//!   config, SECRET_HASH, NEW_PASSWORD_REQUIRED, SOFTWARE_TOKEN_MFA, refresh,
//!   GlobalSignOut/RevokeToken, TOTP enrolment) on `aws-sdk-cognitoidentityprovider`;
//! - [`Auth`]: that plus the token store, ID-token verification (RS256 via the
//!   pool's JWKS), refresh before expiry and on a 401 ([`Auth::with_fresh_token`]);
//! - [`Identity::require_mentor`]: only members of `mentor` may broadcast.
//!
//! Works unchanged against real AWS: only [`CognitoConfig`] differs. Nothing
//! secret is logged at any level: see [`logguard`].

pub mod cognito;
pub mod config;
pub mod error;
pub mod jwt;
pub mod logguard;
pub mod session;
pub mod srp;
pub mod store;
pub mod time;
pub mod totp;

pub use cognito::{Challenge, ChallengeKind, Cognito, SignInStep};
pub use config::{AuthFlow, CognitoConfig, PasswordPolicy, StoreChoice};
pub use error::{AuthError, ErrorKind, Result};
pub use jwt::{Identity, Verifier, MENTOR_GROUP};
pub use session::{Auth, CallError, Options, RemoteSignOut, Session, Step, TotpSetup, WithTokenError};
pub use store::{Tokens, KEYRING_SERVICE};
pub use time::{Clock, OffsetClock, SystemClock};
