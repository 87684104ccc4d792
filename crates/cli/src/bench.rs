//! `mentorcast bench`: CPU seconds and peak RSS of
//!   (a) our full path (synthetic sources → openh264 + fdk-aac → RTMP) to the ingest,
//!   (b) a bare openh264 encode of the same frames — the floor,
//!   (c) ffmpeg with libx264 `veryfast` + AAC, same size/fps/bitrate, same frames, same ingest,
//! each as its own process measured with wait4(2); plus the time from starting
//! the broadcast to the first video frame a subscriber gets from the ingest.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mentorcast_engine::encode::{VideoEncoder, VideoOutput, VideoSettings};
use mentorcast_engine::Service;
use mentorcast_media::{MediaClock, SyntheticVideo};
use mentorcast_protocol::NetConnector;

use crate::broadcast::parse_resolution;
use crate::exit::{self, exit};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Seconds per measured run.
    #[arg(long, default_value_t = 30.0)]
    seconds: f64,
    /// Sizes to measure, comma-separated.
    #[arg(long, default_value = "1280x720,1920x1080")]
    sizes: String,
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// Ingest app URL (default: the config's [ingest] url).
    #[arg(long)]
    url: Option<String>,
    /// Also write the table (Markdown) to this file.
    #[arg(long)]
    markdown: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    cpu_s: f64,
    max_rss_mb: f64,
}

/// Waits for `pid` and returns its resource usage (and exit status).
fn wait_usage(pid: u32) -> Result<(Usage, i32)> {
    let mut status: libc::c_int = 0;
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut ru) };
    if r < 0 {
        anyhow::bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 };
    Ok((Usage { cpu_s: tv(ru.ru_utime) + tv(ru.ru_stime), max_rss_mb: ru.ru_maxrss as f64 / 1024.0 }, code))
}

fn kbps_for(height: u32) -> u32 {
    match height {
        h if h >= 1080 => 5000,
        h if h >= 720 => 3000,
        _ => 1500,
    }
}

struct Row {
    size: String,
    ours: Usage,
    floor: Usage,
    floor_unpaced: Usage,
    ffmpeg: Usage,
    dropped: u64,
    skipped: u64,
    sent: u64,
    expected: u64,
    first_frame_ms: Option<f64>,
    engine_first_frame_ms: Option<f64>,
}

pub async fn run(args: BenchArgs, config: &crate::config::Config) -> Result<i32> {
    let url = args.url.clone().or(config.ingest.url.clone()).ok_or_else(|| {
        exit(exit::BAD_ARGS, "no ingest URL: pass --url or use a config with [ingest] url (make stack-up)")
    })?;
    let exe = std::env::current_exe().context("finding our own executable")?;
    let mut rows = Vec::new();
    for size in args.sizes.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (_, h) = parse_resolution(size)?;
        let kbps = kbps_for(h);
        let frames = (args.seconds * args.fps as f64).round() as u64;
        let stamp =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        eprintln!("bench {size}: (a) our path to the ingest, {} s…", args.seconds);

        // (a) Subscribe first, then start the broadcast and time its first frame at the ingest.
        let key_a = format!("bench-a-{h}p-{stamp}");
        let play = Service::parse(&url, Some(&key_a)).map_err(|e| exit(exit::BAD_ARGS, e.to_string()))?;
        let mut player = mentorcast_protocol::rtmp::play(&play, &NetConnector::default())
            .await
            .map_err(|e| exit(exit::code_for(e.kind()), e.to_string()))?;
        let started = Instant::now();
        let child = Command::new(&exe)
            .args([
                "broadcast",
                &url,
                "--key",
                &key_a,
                "--duration",
                &args.seconds.to_string(),
                "--resolution",
                size,
                "--fps",
                &args.fps.to_string(),
                "--video-kbps",
                &kbps.to_string(),
                "--no-reconnect",
                "--json",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let first = tokio::time::timeout(Duration::from_secs(15), async {
            loop {
                match player.next_tag().await {
                    Ok(Some(t)) if t.kind == mentorcast_protocol::flv::TAG_VIDEO && t.body.get(1) == Some(&1) => {
                        return Some(started.elapsed())
                    }
                    Ok(Some(_)) => continue,
                    _ => return None,
                }
            }
        })
        .await
        .ok()
        .flatten();
        drop(player);
        let pid = child.id();
        let mut stdout = child.stdout.expect("piped");
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
            s
        });
        let (ours, code) = tokio::task::spawn_blocking(move || wait_usage(pid)).await??;
        let out = reader.join().unwrap_or_default();
        if code != 0 {
            return Err(exit(exit::FAILED, format!("the broadcast for {size} failed (exit {code})")));
        }
        let summary: serde_json::Value = out
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .rfind(|v| v["event"] == "summary")
            .map(|v| v["stats"].clone())
            .unwrap_or_default();

        eprintln!(
            "bench {size}: (b) bare openh264 encode of the same {frames} frames, paced at {} fps, then unpaced…",
            args.fps
        );
        let mut floors = Vec::new();
        for paced in [true, false] {
            let mut cmd = Command::new(&exe);
            cmd.args([
                "bench-encode",
                "--resolution",
                size,
                "--fps",
                &args.fps.to_string(),
                "--video-kbps",
                &kbps.to_string(),
                "--frames",
                &frames.to_string(),
            ]);
            if paced {
                cmd.arg("--paced");
            }
            let pid = cmd.stdout(Stdio::null()).spawn()?.id();
            floors.push(tokio::task::spawn_blocking(move || wait_usage(pid)).await??.0);
        }
        let (floor, floor_unpaced) = (floors[0], floors[1]);

        eprintln!("bench {size}: (c) ffmpeg libx264 veryfast + aac to the ingest, {} s…", args.seconds);
        let key_c = format!("bench-c-{h}p-{stamp}");
        let gen = Command::new(&exe)
            .args(["gen-raw", "--resolution", size, "--fps", &args.fps.to_string(), "--frames", &frames.to_string()])
            .stdout(Stdio::piped())
            .spawn()?;
        let target = format!("{}/{}", url.trim_end_matches('/'), key_c);
        let ff = Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "yuv420p",
                "-s",
                size,
                "-r",
                &args.fps.to_string(),
                "-i",
                "-",
            ])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-map", "0:v", "-map", "1:a"])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-bf",
                "0",
                "-g",
                &(args.fps * 2).to_string(),
                "-keyint_min",
                &(args.fps * 2).to_string(),
                "-sc_threshold",
                "0",
            ])
            .args(["-b:v", &format!("{kbps}k"), "-maxrate", &format!("{kbps}k"), "-bufsize", &format!("{}k", kbps * 2)])
            .args([
                "-c:a",
                "aac",
                "-b:a",
                "128k",
                "-ar",
                "48000",
                "-ac",
                "2",
                "-t",
                &args.seconds.to_string(),
                "-f",
                "flv",
                &target,
            ])
            .stdin(gen.stdout.context("gen-raw stdout")?)
            .spawn()
            .context("starting ffmpeg")?;
        let pid = ff.id();
        let (ffmpeg, code) = tokio::task::spawn_blocking(move || wait_usage(pid)).await??;
        if code != 0 {
            eprintln!("warning: ffmpeg exited with {code}");
        }
        rows.push(Row {
            size: size.to_string(),
            ours,
            floor,
            floor_unpaced,
            ffmpeg,
            dropped: summary["frames_dropped"].as_u64().unwrap_or(0),
            skipped: summary["frames_skipped"].as_u64().unwrap_or(0),
            sent: summary["frames_sent"].as_u64().unwrap_or(0),
            expected: frames,
            first_frame_ms: first.map(|d| d.as_secs_f64() * 1000.0),
            engine_first_frame_ms: summary["first_frame_ms"].as_f64(),
        });
    }
    let table = render(&rows, args.seconds, args.fps);
    println!("{table}");
    if let Some(path) = args.markdown {
        std::fs::write(&path, &table).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(exit::OK)
}

fn render(rows: &[Row], seconds: f64, fps: u32) -> String {
    let mut t = format!(
        "Measured {seconds} s per run at {fps} fps on this machine ({} cores). CPU = user+sys seconds of the process (wait4).\n\n",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    t += "| size | (a) ours → ingest CPU s | (b) bare openh264 CPU s, paced (unpaced) | (c) ffmpeg x264 veryfast → ingest CPU s | (a)/(b) (target ≤ 1.15) | (a)/(c) (target ≤ 1) | RSS (a) / (b) / (c) MB | sent / expected frames, dropped, skipped | first frame at ingest (engine) ms |\n";
    t += "|---|---|---|---|---|---|---|---|---|\n";
    for r in rows {
        t += &format!(
            "| {} | {:.2} | {:.2} ({:.2}) | {:.2} | {:.2} | {:.2} | {:.0} / {:.0} / {:.0} | {} / {}, {}, {} | {} ({}) |\n",
            r.size,
            r.ours.cpu_s,
            r.floor.cpu_s,
            r.floor_unpaced.cpu_s,
            r.ffmpeg.cpu_s,
            r.ours.cpu_s / r.floor.cpu_s.max(1e-6),
            r.ours.cpu_s / r.ffmpeg.cpu_s.max(1e-6),
            r.ours.max_rss_mb,
            r.floor.max_rss_mb,
            r.ffmpeg.max_rss_mb,
            r.sent,
            r.expected,
            r.dropped,
            r.skipped,
            r.first_frame_ms.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into()),
            r.engine_first_frame_ms.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into()),
        );
    }
    t += "\n(b) paced feeds the frames at the frame rate like a live source; unpaced runs them back to back (hot caches, no wake-ups).\nFirst frame at ingest: from spawning `mentorcast broadcast` (process start, connect, publish, first encode) to the first H.264 frame a subscriber on the ingest receives; in brackets, the engine's own figure from going live to the first frame written to the socket.\n";
    t
}

/// (b): render and encode `frames` synthetic frames with bare openh264 on one
/// thread; `paced` feeds them at the frame rate, as a live source does.
pub fn bench_encode(resolution: &str, fps: u32, kbps: u32, frames: u64, paced: bool) -> Result<i32> {
    let (w, h) = parse_resolution(resolution)?;
    let clock = MediaClock::start();
    let src = SyntheticVideo::new(w, h, fps, clock).map_err(|e| exit(exit::BAD_ARGS, e.to_string()))?;
    let mut enc = VideoEncoder::new(VideoSettings { width: w, height: h, fps, kbps, keyframe_secs: 2 })?;
    let mut bytes = 0usize;
    for i in 0..frames {
        if paced {
            clock.sleep_until(src.pts_of(i));
        }
        if let VideoOutput::Packet(p) = enc.encode(&src.render(i))? {
            bytes += p.nals.iter().map(|n| n.len()).sum::<usize>();
        }
    }
    println!("{bytes}");
    Ok(exit::OK)
}

/// (c)'s input: the same synthetic frames as raw I420 on stdout, paced in real time.
pub fn gen_raw(resolution: &str, fps: u32, frames: u64) -> Result<i32> {
    let (w, h) = parse_resolution(resolution)?;
    let clock = MediaClock::start();
    let src = SyntheticVideo::new(w, h, fps, clock).map_err(|e| exit(exit::BAD_ARGS, e.to_string()))?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut buf = Vec::new();
    for i in 0..frames {
        clock.sleep_until(src.pts_of(i));
        src.render_into(i, &mut buf);
        if out.write_all(&buf).is_err() {
            break; // ffmpeg stopped reading (-t reached)
        }
    }
    Ok(exit::OK)
}
