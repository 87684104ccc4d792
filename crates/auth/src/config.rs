//! The `[cognito]` section of the config file. Only these differ between the
//! local endpoint and real AWS: region, pool, app client (+ secret), and the
//! optional endpoint and JWKS overrides.

use serde::Deserialize;

use crate::error::{AuthError, Result};

#[derive(Clone, Deserialize)]
pub struct CognitoConfig {
    pub region: String,
    pub user_pool_id: String,
    pub client_id: String,
    /// Only for app clients that have a secret (adds SECRET_HASH).
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Cognito endpoint override (default `https://cognito-idp.{region}.amazonaws.com`).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// JWKS override (default `https://cognito-idp.{region}.amazonaws.com/{pool}/.well-known/jwks.json`).
    #[serde(default)]
    pub jwks_url: Option<String>,
    #[serde(default)]
    pub auth_flow: AuthFlow,
    #[serde(default)]
    pub token_store: StoreChoice,
    /// The pool's password policy, for checking a new password before sending it.
    /// Absent: DescribeUserPool when AWS credentials are in the environment, else Cognito's default policy.
    #[serde(default)]
    pub password_policy: Option<PasswordPolicy>,
    /// Refresh this many seconds before the tokens expire (default 300).
    #[serde(default)]
    pub refresh_margin_s: Option<u64>,
}

impl std::fmt::Debug for CognitoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CognitoConfig")
            .field("region", &self.region)
            .field("user_pool_id", &self.user_pool_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "<redacted>"))
            .field("endpoint", &self.endpoint)
            .field("jwks_url", &self.jwks_url)
            .field("auth_flow", &self.auth_flow)
            .field("token_store", &self.token_store)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthFlow {
    /// USER_SRP_AUTH + PASSWORD_VERIFIER (the password never leaves the machine).
    #[default]
    #[serde(alias = "user_srp_auth")]
    Srp,
    /// USER_PASSWORD_AUTH (the password is sent over TLS).
    #[serde(alias = "user_password_auth", alias = "password")]
    UserPassword,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreChoice {
    /// The OS keyring; the file store (with a notice) when there is none.
    #[default]
    Auto,
    Keyring,
    File,
}

impl std::str::FromStr for StoreChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(StoreChoice::Auto),
            "keyring" => Ok(StoreChoice::Keyring),
            "file" => Ok(StoreChoice::File),
            _ => Err(format!("unknown token store {s:?} (auto, keyring or file)")),
        }
    }
}

/// Cognito's PasswordPolicyType (the parts checked locally).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PasswordPolicy {
    #[serde(default = "eight")]
    pub minimum_length: u32,
    #[serde(default = "yes")]
    pub require_uppercase: bool,
    #[serde(default = "yes")]
    pub require_lowercase: bool,
    #[serde(default = "yes")]
    pub require_numbers: bool,
    #[serde(default = "yes")]
    pub require_symbols: bool,
}

fn eight() -> u32 {
    8
}
fn yes() -> bool {
    true
}

impl Default for PasswordPolicy {
    /// Cognito's default policy.
    fn default() -> Self {
        PasswordPolicy {
            minimum_length: 8,
            require_uppercase: true,
            require_lowercase: true,
            require_numbers: true,
            require_symbols: true,
        }
    }
}

/// The special characters Cognito counts as symbols.
const SYMBOLS: &str = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- ";

impl PasswordPolicy {
    /// Every rule the password breaks, as one sentence; Ok when none.
    pub fn check(&self, password: &str) -> Result<()> {
        let mut broken = Vec::new();
        let len = password.chars().count();
        if len < self.minimum_length as usize {
            broken.push(format!("at least {} characters", self.minimum_length));
        }
        if len > 256 {
            broken.push("at most 256 characters".to_string());
        }
        if self.require_uppercase && !password.chars().any(|c| c.is_ascii_uppercase()) {
            broken.push("an uppercase letter".into());
        }
        if self.require_lowercase && !password.chars().any(|c| c.is_ascii_lowercase()) {
            broken.push("a lowercase letter".into());
        }
        if self.require_numbers && !password.chars().any(|c| c.is_ascii_digit()) {
            broken.push("a number".into());
        }
        if self.require_symbols && !password.trim().chars().any(|c| SYMBOLS.contains(c)) {
            broken.push("a symbol such as ! @ # $ % - _".into());
        }
        if password.starts_with(' ') || password.ends_with(' ') {
            broken.push("no leading or trailing space".into());
        }
        if broken.is_empty() {
            Ok(())
        } else {
            Err(AuthError::PasswordPolicy(format!("it needs {}", broken.join(", "))))
        }
    }
}

impl CognitoConfig {
    /// `us-east-1_AbC` → `AbC` (the SRP "pool name").
    pub fn pool_name(&self) -> Result<&str> {
        match self.user_pool_id.split_once('_') {
            Some((_, name)) if !name.is_empty() => Ok(name),
            _ => Err(AuthError::Misconfigured(format!(
                "user_pool_id {:?} is not of the form REGION_ID",
                self.user_pool_id
            ))),
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.region.trim().is_empty() {
            return Err(AuthError::Misconfigured("[cognito] region is empty".into()));
        }
        if self.client_id.trim().is_empty() {
            return Err(AuthError::Misconfigured("[cognito] client_id is empty".into()));
        }
        self.pool_name()?;
        Ok(())
    }

    /// The `iss` of the pool's tokens (AWS's shape, also with the local endpoint).
    pub fn issuer(&self) -> String {
        format!("https://cognito-idp.{}.amazonaws.com/{}", self.region, self.user_pool_id)
    }

    pub fn jwks_url(&self) -> String {
        self.jwks_url.clone().unwrap_or_else(|| format!("{}/.well-known/jwks.json", self.issuer()))
    }

    pub fn endpoint_display(&self) -> String {
        self.endpoint.clone().unwrap_or_else(|| format!("https://cognito-idp.{}.amazonaws.com", self.region))
    }

    pub fn refresh_margin(&self) -> u64 {
        self.refresh_margin_s.unwrap_or(300)
    }

    /// The account name tokens are stored under: one per pool and app client.
    pub fn store_account(&self) -> String {
        format!("{}:{}", self.user_pool_id, self.client_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stack_section() {
        let c: CognitoConfig = toml::from_str(
            r#"region = "us-east-1"
user_pool_id = "us-east-1_abc"
client_id = "cid"
endpoint = "http://127.0.0.1:4566"
jwks_url = "http://127.0.0.1:4566/us-east-1_abc/.well-known/jwks.json"
auth_flow = "srp"
[password_policy]
minimum_length = 10
[secret_client]
client_id = "x"
"#,
        )
        .unwrap();
        assert_eq!(c.pool_name().unwrap(), "abc");
        assert_eq!(c.auth_flow, AuthFlow::Srp);
        assert_eq!(c.token_store, StoreChoice::Auto);
        assert_eq!(c.password_policy.as_ref().unwrap().minimum_length, 10);
        assert!(c.password_policy.as_ref().unwrap().require_symbols);
        assert_eq!(c.issuer(), "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc");
    }

    #[test]
    fn defaults_for_real_aws() {
        let c: CognitoConfig = toml::from_str("region = \"eu-west-1\"\nuser_pool_id = \"eu-west-1_X\"\nclient_id = \"c\"\nclient_secret = \"s3cr3t\"\nauth_flow = \"user_password\"").unwrap();
        assert_eq!(c.jwks_url(), "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X/.well-known/jwks.json");
        assert_eq!(c.auth_flow, AuthFlow::UserPassword);
        assert!(!format!("{c:?}").contains("s3cr3t"));
        let bad: CognitoConfig =
            toml::from_str("region = \"eu-west-1\"\nuser_pool_id = \"nounderscore\"\nclient_id = \"c\"").unwrap();
        assert!(matches!(bad.validate(), Err(AuthError::Misconfigured(_))));
    }

    #[test]
    fn policy_check() {
        let p = PasswordPolicy { minimum_length: 10, ..Default::default() };
        assert!(p.check("Mc-abcdef!7Qa").is_ok());
        let e = p.check("short").unwrap_err().to_string();
        assert!(
            e.contains("at least 10 characters")
                && e.contains("an uppercase letter")
                && e.contains("a number")
                && e.contains("a symbol"),
            "{e}"
        );
        assert!(p.check("ALLUPPERCASE1!").unwrap_err().to_string().contains("a lowercase letter"));
        assert!(p.check(" Leading-space1a").is_err());
        let lax = PasswordPolicy {
            minimum_length: 6,
            require_uppercase: false,
            require_lowercase: false,
            require_numbers: false,
            require_symbols: false,
        };
        assert!(lax.check("abcdef").is_ok());
    }
}
