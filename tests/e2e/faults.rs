//! Broadcasts through the scenario fault proxy against the real stack (nginx-rtmp):
//! the ingest going down, connections reset, a throttled link, latency and a
//! link that goes silent — each judged from what the ingest delivered, with the
//! scenario file's expectations. Bad fault steps are refused before anything is sent.
//! Also what keeps a class safe from the network: the local copy (it survives
//! `kill -9`) and the connection test (loopback, and a link throttled to 1 Mbit/s).

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use crate::common::*;

/// One fault scenario at a time: each encodes and decodes a stream in real time,
/// and on two cores several at once would lose frames to the CPU, not the network.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Holds the turn of a test that encodes and decodes in real time (here and in shaping.rs).
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs the example scenario `file` (tests/scenarios/) against `stack`; returns the JSON result.
fn run_example(stack: &Stack, file: &str) -> serde_json::Value {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo_root().join("tests/scenarios").join(file))
        .unwrap()
        .replace("rtmp://127.0.0.1:1935", &format!("rtmp://127.0.0.1:{}", stack.rtmp_port));
    let path = dir.path().join(file);
    std::fs::write(&path, text).unwrap();
    let json = dir.path().join("report.json");
    let junit = dir.path().join("junit.xml");
    let r = run(mentorcast().args([
        "run",
        path.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(r.code, 0, "{file}:\n{}\n{report:#}", r.all());
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<property name=\"fault.1.kind\""), "the fault timeline is in the JUnit: {xml}");
    report[0].clone()
}

#[test]
fn ingest_down_for_six_seconds_is_back_within_a_second() {
    let stack = Stack::start();
    let r = run_example(&stack, "faults-down.toml");
    let f = &r["faults"][0];
    assert_eq!(f["fault"]["kind"], "down");
    let back = f["reconnect_s"].as_f64().unwrap();
    assert!(back <= 1.0, "{r:#}");
    assert_eq!(r["broadcast"]["outages"].as_array().unwrap().len(), 1, "one outage: {r:#}");
}

#[test]
fn reset_connections_reconnect_at_once() {
    let stack = Stack::start();
    let r = run_example(&stack, "faults-reset.toml");
    assert!(r["faults"][0]["reconnect_s"].as_f64().unwrap() <= 1.0, "{r:#}");
}

#[test]
fn a_throttled_link_lowers_the_bitrate_and_stays_near_live() {
    let stack = Stack::start();
    let r = run_example(&stack, "faults-throttle.toml");
    let f = &r["faults"][0];
    let lowest = f["lowest_target_kbps"].as_u64().unwrap();
    assert!(lowest < 650, "the video went under the link's rate: {r:#}");
    assert!(r["measured"]["max_live_delay_s"].as_f64().unwrap() <= 2.0, "{r:#}");
    // The scenario allows 5 % of the frames lost at the receiver; of those, the output's drop
    // policy (the last resort) dropped at most 5 % of the video, the rest the encoder skipped
    // (at a smaller picture size it keeps nearly every frame at the lowered bitrate).
    let b = &r["broadcast"];
    let (captured, dropped, skipped) = (num(b, "frames_captured"), num(b, "frames_dropped"), num(b, "frames_skipped"));
    assert!(dropped * 20 <= captured, "dropped {dropped} of {captured}: {r:#}");
    assert!(num(&r["report"], "frames_lost") <= dropped + skipped, "nothing lost in transit: {r:#}");
    assert_eq!(r["broadcast"]["audio_frames_dropped"], 0, "no audio dropped: {r:#}");
    assert!(f["bitrate_recovery_s"].as_f64().unwrap() <= 20.0, "{r:#}");
}

/// On a clean link the adaptive bitrate never lowers the target (the 10-minute run
/// of this is in `make bench`).
#[test]
fn a_clean_link_never_lowers_the_bitrate() {
    let _turn = one_at_a_time();
    let stack = Stack::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clean.toml");
    let url = stack.rtmp("live");
    std::fs::write(
        &path,
        format!(
            "[[scenario]]\nname = \"clean\"\nurl = \"{url}\"\nkey = \"qa-clean\"\nverify = \"{url}/qa-clean\"\n\
             video_kbps = 2500\nduration_s = 20\n"
        ),
    )
    .unwrap();
    let json = dir.path().join("report.json");
    let r = run(mentorcast().args(["run", path.to_str().unwrap(), "--json", json.to_str().unwrap()]));
    assert_eq!(r.code, 0, "{}", r.all());
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report[0]["measured"]["lowest_target_kbps"], 2500, "{report:#}");
    assert_eq!(report[0]["broadcast"]["frames_dropped"], 0, "{report:#}");
}

#[test]
fn latency_loses_nothing() {
    let stack = Stack::start();
    let r = run_example(&stack, "faults-latency.toml");
    let b = &r["broadcast"];
    assert_eq!(num(b, "frames_dropped"), 0, "the output dropped nothing: {r:#}");
    assert!(
        num(&r["report"], "frames_lost") <= num(b, "frames_skipped"),
        "missing only what the encoder skipped: {r:#}"
    );
}

fn num(v: &serde_json::Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("no {key} in {v:#}"))
}

#[test]
fn a_silent_link_is_noticed_and_the_broadcast_comes_back() {
    let stack = Stack::start();
    let r = run_example(&stack, "faults-blackhole.toml");
    assert!(r["faults"][0]["reconnect_s"].as_f64().unwrap() <= 2.0, "{r:#}");
}

#[test]
fn bad_fault_steps_are_refused_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let base = "[[scenario]]\nname = \"bad\"\nurl = \"rtmp://127.0.0.1:9/live\"\nkey = \"k\"\nverify = \"rtmp://127.0.0.1:9/live/k\"\nduration_s = 10\n";
    for (fault, says) in [
        (
            "at_s = 1\nkind = \"flood\"\nduration_s = 2",
            "kind 'flood' is not one of down, reset, throttle, latency, blackhole",
        ),
        ("at_s = 9\nkind = \"down\"\nduration_s = 2", "past the broadcast's duration_s"),
        ("at_s = 1\nkind = \"throttle\"\nkbps = 0\nduration_s = 2", "kbps = 0 is not a throttle"),
        ("at_s = 1\nkind = \"throttle\"\nduration_s = 2", "'throttle' needs kbps"),
        (
            "at_s = 1\nkind = \"down\"\nduration_s = 4\n[[scenario.fault]]\nat_s = 3\nkind = \"reset\"\nduration_s = 1",
            "fault 2: at_s = 3 overlaps",
        ),
        ("at_s = 1\nkind = \"down\"\nspeed = 3\nduration_s = 2", "unknown field `speed`"),
    ] {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, format!("{base}[[scenario.fault]]\n{fault}\n")).unwrap();
        let r = run(mentorcast().args(["run", path.to_str().unwrap()]));
        assert_eq!(r.code, 2, "{fault}: {}", r.all());
        assert!(r.stderr.contains(says), "{fault}: wanted '{says}' in: {}", r.stderr);
        assert!(r.stderr.contains("bad"), "names the scenario: {}", r.stderr);
    }
}

/// The local copy is written as the broadcast goes: `kill -9` leaves a file that
/// `verify` reads up to its last 2 s, every frame in order.
#[test]
fn the_local_copy_survives_kill_9() {
    let _turn = one_at_a_time();
    let stack = Stack::start();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("class.flv");
    let (mut child, rx) = spawn_broadcast(&[
        &stack.rtmp("live"),
        "--key",
        "qa-local-copy",
        "--resolution",
        "640x360",
        "--camera",
        "synthetic",
        "--mic",
        "synthetic",
        "--record",
        copy.to_str().unwrap(),
    ]);
    let frames_at = |v: &serde_json::Value| v["stats"]["frames_encoded"].as_u64();
    let seen = wait_line(&rx, Duration::from_secs(30), |v| v["event"] == "stats" && frames_at(v).unwrap_or(0) >= 240);
    let encoded = seen.iter().rev().find_map(|l| frames_at(&serde_json::from_str(l).ok()?)).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let v = verify_json(copy.to_str().unwrap(), &["--fps", "30"]);
    let frames = v["frames_received"].as_u64().unwrap();
    assert!(frames + 60 >= encoded, "the copy holds up to its last 2 s: {frames} of {encoded} frames: {v:#}");
    assert_eq!(v["frames_lost"], 0, "every frame in order: {v:#}");
}

/// On loopback the connection test recommends the top preset.
#[test]
fn the_connection_test_on_loopback_recommends_the_top_preset() {
    let _turn = one_at_a_time();
    let stack = Stack::start();
    let r = run(mentorcast().args(["test-connection", &stack.rtmp("probe"), "--key", "qa-probe", "--json"]));
    assert_eq!(r.code, 0, "{}", r.all());
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["recommendations"][0]["preset"], "p1080p30", "{v:#}");
    assert!(v["took_s"].as_f64().unwrap() <= 10.0, "{v:#}");
    assert!(v["rtt_ms"].as_f64().is_some(), "the ingest answers pings: {v:#}");
    assert!(!r.all().contains("qa-probe"), "the key is not printed: {}", r.all());
}

/// Through a link limited to 1 Mbit/s it recommends at most 700 kbps at 480p.
#[test]
fn the_connection_test_on_a_one_megabit_link_recommends_480p() {
    let _turn = one_at_a_time();
    let stack = Stack::start();
    let mut proxy = mentorcast()
        .args(["fault-proxy", "--upstream", &format!("127.0.0.1:{}", stack.rtmp_port)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(proxy.stdout.take().unwrap()).lines();
    let listening = lines.next().unwrap().unwrap();
    let addr = listening.strip_prefix("listening ").unwrap_or_else(|| panic!("{listening}")).to_string();
    writeln!(proxy.stdin.as_mut().unwrap(), "throttle 1000").unwrap();
    let ack = lines.next().unwrap().unwrap();
    assert!(ack.contains("throttle"), "{ack}");
    let r = run(mentorcast().args(["test-connection", &format!("rtmp://{addr}/probe"), "--key", "qa-probe", "--json"]));
    let _ = proxy.kill();
    let _ = proxy.wait();
    assert_eq!(r.code, 0, "{}", r.all());
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    let best = &v["recommendations"][0];
    assert_eq!(best["preset"], "p480p30", "{v:#}");
    assert!(best["video_kbps"].as_u64().unwrap() <= 700, "{v:#}");
    let up = v["upload_kbps"].as_f64().unwrap();
    assert!((600.0..=1100.0).contains(&up), "measured about the link's rate: {v:#}");
}
