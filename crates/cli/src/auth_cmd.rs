//! `login`, `whoami`, `logout`, `mfa setup`, `token`: Cognito sign-in for the CLI
//! (mentorcast-auth does the work; this file prompts and prints).

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Result;
use mentorcast_auth::{
    Auth, AuthError, ChallengeKind, CognitoConfig, ErrorKind, Options, RemoteSignOut, Step, StoreChoice,
};

use crate::config::Config;
use crate::exit;

#[derive(clap::Args)]
pub struct StoreArgs {
    /// Where tokens are kept: auto (the OS keyring, else a 0600 file), keyring or file.
    #[arg(long, value_name = "auto|keyring|file")]
    pub token_store: Option<StoreChoice>,
}

#[derive(clap::Args)]
pub struct LoginArgs {
    #[arg(long)]
    pub username: Option<String>,
    /// Read the password from the first line of stdin (and answers to challenges — new password, MFA code — from the next lines).
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(clap::Args)]
pub struct WhoamiArgs {
    #[arg(long)]
    pub json: bool,
    /// Fail (exit 19) unless the signed-in user may broadcast (is in the `mentor` group).
    #[arg(long)]
    pub require_mentor: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(clap::Subcommand)]
pub enum MfaCommand {
    /// Enrol an authenticator app (TOTP): shows the secret and an otpauth:// URI, then asks for a code.
    Setup {
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(clap::Args)]
pub struct TokenArgs {
    /// Print the ID token.
    #[arg(long, conflicts_with = "access", required_unless_present = "access")]
    pub id: bool,
    /// Print the access token.
    #[arg(long)]
    pub access: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub const WRONG_CREDENTIALS: i32 = 10;
pub const NOT_CONFIRMED: i32 = 11;
pub const DISABLED: i32 = 12;
pub const PASSWORD_POLICY: i32 = 13;
pub const WRONG_MFA: i32 = 14;
pub const TOO_MANY: i32 = 15;
pub const NETWORK: i32 = 16;
pub const MISCONFIGURED: i32 = 17;
pub const SIGNED_OUT: i32 = 18;
pub const NOT_MENTOR: i32 = 19;

fn fail(e: AuthError) -> anyhow::Error {
    let code = match e.kind() {
        ErrorKind::WrongCredentials => WRONG_CREDENTIALS,
        ErrorKind::NotConfirmed => NOT_CONFIRMED,
        ErrorKind::Disabled => DISABLED,
        ErrorKind::PasswordPolicy => PASSWORD_POLICY,
        ErrorKind::WrongMfaCode => WRONG_MFA,
        ErrorKind::TooManyAttempts => TOO_MANY,
        ErrorKind::Network => NETWORK,
        ErrorKind::Misconfigured => MISCONFIGURED,
        ErrorKind::SignedOut => SIGNED_OUT,
        ErrorKind::Forbidden => NOT_MENTOR,
        ErrorKind::Storage | ErrorKind::Other => exit::FAILED,
    };
    let mut msg = e.to_string();
    if let Some(first) = msg.get(0..1) {
        msg.replace_range(0..1, &first.to_uppercase());
    }
    if !msg.ends_with('.') {
        msg.push('.');
    }
    exit::exit(code, msg)
}

fn cognito_config(config: &Config) -> Result<CognitoConfig> {
    config.cognito.clone().ok_or_else(|| exit::exit(MISCONFIGURED, "No [cognito] section in the config: run `make stack-up` (it writes .stack/config.toml) or add region, user_pool_id and client_id."))
}

async fn open(config: &Config, store: &StoreArgs) -> Result<Auth> {
    let auth = Auth::open(cognito_config(config)?, Options { store: store.token_store, ..Default::default() })
        .await
        .map_err(fail)?;
    if let Some(n) = auth.store_notice() {
        eprintln!("note: {n}");
    }
    Ok(auth)
}

/// Answers from stdin lines (`--password-stdin`) or prompts on the terminal.
struct Input {
    lines: Option<std::io::Lines<std::io::StdinLock<'static>>>,
}

impl Input {
    fn new(from_stdin: bool) -> Input {
        Input { lines: from_stdin.then(|| std::io::stdin().lock().lines()) }
    }

    fn next_line(&mut self, what: &str) -> Result<String> {
        match self.lines.as_mut().and_then(|l| l.next()) {
            Some(Ok(l)) => Ok(l.trim_end_matches(['\r', '\n']).to_string()),
            _ => Err(exit::exit(exit::BAD_ARGS, format!("No {what} on stdin (with --password-stdin, give the password, then each answer Cognito asks for, one per line)."))),
        }
    }

    fn secret(&mut self, prompt: &str, what: &str) -> Result<String> {
        if self.lines.is_some() {
            return self.next_line(what);
        }
        rpassword::prompt_password(prompt).map_err(|e| {
            exit::exit(exit::BAD_ARGS, format!("Cannot prompt for the {what} ({e}): use --password-stdin."))
        })
    }

    fn visible(&mut self, prompt: &str, what: &str) -> Result<String> {
        if self.lines.is_some() {
            return self.next_line(what);
        }
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            eprint!("{prompt}");
            let _ = std::io::stderr().flush();
        }
        let mut s = String::new();
        match stdin.lock().read_line(&mut s) {
            Ok(n) if n > 0 => Ok(s.trim().to_string()),
            _ => Err(exit::exit(exit::BAD_ARGS, format!("No {what} given."))),
        }
    }
}

pub async fn login(config: &Config, args: LoginArgs) -> Result<i32> {
    let auth = open(config, &args.store).await?;
    let mut input = Input::new(args.password_stdin);
    let username = match args.username {
        Some(u) => u,
        None if args.password_stdin => return Err(exit::exit(exit::BAD_ARGS, "--password-stdin needs --username.")),
        None => input.visible("Username: ", "username")?,
    };
    let password = input.secret("Password: ", "password")?;
    let mut step = auth.sign_in(&username, &password).await.map_err(fail)?;
    drop(password);
    let mut tries = 0;
    let session = loop {
        match step {
            Step::SignedIn(s) => break s,
            Step::Challenge(ch) => {
                tries += 1;
                if tries > 6 {
                    return Err(fail(AuthError::TooManyAttempts));
                }
                step = match ch.kind {
                    ChallengeKind::NewPasswordRequired => {
                        eprintln!("This account has a temporary password: choose a new one.");
                        let policy = auth.password_policy().await;
                        let mut refused: Option<AuthError> = None;
                        let mut attempts = 0;
                        loop {
                            let new = match input.secret("New password: ", "new password") {
                                Ok(p) => p,
                                // stdin ran out after a refused password: that refusal is the answer
                                Err(e) => return Err(refused.map(fail).unwrap_or(e)),
                            };
                            if let Err(e) = policy.check(&new) {
                                attempts += 1;
                                if attempts >= 3 {
                                    return Err(fail(e));
                                }
                                eprintln!(
                                    "{}",
                                    fail(AuthError::PasswordPolicy(match &e {
                                        AuthError::PasswordPolicy(why) => why.clone(),
                                        other => other.to_string(),
                                    }))
                                );
                                refused = Some(e);
                                continue;
                            }
                            if !args.password_stdin {
                                let again = input.secret("New password again: ", "new password")?;
                                if again != new {
                                    eprintln!("The two passwords differ; try again.");
                                    continue;
                                }
                            }
                            break auth.answer_new_password(&ch, &new).await.map_err(fail)?;
                        }
                    }
                    ChallengeKind::SoftwareTokenMfa => {
                        let code = input.visible("MFA code (6 digits from your authenticator app): ", "MFA code")?;
                        auth.answer_mfa(&ch, &code).await.map_err(fail)?
                    }
                };
            }
        }
    };
    let id = &session.identity;
    eprintln!(
        "Signed in as {}{}; tokens kept in {}.",
        id.username,
        id.email.as_deref().map(|e| format!(" <{e}>")).unwrap_or_default(),
        auth.store_description()
    );
    if !id.is_mentor() {
        eprintln!("Note: {}.", AuthError::NotMentor(id.username.clone()));
    }
    Ok(exit::OK)
}

pub async fn whoami(config: &Config, args: WhoamiArgs) -> Result<i32> {
    let auth = open(config, &args.store).await?;
    let s = auth.session().await.map_err(fail)?;
    let id = &s.identity;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "username": id.username,
                "email": id.email,
                "groups": id.groups,
                "can_broadcast": id.is_mentor(),
                "expires_at": mentorcast_auth::time::rfc3339(s.tokens.expires_at),
                "expires_at_unix": s.tokens.expires_at,
                "token_store": auth.store_description(),
            })
        );
    } else {
        println!("username:      {}", id.username);
        println!("email:         {}", id.email.as_deref().unwrap_or("-"));
        println!("groups:        {}", if id.groups.is_empty() { "-".to_string() } else { id.groups.join(", ") });
        println!("can broadcast: {}", if id.is_mentor() { "yes" } else { "no (not in the mentor group)" });
        println!("tokens expire: {}", mentorcast_auth::time::rfc3339(s.tokens.expires_at));
        println!("token store:   {}", auth.store_description());
    }
    if args.require_mentor {
        id.require_mentor().map_err(fail)?;
    }
    Ok(exit::OK)
}

pub async fn logout(config: &Config, store: StoreArgs) -> Result<i32> {
    let auth = open(config, &store).await?;
    match auth.sign_out().await.map_err(fail)? {
        RemoteSignOut::Done => eprintln!("Signed out everywhere (Cognito GlobalSignOut) and removed the local tokens."),
        RemoteSignOut::NotSignedIn => eprintln!("Not signed in; nothing to remove."),
        RemoteSignOut::Skipped(why) => eprintln!(
            "Removed the local tokens; Cognito was not told ({why}), so other sessions stay valid until they expire."
        ),
    }
    Ok(exit::OK)
}

pub async fn mfa(config: &Config, cmd: MfaCommand) -> Result<i32> {
    match cmd {
        MfaCommand::Setup { store } => {
            let auth = open(config, &store).await?;
            let setup = auth.start_totp_setup().await.map_err(fail)?;
            println!("Add this account to your authenticator app:");
            println!("secret: {}", setup.secret);
            println!("uri:    {}", setup.uri);
            let _ = std::io::stdout().flush();
            let mut input = Input::new(false);
            let code = input.visible("Code shown by the app: ", "code")?;
            auth.finish_totp_setup(&code).await.map_err(fail)?;
            eprintln!("MFA is on: sign-ins will ask for a code from the app.");
            Ok(exit::OK)
        }
    }
}

pub async fn token(config: &Config, args: TokenArgs) -> Result<i32> {
    let auth = open(config, &args.store).await?;
    let s = auth.session().await.map_err(fail)?;
    println!("{}", if args.id { &s.tokens.id_token } else { &s.tokens.access_token });
    Ok(exit::OK)
}

/// For commands that broadcast as the signed-in user: Ok when not signed in at all
/// (QA runs against a raw URL), the refusal when signed in as a non-mentor.
#[allow(dead_code)]
pub async fn check_may_broadcast(config: &Config) -> Result<()> {
    let Some(cfg) = config.cognito.clone() else { return Ok(()) };
    let auth = Auth::open(cfg, Options::default()).await.map_err(fail)?;
    match auth.session().await {
        Ok(s) => s.identity.require_mentor().map_err(fail),
        Err(AuthError::NotSignedIn) => Ok(()),
        Err(e) => Err(fail(e)),
    }
}
