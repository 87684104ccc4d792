//! Live viewers end to end: the real stack (nginx-rtmp, moto
//! and mentorcast-server), a real `mentorcast broadcast` to the mentor's channel,
//! the watch page in headless Chromium, and the `viewers` / `simulate-viewers`
//! commands. Assertions are on what the server received: heartbeats from a
//! Chrome agent whose playTime advances (so the video really plays).

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::*;

/// GET with curl: (status, body).
fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let mut c = Command::new("curl");
    c.args(["-s", "--max-time", "10", "-w", "\n%{http_code}"]);
    if let Some(t) = token {
        c.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    let out = c.arg(url).output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn stats(s: &Stack, app: &str, token: &str) -> serde_json::Value {
    let (code, body) = get(&format!("{}/api/v1/streams/{app}/stats", s.api_url()), Some(token));
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Polls `f` every 250 ms until it returns Some, or panics after `timeout` with `what` and the last state.
fn wait_until<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match f() {
            Ok(v) => return v,
            Err(last) => {
                assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}; last: {last}");
                std::thread::sleep(Duration::from_millis(250));
            }
        }
    }
}

/// A process we started in its own process group, stopped (TERM, then KILL) by that id on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let pgid = self.0.id() as i32;
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                // the group's other processes (renderers) get the TERM too; make sure none stays
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

fn chromium_bin() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"].iter().map(PathBuf::from).find(|p| p.exists())
}

fn start_chromium(url: &str, profile: &Path) -> Proc {
    let bin = chromium_bin().expect("chromium is not installed (scripts/deps.sh installs it)");
    let child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--mute-audio",
            "--autoplay-policy=no-user-gesture-required",
            // a page in the background must not be throttled while it plays
            "--disable-background-timer-throttling",
            "--disable-renderer-backgrounding",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(profile.with_extension("log")).unwrap()))
        .process_group(0)
        .spawn()
        .expect("starting chromium");
    Proc(child)
}

/// `mentorcast broadcast --json` as the signed-in mentor (no URL: their own channel); its stdout lines.
fn broadcast(s: &Stack, home: &Path, seconds: u32) -> (Proc, mpsc::Receiver<String>) {
    let mut child = s
        .cli(home)
        .args([
            "broadcast",
            "--duration",
            &seconds.to_string(),
            "--resolution",
            "640x360",
            "--fps",
            "25",
            "--video-kbps",
            "800",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (Proc(child), rx)
}

#[test]
fn watch_page_plays_in_headless_chromium_and_heartbeats() {
    let s = Stack::start_with_backend();
    let mentor = s.login("mentor1");
    let token = s.id_token(&mentor);
    let r = run(s.cli(&mentor).args(["channel", "--json"]));
    assert_eq!(r.code, 0, "{}", r.all());
    let ch: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    let app = ch["app"].as_str().unwrap().to_string();
    let hls = ch["hls_url"].as_str().unwrap().to_string();
    let watch = format!("{}/watch/{app}", s.api_url());

    // the page and hls.js are served by us
    let (code, page) = get(&watch, None);
    assert_eq!(code, 200, "{page}");
    assert!(page.contains(&hls), "the page plays {hls}: {page}");
    let (code, js) = get(&format!("{}/assets/hls.min.js", s.api_url()), None);
    assert_eq!(code, 200);
    assert!(js.len() > 100_000 && js.contains("Hls"), "hls.js from the npm package");

    // go live and wait until the HLS playlist has segments
    let (_bc, rx) = broadcast(&s, &mentor, 90);
    wait_line(&rx, Duration::from_secs(20), |v| is_state(v, "live"));
    wait_until(Duration::from_secs(30), "the live HLS playlist", || {
        let (code, body) = get(&hls, None);
        if code == 200 && body.matches(".ts").count() >= 2 {
            Ok(())
        } else {
            Err(format!("{code} {body}"))
        }
    });
    let before = stats(&s, &app, &token);
    assert_eq!(before["live"], true, "{before}");
    assert_eq!(before["active"], 0, "{before}");

    // the watch page in headless Chromium
    let profile = s.dir.path().join("chromium-profile");
    std::fs::create_dir_all(&profile).unwrap();
    let _chrome = start_chromium(&watch, &profile);
    let first = wait_until(Duration::from_secs(45), "a heartbeat from Chromium", || {
        let st = stats(&s, &app, &token);
        let chrome = st["by_browser"].as_object().map(|m| m.keys().any(|b| b.starts_with("Chrome"))).unwrap_or(false);
        if st["active"] == 1 && chrome {
            Ok(st)
        } else {
            Err(format!(
                "{st}\nchromium log: {}",
                std::fs::read_to_string(profile.with_extension("log"))
                    .unwrap_or_default()
                    .lines()
                    .rev()
                    .take(5)
                    .collect::<Vec<_>>()
                    .join(" | ")
            ))
        }
    });
    assert_eq!(first["by_os"]["Linux"], 1, "{first}");
    assert_eq!(first["by_device"]["desktop"], 1, "{first}");
    let t0 = first["avg_play_time_s"].as_f64().unwrap();
    let started = Instant::now();
    // the video really plays: its playTime advances with the clock (live: roughly 1 s per s)
    let later = wait_until(Duration::from_secs(30), "playTime to advance by 5 s", || {
        let st = stats(&s, &app, &token);
        let t = st["avg_play_time_s"].as_f64().unwrap_or(0.0);
        if st["active"] == 1 && t >= t0 + 5.0 {
            Ok(st)
        } else {
            Err(st.to_string())
        }
    });
    let advanced = later["avg_play_time_s"].as_f64().unwrap() - t0;
    let wall = started.elapsed().as_secs_f64();
    assert!(advanced <= wall + 2.0, "playTime advanced {advanced:.1} s in {wall:.1} s");
    assert!(later["bitrate"]["max"].as_u64().unwrap() > 0, "the page reports a bitrate: {later}");
    assert_eq!((later["total"].as_u64(), later["peak"].as_u64()), (Some(1), Some(1)), "{later}");

    // the CLI: `viewers --json` and `viewers --watch --json`
    let r = run(s.cli(&mentor).args(["viewers", "--app", &app, "--json"]));
    assert_eq!(r.code, 0, "{}", r.all());
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!((v["active"].as_u64(), v["total"].as_u64()), (Some(1), Some(1)), "{v}");
    let mut w = s
        .cli(&mentor)
        .args(["viewers", "--app", &app, "--watch", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let out = w.stdout.take().unwrap();
    let watcher = Proc(w);
    let (tx, wrx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    wait_line(&wrx, Duration::from_secs(5), |v| v["active"] == 1 && v["app"] == app.as_str());

    // 20 simulated players join: the live count follows (pushed), then drops back after they stop
    let sim = s
        .cli(&mentor)
        .args(["simulate-viewers", "--app", &app, "--count", "20", "--duration", "4", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_line(&wrx, Duration::from_secs(5), |v| v["active"] == 21);
    let st = stats(&s, &app, &token);
    assert!(
        st["by_os"]["iOS"].as_u64().unwrap_or(0) >= 2 && st["by_device"]["mobile"].as_u64().unwrap_or(0) >= 2,
        "varied agents: {st}"
    );
    assert!(st["bitrate"]["min"].as_u64() < st["bitrate"]["max"].as_u64(), "varied bitrates: {st}");
    let out = sim.wait_with_output().unwrap();
    assert!(out.status.success(), "simulate-viewers: {}", String::from_utf8_lossy(&out.stdout));
    let rep: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(rep["failed"], 0, "{rep}");
    assert!(rep["ok"].as_u64().unwrap() >= 20 * 4, "{rep}");
    wait_line(&wrx, Duration::from_secs(5), |v| v["active"] == 1 && v["peak"] == 21 && v["total"] == 21);
    drop(watcher);

    // the viewer closes the page: gone from the count after the 2 s window
    drop(_chrome);
    let closed = Instant::now();
    wait_until(Duration::from_secs(6), "Chromium's player to expire", || {
        let st = stats(&s, &app, &token);
        if st["active"] == 0 {
            Ok(())
        } else {
            Err(st.to_string())
        }
    });
    assert!(closed.elapsed() >= Duration::from_millis(1000), "expired too soon");
}
