//! Live viewers through the real server (in-process, on 127.0.0.1:0): heartbeats,
//! the active window, stats, SSE pushes, the device limit, participants, the
//! watch page and hls.js, metrics. Tokens are RS256 JWTs minted here with a
//! key made by openssl and published on a JWKS endpoint this test serves, so
//! the server verifies them exactly as it verifies Cognito's.

use std::time::{Duration, Instant};

use base64::Engine;
use futures_util::StreamExt;
use mentorcast_api::{Agent, ApiError, Client, Heartbeat, ViewerCount};
use mentorcast_server::AppState;

const POOL: &str = "eu-west-1_TestPool";
const CLIENT_ID: &str = "test-client";

struct Keys {
    pem: Vec<u8>,
    jwks: serde_json::Value,
}

fn make_keys(dir: &std::path::Path) -> Keys {
    let key = dir.join("jwt.pem");
    let ok =
        std::process::Command::new("openssl").args(["genrsa", "-out"]).arg(&key).arg("2048").output().expect("openssl");
    assert!(ok.status.success(), "openssl genrsa: {}", String::from_utf8_lossy(&ok.stderr));
    let out = std::process::Command::new("openssl")
        .args(["rsa", "-noout", "-modulus", "-in"])
        .arg(&key)
        .output()
        .expect("openssl");
    let text = String::from_utf8(out.stdout).unwrap();
    let hex_n = text.trim().strip_prefix("Modulus=").expect("modulus");
    let n = hex::decode(hex_n).unwrap();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let jwks = serde_json::json!({"keys": [
        {"kty": "RSA", "kid": "test-kid", "alg": "RS256", "use": "sig", "n": b64.encode(n), "e": "AQAB"}
    ]});
    Keys { pem: std::fs::read(&key).unwrap(), jwks }
}

struct Server {
    _dir: tempfile::TempDir,
    base: String,
    state: AppState,
    pem: Vec<u8>,
}

impl Server {
    async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let keys = make_keys(dir.path());
        // the JWKS endpoint
        let jwks = keys.jwks.clone();
        let jl = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let jwks_port = jl.local_addr().unwrap().port();
        let japp = axum::Router::new()
            .route("/jwks.json", axum::routing::get(move || std::future::ready(axum::Json(jwks.clone()))));
        tokio::spawn(async move { axum::serve(jl, japp).await.unwrap() });
        let hlsjs = dir.path().join("hls.min.js");
        std::fs::write(&hlsjs, "/* hls.js stand-in */ var Hls = {};").unwrap();
        let cfg = format!(
            r#"
listen = "127.0.0.1:0"
public_url = "http://127.0.0.1:1"
database_url = "sqlite://{db}"
data_dir = "{data}"
hlsjs_path = "{hlsjs}"
[cognito]
region = "eu-west-1"
user_pool_id = "{POOL}"
client_id = "{CLIENT_ID}"
jwks_url = "http://127.0.0.1:{jwks_port}/jwks.json"
[ingest]
rtmp_url = "rtmp://127.0.0.1:1935"
hls_url = "http://127.0.0.1:8935/hls"
"#,
            db = dir.path().join("db.sqlite").display(),
            data = dir.path().join("data").display(),
            hlsjs = hlsjs.display(),
        );
        let path = dir.path().join("server.toml");
        std::fs::write(&path, cfg).unwrap();
        let config = mentorcast_server::ServerConfig::load(&path).unwrap();
        let state = mentorcast_server::state(config).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let st = state.clone();
        tokio::spawn(async move { mentorcast_server::serve(st, listener, std::future::pending()).await.unwrap() });
        Server { _dir: dir, base, state, pem: keys.pem }
    }

    /// A channel (as GET /channel would make it), optionally live with an open session (as on_publish would).
    async fn channel(&self, app: &str, live: bool) -> i64 {
        let now = mentorcast_server::identity::now_unix();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO channels (mentor_sub, mentor_username, app, stream_key, key_issued_at, created_at) \
             VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(format!("sub-mentor-{app}"))
        .bind(format!("mentor-{app}"))
        .bind(app)
        .bind(format!("sk_{app}"))
        .bind(now)
        .bind(now)
        .fetch_one(&self.state.db)
        .await
        .unwrap();
        if !live {
            return 0;
        }
        let sid: i64 = sqlx::query_scalar(
            "INSERT INTO live_sessions (channel_id, app, mentor_sub, started_at) VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(id)
        .bind(app)
        .bind(format!("sub-mentor-{app}"))
        .bind(now)
        .fetch_one(&self.state.db)
        .await
        .unwrap();
        self.state.presence.start_stream(app).await;
        sid
    }

    fn token(&self, user: &str, groups: &[&str]) -> String {
        let claims = serde_json::json!({
            "sub": format!("sub-{user}"),
            "cognito:username": user,
            "cognito:groups": groups,
            "token_use": "id",
            "aud": CLIENT_ID,
            "iss": format!("https://cognito-idp.eu-west-1.amazonaws.com/{POOL}"),
            "exp": mentorcast_server::identity::now_unix() + 3600,
        });
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        h.kid = Some("test-kid".into());
        jsonwebtoken::encode(&h, &claims, &jsonwebtoken::EncodingKey::from_rsa_pem(&self.pem).unwrap()).unwrap()
    }

    fn client(&self) -> Client {
        Client::new(&self.base).unwrap()
    }

    fn signed_in(&self, user: &str, groups: &[&str]) -> Client {
        self.client().with_token(self.token(user, groups))
    }
}

fn hb(app: &str, id: &str, bitrate: u32, play: f64) -> Heartbeat {
    Heartbeat {
        player_id: id.into(),
        app: app.into(),
        bitrate,
        play_time: play,
        agent: Agent { os: "Linux".into(), browser: "Firefox".into(), device: "desktop".into() },
    }
}

/// Polls `f` every 50 ms until it returns Some, or panics after `timeout`.
async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_are_counted_and_expire_after_the_window() {
    let s = Server::start().await;
    s.channel("room-a", true).await;
    let anon = s.client();
    let ack = anon.heartbeat(&hb("room-a", "p1", 1500, 1.0)).await.unwrap();
    assert_eq!((ack.active, ack.interval_ms), (1, 750));
    assert_eq!(anon.heartbeat(&hb("room-a", "p2", 800, 3.0)).await.unwrap().active, 2);
    // the same player again is not a new viewer
    assert_eq!(anon.heartbeat(&hb("room-a", "p1", 2500, 1.75)).await.unwrap().active, 2);
    let viewer = s.signed_in("mentee1", &["mentee"]);
    let st = viewer.stream_stats("room-a").await.unwrap();
    assert!(st.live);
    assert_eq!((st.active, st.total, st.peak), (2, 2, 2));
    assert_eq!((st.bitrate.min, st.bitrate.max), (800, 2500));
    assert!((st.avg_play_time_s - (1.75 + 3.0) / 2.0).abs() < 1e-9);
    assert_eq!(st.by_browser.get("Firefox"), Some(&2));
    // p2 keeps beating, p1 goes silent: p1 drops out after the 2 s window (and not before 1.5 s)
    let started = Instant::now();
    let active = wait_for(Duration::from_secs(6), "p1 to drop out", || {
        let (anon, viewer) = (anon.clone(), viewer.clone());
        async move {
            anon.heartbeat(&hb("room-a", "p2", 800, 3.5)).await.unwrap();
            let st = viewer.stream_stats("room-a").await.unwrap();
            (st.active == 1).then_some(st)
        }
    })
    .await;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1500), "dropped out too early: {took:?}");
    assert_eq!((active.total, active.peak), (2, 2));
    // nobody left once p2 stops too
    wait_for(Duration::from_secs(4), "everyone to drop out", || {
        let viewer = viewer.clone();
        async move { (viewer.stream_stats("room-a").await.unwrap().active == 0).then_some(()) }
    })
    .await;
    // metrics: every accepted beat counted; the gauge follows the sweeper (within 1 s)
    let metrics_url = format!("{}/metrics", s.base);
    let m = reqwest::get(&metrics_url).await.unwrap().text().await.unwrap();
    let beats: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("mentorcast_heartbeats_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{m}"));
    assert!(beats >= 4, "{m}");
    wait_for(Duration::from_secs(1), "the active_viewers gauge to drop to 0", || {
        let url = metrics_url.clone();
        async move {
            reqwest::get(&url)
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
                .lines()
                .any(|l| l == "mentorcast_active_viewers 0")
                .then_some(())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_heartbeats_and_unknown_apps() {
    let s = Server::start().await;
    s.channel("room-b", false).await;
    let anon = s.client();
    // no such channel
    let e = anon.heartbeat(&hb("room-nope", "p1", 1, 0.0)).await.unwrap_err();
    assert_eq!(e.status(), Some(404), "{e}");
    let e = s.signed_in("u", &["mentee"]).stream_stats("room-nope").await.unwrap_err();
    assert_eq!(e.status(), Some(404));
    // stats and SSE need a sign-in; a bad token is 401 even on the anonymous heartbeat
    assert_eq!(anon.stream_stats("room-b").await.unwrap_err().status(), Some(401));
    assert!(matches!(anon.viewers_live("room-b").await.err(), Some(ApiError::Unauthorized(_))));
    let forged = s.client().with_token("eyJhbGciOiJSUzI1NiJ9.e30.c2ln");
    assert_eq!(forged.heartbeat(&hb("room-b", "p1", 1, 0.0)).await.unwrap_err().status(), Some(401));
    // malformed bodies: 400 with the JSON error body
    let http = reqwest::Client::new();
    for body in [
        "{",
        "[]",
        r#"{"playerId":"p"}"#,
        r#"{"playerId":"","app":"room-b"}"#,
        r#"{"playerId":"p","app":"room-b","playTime":-1}"#,
        r#"{"playerId":"p","app":"room-b","bitrate":-5}"#,
    ] {
        let r = http
            .post(format!("{}/api/v1/heartbeat", s.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{body}");
        let e: mentorcast_api::ErrorBody = r.json().await.unwrap();
        assert_eq!(e.error, "bad_request");
    }
    let r = http.post(format!("{}/api/v1/heartbeat", s.base)).body("playerId=p").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // a valid one for a channel that is not live is counted (the watch page may be open before the stream)
    assert_eq!(anon.heartbeat(&hb("room-b", "p1", 1, 0.0)).await.unwrap().active, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_pushes_each_change_within_a_second() {
    let s = Server::start().await;
    s.channel("room-c", true).await;
    let viewer = s.signed_in("mentor-room-c", &["mentor"]);
    let mut events = Box::pin(viewer.viewers_live("room-c").await.unwrap());
    async fn next_of<S: futures_util::Stream<Item = Result<ViewerCount, ApiError>> + Unpin>(
        events: &mut S,
        timeout: Duration,
    ) -> ViewerCount {
        tokio::time::timeout(timeout, events.next())
            .await
            .expect("no SSE event in time")
            .expect("SSE ended")
            .expect("SSE error")
    }
    // the first event comes at once
    assert_eq!(next_of(&mut events, Duration::from_secs(1)).await, ViewerCount { active: 0, peak: 0, total: 0 });
    let anon = s.client();
    for (i, want) in [(1, 1u64), (2, 2), (3, 3)] {
        let t = Instant::now();
        anon.heartbeat(&hb("room-c", &format!("p{i}"), 1, 0.0)).await.unwrap();
        let c = next_of(&mut events, Duration::from_secs(1)).await;
        assert_eq!(c.active, want, "{c:?}");
        assert!(t.elapsed() < Duration::from_secs(1));
    }
    // nobody beats any more: each drop is pushed, down to 0 within 1 s of the last window ending
    let silent = Instant::now();
    let mut last = 3;
    loop {
        let c = next_of(&mut events, Duration::from_secs(3)).await;
        assert!(c.active < last, "{c:?} after {last}");
        assert_eq!((c.peak, c.total), (3, 3));
        last = c.active;
        if c.active == 0 {
            break;
        }
    }
    assert!(silent.elapsed() < Duration::from_secs(3), "{:?}", silent.elapsed());
    // the raw wire format
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/streams/room-c/viewers/live", s.base))
        .bearer_auth(s.token("x", &["admin"]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let mut body = r.bytes_stream();
    let first = tokio::time::timeout(Duration::from_secs(1), body.next()).await.unwrap().unwrap().unwrap();
    let text = String::from_utf8_lossy(&first);
    assert!(text.starts_with("event: viewers\ndata: {"), "{text}");
    assert!(text.contains(r#""active":0"#), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_per_account_and_participants() {
    let s = Server::start().await;
    let sid = s.channel("room-d", true).await;
    s.channel("room-e", true).await;
    let alice = s.signed_in("alice", &["mentee"]);
    alice.heartbeat(&hb("room-d", "alice-laptop", 1, 0.0)).await.unwrap();
    alice.heartbeat(&hb("room-e", "alice-phone", 1, 0.0)).await.unwrap();
    let e = alice.heartbeat(&hb("room-d", "alice-tablet", 1, 0.0)).await.unwrap_err();
    assert_eq!(e.status(), Some(409));
    let msg = e.to_string();
    assert!(msg.contains("2 devices"), "{msg}");
    // the ones already playing go on; other accounts and anonymous players are not affected
    alice.heartbeat(&hb("room-d", "alice-laptop", 1, 0.0)).await.unwrap();
    s.signed_in("bob", &["mentee"]).heartbeat(&hb("room-d", "bob-1", 1, 0.0)).await.unwrap();
    s.client().heartbeat(&hb("room-d", "anon-1", 1, 0.0)).await.unwrap();
    let st = alice.stream_stats("room-d").await.unwrap();
    assert_eq!(st.active, 3);
    // signed-in viewers of the live session are its participants (once each); anonymous ones are not
    let who: Vec<(String, String)> =
        sqlx::query_as("SELECT user_sub, username FROM participants WHERE live_session_id = ? ORDER BY username")
            .bind(sid)
            .fetch_all(&s.state.db)
            .await
            .unwrap();
    assert_eq!(who, vec![("sub-alice".to_string(), "alice".to_string()), ("sub-bob".to_string(), "bob".to_string())]);
    // once the phone is silent for the window, the tablet may play
    let alice2 = alice.clone();
    wait_for(Duration::from_secs(5), "the tablet to be accepted", move || {
        let alice = alice2.clone();
        async move {
            alice.heartbeat(&hb("room-d", "alice-laptop", 1, 0.0)).await.unwrap();
            alice.heartbeat(&hb("room-d", "alice-tablet", 1, 0.0)).await.ok()
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participants_only_while_live() {
    let s = Server::start().await;
    s.channel("room-f", false).await;
    s.signed_in("carol", &["mentee"]).heartbeat(&hb("room-f", "c1", 1, 0.0)).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM participants").fetch_one(&s.state.db).await.unwrap();
    assert_eq!(n, 0);
    // the stream goes live (a session row, then start_stream as the on_publish hook does): the next beat records her
    let cid: i64 =
        sqlx::query_scalar("SELECT id FROM channels WHERE app = 'room-f'").fetch_one(&s.state.db).await.unwrap();
    let sid: i64 = sqlx::query_scalar(
        "INSERT INTO live_sessions (channel_id, app, mentor_sub, started_at) VALUES (?, 'room-f', 'm', 0) RETURNING id",
    )
    .bind(cid)
    .fetch_one(&s.state.db)
    .await
    .unwrap();
    s.state.presence.start_stream("room-f").await;
    s.signed_in("carol", &["mentee"]).heartbeat(&hb("room-f", "c1", 1, 0.0)).await.unwrap();
    let who: Vec<String> = sqlx::query_scalar("SELECT username FROM participants WHERE live_session_id = ?")
        .bind(sid)
        .fetch_all(&s.state.db)
        .await
        .unwrap();
    assert_eq!(who, vec!["carol".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_page_and_hlsjs() {
    let s = Server::start().await;
    s.channel("room-w", false).await;
    let r = reqwest::get(format!("{}/watch/room-w", s.base)).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = r.text().await.unwrap();
    assert!(page.contains(r#""hls_url":"http://127.0.0.1:8935/hls/room-w.m3u8""#), "{page}");
    assert!(page.contains(r#"<script src="/assets/hls.min.js"></script>"#));
    assert!(page.contains("/api/v1/heartbeat"));
    assert!(!page.contains("cdn"), "no CDN");
    assert_eq!(reqwest::get(format!("{}/watch/room-nope", s.base)).await.unwrap().status().as_u16(), 404);
    assert_eq!(reqwest::get(format!("{}/watch/%3Cscript%3E", s.base)).await.unwrap().status().as_u16(), 404);
    let js = reqwest::get(format!("{}/assets/hls.min.js", s.base)).await.unwrap();
    assert_eq!(js.status().as_u16(), 200);
    assert!(js.headers()["content-type"].to_str().unwrap().starts_with("application/javascript"));
    assert!(js.text().await.unwrap().contains("hls.js stand-in"));
    // the API is described
    let doc: serde_json::Value = reqwest::get(format!("{}/openapi.json", s.base)).await.unwrap().json().await.unwrap();
    for p in ["/api/v1/heartbeat", "/api/v1/streams/{app}/stats", "/api/v1/streams/{app}/viewers/live", "/watch/{app}"]
    {
        assert!(doc["paths"].get(p).is_some(), "{p} missing from /openapi.json");
    }
}
