//! Ctrl-C ends cleanly; a lost ingest is reported, or reconnected to.

use std::time::Duration;

use crate::common::*;

#[test]
fn ctrl_c_unpublishes_and_exits_zero() {
    let stack = Stack::start();
    let (mut child, rx) = spawn_broadcast(&[&stack.rtmp("live"), "--key", "ctrlc", "--resolution", "640x360"]);
    wait_line(&rx, Duration::from_secs(15), |v| is_state(v, "live"));
    // Let a couple of seconds go out, then interrupt.
    wait_line(&rx, Duration::from_secs(10), |v| {
        v["event"] == "stats" && v["stats"]["elapsed_s"].as_f64().unwrap_or(0.0) >= 2.0
    });
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let lines = wait_line(&rx, Duration::from_secs(15), |v| v["event"] == "summary");
    assert!(lines.iter().any(|l| l.contains("\"ending\"")), "{lines:?}");
    assert_eq!(wait_exit(&mut child, Duration::from_secs(10)), 0);
    let report = verify_json(stack.recording("ctrlc").to_str().unwrap(), &[]);
    assert!(report["duration_s"].as_f64().unwrap() >= 2.0, "{report:#}");
    assert_eq!(report["frames_lost"], 0);
}

#[test]
fn connection_lost_mid_broadcast_exits_with_its_code() {
    let stack = Stack::start();
    let (mut child, rx) = spawn_broadcast(&[
        &stack.rtmp("live"),
        "--key",
        "lost",
        "--resolution",
        "640x360",
        "--reconnect-attempts",
        "1",
    ]);
    wait_line(&rx, Duration::from_secs(15), |v| is_state(v, "live"));
    wait_line(&rx, Duration::from_secs(10), |v| {
        v["event"] == "stats" && v["stats"]["elapsed_s"].as_f64().unwrap_or(0.0) >= 2.0
    });
    stack.down();
    wait_line(&rx, Duration::from_secs(10), |v| is_state(v, "reconnecting"));
    let code = wait_exit(&mut child, Duration::from_secs(20));
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("lost mid-broadcast"), "{stderr}");
}

#[test]
fn reconnects_when_the_ingest_comes_back() {
    let stack = Stack::start();
    let (mut child, rx) = spawn_broadcast(&[
        &stack.rtmp("live"),
        "--key",
        "comeback",
        "--resolution",
        "640x360",
        "--duration",
        "12",
        "--reconnect-attempts",
        "10",
    ]);
    wait_line(&rx, Duration::from_secs(15), |v| is_state(v, "live"));
    wait_line(&rx, Duration::from_secs(10), |v| {
        v["event"] == "stats" && v["stats"]["elapsed_s"].as_f64().unwrap_or(0.0) >= 2.0
    });
    stack.down();
    wait_line(&rx, Duration::from_secs(10), |v| is_state(v, "reconnecting"));
    stack.up();
    wait_line(&rx, Duration::from_secs(20), |v| is_state(v, "live"));
    let lines = wait_line(&rx, Duration::from_secs(30), |v| v["event"] == "summary");
    assert_eq!(wait_exit(&mut child, Duration::from_secs(10)), 0);
    let s = summary(&lines.join("\n"));
    assert!(s["reconnects"].as_u64().unwrap() >= 1, "{s:#}");
    // The session after the reconnect starts at a keyframe and decodes cleanly.
    let report = verify_json(stack.recording("comeback").to_str().unwrap(), &[]);
    assert!(report["frames_received"].as_u64().unwrap() > 30, "{report:#}");
    assert_eq!(report["frames_unreadable"], 0, "{report:#}");
}
