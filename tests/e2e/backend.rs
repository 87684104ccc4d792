//! The reference backend end to end: the real stack (nginx-rtmp +
//! moto as Cognito + mentorcast-server through scripts/stack.sh) and the real
//! `mentorcast` binary. A mentor's channel, publishing with the right, a wrong
//! and a rotated key, the recording (MP4 + thumbnail) and who may see it,
//! signed range-served media, and bad input answered with JSON 4xx.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::common::*;

/// An HTTP exchange through curl: (status, headers, body).
struct Http {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

impl Http {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

fn curl(args: &[&str]) -> Http {
    let dir = tempfile::tempdir().unwrap();
    let (hdr, body) = (dir.path().join("h"), dir.path().join("b"));
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "20", "-D"])
        .arg(&hdr)
        .arg("-o")
        .arg(&body)
        .args(["-w", "%{http_code}"])
        .args(args)
        .output()
        .expect("curl");
    let status: u16 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("curl {args:?}: {}", String::from_utf8_lossy(&out.stderr)));
    Http {
        status,
        headers: std::fs::read_to_string(&hdr).unwrap_or_default(),
        body: std::fs::read(&body).unwrap_or_default(),
    }
}

fn get_as(url: &str, token: &str) -> Http {
    curl(&["-H", &format!("Authorization: Bearer {token}"), url])
}

/// A 4xx with the API's JSON error body (never a 500).
fn assert_json_error(h: &Http, status: u16, what: &str) {
    assert_eq!(h.status, status, "{what}: {} {}", h.status, String::from_utf8_lossy(&h.body));
    let v = h.json();
    assert!(
        v["error"].is_string() && v["message"].as_str().map(|m| !m.is_empty()).unwrap_or(false),
        "{what}: not the error body: {v}"
    );
}

fn heartbeat_body(player: &str, app: &str) -> String {
    serde_json::json!({"playerId": player, "app": app, "bitrate": 1500, "playTime": 1.5, "agent": {"os": "Linux", "browser": "Chromium", "device": "desktop"}}).to_string()
}

fn heartbeat(s: &Stack, token: Option<&str>, body: &str) -> Http {
    let url = format!("{}/api/v1/heartbeat", s.api_url());
    let mut args = vec!["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", body];
    let auth;
    if let Some(t) = token {
        auth = format!("Authorization: Bearer {t}");
        args.extend(["-H", auth.as_str()]);
    }
    args.push(&url);
    curl(&args)
}

fn recordings_json(s: &Stack, home: &Path, extra: &[&str]) -> serde_json::Value {
    let r = run(s.cli(home).args(["recordings", "--json"]).args(extra));
    assert_eq!(r.code, 0, "{}", r.all());
    serde_json::from_str(r.stdout.trim()).unwrap_or_else(|e| panic!("bad recordings JSON ({e}): {}", r.stdout))
}

/// Every file name under `dir`, recursively.
fn all_names(dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        out.push(e.file_name().to_string_lossy().into_owned());
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            all_names(&e.path(), out);
        }
    }
}

#[test]
fn channel_broadcast_recording_and_who_sees_it() {
    let s = Stack::start_with_backend();
    let mentor1 = s.login("mentor1");
    let mentor2 = s.login("mentor2");
    let mentee1 = s.login("mentee1");
    let mentee2 = s.login("mentee2");

    // --- the channel: created on first use, key masked unless asked for
    let r = run(s.cli(&mentor1).args(["channel", "--json"]));
    assert_eq!(r.code, 0, "{}", r.all());
    let ch: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(ch["app"], "room-mentor1");
    assert_eq!(ch["stream_key"], "****");
    assert_eq!(ch["ingest_url"], format!("rtmp://127.0.0.1:{}/room-mentor1", s.rtmp_port));
    assert_eq!(ch["hls_url"], format!("http://127.0.0.1:{}/channels/room-mentor1.m3u8", s.http_port));
    let r = run(s.cli(&mentor1).args(["channel", "--json", "--show-key"]));
    assert_eq!(r.code, 0, "{}", r.all());
    let key =
        serde_json::from_str::<serde_json::Value>(r.stdout.trim()).unwrap()["stream_key"].as_str().unwrap().to_string();
    assert!(key.starts_with("sk_") && key.len() == 35, "key shape");
    let human = run(s.cli(&mentor1).arg("channel"));
    assert_eq!(human.code, 0, "{}", human.all());
    assert!(
        human.stdout.contains("room-mentor1") && human.stdout.contains("****") && !human.all().contains(&key),
        "{}",
        human.stdout
    );
    // a mentee has no channel
    let r = run(s.cli(&mentee1).arg("channel"));
    assert_eq!(r.code, 19, "{}", r.all());
    assert!(r.stderr.contains("mentor"), "{}", r.stderr);

    let mentee1_token = s.id_token(&mentee1);

    // --- broadcast with no URL: the signed-in mentor's channel and key; mentee1 watches (heartbeats)
    let mut child = s
        .cli(&mentor1)
        .args(["broadcast", "--duration", "8", "--resolution", "640x360", "--video-kbps", "1000", "--json"])
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
    let mut stdout_lines = wait_line(&rx, Duration::from_secs(20), |v| is_state(v, "live"));
    // heartbeats from mentee1 (signed in) and an anonymous player while live
    let stop = Arc::new(AtomicBool::new(false));
    let beats_ok = Arc::new(AtomicUsize::new(0));
    let beater = {
        let (stop, beats_ok, tok, api) = (stop.clone(), beats_ok.clone(), mentee1_token.clone(), s.api_url());
        std::thread::spawn(move || {
            let body = heartbeat_body("e2e-player-mentee1", "room-mentor1");
            while !stop.load(Ordering::SeqCst) {
                let h = curl(&[
                    "-X",
                    "POST",
                    "-H",
                    "Content-Type: application/json",
                    "-H",
                    &format!("Authorization: Bearer {tok}"),
                    "--data-binary",
                    &body,
                    &format!("{api}/api/v1/heartbeat"),
                ]);
                if h.status == 200 {
                    beats_ok.fetch_add(1, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    let anon = heartbeat(&s, None, &heartbeat_body("e2e-anon", "room-mentor1"));
    assert_eq!(anon.status, 200, "anonymous heartbeat: {}", String::from_utf8_lossy(&anon.body));
    // the live HLS is named after the app (the key is in no URL)
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let h = curl(&[&format!("http://127.0.0.1:{}/channels/room-mentor1.m3u8", s.http_port)]);
        if h.status == 200 && String::from_utf8_lossy(&h.body).contains("#EXTM3U") {
            break;
        }
        assert!(Instant::now() < deadline, "no live HLS playlist for room-mentor1 (last status {})", h.status);
        std::thread::sleep(Duration::from_millis(250));
    }
    // a second encoder with the right key while live: refused, and the live session goes on
    let second = run(mentorcast().args([
        "broadcast",
        &format!("rtmp://127.0.0.1:{}/room-mentor1", s.rtmp_port),
        "--key",
        &key,
        "--duration",
        "2",
        "--resolution",
        "320x240",
    ]));
    assert_eq!(second.code, 4, "a second encoder on a live channel: {}", second.all());
    let stats = get_as(&format!("{}/api/v1/streams/room-mentor1/stats", s.api_url()), &mentee1_token);
    assert_eq!(stats.status, 200, "{}", String::from_utf8_lossy(&stats.body));
    assert_eq!(stats.json()["live"], true, "the second encoder ended the live session: {}", stats.json());
    let code = wait_exit(&mut child, Duration::from_secs(40));
    stop.store(true, Ordering::SeqCst);
    beater.join().unwrap();
    stdout_lines.extend(rx.try_iter());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(code, 0, "broadcast to the channel failed: {err}\n{}", stdout_lines.join("\n"));
    assert!(beats_ok.load(Ordering::SeqCst) >= 2, "mentee1's heartbeats were not accepted");
    assert!(
        !err.contains(&key) && !stdout_lines.join("\n").contains(&key),
        "the key leaked into the broadcast's output"
    );

    // --- a wrong key: rejected, and the CLI says so
    let url = format!("rtmp://127.0.0.1:{}/room-mentor1", s.rtmp_port);
    let r = run(mentorcast().args([
        "broadcast",
        &url,
        "--key",
        "sk_not-the-key",
        "--duration",
        "3",
        "--resolution",
        "320x240",
    ]));
    assert_eq!(r.code, 4, "wrong key: {}", r.all());
    assert!(r.stderr.contains("stream key rejected"), "{}", r.stderr);
    assert!(!r.all().contains("sk_not-the-key"));

    // --- rotate: the old key is refused at once, the new one shown
    let r = run(s.cli(&mentor1).args(["channel", "rotate-key", "--json", "--show-key"]));
    assert_eq!(r.code, 0, "{}", r.all());
    let new_key =
        serde_json::from_str::<serde_json::Value>(r.stdout.trim()).unwrap()["stream_key"].as_str().unwrap().to_string();
    assert_ne!(new_key, key);
    let r = run(mentorcast().args(["broadcast", &url, "--key", &key, "--duration", "3", "--resolution", "320x240"]));
    assert_eq!(r.code, 4, "rotated (old) key: {}", r.all());
    assert!(r.stderr.contains("stream key rejected"), "{}", r.stderr);

    // --- the recording appears (on_record_done → MP4 + thumbnail), for mentor1
    let deadline = Instant::now() + Duration::from_secs(60);
    let list = loop {
        let v = recordings_json(&s, &mentor1, &[]);
        if v.as_array().map(|a| !a.is_empty()).unwrap_or(false) {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "no recording within 60 s; server log:\n{}",
            std::fs::read_to_string(s.dir.path().join("server/server.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let rec = &list[0];
    assert_eq!(list.as_array().unwrap().len(), 1, "{list:#}");
    assert_eq!(rec["app"], "room-mentor1");
    assert_eq!(rec["mentor"], "mentor1");
    let dur = rec["duration_s"].as_f64().unwrap();
    assert!((dur - 8.0).abs() < 1.5, "duration {dur}");
    assert!(rec["viewers_total"].as_i64().unwrap() >= 1, "viewers kept on the recording: {rec:#}");
    let id = rec["id"].as_i64().unwrap();
    let video_url = rec["url"].as_str().unwrap().to_string();
    let thumb_url = rec["thumbnail_url"].as_str().unwrap().to_string();
    assert!(!video_url.contains(&key) && !video_url.contains(&new_key));

    // the MP4: playable (ffprobe), faststart, and what we sent (verify)
    let work = tempfile::tempdir().unwrap();
    let mp4 = work.path().join("rec.mp4");
    let h = curl(&[&video_url]);
    assert_eq!(h.status, 200);
    assert_eq!(h.header("content-type").as_deref(), Some("video/mp4"));
    std::fs::write(&mp4, &h.body).unwrap();
    let bytes = h.body.clone();
    assert_eq!(bytes.len() as i64, rec["size_bytes"].as_i64().unwrap());
    let pos = |tag: &[u8]| bytes.windows(4).position(|w| w == tag).unwrap();
    assert!(pos(b"moov") < pos(b"mdat"), "not faststart (moov after mdat)");
    let probe = ffprobe(&mp4);
    assert_eq!(stream(&probe, "video")["codec_name"], "h264");
    assert_eq!(stream(&probe, "audio")["codec_name"], "aac");
    let fmt = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format=format_name,duration", "-of", "json"])
        .arg(&mp4)
        .output()
        .unwrap();
    let fmt: serde_json::Value = serde_json::from_slice(&fmt.stdout).unwrap();
    assert!(fmt["format"]["format_name"].as_str().unwrap().contains("mp4"), "{fmt}");
    let report = verify_json(mp4.to_str().unwrap(), &[]);
    assert!(
        report["frames_lost"].as_u64().unwrap() as f64 <= report["frames_expected"].as_f64().unwrap() * 0.02,
        "{report:#}"
    );
    assert!((report["duration_s"].as_f64().unwrap() - 8.0).abs() < 1.5, "{report:#}");

    // the thumbnail: a 320-wide JPEG
    let jpg = work.path().join("thumb.jpg");
    let h = curl(&[&thumb_url]);
    assert_eq!(h.status, 200);
    assert_eq!(h.header("content-type").as_deref(), Some("image/jpeg"));
    std::fs::write(&jpg, &h.body).unwrap();
    let jb = h.body.clone();
    assert!(jb.starts_with(&[0xFF, 0xD8]), "not a JPEG");
    assert_eq!(stream(&ffprobe(&jpg), "video")["width"], 320);

    // --- range requests: 206 with Content-Range, 416 past the end
    let size = bytes.len();
    let h = curl(&["-H", "Range: bytes=0-99", &video_url]);
    assert_eq!(h.status, 206);
    assert_eq!(h.header("content-range"), Some(format!("bytes 0-99/{size}")));
    assert_eq!(h.body, bytes[..100]);
    let h = curl(&["-H", &format!("Range: bytes={}-", size - 10), &video_url]);
    assert_eq!(h.status, 206);
    assert_eq!(h.body, bytes[size - 10..]);
    let h = curl(&["-H", &format!("Range: bytes={}-", size + 10), &video_url]);
    assert_eq!(h.status, 416);

    // --- signed URLs: any change → 404
    let sig_at = video_url.find("sig=").unwrap() + 4;
    let mut tampered = video_url.clone();
    let c = if &tampered[sig_at..sig_at + 1] == "0" { "1" } else { "0" };
    tampered.replace_range(sig_at..sig_at + 1, c);
    assert_json_error(&curl(&[&tampered]), 404, "tampered signature");
    assert_json_error(&curl(&[&video_url[..video_url.find('?').unwrap()]]), 404, "no signature");
    let exp_at = video_url.find("exp=").unwrap() + 4;
    let mut later = video_url.clone();
    later.replace_range(exp_at..exp_at + 1, "9");
    assert_json_error(&curl(&[&later]), 404, "changed expiry");
    let thumb_sig = &thumb_url[thumb_url.find('?').unwrap()..];
    assert_json_error(
        &curl(&[&format!("{}{thumb_sig}", &video_url[..video_url.find('?').unwrap()])]),
        404,
        "the thumbnail's signature on the video",
    );
    let other_id = video_url.replace(&format!("/recordings/{id}/"), &format!("/recordings/{}/", id + 1));
    assert_json_error(&curl(&[&other_id]), 404, "another id");

    // --- who sees it: mentor1 and mentee1 (watched), not mentor2 or mentee2
    let seen = recordings_json(&s, &mentee1, &[]);
    assert_eq!(seen.as_array().unwrap().len(), 1, "mentee1 watched: {seen:#}");
    assert_eq!(seen[0]["id"], id);
    assert_eq!(recordings_json(&s, &mentee1, &["--app", "room-mentor1"]).as_array().unwrap().len(), 1);
    for (who, home) in [("mentor2", &mentor2), ("mentee2", &mentee2)] {
        assert_eq!(recordings_json(&s, home, &[]), serde_json::json!([]), "{who} sees nothing");
        assert_eq!(
            recordings_json(&s, home, &["--app", "room-mentor1"]),
            serde_json::json!([]),
            "{who} sees nothing of room-mentor1"
        );
        let tok = s.id_token(home);
        assert_json_error(&get_as(&format!("{}/api/v1/recordings/{id}", s.api_url()), &tok), 404, who);
        let h = get_as(&format!("{}/store-live?app=room-mentor1", s.api_url()), &tok);
        assert_eq!((h.status, h.json()), (200, serde_json::json!([])), "{who}: /store-live");
    }
    let tok1 = s.id_token(&mentor1);
    let h = get_as(&format!("{}/api/v1/recordings/{id}", s.api_url()), &tok1);
    assert_eq!(h.status, 200);
    assert_eq!(h.json()["id"], id);
    let h = get_as(&format!("{}/store-live?app=room-mentor1", s.api_url()), &tok1);
    assert_eq!(h.status, 200);
    assert_eq!(h.json().as_array().unwrap().len(), 1, "the original listing");
    let human = run(s.cli(&mentee2).arg("recordings"));
    assert_eq!(human.code, 0, "{}", human.all());
    assert!(human.stderr.contains("No recordings"), "{}", human.all());

    // --- the key is in no file name, nginx log or server log
    let mut names = Vec::new();
    all_names(s.dir.path(), &mut names);
    for k in [&key, &new_key] {
        assert!(!names.iter().any(|n| n.contains(k.as_str())), "a file is named after the key");
        for log in ["nginx/logs/error.log", "nginx/logs/access.log", "server/server.log"] {
            let text = std::fs::read_to_string(s.dir.path().join(log)).unwrap_or_default();
            assert!(!text.contains(k.as_str()), "the key is in {log}");
        }
    }
    assert!(
        names.iter().any(|n| n.starts_with("room-mentor1-") && n.ends_with(".flv")),
        "recorded as {{app}}-{{ts}}.flv: {names:?}"
    );
}

#[test]
fn bad_input_is_answered_with_json_4xx() {
    let s = Stack::start_with_backend();
    let api = s.api_url();
    let mentor1 = s.login("mentor1");
    let mentee1 = s.login("mentee1");
    let tok = s.id_token(&mentor1);
    let mentee_tok = s.id_token(&mentee1);
    let secret = std::fs::read_to_string(s.dir.path().join("server/hook_secret")).unwrap().trim().to_string();

    // identity
    assert_json_error(&curl(&[&format!("{api}/api/v1/channel")]), 401, "no token");
    assert_json_error(&get_as(&format!("{api}/api/v1/channel"), "garbage"), 401, "garbage token");
    assert_json_error(&curl(&["-H", "Authorization: Basic abc", &format!("{api}/api/v1/channel")]), 401, "not bearer");
    // a real token with its payload changed (an expiry in the past): the signature no longer holds
    let parts: Vec<&str> = tok.split('.').collect();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: serde_json::Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    claims["exp"] = 1_000_000_000.into();
    let forged = format!("{}.{}.{}", parts[0], b64.encode(serde_json::to_vec(&claims).unwrap()), parts[2]);
    assert_json_error(&get_as(&format!("{api}/api/v1/channel"), &forged), 401, "expired/forged token");
    // a token of another pool: header and claims of a token signed by a key the pool does not have
    let foreign = format!("{}.{}.{}", parts[0], parts[1], b64.encode([7u8; 256]));
    assert_json_error(&get_as(&format!("{api}/api/v1/recordings"), &foreign), 401, "foreign signature");
    assert_json_error(&get_as(&format!("{api}/api/v1/channel"), &mentee_tok), 403, "mentee has no channel");
    assert_json_error(
        &curl(&[
            "-X",
            "POST",
            "-H",
            &format!("Authorization: Bearer {mentee_tok}"),
            &format!("{api}/api/v1/channel/rotate-key"),
        ]),
        403,
        "mentee rotates",
    );

    // recordings
    assert_json_error(&get_as(&format!("{api}/api/v1/recordings?app=a/../b"), &tok), 400, "bad app");
    assert_json_error(&get_as(&format!("{api}/api/v1/recordings/abc"), &tok), 404, "non-numeric id");
    assert_json_error(&get_as(&format!("{api}/api/v1/recordings/999999"), &tok), 404, "unknown id");
    let h = get_as(&format!("{api}/api/v1/recordings?app=room-nobody"), &tok);
    assert_eq!((h.status, h.json()), (200, serde_json::json!([])), "unknown app: nothing");
    assert_json_error(&curl(&[&format!("{api}/api/v1/recordings")]), 401, "recordings without a token");
    assert_json_error(&curl(&[&format!("{api}/media/recordings/1/video.mp4?exp=abc&sig=zz")]), 404, "media garbage");
    assert_json_error(&curl(&[&format!("{api}/media/recordings/1/passwd?exp=1&sig=00")]), 404, "media other file");
    assert_json_error(&curl(&[&format!("{api}/no/such/route")]), 404, "no such route");

    // heartbeats (helper B's endpoint): malformed bodies and unknown apps
    for (body, what) in
        [("{not json", "syntax"), ("[]", "array"), ("{\"app\":\"room-x\"}", "missing playerId"), ("", "empty")]
    {
        let h = heartbeat(&s, None, body);
        assert_json_error(&h, 400, what);
    }
    let h = curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: text/plain",
        "--data-binary",
        "x",
        &format!("{api}/api/v1/heartbeat"),
    ]);
    assert_json_error(&h, 400, "not JSON content type");
    assert_json_error(&heartbeat(&s, None, &heartbeat_body("p1", "room-nobody")), 404, "heartbeat to an unknown app");
    assert_json_error(
        &heartbeat(&s, Some("garbage"), &heartbeat_body("p1", "room-nobody")),
        401,
        "heartbeat with a garbage token",
    );

    // hooks: only with the secret; bad keys, unknown apps and odd paths refused
    let hook =
        |path: &str, q: &str, body: &str| curl(&["-X", "POST", "--data-binary", body, &format!("{api}{path}{q}")]);
    let ch = get_as(&format!("{api}/api/v1/channel"), &tok).json();
    let key = ch["stream_key"].as_str().unwrap().to_string();
    let good = format!("call=publish&app=room-mentor1&name={key}&addr=127.0.0.1&clientid=9");
    assert_json_error(&hook("/hooks/on_publish", "", &good), 403, "no secret");
    assert_json_error(&hook("/hooks/on_publish", "?secret=wrong", &good), 403, "wrong secret");
    assert_json_error(&hook("/store-live", "?appName=room-mentor1", &good), 403, "store-live without the secret");
    let sq = format!("?secret={secret}");
    assert_json_error(&hook("/hooks/on_publish", &sq, "call=publish&app=room-mentor1&name=sk_wrong"), 403, "wrong key");
    assert_json_error(
        &hook("/hooks/on_publish", &sq, &format!("call=publish&app=room-nobody&name={key}")),
        403,
        "unknown app",
    );
    assert_json_error(&hook("/hooks/on_publish", &sq, "call=publish&app=room-mentor1"), 403, "no key");
    assert_json_error(
        &hook("/hooks/on_publish", &sq, "app=room-mentor1&app=room-x&name=a"),
        400,
        "malformed form (a field twice)",
    );
    assert_json_error(
        &hook("/hooks/on_relay", &sq, "app=hls-relay&name=room-mentor1&relay=wrong"),
        403,
        "relay without proof",
    );
    assert_json_error(
        &hook("/hooks/on_relay", &sq, &format!("app=hls-relay&name=room-mentor1&relay={secret}")),
        403,
        "relay of a channel not live",
    );
    assert_json_error(
        &hook("/hooks/on_record_done", &sq, "app=room-mentor1&path=/etc/passwd"),
        400,
        "record_done path outside",
    );
    assert_json_error(
        &hook("/hooks/on_record_done", &sq, "app=room-mentor1&path=relative.flv"),
        400,
        "record_done relative path",
    );
    assert_json_error(&hook("/hooks/on_record_done", &sq, "app=../etc&path=/x.flv"), 404, "record_done odd app");
    // the original hook with the secret: accepted like on_publish (302 renaming the stream)
    let h = hook("/store-live", &format!("?appName=room-mentor1&secret={secret}"), &good);
    assert_eq!(h.status, 302, "{}", String::from_utf8_lossy(&h.body));
    assert_eq!(h.header("location").as_deref(), Some("room-mentor1"));
    let h = hook("/hooks/on_publish_done", &sq, "call=publish_done&app=room-mentor1&name=x&clientid=9");
    assert_eq!(h.status, 200);

    // /openapi.json lists what we serve; /metrics counts hook outcomes
    let doc = curl(&[&format!("{api}/openapi.json")]).json();
    for p in [
        "/api/v1/channel",
        "/api/v1/channel/rotate-key",
        "/api/v1/recordings",
        "/api/v1/recordings/{id}",
        "/store-live",
        "/hooks/on_publish",
        "/media/recordings/{id}/{file}",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} not in /openapi.json");
    }
    assert!(doc["paths"]["/store-live"]["get"].is_object() && doc["paths"]["/store-live"]["post"].is_object());
    // the scheme the authenticated operations name is defined
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer", "{}", doc["components"]);
    assert_eq!(doc["paths"]["/api/v1/channel"]["get"]["security"][0]["bearer"], serde_json::json!([]));
    let m = String::from_utf8(curl(&[&format!("{api}/metrics")]).body).unwrap();
    assert!(m.contains("hook=\"publish\",outcome=\"rejected\""), "{m}");
    assert!(m.contains("hook=\"publish\",outcome=\"accepted\""), "{m}");
    assert!(!m.contains("5xx"), "a 500 was answered: {m}");
}

/// A class cut by the network: the ingest goes away for 3 s and the encoder
/// reconnects, so the ingest records two pieces — and the mentor sees one
/// recording of the whole class, the outage a gap in its timeline (where the
/// picture's frame counter says it was), audio and video still together.
#[test]
fn a_class_cut_by_a_network_drop_is_one_recording() {
    let _turn = crate::faults::one_at_a_time();
    let s = Stack::start_with_backend();
    let mentor = s.login("mentor2");
    let r = run(s.cli(&mentor).args(["channel", "--json", "--show-key"]));
    assert_eq!(r.code, 0, "{}", r.all());
    let ch: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    let (ingest, key) = (ch["ingest_url"].as_str().unwrap(), ch["stream_key"].as_str().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("cut.toml");
    std::fs::write(
        &scenario,
        format!(
            "[[scenario]]\nname = \"class-cut\"\nurl = \"{ingest}\"\nkey = \"{key}\"\n\
             verify = \"{ingest}/room-mentor2\"\nresolution = \"640x360\"\n\
             fps = 30\nvideo_kbps = 800\nduration_s = 16\n[[scenario.fault]]\nat_s = 5\nkind = \"down\"\n\
             duration_s = 3\n[scenario.expect]\nmax_reconnect_s = 1.0\nmax_frame_loss_pct = 100.0\n\
             min_fps_ratio = 0.0\n"
        ),
    )
    .unwrap();
    let json = dir.path().join("report.json");
    let r = run(mentorcast().args(["run", scenario.to_str().unwrap(), "--json", json.to_str().unwrap()]));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap_or_default()).unwrap_or_default();
    assert_eq!(r.code, 0, "{}\n{report:#}", r.all());
    assert_eq!(report[0]["broadcast"]["reconnects"], 1, "{report:#}");

    // The ingest recorded a piece per publish.
    let mut names = Vec::new();
    all_names(&s.dir.path().join("channels/record"), &mut names);
    let pieces = names.iter().filter(|n| n.starts_with("room-mentor2-") && n.ends_with(".flv")).count();
    assert_eq!(pieces, 2, "one FLV per publish: {names:?}");

    // One recording, as long as the class; it grows when the second piece is joined.
    let deadline = Instant::now() + Duration::from_secs(90);
    let list = loop {
        let v = recordings_json(&s, &mentor, &[]);
        if v[0]["duration_s"].as_f64().is_some_and(|d| d > 12.0) {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "no recording of the whole class within 90 s: {v:#}\nserver log:\n{}",
            std::fs::read_to_string(s.dir.path().join("server/server.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(list.as_array().unwrap().len(), 1, "one recording for one class: {list:#}");
    let dur = list[0]["duration_s"].as_f64().unwrap();
    assert!((dur - 16.0).abs() < 2.0, "the recording spans the class, outage included: {dur} s");

    let mp4 = dir.path().join("class.mp4");
    let h = curl(&[list[0]["url"].as_str().unwrap()]);
    assert_eq!(h.status, 200);
    std::fs::write(&mp4, &h.body).unwrap();
    let v = verify_json(mp4.to_str().unwrap(), &["--fps", "30"]);
    let (expected, lost) = (v["frames_expected"].as_u64().unwrap(), v["frames_lost"].as_u64().unwrap());
    assert!((45..=5 * 30).contains(&lost), "the outage is missing from the recording, nothing else: {v:#}");
    // The timeline: the picture's counter and the recording's clock agree across the gap.
    let span = v["duration_s"].as_f64().unwrap();
    assert!((span - expected as f64 / 30.0).abs() < 0.5, "the gap sits where the frames are missing: {v:#}");
    for k in ["av_offset_min_ms", "av_offset_max_ms"] {
        let off = v[k].as_f64().unwrap_or_else(|| panic!("no {k}: {v:#}"));
        assert!(off.abs() <= 45.0, "audio and video stay together across the join: {v:#}");
    }
}
