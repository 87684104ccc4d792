//! Cognito sign-in through the CLI against the local endpoint
//! (`scripts/stack.sh cognito-up`: moto + provisioned pool, one per test).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn tokens_file(home: &Path) -> PathBuf {
    home.join(".config/mentorcast/tokens.json")
}

/// The stored tokens (file store) of the only account in the file.
fn stored(home: &Path) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(tokens_file(home)).unwrap()).unwrap();
    v.as_object().unwrap().values().next().unwrap().clone()
}

/// Rewrites the stored expiry (forced expiry: the CLI has no clock to inject).
fn force_expiry(home: &Path, expires_at: u64) {
    let path = tokens_file(home);
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for (_, t) in v.as_object_mut().unwrap() {
        t["expires_at"] = expires_at.into();
    }
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
}

/// A copy of the stack's config with `from` replaced by `to`.
fn config_variant(s: &CognitoStack, name: &str, from: &str, to: &str) -> PathBuf {
    let text = std::fs::read_to_string(s.config()).unwrap();
    assert!(text.contains(from), "{from} not in config");
    let p = s.dir.path().join(name);
    std::fs::write(&p, text.replace(from, to)).unwrap();
    p
}

fn login(s: &CognitoStack, home: &Path, user: &str, stdin: &str) -> Run {
    run_stdin(s.cli(home).args(["login", "--username", user, "--password-stdin"]), stdin)
}

fn code_for(secret: &str) -> String {
    mentorcast_auth::totp::code(secret, now()).unwrap()
}

fn wrong_code(secret: &str) -> String {
    let right = code_for(secret);
    if right == "000000" {
        "111111".into()
    } else {
        "000000".into()
    }
}

#[test]
fn login_whoami_token_logout_with_the_file_store() {
    let s = CognitoStack::start();
    let home = s.home("h");
    let r = login(&s, &home, "mentor1", &format!("{}\n", s.password("mentor1")));
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stderr.contains("no usable OS keyring") && r.stderr.contains("tokens.json"),
        "the file fallback says so: {}",
        r.stderr
    );
    assert!(r.stderr.contains("Signed in as mentor1"), "{}", r.stderr);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(tokens_file(&home)).unwrap().permissions().mode() & 0o777, 0o600);

    let r = run(s.cli(&home).args(["whoami", "--json"]));
    assert_eq!(r.code, 0, "{}", r.all());
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["username"], "mentor1");
    assert_eq!(v["email"], "mentor1@mentorcast.test");
    assert_eq!(v["groups"], serde_json::json!(["mentor"]));
    assert_eq!(v["can_broadcast"], true);
    assert!(v["expires_at_unix"].as_u64().unwrap() > now());
    let t = stored(&home);
    for k in ["id_token", "access_token", "refresh_token"] {
        assert!(!r.all().contains(t[k].as_str().unwrap()), "whoami printed the {k}");
    }
    let human = run(s.cli(&home).arg("whoami"));
    assert!(
        human.stdout.contains("can broadcast: yes") && human.stdout.contains("mentor1@mentorcast.test"),
        "{}",
        human.stdout
    );
    // whoami --require-mentor passes for a mentor
    assert_eq!(run(s.cli(&home).args(["whoami", "--require-mentor"])).code, 0);

    let id = run(s.cli(&home).args(["token", "--id"]));
    assert_eq!(id.code, 0, "{}", id.all());
    assert_eq!(id.stdout.trim(), t["id_token"].as_str().unwrap());
    let access = run(s.cli(&home).args(["token", "--access"]));
    assert_eq!(access.stdout.trim(), t["access_token"].as_str().unwrap());
    assert_ne!(run(s.cli(&home).arg("token")).code, 0, "token needs --id or --access");

    let r = run(s.cli(&home).arg("logout"));
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("Signed out everywhere"), "{}", r.stderr);
    assert!(!tokens_file(&home).exists());
    let r = run(s.cli(&home).arg("whoami"));
    assert_eq!(r.code, 18, "{}", r.all());
    assert!(r.stderr.contains("Not signed in"), "{}", r.stderr);
    // `make stack-up`'s promise: the stack's config as MENTORCAST_CONFIG, nothing else
    assert!(std::fs::read_to_string(s.config()).unwrap().contains("auth_flow = \"srp\""));
}

#[test]
fn wrong_password_and_unknown_user_read_the_same_and_disabled_is_told() {
    let s = CognitoStack::start();
    let home = s.home("h");
    // moto does not check SRP proofs: wrong passwords are tested with USER_PASSWORD_AUTH
    let cfg = config_variant(&s, "pw.toml", "auth_flow = \"srp\"", "auth_flow = \"user_password\"");
    let cli = |home: &Path| {
        let mut c = s.cli(home);
        c.env("MENTORCAST_CONFIG", &cfg);
        c
    };
    let wrong = run_stdin(cli(&home).args(["login", "--username", "mentor1", "--password-stdin"]), "Wrong-Passw0rd!\n");
    let unknown =
        run_stdin(cli(&home).args(["login", "--username", "no-such-user", "--password-stdin"]), "Wrong-Passw0rd!\n");
    assert_eq!(wrong.code, 10, "{}", wrong.all());
    assert_eq!(unknown.code, 10, "{}", unknown.all());
    let last = |r: &Run| r.stderr.lines().last().unwrap_or("").to_string();
    assert_eq!(last(&wrong), "error: Wrong username or password.");
    assert_eq!(last(&wrong), last(&unknown));
    let ok = run_stdin(
        cli(&home).args(["login", "--username", "mentor1", "--password-stdin"]),
        &format!("{}\n", s.password("mentor1")),
    );
    assert_eq!(ok.code, 0, "{}", ok.all());
    for flow_cli in [cli(&home), s.cli(&home)] {
        let mut c = flow_cli;
        let r = run_stdin(
            c.args(["login", "--username", "disabled1", "--password-stdin"]),
            &format!("{}\n", s.password("disabled1")),
        );
        assert_eq!(r.code, 12, "{}", r.all());
        assert!(r.stderr.contains("disabled"), "{}", r.stderr);
    }
}

#[test]
fn temporary_password_policy_violation_then_new_password() {
    let s = CognitoStack::start();
    let home = s.home("h");
    let temp = s.password("newmentor");
    let r = login(&s, &home, "newmentor", &format!("{temp}\nweak\n"));
    assert_eq!(r.code, 13, "{}", r.all());
    assert!(r.stderr.contains("policy") && r.stderr.contains("at least 10 characters"), "{}", r.stderr);
    let r = login(&s, &home, "newmentor", &format!("{temp}\nweak\nNew-Passw0rd!ok\n"));
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stderr.contains("temporary password") && r.stderr.contains("at least 10 characters"),
        "policy message first: {}",
        r.stderr
    );
    assert!(r.stderr.contains("Signed in as newmentor"), "{}", r.stderr);
    // the new password is the password now
    let r = login(&s, &s.home("h2"), "newmentor", "New-Passw0rd!ok\n");
    assert_eq!(r.code, 0, "{}", r.all());
}

#[test]
fn mfa_sign_in_wrong_code_then_code_from_the_secret() {
    let s = CognitoStack::start();
    let home = s.home("h");
    let secret = s.users["mfamentor"]["totp_secret"].as_str().unwrap().to_string();
    let pw = s.password("mfamentor");
    let r = login(&s, &home, "mfamentor", &format!("{pw}\n{}\n", wrong_code(&secret)));
    assert_eq!(r.code, 14, "{}", r.all());
    assert!(r.stderr.contains("Wrong MFA code"), "{}", r.stderr);
    let r = login(&s, &home, "mfamentor", &format!("{pw}\n{}\n", code_for(&secret)));
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("Signed in as mfamentor"), "{}", r.stderr);
}

/// `mfa setup` interactively: read the secret it shows, answer with a code from it.
fn enrol(s: &CognitoStack, home: &Path, env: &[(&str, &str)]) -> (String, Run) {
    let mut child = s
        .cli(home)
        .envs(env.iter().copied())
        .args(["mfa", "setup"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut secret = None;
    let mut uri = String::new();
    let mut seen = String::new();
    for _ in 0..10 {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        seen.push_str(&line);
        if let Some(x) = line.strip_prefix("secret: ") {
            secret = Some(x.trim().to_string());
        }
        if let Some(x) = line.strip_prefix("uri:    ") {
            uri = x.trim().to_string();
            break;
        }
    }
    let secret = secret.unwrap_or_else(|| panic!("no secret shown: {seen}"));
    assert!(
        uri.starts_with("otpauth://totp/Mentorcast:")
            && uri.contains(&format!("secret={secret}"))
            && uri.ends_with("&issuer=Mentorcast"),
        "{uri}"
    );
    writeln!(child.stdin.take().unwrap(), "{}", code_for(&secret)).unwrap();
    let out = child.wait_with_output().unwrap();
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: seen + &String::from_utf8_lossy(&out.stdout),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    (secret, r)
}

#[test]
fn totp_enrolment_then_sign_in_asks_for_the_code() {
    let s = CognitoStack::start();
    let home = s.home("h");
    let pw = s.password("mentor2");
    assert_eq!(login(&s, &home, "mentor2", &format!("{pw}\n")).code, 0);
    let (secret, r) = enrol(&s, &home, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("MFA is on"), "{}", r.stderr);
    // the next sign-in needs a code: none given → refused, then with the code → in
    let r = login(&s, &s.home("h2"), "mentor2", &format!("{pw}\n"));
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("No MFA code"), "{}", r.stderr);
    let r = login(&s, &s.home("h2"), "mentor2", &format!("{pw}\n{}\n", code_for(&secret)));
    assert_eq!(r.code, 0, "{}", r.all());
}

#[test]
fn forced_expiry_refreshes_and_a_revoked_session_is_signed_out() {
    let s = CognitoStack::start();
    let (a, b) = (s.home("a"), s.home("b"));
    let pw = format!("{}\n", s.password("mentor1"));
    assert_eq!(login(&s, &a, "mentor1", &pw).code, 0);
    let before = stored(&a);
    force_expiry(&a, now() + 30);
    let r = run(s.cli(&a).args(["whoami", "--json"]));
    assert_eq!(r.code, 0, "{}", r.all());
    let after = stored(&a);
    assert_ne!(after["access_token"], before["access_token"], "refreshed");
    assert_eq!(after["refresh_token"], before["refresh_token"]);
    assert!(after["expires_at"].as_u64().unwrap() > now() + 3000);
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["expires_at_unix"], after["expires_at"]);

    // signed in elsewhere, signed out from there (GlobalSignOut revokes every refresh token)
    assert_eq!(login(&s, &b, "mentor1", &pw).code, 0);
    assert_eq!(run(s.cli(&b).arg("logout")).code, 0);
    force_expiry(&a, now() + 30);
    let r = run(s.cli(&a).arg("whoami"));
    assert_eq!(r.code, 18, "{}", r.all());
    assert!(r.stderr.contains("Signed out:") && r.stderr.contains("mentorcast login"), "said plainly: {}", r.stderr);
    assert!(!tokens_file(&a).exists(), "local tokens wiped");
}

#[test]
fn non_mentor_is_told_why_it_may_not_broadcast() {
    let s = CognitoStack::start();
    let home = s.home("h");
    let r = login(&s, &home, "mentee1", &format!("{}\n", s.password("mentee1")));
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("only mentors may broadcast"), "{}", r.stderr);
    let r = run(s.cli(&home).args(["whoami", "--json"]));
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["can_broadcast"], false);
    assert_eq!(v["groups"], serde_json::json!(["mentee"]));
    let r = run(s.cli(&home).args(["whoami", "--require-mentor"]));
    assert_eq!(r.code, 19, "{}", r.all());
    assert!(
        r.stderr.contains("error: Signed in as mentee1, who is not in the mentor group: only mentors may broadcast."),
        "{}",
        r.stderr
    );
    // `broadcast` itself refuses, before touching the network.
    let port = free_port();
    let url = format!("rtmp://127.0.0.1:{port}/live");
    let r = run(s.cli(&home).args(["broadcast", &url, "--key", "k", "--duration", "1"]));
    assert_eq!(r.code, 19, "{}", r.all());
    assert!(r.stderr.contains("only mentors may broadcast"), "{}", r.stderr);
    // A mentor gets past the check (and on to the closed port: exit 3).
    let mentor_home = s.home("m");
    let r = login(&s, &mentor_home, "mentor1", &format!("{}\n", s.password("mentor1")));
    assert_eq!(r.code, 0, "{}", r.all());
    let r = run(s.cli(&mentor_home).args(["broadcast", &url, "--key", "k", "--duration", "1"]));
    assert_eq!(r.code, 3, "{}", r.all());
}

#[test]
fn network_unreachable_and_misconfigured_pool_or_client() {
    let s = CognitoStack::start();
    let home = s.home("h");
    let pw = format!("{}\n", s.password("mentor1"));
    let dead = free_port();
    let offline = config_variant(
        &s,
        "offline.toml",
        &format!("endpoint = \"http://127.0.0.1:{}\"", s.port),
        &format!("endpoint = \"http://127.0.0.1:{dead}\""),
    );
    let r = run_stdin(
        s.cli(&home).env("MENTORCAST_CONFIG", &offline).args(["login", "--username", "mentor1", "--password-stdin"]),
        &pw,
    );
    assert_eq!(r.code, 16, "{}", r.all());
    assert!(r.stderr.contains("Cannot reach Cognito"), "{}", r.stderr);
    let text = std::fs::read_to_string(s.config()).unwrap();
    let client_line = text.lines().find(|l| l.starts_with("client_id = ")).unwrap().to_string();
    let bad_client = config_variant(&s, "badclient.toml", &client_line, "client_id = \"nosuchclient\"");
    let r = run_stdin(
        s.cli(&home).env("MENTORCAST_CONFIG", &bad_client).args(["login", "--username", "mentor1", "--password-stdin"]),
        &pw,
    );
    assert_eq!(r.code, 17, "{}", r.all());
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
    let none = s.dir.path().join("none.toml");
    std::fs::write(&none, "[ingest]\nurl = \"rtmp://127.0.0.1/live\"\n").unwrap();
    let r = run(s.cli(&home).env("MENTORCAST_CONFIG", &none).arg("whoami"));
    assert_eq!(r.code, 17, "{}", r.all());
}

/// A private D-Bus session with gnome-keyring's Secret Service, unlocked; stopped on drop.
struct Keyring {
    bus: std::process::Child,
    keyring: std::process::Child,
    address: String,
}

impl Keyring {
    fn start(home: &Path) -> Keyring {
        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .arg(format!("--address=unix:path={}/bus", home.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon (apt dbus; scripts/deps.sh installs it)");
        let mut address = String::new();
        BufReader::new(bus.stdout.take().unwrap()).read_line(&mut address).unwrap();
        let address = address.trim().to_string();
        assert!(address.starts_with("unix:"), "dbus-daemon said {address:?}");
        let mut keyring = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("HOME", home)
            .env("XDG_RUNTIME_DIR", home)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gnome-keyring-daemon (apt gnome-keyring)");
        keyring.stdin.take().unwrap().write_all(b"keyring-test-password").unwrap();
        let k = Keyring { bus, keyring, address };
        // ready when the Secret Service name has an owner on the bus
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = Command::new("dbus-send")
                .env("DBUS_SESSION_BUS_ADDRESS", &k.address)
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.secrets",
                ])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&out.stdout).contains("boolean true") {
                break;
            }
            assert!(Instant::now() < deadline, "gnome-keyring did not take org.freedesktop.secrets");
            std::thread::sleep(Duration::from_millis(50));
        }
        k
    }

    fn lookup(&self, home: &Path) -> bool {
        Command::new("secret-tool")
            .args(["lookup", "service", "mentorcast"])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("HOME", home)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    }
}

impl Drop for Keyring {
    fn drop(&mut self) {
        let _ = self.keyring.kill();
        let _ = self.keyring.wait();
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}

#[test]
fn keyring_path_under_a_headless_secret_service() {
    let s = CognitoStack::start();
    let home = s.home("h");
    let k = Keyring::start(&home);
    let env = [("DBUS_SESSION_BUS_ADDRESS", k.address.as_str())];
    let r = run_stdin(
        s.cli(&home).envs(env).args(["login", "--username", "mentor1", "--password-stdin"]),
        &format!("{}\n", s.password("mentor1")),
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("the OS keyring"), "{}", r.stderr);
    assert!(!r.stderr.contains("no usable OS keyring"), "{}", r.stderr);
    assert!(!tokens_file(&home).exists(), "no file when the keyring works");
    assert!(k.lookup(&home), "an item under service \"mentorcast\"");
    let r = run(s.cli(&home).envs(env).args(["whoami", "--json"]));
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("\"username\":\"mentor1\"") && r.stdout.contains("OS keyring"), "{}", r.stdout);
    // --token-store file is honoured even with a keyring
    let r = run_stdin(
        s.cli(&home).envs(env).args(["login", "--username", "mentor2", "--password-stdin", "--token-store", "file"]),
        &format!("{}\n", s.password("mentor2")),
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(tokens_file(&home).exists());
    assert_eq!(run(s.cli(&home).envs(env).arg("logout")).code, 0);
    assert!(!k.lookup(&home), "logout removed the keyring item");
    assert!(!tokens_file(&home).exists(), "and the file");
    assert_eq!(run(s.cli(&home).envs(env).arg("whoami")).code, 18);
}

#[test]
fn no_password_token_or_totp_secret_in_logs_at_trace() {
    let s = CognitoStack::start();
    let home = s.home("h");
    let trace = |c: &mut Command| {
        c.env("MENTORCAST_LOG", "trace");
    };
    let mut secrets: Vec<String> = Vec::new();
    let mut logs = String::new();
    let step = |r: Run, expect: i32, logs: &mut String| {
        assert_eq!(r.code, expect, "{}", r.all());
        assert!(r.stderr.lines().count() > 10, "TRACE logging is on: {}", r.stderr);
        logs.push_str(&r.stderr);
    };
    let tokens_now = |secrets: &mut Vec<String>| {
        if tokens_file(&home).exists() {
            let t = stored(&home);
            for k in ["id_token", "access_token", "refresh_token"] {
                secrets.push(t[k].as_str().unwrap().to_string());
            }
        }
    };
    // SRP sign-in, whoami, a forced refresh, token
    let pw1 = s.password("mentor1");
    secrets.push(pw1.clone());
    let mut c = s.cli(&home);
    trace(&mut c);
    step(run_stdin(c.args(["login", "--username", "mentor1", "--password-stdin"]), &format!("{pw1}\n")), 0, &mut logs);
    tokens_now(&mut secrets);
    force_expiry(&home, now() + 30);
    let mut c = s.cli(&home);
    trace(&mut c);
    step(run(c.args(["whoami"])), 0, &mut logs);
    tokens_now(&mut secrets);
    let mut c = s.cli(&home);
    trace(&mut c);
    step(run(c.args(["token", "--access"])), 0, &mut logs);
    // USER_PASSWORD_AUTH (the password is in the request body)
    let pwcfg = config_variant(&s, "pw.toml", "auth_flow = \"srp\"", "auth_flow = \"user_password\"");
    let pw2 = s.password("mentor2");
    secrets.push(pw2.clone());
    let mut c = s.cli(&home);
    trace(&mut c);
    step(
        run_stdin(
            c.env("MENTORCAST_CONFIG", &pwcfg).args(["login", "--username", "mentor2", "--password-stdin"]),
            &format!("{pw2}\n"),
        ),
        0,
        &mut logs,
    );
    tokens_now(&mut secrets);
    // a wrong password (error responses are logged by the SDK at DEBUG)
    let mut c = s.cli(&home);
    trace(&mut c);
    secrets.push("Wrong-Passw0rd-Secret!".into());
    step(
        run_stdin(
            c.env("MENTORCAST_CONFIG", &pwcfg).args(["login", "--username", "mentor2", "--password-stdin"]),
            "Wrong-Passw0rd-Secret!\n",
        ),
        10,
        &mut logs,
    );
    // TOTP enrolment (the secret is shown on stdout by design, never logged)
    let (enrolled, r) = enrol(&s, &home, &[("MENTORCAST_LOG", "trace")]);
    secrets.push(enrolled);
    step(r, 0, &mut logs);
    // temporary password → new password
    let temp = s.password("newmentor");
    secrets.push(temp.clone());
    secrets.push("New-Passw0rd!secret".into());
    let mut c = s.cli(&home);
    trace(&mut c);
    step(
        run_stdin(
            c.args(["login", "--username", "newmentor", "--password-stdin"]),
            &format!("{temp}\nNew-Passw0rd!secret\n"),
        ),
        0,
        &mut logs,
    );
    tokens_now(&mut secrets);
    // MFA sign-in
    let totp = s.users["mfamentor"]["totp_secret"].as_str().unwrap().to_string();
    let pw3 = s.password("mfamentor");
    secrets.push(totp.clone());
    secrets.push(pw3.clone());
    let mut c = s.cli(&home);
    trace(&mut c);
    step(
        run_stdin(
            c.args(["login", "--username", "mfamentor", "--password-stdin"]),
            &format!("{pw3}\n{}\n", code_for(&totp)),
        ),
        0,
        &mut logs,
    );
    tokens_now(&mut secrets);
    // a revoked session's refresh (moto echoes the refresh token in its error message)
    let mut c = s.cli(&home);
    trace(&mut c);
    step(run(c.arg("logout")), 0, &mut logs);
    assert!(logs.contains("aws_smithy") || logs.contains("mentorcast_auth"), "the crates' own logs are there");
    assert!(secrets.len() >= 15);
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a secret ({} chars) reached the logs", secret.len());
        // JWTs: no part of one either (header.payload.signature)
        if secret.matches('.').count() == 2 {
            let sig = secret.rsplit('.').next().unwrap();
            assert!(!logs.contains(sig), "a token signature reached the logs");
        }
    }
}
