//! The Cognito user-pool API calls a mentor's machine makes, on
//! `aws-sdk-cognitoidentityprovider`: sign-in (SRP or USER_PASSWORD_AUTH),
//! challenges, refresh, sign-out, TOTP enrolment. Only the public,
//! unauthenticated operations are used (no AWS credentials), except
//! DescribeUserPool when credentials are in the environment.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cognitoidentityprovider as idp;
use idp::error::{ProvideErrorMetadata, SdkError};
use idp::types::{AuthFlowType, ChallengeNameType};

use crate::config::{AuthFlow, CognitoConfig, PasswordPolicy};
use crate::error::{AuthError, Result};
use crate::logguard;
use crate::srp::{secret_hash, timestamp, SrpClient};
use crate::store::Tokens;
use crate::time::Clock;

/// A challenge Cognito asked the user to answer, with what answering it needs.
/// `Debug` hides the session.
#[derive(Clone)]
pub struct Challenge {
    pub kind: ChallengeKind,
    session: String,
    /// The user name Cognito wants in the responses.
    username: String,
}

impl std::fmt::Debug for Challenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Challenge").field("kind", &self.kind).field("username", &self.username).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeKind {
    /// First sign-in with a temporary password: a new one must be chosen.
    NewPasswordRequired,
    /// The 6-digit code of the user's authenticator app.
    SoftwareTokenMfa,
}

#[derive(Debug)]
pub enum SignInStep {
    Done(Tokens),
    Challenge(Challenge),
}

/// Which call an error came from: the same Cognito error means different things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    SignIn,
    NewPassword,
    Mfa,
    Refresh,
    /// Calls made with an access token.
    Token,
    Admin,
}

pub struct Cognito {
    sdk: idp::Client,
    cfg: CognitoConfig,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Cognito {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cognito").field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

fn http_client() -> idp::config::SharedHttpClient {
    use aws_smithy_http_client::tls;
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https()
}

/// AWS credentials from the standard environment variables, if set.
fn env_credentials() -> Option<idp::config::Credentials> {
    let id = std::env::var("AWS_ACCESS_KEY_ID").ok().filter(|s| !s.is_empty())?;
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").ok().filter(|s| !s.is_empty())?;
    let token = std::env::var("AWS_SESSION_TOKEN").ok().filter(|s| !s.is_empty());
    Some(idp::config::Credentials::new(id, secret, token, None, "environment"))
}

impl Cognito {
    pub fn new(cfg: CognitoConfig, clock: Arc<dyn Clock>) -> Result<Cognito> {
        Cognito::build(cfg, clock, None)
    }

    /// With AWS credentials (admin calls: tests, provisioning, DescribeUserPool).
    pub fn with_credentials(
        cfg: CognitoConfig,
        clock: Arc<dyn Clock>,
        creds: idp::config::Credentials,
    ) -> Result<Cognito> {
        Cognito::build(cfg, clock, Some(creds))
    }

    fn build(cfg: CognitoConfig, clock: Arc<dyn Clock>, creds: Option<idp::config::Credentials>) -> Result<Cognito> {
        cfg.validate()?;
        let mut b = idp::Config::builder()
            .behavior_version(idp::config::BehaviorVersion::latest())
            .region(idp::config::Region::new(cfg.region.clone()))
            .http_client(http_client())
            .retry_config(idp::config::retry::RetryConfig::standard().with_max_attempts(2))
            .timeout_config(
                idp::config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(15))
                    .build(),
            );
        if let Some(ep) = &cfg.endpoint {
            b = b.endpoint_url(ep.trim_end_matches('/'));
        }
        if let Some(c) = creds.or_else(env_credentials) {
            b = b.credentials_provider(c);
        }
        let sdk = idp::Client::from_conf(b.build());
        Ok(Cognito { sdk, cfg, clock })
    }

    pub fn config(&self) -> &CognitoConfig {
        &self.cfg
    }

    /// The underlying SDK client (admin calls in tests).
    pub fn sdk(&self) -> &idp::Client {
        &self.sdk
    }

    fn secret_hash(&self, username: &str) -> Option<String> {
        self.cfg.client_secret.as_deref().map(|s| secret_hash(username, &self.cfg.client_id, s))
    }

    /// Maps an SDK error to a sentence. Cognito-compatible servers may echo a
    /// token or secret hash in their messages: the message is only matched, never repeated.
    fn map_err<E: ProvideErrorMetadata + std::error::Error + 'static>(&self, err: SdkError<E>, ctx: Ctx) -> AuthError {
        let endpoint = self.cfg.endpoint_display();
        let service = match &err {
            SdkError::DispatchFailure(d) => {
                let detail = if d.is_timeout() {
                    "the connection timed out"
                } else if d.is_io() {
                    "the network is unreachable or the connection was refused"
                } else {
                    "the request could not be sent"
                };
                return AuthError::Network { endpoint, detail: detail.into() };
            }
            SdkError::TimeoutError(_) => return AuthError::Network { endpoint, detail: "no answer in time".into() },
            SdkError::ResponseError(_) => {
                return AuthError::Misconfigured(format!("{endpoint} did not answer like Cognito (check endpoint)"))
            }
            SdkError::ServiceError(s) => s.err(),
            _ => return AuthError::Unexpected("the request could not be built".into()),
        };
        let code = service.code().unwrap_or("UnknownError");
        let msg = service.message().unwrap_or("").to_ascii_lowercase();
        tracing::debug!(code, ?ctx, "Cognito refused the call");
        match code {
            "NotAuthorizedException" => {
                if msg.contains("disabled") {
                    AuthError::Disabled
                } else if msg.contains("attempts exceeded") || msg.contains("too many") {
                    AuthError::TooManyAttempts
                } else if msg.contains("secret hash") || msg.contains("secret_hash") || msg.contains("client secret") {
                    AuthError::Misconfigured("the app client needs its client_secret (or has another one)".into())
                } else if msg.contains("not enabled for this client")
                    || msg.contains("flow not enabled")
                    || msg.contains("not supported for this client")
                {
                    AuthError::Misconfigured("the app client does not allow this sign-in flow (check auth_flow)".into())
                } else if msg.contains("expired") && matches!(ctx, Ctx::SignIn | Ctx::NewPassword) {
                    AuthError::PasswordExpired
                } else {
                    match ctx {
                        Ctx::SignIn => AuthError::WrongCredentials,
                        Ctx::NewPassword | Ctx::Mfa => {
                            AuthError::SignedOut("the sign-in session expired before it was completed".into())
                        }
                        Ctx::Refresh => AuthError::SignedOut(
                            "the session has ended (signed out elsewhere, or the refresh token was revoked or expired)"
                                .into(),
                        ),
                        Ctx::Token => AuthError::SignedOut("Cognito no longer accepts this session's tokens".into()),
                        Ctx::Admin => AuthError::Misconfigured("not authorized for this administrative call".into()),
                    }
                }
            }
            "UserNotFoundException" => match ctx {
                Ctx::SignIn => AuthError::WrongCredentials,
                _ => AuthError::SignedOut("the user no longer exists".into()),
            },
            "UserNotConfirmedException" => AuthError::NotConfirmed,
            "PasswordResetRequiredException" => AuthError::PasswordExpired,
            "InvalidPasswordException" => AuthError::PasswordPolicy("Cognito refused it".into()),
            "CodeMismatchException" | "EnableSoftwareTokenMFAException" => AuthError::WrongMfaCode(""),
            "ExpiredCodeException" => AuthError::WrongMfaCode(" (it has expired)"),
            "TooManyRequestsException" | "TooManyFailedAttemptsException" | "LimitExceededException" => {
                AuthError::TooManyAttempts
            }
            "PasswordHistoryPolicyViolationException" => AuthError::PasswordPolicy("it was used before".into()),
            "ResourceNotFoundException" => AuthError::Misconfigured(
                "the user pool or app client in the config does not exist (check region, user_pool_id, client_id)"
                    .into(),
            ),
            "InvalidParameterException" => AuthError::Misconfigured(format!(
                "Cognito rejected the request ({code}): check auth_flow and the app client's allowed flows"
            )),
            "InvalidUserPoolConfigurationException"
            | "InvalidLambdaResponseException"
            | "UnexpectedLambdaException"
            | "UserLambdaValidationException"
            | "ForbiddenException"
            | "SoftwareTokenMFANotFoundException"
            | "InvalidSmsRoleAccessPolicyException" => {
                AuthError::Misconfigured(format!("the user pool refused the request ({code})"))
            }
            "UnrecognizedClientException" | "InvalidClientTokenId" | "AccessDeniedException" => {
                AuthError::Misconfigured(format!("the endpoint refused the request ({code})"))
            }
            _ => AuthError::Unexpected(format!("{code} from {endpoint}")),
        }
    }

    fn tokens_from(
        &self,
        r: &idp::types::AuthenticationResultType,
        username: &str,
        old_refresh: Option<&str>,
    ) -> Result<Tokens> {
        let missing = |what: &str| AuthError::Unexpected(format!("the sign-in result has no {what}"));
        Ok(Tokens {
            id_token: r.id_token().ok_or_else(|| missing("ID token"))?.to_string(),
            access_token: r.access_token().ok_or_else(|| missing("access token"))?.to_string(),
            refresh_token: match r.refresh_token() {
                Some(t) => t.to_string(),
                None => old_refresh.ok_or_else(|| missing("refresh token"))?.to_string(),
            },
            expires_at: self.clock.now() + r.expires_in().max(0) as u64,
            username: username.to_string(),
        })
    }

    fn step(
        &self,
        name: Option<&ChallengeNameType>,
        session: Option<&str>,
        params: Option<&HashMap<String, String>>,
        result: Option<&idp::types::AuthenticationResultType>,
        username: &str,
    ) -> Result<SignInStep> {
        if let Some(r) = result {
            return Ok(SignInStep::Done(self.tokens_from(r, username, None)?));
        }
        let name = name.ok_or_else(|| AuthError::Unexpected("neither tokens nor a challenge".into()))?;
        let kind = match name {
            ChallengeNameType::NewPasswordRequired => ChallengeKind::NewPasswordRequired,
            ChallengeNameType::SoftwareTokenMfa => ChallengeKind::SoftwareTokenMfa,
            other => return Err(AuthError::UnsupportedChallenge(other.as_str().to_string())),
        };
        let session = session.ok_or_else(|| AuthError::Unexpected("a challenge without a session".into()))?.to_string();
        let username = params.and_then(|p| p.get("USERNAME")).cloned().unwrap_or_else(|| username.to_string());
        tracing::debug!(challenge = name.as_str(), "Cognito asks for a challenge");
        Ok(SignInStep::Challenge(Challenge { kind, session, username }))
    }

    /// Starts a sign-in with the configured flow.
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<SignInStep> {
        match self.cfg.auth_flow {
            AuthFlow::Srp => self.sign_in_srp(username, password).await,
            AuthFlow::UserPassword => self.sign_in_password(username, password).await,
        }
    }

    async fn sign_in_password(&self, username: &str, password: &str) -> Result<SignInStep> {
        tracing::debug!(username, "InitiateAuth USER_PASSWORD_AUTH");
        let mut req = self
            .sdk
            .initiate_auth()
            .client_id(&self.cfg.client_id)
            .auth_flow(AuthFlowType::UserPasswordAuth)
            .auth_parameters("USERNAME", username)
            .auth_parameters("PASSWORD", password);
        if let Some(h) = self.secret_hash(username) {
            req = req.auth_parameters("SECRET_HASH", h);
        }
        let out = logguard::guard(req.send()).await.map_err(|e| self.map_err(e, Ctx::SignIn))?;
        self.step(
            out.challenge_name(),
            out.session(),
            out.challenge_parameters(),
            out.authentication_result(),
            username,
        )
    }

    async fn sign_in_srp(&self, username: &str, password: &str) -> Result<SignInStep> {
        let pool_name = self.cfg.pool_name()?.to_string();
        let srp = SrpClient::new();
        tracing::debug!(username, "InitiateAuth USER_SRP_AUTH");
        let mut req = self
            .sdk
            .initiate_auth()
            .client_id(&self.cfg.client_id)
            .auth_flow(AuthFlowType::UserSrpAuth)
            .auth_parameters("USERNAME", username)
            .auth_parameters("SRP_A", srp.a_hex());
        if let Some(h) = self.secret_hash(username) {
            req = req.auth_parameters("SECRET_HASH", h);
        }
        let out = logguard::guard(req.send()).await.map_err(|e| self.map_err(e, Ctx::SignIn))?;
        if out.challenge_name() != Some(&ChallengeNameType::PasswordVerifier) {
            return self.step(
                out.challenge_name(),
                out.session(),
                out.challenge_parameters(),
                out.authentication_result(),
                username,
            );
        }
        let p = out
            .challenge_parameters()
            .ok_or_else(|| AuthError::Unexpected("PASSWORD_VERIFIER without parameters".into()))?;
        let get = |k: &str| {
            p.get(k).map(String::as_str).ok_or_else(|| AuthError::Unexpected(format!("PASSWORD_VERIFIER without {k}")))
        };
        let user_id_for_srp = get("USER_ID_FOR_SRP")?;
        // the SDKs answer with the internal user name when Cognito gives one
        let internal = p.get("USERNAME").map(String::as_str).unwrap_or(user_id_for_srp).to_string();
        let ts = timestamp(self.clock.now());
        let signature = srp
            .password_claim_signature(
                &pool_name,
                user_id_for_srp,
                password,
                get("SALT")?,
                get("SRP_B")?,
                get("SECRET_BLOCK")?,
                &ts,
            )
            .map_err(|e| AuthError::Unexpected(e.to_string()))?;
        let mut req = self
            .sdk
            .respond_to_auth_challenge()
            .client_id(&self.cfg.client_id)
            .challenge_name(ChallengeNameType::PasswordVerifier)
            .challenge_responses("USERNAME", &internal)
            .challenge_responses("PASSWORD_CLAIM_SECRET_BLOCK", get("SECRET_BLOCK")?)
            .challenge_responses("PASSWORD_CLAIM_SIGNATURE", signature)
            .challenge_responses("TIMESTAMP", ts);
        if let Some(s) = out.session() {
            req = req.session(s);
        }
        if let Some(h) = self.secret_hash(&internal) {
            req = req.challenge_responses("SECRET_HASH", h);
        }
        tracing::debug!(username, "RespondToAuthChallenge PASSWORD_VERIFIER");
        let out = logguard::guard(req.send()).await.map_err(|e| self.map_err(e, Ctx::SignIn))?;
        self.step(
            out.challenge_name(),
            out.session(),
            out.challenge_parameters(),
            out.authentication_result(),
            &internal,
        )
    }

    async fn respond(
        &self,
        ch: &Challenge,
        name: ChallengeNameType,
        key: &str,
        value: &str,
        ctx: Ctx,
    ) -> Result<SignInStep> {
        let mut req = self
            .sdk
            .respond_to_auth_challenge()
            .client_id(&self.cfg.client_id)
            .challenge_name(name)
            .session(&ch.session)
            .challenge_responses("USERNAME", &ch.username)
            .challenge_responses(key, value);
        if let Some(h) = self.secret_hash(&ch.username) {
            req = req.challenge_responses("SECRET_HASH", h);
        }
        let out = logguard::guard(req.send()).await.map_err(|e| self.map_err(e, ctx))?;
        self.step(
            out.challenge_name(),
            out.session(),
            out.challenge_parameters(),
            out.authentication_result(),
            &ch.username,
        )
    }

    /// Answers NEW_PASSWORD_REQUIRED. The password is checked against `policy` first and not sent if it fails.
    pub async fn answer_new_password(
        &self,
        ch: &Challenge,
        new_password: &str,
        policy: &PasswordPolicy,
    ) -> Result<SignInStep> {
        if ch.kind != ChallengeKind::NewPasswordRequired {
            return Err(AuthError::Unexpected("not a new-password challenge".into()));
        }
        policy.check(new_password)?;
        tracing::debug!(username = %ch.username, "RespondToAuthChallenge NEW_PASSWORD_REQUIRED");
        self.respond(ch, ChallengeNameType::NewPasswordRequired, "NEW_PASSWORD", new_password, Ctx::NewPassword).await
    }

    /// Answers SOFTWARE_TOKEN_MFA with the 6-digit code.
    pub async fn answer_mfa(&self, ch: &Challenge, code: &str) -> Result<SignInStep> {
        if ch.kind != ChallengeKind::SoftwareTokenMfa {
            return Err(AuthError::Unexpected("not an MFA challenge".into()));
        }
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AuthError::WrongMfaCode(" (it must be 6 digits)"));
        }
        tracing::debug!(username = %ch.username, "RespondToAuthChallenge SOFTWARE_TOKEN_MFA");
        self.respond(ch, ChallengeNameType::SoftwareTokenMfa, "SOFTWARE_TOKEN_MFA_CODE", code, Ctx::Mfa).await
    }

    /// REFRESH_TOKEN_AUTH: new ID and access tokens (the refresh token stays).
    pub async fn refresh(&self, tokens: &Tokens) -> Result<Tokens> {
        tracing::debug!(username = %tokens.username, "InitiateAuth REFRESH_TOKEN_AUTH");
        let mut req = self
            .sdk
            .initiate_auth()
            .client_id(&self.cfg.client_id)
            .auth_flow(AuthFlowType::RefreshTokenAuth)
            .auth_parameters("REFRESH_TOKEN", &tokens.refresh_token);
        if let Some(h) = self.secret_hash(&tokens.username) {
            req = req.auth_parameters("SECRET_HASH", h);
        }
        let out = logguard::guard(req.send()).await.map_err(|e| self.map_err(e, Ctx::Refresh))?;
        let r =
            out.authentication_result().ok_or_else(|| AuthError::Unexpected("refresh returned no tokens".into()))?;
        self.tokens_from(r, &tokens.username, Some(&tokens.refresh_token))
    }

    /// GlobalSignOut: every session of the user ends.
    pub async fn global_sign_out(&self, access_token: &str) -> Result<()> {
        tracing::debug!("GlobalSignOut");
        logguard::guard(self.sdk.global_sign_out().access_token(access_token).send())
            .await
            .map_err(|e| self.map_err(e, Ctx::Token))?;
        Ok(())
    }

    /// RevokeToken for the refresh token (and the access tokens it issued).
    pub async fn revoke(&self, refresh_token: &str) -> Result<()> {
        tracing::debug!("RevokeToken");
        let mut req = self.sdk.revoke_token().client_id(&self.cfg.client_id).token(refresh_token);
        if let Some(s) = &self.cfg.client_secret {
            req = req.client_secret(s);
        }
        logguard::guard(req.send()).await.map_err(|e| self.map_err(e, Ctx::Token))?;
        Ok(())
    }

    /// AssociateSoftwareToken: the new TOTP secret (base32).
    pub async fn associate_software_token(&self, access_token: &str) -> Result<String> {
        tracing::debug!("AssociateSoftwareToken");
        let out = logguard::guard(self.sdk.associate_software_token().access_token(access_token).send())
            .await
            .map_err(|e| self.map_err(e, Ctx::Token))?;
        out.secret_code()
            .map(str::to_string)
            .ok_or_else(|| AuthError::Unexpected("AssociateSoftwareToken returned no secret".into()))
    }

    /// VerifySoftwareToken with a code from the new secret, then TOTP as the preferred MFA.
    pub async fn verify_software_token(&self, access_token: &str, code: &str) -> Result<()> {
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AuthError::WrongMfaCode(" (it must be 6 digits)"));
        }
        tracing::debug!("VerifySoftwareToken");
        let out = logguard::guard(
            self.sdk
                .verify_software_token()
                .access_token(access_token)
                .user_code(code)
                .friendly_device_name("Mentorcast")
                .send(),
        )
        .await
        .map_err(|e| self.map_err(e, Ctx::Mfa))?;
        if out.status() != Some(&idp::types::VerifySoftwareTokenResponseType::Success) {
            return Err(AuthError::WrongMfaCode(""));
        }
        tracing::debug!("SetUserMFAPreference");
        let settings = idp::types::SoftwareTokenMfaSettingsType::builder().enabled(true).preferred_mfa(true).build();
        logguard::guard(
            self.sdk.set_user_mfa_preference().access_token(access_token).software_token_mfa_settings(settings).send(),
        )
        .await
        .map_err(|e| self.map_err(e, Ctx::Token))?;
        Ok(())
    }

    /// The pool's password policy: the config's, else DescribeUserPool (needs AWS
    /// credentials in the environment), else Cognito's default policy.
    pub async fn password_policy(&self) -> PasswordPolicy {
        if let Some(p) = &self.cfg.password_policy {
            return p.clone();
        }
        if env_credentials().is_some() {
            match logguard::guard(self.sdk.describe_user_pool().user_pool_id(&self.cfg.user_pool_id).send()).await {
                Ok(out) => {
                    if let Some(p) = out.user_pool().and_then(|u| u.policies()).and_then(|p| p.password_policy()) {
                        return PasswordPolicy {
                            minimum_length: p.minimum_length().unwrap_or(8).max(0) as u32,
                            require_uppercase: p.require_uppercase(),
                            require_lowercase: p.require_lowercase(),
                            require_numbers: p.require_numbers(),
                            require_symbols: p.require_symbols(),
                        };
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %self.map_err(e, Ctx::Admin), "DescribeUserPool failed; using Cognito's default policy")
                }
            }
        }
        PasswordPolicy::default()
    }
}
