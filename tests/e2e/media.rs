//! What arrives at real ingests is what we meant to send.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;

/// Checks a received file with ffprobe: codecs, size, frame count vs what we sent, 2 s GOP, AAC 48 kHz stereo.
fn check_with_ffprobe(path: &std::path::Path, width: u64, height: u64, frames_sent: u64) {
    let probe = ffprobe(path);
    let v = stream(&probe, "video");
    assert_eq!(v["codec_name"], "h264");
    assert_eq!(v["profile"], "Constrained Baseline");
    assert_eq!((v["width"].as_u64().unwrap(), v["height"].as_u64().unwrap()), (width, height));
    let frames: u64 = v["nb_read_frames"].as_str().unwrap().parse().unwrap();
    let diff = (frames as f64 - frames_sent as f64).abs() / frames_sent as f64;
    assert!(diff <= 0.02, "ffprobe decoded {frames} frames, we sent {frames_sent}");
    let keys = keyframe_times(&probe);
    assert!(keys.len() >= 3, "keyframes at {keys:?}");
    for w in keys.windows(2) {
        let gap = w[1] - w[0];
        assert!((gap - 2.0).abs() < 0.1, "keyframe interval {gap} s (keyframes at {keys:?})");
    }
    let a = stream(&probe, "audio");
    assert_eq!(a["codec_name"], "aac");
    assert_eq!(a["profile"], "LC");
    assert_eq!(a["sample_rate"], "48000");
    assert_eq!(a["channels"], 2);
}

/// `sent`: the broadcaster's summary; frames it knowingly did not send
/// (rate-control skips, drops) are the only ones allowed to be missing.
fn check_verify(report: &serde_json::Value, width: u64, height: u64, sent: Option<&serde_json::Value>) {
    assert_eq!(report["width"], width);
    assert_eq!(report["height"], height);
    let lost = report["frames_lost"].as_u64().unwrap();
    let allowed =
        sent.map(|s| s["frames_skipped"].as_u64().unwrap() + s["frames_dropped"].as_u64().unwrap()).unwrap_or(0);
    assert!(lost <= allowed, "lost {lost} frames, the sender skipped/dropped only {allowed}: {report:#}");
    assert!(lost as f64 <= report["frames_expected"].as_f64().unwrap() * 0.01, "{report:#}");
    assert_eq!(report["frames_duplicated"], 0, "{report:#}");
    let fps = report["fps"].as_f64().unwrap();
    assert!((fps - 30.0).abs() < 1.0, "fps {fps}");
    let av = report["av_offset_ms"].as_f64().expect("a/v offset measured");
    assert!(av.abs() <= 40.0, "a/v offset {av} ms");
    assert_eq!(report["audio_codec"], "aac-lc");
    assert_eq!(report["audio_sample_rate"], 48000);
    assert_eq!(report["audio_channels"], 2);
}

#[test]
fn publishes_to_nginx_rtmp_and_the_recording_verifies() {
    let stack = Stack::start();
    let key = "e2e-nginx_key-A1";
    let r = run(mentorcast().args([
        "broadcast",
        &stack.rtmp("live"),
        "--key",
        key,
        "--duration",
        "7",
        "--resolution",
        "854x480",
        "--video-kbps",
        "1500",
        "--json",
    ]));
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(!r.all().contains(key), "the key leaked into the output");
    let stats = summary(&r.stdout);
    let sent = stats["frames_sent"].as_u64().unwrap();
    assert!(sent >= 200, "sent only {sent} frames in 7 s");
    // nginx-rtmp names the file after the key it received: byte for byte.
    let file = stack.recording(key);
    check_with_ffprobe(&file, 854, 480, sent);
    check_verify(&verify_json(file.to_str().unwrap(), &[]), 854, 480, Some(&stats));
}

#[test]
fn publishes_to_ffmpeg_rtmp_listener() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ffmpeg.flv");
    let mut ffmpeg = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-listen",
            "1",
            "-i",
            &format!("rtmp://127.0.0.1:{port}/live/ffkey"),
            "-c",
            "copy",
            "-f",
            "flv",
        ])
        .arg(&out)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(port, Duration::from_secs(10));
    let r = run(mentorcast().args([
        "broadcast",
        &format!("rtmp://127.0.0.1:{port}/live/ffkey"),
        "--duration",
        "5",
        "--resolution",
        "640x360",
        "--video-kbps",
        "800",
        "--json",
    ]));
    assert_eq!(r.code, 0, "{}", r.all());
    let stats = summary(&r.stdout);
    let sent = stats["frames_sent"].as_u64().unwrap();
    assert_eq!(wait_exit(&mut ffmpeg, Duration::from_secs(15)), 0, "ffmpeg listener failed");
    check_with_ffprobe(&out, 640, 360, sent);
    check_verify(&verify_json(out.to_str().unwrap(), &[]), 640, 360, Some(&stats));
}

#[test]
fn rtmps_through_tls_terminator_needs_the_ca() {
    let stack = Stack::start();
    let ca = stack.ca_file();
    let r = run(mentorcast().args([
        "broadcast",
        &stack.rtmps("live"),
        "--key",
        "tlskey",
        "--duration",
        "3",
        "--resolution",
        "640x360",
        "--ca-file",
        ca.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(r.code, 0, "{}", r.all());
    let report = verify_json(stack.recording("tlskey").to_str().unwrap(), &[]);
    assert_eq!(report["frames_lost"], 0);
    // The same self-signed chain without the extra CA must fail, as a TLS error.
    let r = run(mentorcast().args(["broadcast", &stack.rtmps("live"), "--key", "tlskey2", "--duration", "3"]));
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stderr.contains("TLS") && r.stderr.contains("--ca-file"), "{}", r.stderr);
}

#[test]
fn verify_over_rtmp_play_while_broadcasting() {
    let stack = Stack::start();
    let play_url = format!("{}/playkey", stack.rtmp("live"));
    let verifier = std::thread::spawn(move || verify_json(&play_url, &["--fps", "30"]));
    // The player subscribes first; nginx-rtmp holds it until the publisher comes.
    std::thread::sleep(Duration::from_millis(500));
    let r = run(mentorcast().args([
        "broadcast",
        &stack.rtmp("live"),
        "--key",
        "playkey",
        "--duration",
        "6",
        "--resolution",
        "640x360",
        "--json",
    ]));
    assert_eq!(r.code, 0, "{}", r.all());
    let report = verifier.join().unwrap();
    check_verify(&report, 640, 360, Some(&summary(&r.stdout)));
    assert!(report["duration_s"].as_f64().unwrap() > 5.0, "{report:#}");
}

/// Re-encodes `src` with ffmpeg/x264 through `filter` into an MP4.
fn reencode(src: &std::path::Path, filter: &str, dst: &std::path::Path) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(src)
        .args([
            "-vf",
            filter,
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-b:v",
            "700k",
            "-c:a",
            "aac",
            "-af",
            "aresample=async=1",
        ])
        .arg(dst)
        .output()
        .unwrap();
    assert!(out.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn verify_catches_cut_frames_and_reads_scaled_renditions() {
    let stack = Stack::start();
    let r = run(mentorcast().args([
        "broadcast",
        &stack.rtmp("live"),
        "--key",
        "cutme",
        "--duration",
        "6",
        "--resolution",
        "1280x720",
        "--json",
    ]));
    assert_eq!(r.code, 0, "{}", r.all());
    let file = stack.recording("cutme");
    let dir = tempfile::tempdir().unwrap();
    // 30 frames cut out of the middle, timestamps made contiguous again: the file has no gap.
    let cut = dir.path().join("cut.mp4");
    reencode(&file, "select='not(between(n,60,89))',setpts=N/FRAME_RATE/TB", &cut);
    let report = verify_json(cut.to_str().unwrap(), &["--fps", "30"]);
    let lost = report["frames_lost"].as_u64().unwrap();
    assert!((29..=31).contains(&lost), "expected ~30 lost, got {report:#}");
    // A server-side 640x360 rendition still reads.
    let small = dir.path().join("small.mp4");
    reencode(&file, "scale=640:360", &small);
    let report = verify_json(small.to_str().unwrap(), &[]);
    assert_eq!((report["width"].as_u64(), report["height"].as_u64()), (Some(640), Some(360)));
    assert_eq!(report["frames_lost"], 0, "{report:#}");
    assert_eq!(report["frames_unreadable"], 0, "{report:#}");
    assert!(report["frames_received"].as_u64().unwrap() >= 170);
}
