//! Bad input: each case gets its exit code and one plain sentence, no panic, no key.

use std::io::Read;
use std::net::TcpListener;

use crate::common::*;

const SECRET: &str = "sk_live-SECRET_9f?tok=a&b=c";

fn broadcast_fails(args: &[&str], code: i32, needle: &str) -> Run {
    let r = run(mentorcast().arg("broadcast").args(args).args(["--duration", "2", "--reconnect-attempts", "0"]));
    assert_eq!(r.code, code, "args {args:?}: {}", r.all());
    assert!(r.stderr.contains(needle), "args {args:?}: expected '{needle}' in: {}", r.stderr);
    assert!(!r.all().contains(SECRET), "the key leaked: {}", r.all());
    assert!(!r.all().contains("panicked"), "{}", r.all());
    let error_lines: Vec<_> = r.stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(error_lines.len(), 1, "one sentence expected: {}", r.stderr);
    r
}

#[test]
fn refused_port() {
    let port = free_port();
    broadcast_fails(&[&format!("rtmp://127.0.0.1:{port}/live"), "--key", SECRET], 3, "connection refused");
}

#[test]
fn unknown_host() {
    broadcast_fails(&["rtmp://no-such-host.invalid/live", "--key", SECRET], 3, "could not resolve host");
}

#[test]
fn wrong_scheme() {
    broadcast_fails(&["http://127.0.0.1/live", "--key", SECRET], 2, "not an RTMP URL");
}

#[test]
fn missing_key() {
    broadcast_fails(&["rtmp://127.0.0.1/live"], 2, "no stream key");
}

#[test]
fn odd_resolution() {
    broadcast_fails(&["rtmp://127.0.0.1/live", "--key", SECRET, "--resolution", "853x480"], 2, "must be even");
}

#[test]
fn non_rtmp_server_on_the_port() {
    let stack = Stack::start();
    broadcast_fails(
        &[&format!("rtmp://127.0.0.1:{}/live", stack.http_port), "--key", SECRET],
        3,
        "does not speak RTMP",
    );
}

#[test]
fn server_closes_during_handshake() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        let mut c0c1 = [0u8; 100];
        let _ = sock.read(&mut c0c1);
        drop(sock); // closes mid-handshake
    });
    broadcast_fails(
        &[&format!("rtmp://127.0.0.1:{port}/live"), "--key", SECRET],
        3,
        "closed the connection during the RTMP handshake",
    );
    server.join().unwrap();
}

#[test]
fn publish_denied_by_the_ingest() {
    let stack = Stack::start();
    // on_publish hook answers 403 for a wrong key.
    let r = broadcast_fails(&[&stack.rtmp("guarded"), "--key", SECRET], 4, "refused");
    assert!(r.stderr.contains("stream key"), "{}", r.stderr);
    // `deny publish`: nginx-rtmp says Publish.Start, then closes.
    broadcast_fails(&[&stack.rtmp("denied"), "--key", SECRET], 4, "refused");
    // The right key on the guarded app goes through, with `?`, `=`, `&`, `_`, `-`
    // intact: nginx-rtmp splits the query off the name and passes both to its hook.
    let key = format!("{}?tok=a_b-c&z=1", stack.guarded_key());
    let r = run(mentorcast().args([
        "broadcast",
        &stack.rtmp("guarded"),
        "--key",
        &key,
        "--duration",
        "2",
        "--resolution",
        "640x360",
    ]));
    assert_eq!(r.code, 0, "{}", r.all());
    let log = std::fs::read_to_string(stack.dir.path().join("nginx/logs/access.log")).unwrap();
    let expected = format!("name={}&type=live&tok=a_b-c&z=1 ", stack.guarded_key());
    assert!(
        log.lines().any(|l| l.contains("/auth/publish?") && l.contains(&expected) && l.contains("\" 204 ")),
        "hook log lacks {expected}:\n{log}"
    );
}

#[test]
fn verify_of_garbage_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.flv");
    std::fs::write(&junk, b"this is not a video at all").unwrap();
    let r = run(mentorcast().args(["verify", junk.to_str().unwrap()]));
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("not an FLV or MP4"), "{}", r.stderr);
    let r = run(mentorcast().args(["verify", dir.path().join("none.flv").to_str().unwrap()]));
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(!r.all().contains("panicked"));
}

#[test]
fn the_key_never_reaches_logs_even_at_trace() {
    let stack = Stack::start();
    for (url, code) in [(stack.rtmp("live"), 0), (stack.rtmp("guarded"), 4), (stack.rtmps("live"), 0)] {
        let r = run(mentorcast()
            .env("MENTORCAST_LOG", "trace")
            .args(["broadcast", &url, "--key", SECRET, "--duration", "2", "--resolution", "320x180", "--json"])
            .args(["--ca-file", stack.ca_file().to_str().unwrap()]));
        assert_eq!(r.code, code, "{url}: {}", r.all());
        // Trace really was on: the connect line and per-packet lines are there.
        assert!(
            r.stderr.contains("connecting to") && (code != 0 || r.stderr.contains("video sent")),
            "expected trace logs for {url}, got: {}",
            r.stderr
        );
        assert!(!r.all().contains(SECRET), "the key leaked at trace level for {url}");
        assert!(!r.all().contains("SECRET_9f"), "part of the key leaked at trace level for {url}");
    }
}
