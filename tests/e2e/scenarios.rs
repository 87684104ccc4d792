//! `mentorcast run`: scenarios pass and fail on their thresholds, with JSON and JUnit.

use crate::common::*;

fn scenario(name: &str, url: &str, key: &str, verify: &str, expect: &str) -> String {
    format!(
        r#"
[[scenario]]
name = "{name}"
url = "{url}"
key = "{key}"
verify = "{verify}"
resolution = "640x360"
fps = 30
video_kbps = 800
audio_kbps = 128
duration_s = 5
[scenario.expect]
{expect}
"#
    )
}

#[test]
fn scenarios_pass_and_fail_with_reports() {
    let stack = Stack::start();
    let dir = tempfile::tempdir().unwrap();
    let live = stack.rtmp("live");
    let record_glob = format!("{}/record/qa-file-*.flv", stack.dir.path().display());
    let text = [
        scenario(
            "rtmp-play",
            &live,
            "qa-play",
            &format!("{live}/qa-play"),
            "max_frame_loss_pct = 1.0\nmin_fps_ratio = 0.95\nmax_av_offset_ms = 40",
        ),
        scenario(
            "recorded-file",
            &live,
            "qa-file",
            &record_glob,
            "max_frame_loss_pct = 1.0\nmin_fps_ratio = 0.95\nmax_av_offset_ms = 40",
        ),
        // Impossible on purpose: more frames per second than were sent.
        scenario("impossible-fps", &live, "qa-fail", &format!("{live}/qa-fail"), "min_fps_ratio = 1.5"),
    ]
    .concat();
    let file = dir.path().join("qa.toml");
    std::fs::write(&file, text).unwrap();
    let junit = dir.path().join("junit.xml");
    let json = dir.path().join("report.json");
    let r = run(mentorcast().args([
        "run",
        file.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]));
    assert_eq!(r.code, 1, "one scenario must fail: {}", r.all());
    assert!(r.stdout.contains("2 passed, 1 failed"), "{}", r.stdout);
    let results: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["passed"], true, "{:#}", results[0]);
    assert_eq!(results[1]["passed"], true, "{:#}", results[1]);
    assert_eq!(results[2]["passed"], false);
    assert!(results[2]["failures"][0].as_str().unwrap().contains("min_fps_ratio"));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"3\" failures=\"1\""), "{xml}");
    assert!(xml.contains("<testcase classname=\"mentorcast.scenario\" name=\"rtmp-play\""), "{xml}");
    assert_eq!(xml.matches("<failure").count(), 1, "{xml}");
    assert!(xml.contains("<failure message=\"min_fps_ratio"), "{xml}");
}

#[test]
fn example_scenarios_parse() {
    for entry in std::fs::read_dir(repo_root().join("tests/scenarios")).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let v: toml::Value = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", entry.path().display()));
        assert!(v["scenario"].as_array().map(|a| !a.is_empty()).unwrap_or(false), "{}", entry.path().display());
    }
}

/// The subscriber-first check `make run` does, on a stack that just came up and right
/// after a reload. `nginx -s reload` returns before nginx has switched workers: a
/// subscriber that connects then lands in the old worker, which keeps it, while the
/// publisher lands in the new one — the player saw "no stream" although the recording
/// had every frame. The backend used to reload nginx at every `stack.sh up` (its apps
/// file differed from the stack's placeholder by a comment), and reloaded with a bare
/// `nginx -s reload`.
#[test]
fn a_subscriber_meets_the_publisher_on_a_fresh_and_a_reloaded_stack() {
    let stack = Stack::start_with_backend();
    let error_log = stack.dir.path().join("nginx/logs/error.log");
    let reloads = || std::fs::read_to_string(&error_log).unwrap_or_default().matches("(SIGHUP) received").count();
    assert_eq!(
        reloads(),
        0,
        "stack up with no channel reloaded nginx:\n{}",
        std::fs::read_to_string(&error_log).unwrap_or_default()
    );

    let dir = tempfile::tempdir().unwrap();
    let live = stack.rtmp("live");
    let play = |name: &str| {
        let file = dir.path().join(format!("{name}.toml"));
        let text = scenario(
            name,
            &live,
            name,
            &format!("{live}/{name}"),
            "max_frame_loss_pct = 1.0\nmin_fps_ratio = 0.95\nmax_av_offset_ms = 40",
        )
        .replace("duration_s = 5", "duration_s = 3");
        std::fs::write(&file, text).unwrap();
        let r = run(mentorcast().args(["run", file.to_str().unwrap()]));
        assert_eq!(r.code, 0, "{name}: {}", r.all());
        assert!(r.stdout.contains(&format!("PASS {name}")), "{}", r.stdout);
    };
    play("fresh-stack");

    // The reload the backend runs when a channel's application is added.
    let out = std::process::Command::new(repo_root().join("scripts/stack.sh"))
        .args(["reload"])
        .arg(stack.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "stack.sh reload: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(reloads(), 1, "one reload");
    play("just-reloaded");
}
