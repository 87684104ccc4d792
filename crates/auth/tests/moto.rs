//! The crate's flows against a real local Cognito endpoint: moto's server from
//! the project venv (one per test binary), a pool provisioned per test by
//! scripts/provision_cognito.py (the script `make stack-up` runs).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};

use mentorcast_auth::*;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Starts moto once, from a thread that lives as long as the test process, with
/// PR_SET_PDEATHSIG so moto ends when this process does.
fn moto_endpoint() -> &'static str {
    static EP: OnceLock<String> = OnceLock::new();
    EP.get_or_init(|| {
        let bin = repo_root().join(".venv/bin/moto_server");
        assert!(bin.exists(), "{} missing: run scripts/deps.sh", bin.display());
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::os::unix::process::CommandExt;
            let mut cmd = Command::new(bin);
            cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .env("MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP", "true")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                    Ok(())
                });
            }
            let mut child = cmd.spawn().expect("starting moto_server");
            let mut err = child.stderr.take().unwrap();
            // moto logs each request to stderr: keep draining it
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while matches!(err.read(&mut buf), Ok(n) if n > 0) {}
            });
            tx.send(()).unwrap();
            let _ = child.wait();
        });
        rx.recv().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "moto did not listen on {port}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        format!("http://127.0.0.1:{port}")
    })
}

/// A freshly provisioned pool: its config and users.json.
struct Pool {
    dir: tempfile::TempDir,
    cfg: CognitoConfig,
    secret_client: (String, String),
    users: serde_json::Value,
}

fn pool() -> Pool {
    let ep = moto_endpoint();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(repo_root().join(".venv/bin/python"))
        .arg(repo_root().join("scripts/provision_cognito.py"))
        .args(["--endpoint", ep, "--stack-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "provisioning failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
    let v: toml::Value = toml::from_str(&text).unwrap();
    let cog = v["cognito"].clone();
    let cfg: CognitoConfig = cog.clone().try_into().unwrap();
    let sc = &cog["secret_client"];
    let users = serde_json::from_str(&std::fs::read_to_string(dir.path().join("users.json")).unwrap()).unwrap();
    Pool {
        secret_client: (sc["client_id"].as_str().unwrap().into(), sc["client_secret"].as_str().unwrap().into()),
        dir,
        cfg,
        users,
    }
}

impl Pool {
    fn pw(&self, user: &str) -> String {
        self.users[user]["password"].as_str().unwrap().to_string()
    }
    fn cfg_with(&self, f: impl FnOnce(&mut CognitoConfig)) -> CognitoConfig {
        let mut c = self.cfg.clone();
        f(&mut c);
        c
    }
    async fn auth(&self, cfg: CognitoConfig, clock: Option<Arc<dyn Clock>>) -> Auth {
        Auth::open(
            cfg,
            Options { store: Some(StoreChoice::File), file_path: Some(self.dir.path().join("tokens.json")), clock },
        )
        .await
        .unwrap()
    }
    fn admin(&self) -> Cognito {
        Cognito::with_credentials(
            self.cfg.clone(),
            Arc::new(SystemClock),
            aws_sdk_cognitoidentityprovider::config::Credentials::new("testing", "testing", None, None, "test"),
        )
        .unwrap()
    }
}

fn signed_in(step: Step) -> Session {
    match step {
        Step::SignedIn(s) => s,
        Step::Challenge(c) => panic!("unexpected challenge {c:?}"),
    }
}

fn challenge(step: Step) -> Challenge {
    match step {
        Step::Challenge(c) => c,
        Step::SignedIn(s) => panic!("signed in ({}) where a challenge was expected", s.identity.username),
    }
}

fn now() -> u64 {
    SystemClock.now()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srp_sign_in_identity_and_mentor_check() {
    let p = pool();
    let auth = p.auth(p.cfg.clone(), None).await;
    let s = signed_in(auth.sign_in("mentor1", &p.pw("mentor1")).await.unwrap());
    assert_eq!(s.identity.username, "mentor1");
    assert_eq!(s.identity.email.as_deref(), Some("mentor1@mentorcast.test"));
    assert_eq!(s.identity.groups, vec!["mentor".to_string()]);
    assert!(s.identity.expires_at > now());
    s.identity.require_mentor().unwrap();
    // stored: a new Auth finds the session
    let again = p.auth(p.cfg.clone(), None).await.session().await.unwrap();
    assert_eq!(again.identity.username, "mentor1");

    let mentee = signed_in(auth.sign_in("mentee1", &p.pw("mentee1")).await.unwrap());
    let e = mentee.identity.require_mentor().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Forbidden);
    assert_eq!(e.to_string(), "signed in as mentee1, who is not in the mentor group: only mentors may broadcast");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_flow_errors() {
    let p = pool();
    let auth = p.auth(p.cfg_with(|c| c.auth_flow = AuthFlow::UserPassword), None).await;
    signed_in(auth.sign_in("mentor2", &p.pw("mentor2")).await.unwrap());
    let wrong = auth.sign_in("mentor2", "Not-the-password-1").await.unwrap_err();
    let unknown = auth.sign_in("nobody-here", "Not-the-password-1").await.unwrap_err();
    assert_eq!(wrong.kind(), ErrorKind::WrongCredentials);
    assert_eq!(unknown.kind(), ErrorKind::WrongCredentials);
    assert_eq!(wrong.to_string(), unknown.to_string(), "unknown user and wrong password must read the same");
    let disabled = auth.sign_in("disabled1", &p.pw("disabled1")).await.unwrap_err();
    assert_eq!(disabled.kind(), ErrorKind::Disabled, "{disabled}");
    // SRP: unknown user and disabled user too (moto does not check SRP proofs, so no wrong-password case there)
    let srp = p.auth(p.cfg.clone(), None).await;
    assert_eq!(srp.sign_in("nobody-here", "x").await.unwrap_err().kind(), ErrorKind::WrongCredentials);
    assert_eq!(srp.sign_in("disabled1", &p.pw("disabled1")).await.unwrap_err().kind(), ErrorKind::Disabled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_client_uses_secret_hash() {
    let p = pool();
    let (id, secret) = p.secret_client.clone();
    for flow in [AuthFlow::Srp, AuthFlow::UserPassword] {
        let cfg = p.cfg_with(|c| {
            c.client_id = id.clone();
            c.client_secret = Some(secret.clone());
            c.auth_flow = flow;
        });
        let auth = p.auth(cfg, None).await;
        let s = signed_in(auth.sign_in("mentor1", &p.pw("mentor1")).await.unwrap());
        assert_eq!(s.identity.username, "mentor1");
    }
    // without the secret, SRP is refused (real Cognito says "Unable to verify secret hash",
    // mapped to Misconfigured; moto's message is bare, so it reads as a refused sign-in)
    let cfg = p.cfg_with(|c| c.client_id = id.clone());
    let e = p.auth(cfg, None).await.sign_in("mentor1", &p.pw("mentor1")).await.unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Misconfigured | ErrorKind::WrongCredentials), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_password_policy_then_new_password() {
    let p = pool();
    let auth = p.auth(p.cfg.clone(), None).await;
    let ch = challenge(auth.sign_in("newmentor", &p.pw("newmentor")).await.unwrap());
    assert_eq!(ch.kind, ChallengeKind::NewPasswordRequired);
    let e = auth.answer_new_password(&ch, "weak").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PasswordPolicy);
    assert!(e.to_string().contains("at least 10 characters"), "{e}");
    let s = signed_in(auth.answer_new_password(&ch, "Fresh-Passw0rd!x").await.unwrap());
    assert_eq!(s.identity.username, "newmentor");
    // the new password now works, the temporary one does not
    let pw = p.auth(p.cfg_with(|c| c.auth_flow = AuthFlow::UserPassword), None).await;
    signed_in(pw.sign_in("newmentor", "Fresh-Passw0rd!x").await.unwrap());
    assert_eq!(pw.sign_in("newmentor", &p.pw("newmentor")).await.unwrap_err().kind(), ErrorKind::WrongCredentials);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_from_describe_user_pool() {
    let p = pool();
    // the admin client has credentials: DescribeUserPool gives the pool's own policy
    let admin = Cognito::with_credentials(
        p.cfg_with(|c| c.password_policy = None),
        Arc::new(SystemClock),
        aws_sdk_cognitoidentityprovider::config::Credentials::new("testing", "testing", None, None, "test"),
    )
    .unwrap();
    let out = admin.sdk().describe_user_pool().user_pool_id(&p.cfg.user_pool_id).send().await.unwrap();
    let min = out.user_pool().unwrap().policies().unwrap().password_policy().unwrap().minimum_length();
    assert_eq!(min, Some(10));
    assert_eq!(
        p.cfg.password_policy.as_ref().unwrap().minimum_length,
        10,
        "provisioning wrote the pool's policy into the config"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mfa_sign_in_wrong_code_then_right_code() {
    let p = pool();
    let secret = p.users["mfamentor"]["totp_secret"].as_str().unwrap().to_string();
    let auth = p.auth(p.cfg.clone(), None).await;
    let ch = challenge(auth.sign_in("mfamentor", &p.pw("mfamentor")).await.unwrap());
    assert_eq!(ch.kind, ChallengeKind::SoftwareTokenMfa);
    let right = totp::code(&secret, now()).unwrap();
    let wrong = if right == "000000" { "111111" } else { "000000" };
    let e = auth.answer_mfa(&ch, wrong).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WrongMfaCode, "{e}");
    // moto ends the session on a wrong code? start again to be safe either way
    let ch = challenge(auth.sign_in("mfamentor", &p.pw("mfamentor")).await.unwrap());
    let s = signed_in(auth.answer_mfa(&ch, &totp::code(&secret, now()).unwrap()).await.unwrap());
    assert_eq!(s.identity.username, "mfamentor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_enrolment_then_mfa_sign_in() {
    let p = pool();
    let auth = p.auth(p.cfg.clone(), None).await;
    signed_in(auth.sign_in("mentor2", &p.pw("mentor2")).await.unwrap());
    let setup = auth.start_totp_setup().await.unwrap();
    assert!(setup.uri.starts_with("otpauth://totp/Mentorcast:mentor2?secret="), "{}", setup.uri);
    assert!(setup.uri.ends_with("&issuer=Mentorcast"));
    assert_eq!(auth.finish_totp_setup("12345").await.unwrap_err().kind(), ErrorKind::WrongMfaCode);
    auth.finish_totp_setup(&totp::code(&setup.secret, now()).unwrap()).await.unwrap();
    // next sign-in asks for the code
    let ch = challenge(auth.sign_in("mentor2", &p.pw("mentor2")).await.unwrap());
    assert_eq!(ch.kind, ChallengeKind::SoftwareTokenMfa);
    signed_in(auth.answer_mfa(&ch, &totp::code(&setup.secret, now()).unwrap()).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_before_expiry_with_injected_clock() {
    let p = pool();
    let clock = OffsetClock::new();
    let auth = p.auth(p.cfg.clone(), Some(clock.clone())).await;
    let first = signed_in(auth.sign_in("mentor1", &p.pw("mentor1")).await.unwrap());
    // fresh tokens: no refresh
    let same = auth.session().await.unwrap();
    assert_eq!(same.tokens.access_token, first.tokens.access_token);
    // 58 minutes later the hour-long tokens are within the refresh margin
    clock.advance(58 * 60);
    let refreshed = auth.session().await.unwrap();
    assert_ne!(refreshed.tokens.access_token, first.tokens.access_token);
    assert_ne!(refreshed.tokens.id_token, first.tokens.id_token);
    assert_eq!(refreshed.tokens.refresh_token, first.tokens.refresh_token);
    assert!(refreshed.tokens.expires_at > clock.now() + 3000);
    // and stored
    let stored = p.auth(p.cfg.clone(), Some(clock.clone())).await.session().await.unwrap();
    assert_eq!(stored.tokens.access_token, refreshed.tokens.access_token);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_fresh_token_refreshes_once_on_401() {
    let p = pool();
    let auth = p.auth(p.cfg.clone(), None).await;
    let first = signed_in(auth.sign_in("mentor1", &p.pw("mentor1")).await.unwrap());
    let calls = std::sync::Mutex::new(Vec::new());
    let out: Result<&str, WithTokenError<String>> = auth
        .with_fresh_token(|t| {
            calls.lock().unwrap().push(t.access_token.clone());
            let n = calls.lock().unwrap().len();
            async move {
                if n == 1 {
                    Err(CallError::Unauthorized)
                } else {
                    Ok("ok")
                }
            }
        })
        .await;
    assert_eq!(out.unwrap(), "ok");
    let calls = calls.into_inner().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0], first.tokens.access_token);
    assert_ne!(calls[1], calls[0], "the retry used refreshed tokens");
    // a server that keeps saying 401: one retry only, then signed out
    let n = std::sync::atomic::AtomicUsize::new(0);
    let out: Result<(), WithTokenError<String>> = auth
        .with_fresh_token(|_| {
            n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Err(CallError::Unauthorized) }
        })
        .await;
    assert!(matches!(out, Err(WithTokenError::Auth(ref e)) if e.kind() == ErrorKind::SignedOut), "{out:?}");
    assert_eq!(n.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_refresh_token_means_signed_out() {
    let p = pool();
    let clock = OffsetClock::new();
    let auth = p.auth(p.cfg.clone(), Some(clock.clone())).await;
    signed_in(auth.sign_in("mentor1", &p.pw("mentor1")).await.unwrap());
    // an administrator signs the user out everywhere
    p.admin()
        .sdk()
        .admin_user_global_sign_out()
        .user_pool_id(&p.cfg.user_pool_id)
        .username("mentor1")
        .send()
        .await
        .unwrap();
    clock.advance(58 * 60);
    let e = auth.session().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SignedOut);
    assert!(e.to_string().starts_with("signed out:"), "{e}");
    // the local tokens are gone
    assert!(matches!(auth.session().await.unwrap_err(), AuthError::NotSignedIn));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_is_global_and_wipes_locally() {
    let p = pool();
    let auth = p.auth(p.cfg.clone(), None).await;
    let s = signed_in(auth.sign_in("mentor1", &p.pw("mentor1")).await.unwrap());
    assert_eq!(auth.sign_out().await.unwrap(), RemoteSignOut::Done);
    assert!(matches!(auth.session().await.unwrap_err(), AuthError::NotSignedIn));
    assert!(!p.dir.path().join("tokens.json").exists());
    // the old refresh token no longer works anywhere
    let e = auth.cognito().refresh(&s.tokens).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SignedOut);
    assert_eq!(auth.sign_out().await.unwrap(), RemoteSignOut::NotSignedIn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_sign_out_still_wipes() {
    let p = pool();
    let auth = p.auth(p.cfg.clone(), None).await;
    signed_in(auth.sign_in("mentor1", &p.pw("mentor1")).await.unwrap());
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let offline = p.auth(p.cfg_with(|c| c.endpoint = Some(format!("http://127.0.0.1:{dead}"))), None).await;
    match offline.sign_out().await.unwrap() {
        RemoteSignOut::Skipped(why) => assert!(why.contains("cannot reach Cognito"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(auth.session().await.unwrap_err(), AuthError::NotSignedIn));
    let e = offline.sign_in("mentor1", &p.pw("mentor1")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Network, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_token_verification_rejects_bad_tokens() {
    let p = pool();
    let auth = p.auth(p.cfg.clone(), None).await;
    let s = signed_in(auth.sign_in("mentor1", &p.pw("mentor1")).await.unwrap());
    let v = auth.verifier();
    v.verify_id_token(&s.tokens.id_token).await.unwrap();
    // bad signature: same header and signature, another payload
    let parts: Vec<&str> = s.tokens.id_token.split('.').collect();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: serde_json::Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    claims["cognito:groups"] = serde_json::json!(["mentor", "admin"]);
    let forged = format!("{}.{}.{}", parts[0], b64.encode(serde_json::to_vec(&claims).unwrap()), parts[2]);
    let e = v.verify_id_token(&forged).await.unwrap_err();
    assert!(e.to_string().contains("bad signature"), "{e}");
    // wrong issuer: a verifier for another region's pool of the same id
    let other_iss = Verifier::new(
        p.cfg.jwks_url(),
        format!("https://cognito-idp.eu-west-1.amazonaws.com/{}", p.cfg.user_pool_id),
        p.cfg.client_id.clone(),
        Arc::new(SystemClock),
    );
    assert!(other_iss.verify_id_token(&s.tokens.id_token).await.unwrap_err().to_string().contains("wrong issuer"));
    // wrong audience: a token of the pool's other app client
    let (sid, ssecret) = p.secret_client.clone();
    let other = p
        .auth(
            p.cfg_with(|c| {
                c.client_id = sid;
                c.client_secret = Some(ssecret);
            }),
            None,
        )
        .await;
    let os = signed_in(other.sign_in("mentor1", &p.pw("mentor1")).await.unwrap());
    assert!(v.verify_id_token(&os.tokens.id_token).await.unwrap_err().to_string().contains("another app client"));
    // the access token is not an ID token
    assert!(v.verify_id_token(&s.tokens.access_token).await.is_err());
    // a backend takes either token, each checked against this app client
    let by_access = v.verify_token(&s.tokens.access_token).await.unwrap();
    assert_eq!(by_access.username, "mentor1");
    assert!(by_access.groups.iter().any(|g| g == "mentor"), "{by_access:?}");
    assert_eq!(v.verify_token(&s.tokens.id_token).await.unwrap().username, "mentor1");
    let e = v.verify_token(&os.tokens.access_token).await.unwrap_err();
    assert!(e.to_string().contains("another app client"), "{e}");
    // expired by the clock
    let later = OffsetClock::new();
    later.advance(2 * 3600);
    let v2 = Verifier::new(p.cfg.jwks_url(), p.cfg.issuer(), p.cfg.client_id.clone(), later);
    assert!(v2.verify_id_token(&s.tokens.id_token).await.unwrap_err().to_string().contains("expired"));
    // garbage
    assert!(v.verify_id_token("not.a.jwt").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misconfigured_pool_or_client() {
    let p = pool();
    let bad_client = p.auth(p.cfg_with(|c| c.client_id = "nosuchclient".into()), None).await;
    assert_eq!(bad_client.sign_in("mentor1", &p.pw("mentor1")).await.unwrap_err().kind(), ErrorKind::Misconfigured);
    let bad_pool = p.auth(p.cfg_with(|c| c.user_pool_id = "us-east-1_nosuchpool".into()), None).await;
    // the client exists, so Cognito signs in, but the tokens are not from the configured pool
    let e = bad_pool.sign_in("mentor1", &p.pw("mentor1")).await.unwrap_err();
    assert!(e.to_string().contains("wrong issuer"), "{e}");
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let bad_jwks = p.auth(p.cfg_with(|c| c.jwks_url = Some(format!("http://127.0.0.1:{dead}/jwks.json"))), None).await;
    let e = bad_jwks.sign_in("mentor1", &p.pw("mentor1")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Network, "{e}");
}
