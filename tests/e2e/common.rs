//! Shared helpers: a private ingest stack per test (scripts/stack.sh on free
//! ports in a temp dir), the CLI binary, ffprobe, waiting on real events.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// A port free now, below the kernel's ephemeral range (32768+): a port the kernel
/// handed out for `:0` can be taken again by any outgoing connection before the
/// server we start binds it (seen: moto "address already in use"). Ports are
/// walked from a per-process start, so tests in one process never share one.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7_919) % SPAN,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let port = (LOW + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running nginx-rtmp stack of our own (live + record + HLS, guarded/denied apps, RTMPS terminator),
/// and with [`Stack::start_with_backend`] also the Cognito endpoint (moto) and mentorcast-server.
pub struct Stack {
    pub dir: tempfile::TempDir,
    pub rtmp_port: u16,
    pub rtmps_port: u16,
    pub http_port: u16,
    /// The backend's port (only listening with [`Stack::start_with_backend`]).
    pub server_port: u16,
    /// The Cognito endpoint's port, when the backend runs.
    pub cognito_port: Option<u16>,
}

impl Stack {
    pub fn start() -> Stack {
        Stack::start_inner(false)
    }

    /// nginx + the Cognito endpoint + mentorcast-server (scripts/stack.sh up with STACK_COGNITO=1).
    pub fn start_with_backend() -> Stack {
        Stack::start_inner(true)
    }

    fn start_inner(backend: bool) -> Stack {
        let dir = tempfile::Builder::new().prefix("mentorcast-e2e-").tempdir().unwrap();
        let (rtmp_port, rtmps_port, http_port, server_port) = (free_port(), free_port(), free_port(), free_port());
        let cognito_port = backend.then(free_port);
        let s = Stack { dir, rtmp_port, rtmps_port, http_port, server_port, cognito_port };
        s.up();
        s
    }

    fn script(&self, action: &str) -> Output {
        Command::new(repo_root().join("scripts/stack.sh"))
            .arg(action)
            .env("STACK_DIR", self.dir.path())
            .env("RTMP_PORT", self.rtmp_port.to_string())
            .env("RTMPS_PORT", self.rtmps_port.to_string())
            .env("HTTP_PORT", self.http_port.to_string())
            .env("SERVER_PORT", self.server_port.to_string())
            // the media tests need no Cognito endpoint nor backend (tests/e2e/auth.rs starts its own Cognito)
            .env("STACK_COGNITO", if self.cognito_port.is_some() { "1" } else { "0" })
            .env("COGNITO_PORT", self.cognito_port.unwrap_or(0).to_string())
            .output()
            .expect("running scripts/stack.sh")
    }

    pub fn up(&self) {
        let out = self.script("up");
        assert!(
            out.status.success(),
            "stack up failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn down(&self) {
        let out = self.script("down");
        assert!(out.status.success(), "stack down failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    pub fn rtmp(&self, app: &str) -> String {
        format!("rtmp://127.0.0.1:{}/{app}", self.rtmp_port)
    }

    pub fn rtmps(&self, app: &str) -> String {
        format!("rtmps://localhost:{}/{app}", self.rtmps_port)
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("tls/ca.pem")
    }

    /// The CLI config `stack.sh up` wrote (with `[api]` and `[cognito]` when the backend runs).
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    /// `http://127.0.0.1:{server_port}`
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.server_port)
    }

    /// The provisioned Cognito users (`users.json`).
    pub fn users(&self) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(self.dir.path().join("users.json")).unwrap()).unwrap()
    }

    pub fn password(&self, user: &str) -> String {
        self.users()[user]["password"].as_str().unwrap().to_string()
    }

    /// A private HOME inside the stack's dir.
    pub fn home(&self, name: &str) -> PathBuf {
        let h = self.dir.path().join("homes").join(name);
        std::fs::create_dir_all(&h).unwrap();
        h
    }

    /// `mentorcast` with this stack's config, a private HOME, and no D-Bus session (file token store).
    pub fn cli(&self, home: &Path) -> Command {
        let mut c = mentorcast();
        c.env("MENTORCAST_CONFIG", self.config())
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_RUNTIME_DIR", home)
            .env("DBUS_SESSION_BUS_ADDRESS", format!("unix:path={}/no-bus", home.display()))
            .env_remove("MENTORCAST_LOG")
            .env_remove("MENTORCAST_API_URL");
        c
    }

    /// `mentorcast login` as `user` into a private home; returns the home.
    pub fn login(&self, user: &str) -> PathBuf {
        let home = self.home(user);
        let r = run_stdin(
            self.cli(&home).args(["login", "--username", user, "--password-stdin"]),
            &format!("{}\n", self.password(user)),
        );
        assert_eq!(r.code, 0, "login {user}: {}", r.all());
        home
    }

    /// The ID token of the user signed in under `home` (`mentorcast token --id`).
    pub fn id_token(&self, home: &Path) -> String {
        let r = run(self.cli(home).args(["token", "--id"]));
        assert_eq!(r.code, 0, "{}", r.all());
        r.stdout.trim().to_string()
    }

    pub fn guarded_key(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("guarded_key")).unwrap().trim().to_string()
    }

    /// The newest non-empty recording of `key`.
    pub fn recording(&self, key: &str) -> PathBuf {
        let dir = self.dir.path().join("record");
        let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let meta = e.metadata().unwrap();
            if name.starts_with(&format!("{key}-")) && name.ends_with(".flv") && meta.len() > 0 {
                let t = meta.modified().unwrap();
                if best.as_ref().map(|(b, _)| t > *b).unwrap_or(true) {
                    best = Some((t, e.path()));
                }
            }
        }
        best.unwrap_or_else(|| panic!("no recording for key {key} in {}", dir.display())).1
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.script("down");
    }
}

pub fn mentorcast() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mentorcast"));
    // Never pick up a developer's own config.
    // The synthetic sources unless a test asks for a device: a developer's own
    // microphone or camera must not change what the media tests receive.
    c.env("MENTORCAST_CAMERA", "synthetic").env("MENTORCAST_MIC", "synthetic");
    c.env_remove("MENTORCAST_CONFIG")
        .env("HOME", std::env::temp_dir())
        .env("XDG_CONFIG_HOME", std::env::temp_dir().join("mentorcast-e2e-noconfig"));
    c
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

pub fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().expect("running mentorcast");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The last `{"event":"summary"}` line of `broadcast --json`.
pub fn summary(stdout: &str) -> serde_json::Value {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .rfind(|v| v["event"] == "summary")
        .unwrap_or_else(|| panic!("no summary line in:\n{stdout}"))["stats"]
        .clone()
}

pub fn verify_json(source: &str, extra: &[&str]) -> serde_json::Value {
    let r = run(mentorcast().args(["verify", source, "--json"]).args(extra));
    assert_eq!(r.code, 0, "verify failed: {}", r.all());
    serde_json::from_str(r.stdout.trim()).unwrap_or_else(|e| panic!("bad verify JSON ({e}): {}", r.stdout))
}

/// ffprobe's view of a file: streams and per-frame video info.
pub fn ffprobe(path: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_streams",
            "-show_entries",
            "frame=media_type,pts_time,key_frame",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe");
    assert!(out.status.success(), "ffprobe failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn stream<'a>(probe: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
    probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} stream"))
}

/// Times (s) of the video keyframes ffprobe decoded.
pub fn keyframe_times(probe: &serde_json::Value) -> Vec<f64> {
    probe["frames"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["media_type"] == "video" && f["key_frame"] == 1)
        .filter_map(|f| f["pts_time"].as_str()?.parse().ok())
        .collect()
}

/// Spawns `mentorcast broadcast ... --json` and returns the child plus a channel of its stdout lines.
pub fn spawn_broadcast(args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut child = mentorcast()
        .arg("broadcast")
        .args(args)
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Waits for a JSON line from `rx` matching `pred`, up to `timeout`; returns every line seen.
pub fn wait_line(
    rx: &mpsc::Receiver<String>,
    timeout: Duration,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let hit = serde_json::from_str::<serde_json::Value>(&line).map(|v| pred(&v)).unwrap_or(false);
                seen.push(line);
                if hit {
                    return seen;
                }
            }
            Err(_) => panic!("timed out after {timeout:?}; lines so far:\n{}", seen.join("\n")),
        }
    }
}

pub fn is_state(v: &serde_json::Value, state: &str) -> bool {
    v["event"] == "state" && v["state"]["state"] == state
}

/// Waits for a child to exit, up to `timeout`.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> i32 {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// True once something listens on 127.0.0.1:port (read from /proc, without connecting).
pub fn is_listening(port: u16) -> bool {
    let needle = format!(":{port:04X} ");
    std::fs::read_to_string("/proc/net/tcp")
        .map(|t| {
            t.lines().any(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.len() > 3 && format!("{} ", cols[1]).contains(&needle) && cols[3] == "0A"
            })
        })
        .unwrap_or(false)
}

pub fn wait_listening(port: u16, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !is_listening(port) {
        assert!(Instant::now() < deadline, "nothing listened on port {port} within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The local Cognito endpoint alone (`scripts/stack.sh cognito-up`: moto from
/// .venv/ on a free port, provisioned pool, users.json and config.toml in a temp dir).
pub struct CognitoStack {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub users: serde_json::Value,
}

impl CognitoStack {
    pub fn start() -> CognitoStack {
        let dir = tempfile::Builder::new().prefix("mentorcast-auth-e2e-").tempdir().unwrap();
        let port = free_port();
        let mut s = CognitoStack { dir, port, users: serde_json::Value::Null };
        let out = s.script("cognito-up");
        assert!(
            out.status.success(),
            "cognito-up failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        s.users = serde_json::from_str(&std::fs::read_to_string(s.dir.path().join("users.json")).unwrap()).unwrap();
        s
    }

    fn script(&self, action: &str) -> Output {
        Command::new(repo_root().join("scripts/stack.sh"))
            .arg(action)
            .env("STACK_DIR", self.dir.path())
            .env("COGNITO_PORT", self.port.to_string())
            .output()
            .expect("running scripts/stack.sh")
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    pub fn password(&self, user: &str) -> String {
        self.users[user]["password"].as_str().unwrap().to_string()
    }

    /// A private HOME/XDG_CONFIG_HOME (where the file store lives) inside the stack's dir.
    pub fn home(&self, name: &str) -> PathBuf {
        let h = self.dir.path().join(name);
        std::fs::create_dir_all(&h).unwrap();
        h
    }

    /// `mentorcast` with this stack's config, a private HOME, and no D-Bus session (file store).
    pub fn cli(&self, home: &Path) -> Command {
        let mut c = mentorcast();
        c.env("MENTORCAST_CONFIG", self.config())
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_RUNTIME_DIR", home)
            .env("DBUS_SESSION_BUS_ADDRESS", format!("unix:path={}/no-bus", home.display()))
            .env_remove("MENTORCAST_LOG");
        c
    }
}

impl Drop for CognitoStack {
    fn drop(&mut self) {
        let _ = self.script("cognito-down");
    }
}

/// Runs `cmd` with `input` on stdin.
pub fn run_stdin(cmd: &mut Command, input: &str) -> Run {
    use std::io::Write;
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("running mentorcast");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
