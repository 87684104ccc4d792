//! `mentorcast`: the QA command line over the Mentorcast engine.

mod api_cmd;
mod auth_cmd;
mod bench;
mod broadcast;
mod config;
mod devices_cmd;
mod exit;
mod faults;
mod scenario;
mod test_connection;
mod verify_cmd;
mod viewers_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "mentorcast",
    version,
    about = "Mentorcast: test broadcasts to an RTMP/RTMPS ingest, and verification of what arrived"
)]
struct Cli {
    /// Config file (default: $MENTORCAST_CONFIG, else the user's config dir).
    #[arg(long, global = true, env = "MENTORCAST_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Broadcast camera and microphone, or the synthetic test sources (pattern + counter + flash, tone + beep).
    Broadcast {
        /// rtmp[s]://host[:port]/app[/key] (default: the config's ingest URL).
        url: Option<String>,
        /// Stream key (else the URL's last path segment).
        #[arg(long, env = "MENTORCAST_STREAM_KEY", hide_env_values = true)]
        key: Option<String>,
        /// Stop after this many seconds (default: until Ctrl-C).
        #[arg(long)]
        duration: Option<f64>,
        #[command(flatten)]
        video: VideoArgs,
        #[arg(long, default_value_t = 128)]
        audio_kbps: u32,
        /// Extra CA certificate(s) (PEM) to trust for rtmps://.
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// Keep reconnecting this long after the connection drops (e.g. 90s, 10m, 1h; 0: until stopped).
        #[arg(long, default_value = "10m", value_parser = broadcast::parse_duration)]
        reconnect_for: std::time::Duration,
        /// A lost connection ends the broadcast.
        #[arg(long, conflicts_with = "reconnect_for")]
        no_reconnect: bool,
        /// Deprecated: use --reconnect-for DURATION (or --no-reconnect for 0).
        #[arg(long, hide = true)]
        reconnect_attempts: Option<u32>,
        /// Keep the configured bitrate whatever the network does (adaptive bitrate off).
        #[arg(long)]
        no_adaptive: bool,
        /// The lowest video bitrate adaptive bitrate may choose (default: 25 % of --video-kbps, at least 300).
        #[arg(long)]
        adaptive_floor_kbps: Option<u32>,
        /// Keep a local copy of the broadcast (FLV): a file, or a folder for a new file.
        #[arg(long)]
        record: Option<PathBuf>,
        /// One JSON object per line (state changes and stats) on stdout.
        #[arg(long)]
        json: bool,
        /// Camera: an id from `mentorcast devices`, default, synthetic or none (audio only).
        /// Not given: the default camera, else synthetic (said in the output).
        #[arg(long, env = "MENTORCAST_CAMERA", default_value = "auto", hide_default_value = true)]
        camera: mentorcast_devices::SourceSpec,
        /// Microphone: an id from `mentorcast devices`, default, synthetic or none (no audio track).
        /// Not given: the default microphone, else synthetic (said in the output).
        #[arg(long, env = "MENTORCAST_MIC", default_value = "auto", hide_default_value = true)]
        mic: mentorcast_devices::SourceSpec,
        /// Read `mute` / `unmute` lines on stdin (silence is sent while muted).
        #[arg(long)]
        control_stdin: bool,
    },
    /// List cameras (with their modes) and microphones (with their default configs).
    /// Test the connection to the ingest (≤ 10 s, nothing recorded or shown to viewers) and recommend settings.
    TestConnection {
        /// The ingest's test address, rtmp[s]://host[:port]/app[/key] (default: your channel's, when signed
        /// in as a mentor; else the config's ingest with its application replaced by `probe`).
        url: Option<String>,
        /// Stream key (else the URL's last path segment, or your channel's key).
        #[arg(long, env = "MENTORCAST_STREAM_KEY", hide_env_values = true)]
        key: Option<String>,
        /// Extra CA certificate(s) (PEM) to trust for rtmps://.
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// The audio bitrate the recommendation leaves room for.
        #[arg(long, default_value_t = 128)]
        audio_kbps: u32,
        #[arg(long)]
        json: bool,
    },
    /// A TCP proxy that makes the network misbehave on command, for tests: lines on stdin
    /// (`down`, `reset`, `blackhole`, `throttle KBPS`, `latency MS`, `clear`) set the fault.
    #[command(hide = true)]
    FaultProxy {
        /// Where the real server listens (host:port).
        #[arg(long)]
        upstream: String,
        /// Where to listen (default: a free port on 127.0.0.1, printed on stdout).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
    },
    Devices {
        #[arg(long)]
        json: bool,
    },
    /// Decode a received stream (FLV/MP4 file or rtmp:// play URL) and check the counter and beeps.
    Verify {
        source: String,
        /// Nominal frame rate (default: inferred from timestamps).
        #[arg(long)]
        fps: Option<u32>,
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// For rtmp:// sources: stop after this many seconds of media.
        #[arg(long)]
        max_duration: Option<f64>,
        #[arg(long)]
        json: bool,
    },
    /// Run QA scenarios from a TOML file: broadcast and verify at once, judge thresholds.
    Run {
        scenario: PathBuf,
        /// Write a JUnit XML report here.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Write a JSON report here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Measure CPU and memory of our path against a bare encode and ffmpeg/x264 (see README).
    Bench(bench::BenchArgs),
    // --- sign-in (auth_cmd.rs) ---
    /// Sign in with the platform's Cognito user pool (prompts without echo, or --password-stdin).
    Login(auth_cmd::LoginArgs),
    /// Who is signed in: username, email, groups, token expiry (never the token).
    Whoami(auth_cmd::WhoamiArgs),
    /// Sign out everywhere (Cognito GlobalSignOut) and remove the local tokens.
    Logout(auth_cmd::StoreArgs),
    /// Multi-factor authentication.
    #[command(subcommand)]
    Mfa(auth_cmd::MfaCommand),
    /// Print the ID or access token (for scripts; only on explicit request).
    Token(auth_cmd::TokenArgs),
    // --- end sign-in ---
    // --- channel and recordings (api_cmd.rs) ---
    /// The signed-in mentor's channel: app, ingest URL, key (masked unless --show-key); `rotate-key` issues a new key.
    Channel(api_cmd::ChannelArgs),
    /// Recordings the signed-in user may see (theirs, or live sessions they watched), with playable URLs.
    Recordings(api_cmd::RecordingsArgs),
    // --- end channel and recordings ---
    // --- live viewers (viewers_cmd.rs) ---
    /// A stream's viewers: active, total, peak, play time, bitrates, devices (--watch: the live count).
    Viewers(viewers_cmd::ViewersArgs),
    /// Run N simulated players (varied agents and bitrates) sending heartbeats to the backend.
    SimulateViewers(viewers_cmd::SimulateArgs),
    /// The heartbeat load bench: steps of N simulated viewers at 750 ms against a server on this machine.
    BenchViewers(viewers_cmd::BenchViewersArgs),
    // --- end live viewers ---
    /// (bench helper) Encode synthetic frames with bare openh264 as fast as possible.
    #[command(hide = true)]
    BenchEncode {
        #[command(flatten)]
        video: VideoArgs,
        #[arg(long)]
        frames: u64,
        /// Feed frames at the frame rate, as a live source does.
        #[arg(long)]
        paced: bool,
    },
    /// (bench helper) Write synthetic raw I420 frames to stdout, paced in real time.
    #[command(hide = true)]
    GenRaw {
        #[command(flatten)]
        video: VideoArgs,
        #[arg(long)]
        frames: u64,
    },
}

/// The synthetic video's shape and the encoder's rate.
#[derive(clap::Args)]
struct VideoArgs {
    /// WIDTHxHEIGHT, both even.
    #[arg(long, default_value = "1280x720")]
    resolution: String,
    /// Frames per second, 1–60.
    #[arg(long, default_value_t = 30)]
    fps: u32,
    #[arg(long, default_value_t = 2500)]
    video_kbps: u32,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    mentorcast_protocol::rtmp::quiet_contained_panics();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MENTORCAST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(dispatch(cli)) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            let (code, msg) = match e.downcast_ref::<exit::Exit>() {
                Some(x) => (x.code, x.message.clone()),
                None => (exit::FAILED, format!("{e:#}")),
            };
            eprintln!("error: {msg}");
            ExitCode::from(code as u8)
        }
    }
}

async fn dispatch(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Broadcast {
            url,
            key,
            duration,
            video,
            audio_kbps,
            ca_file,
            reconnect_for,
            no_reconnect,
            reconnect_attempts,
            no_adaptive,
            adaptive_floor_kbps,
            record,
            json,
            camera,
            mic,
            control_stdin,
        } => {
            let reconnect = broadcast::reconnect_policy(reconnect_for, no_reconnect, reconnect_attempts);
            let config = config::Config::load(cli.config.as_deref())?;
            // Only mentors may broadcast: a signed-in non-mentor is told why.
            // (Nobody signed in: QA runs to a raw URL go ahead.)
            auth_cmd::check_may_broadcast(&config).await?;
            // No URL: a signed-in mentor's own channel (key from the backend unless --key),
            // else the config's [ingest] url.
            let (url, key) = match url {
                Some(u) => (u, key),
                None => match api_cmd::own_channel(&config).await? {
                    Some(ch) => {
                        if !json {
                            eprintln!("Broadcasting to your channel {} ({}/****).", ch.app, ch.ingest_url);
                        }
                        (ch.ingest_url.clone(), key.or(Some(ch.stream_key.clone())))
                    }
                    None => match config.ingest.url.clone() {
                        Some(u) => (u, key),
                        None => return Err(exit::exit(exit::BAD_ARGS, "no ingest URL: give one (rtmp://host/app), sign in as a mentor (mentorcast login) or set [ingest] url in the config")),
                    },
                },
            };
            let mut plan = broadcast::BroadcastPlan::new(
                &url,
                key.as_deref(),
                &video.resolution,
                video.fps,
                video.video_kbps,
                audio_kbps,
                duration,
                ca_file,
                reconnect,
            )?;
            (plan.camera, plan.mic, plan.control_stdin) = (camera, mic, control_stdin);
            plan.adaptive = !no_adaptive;
            plan.adaptive_floor_kbps = adaptive_floor_kbps;
            plan.record = record;
            let progress = broadcast::Progress::choose(json);
            let stats = broadcast::run(&plan, progress).await?;
            match progress {
                broadcast::Progress::Json => println!("{}", serde_json::json!({"event": "summary", "stats": stats})),
                _ => eprintln!("ended cleanly: {}", broadcast::stats_line(&stats)),
            }
            Ok(exit::OK)
        }
        Command::Devices { json } => devices_cmd::run(json),
        Command::TestConnection { url, key, ca_file, audio_kbps, json } => {
            let config = config::Config::load(cli.config.as_deref())?;
            test_connection::run(&config, url, key, ca_file, audio_kbps, json).await
        }
        Command::FaultProxy { upstream, listen } => faults::serve_stdin(&upstream, listen).await,
        Command::Verify { source, fps, ca_file, max_duration, json } => {
            let report =
                verify_cmd::verify_source(&source, fps, ca_file, verify_cmd::default_limits(max_duration)).await?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                verify_cmd::print_human(&report);
            }
            Ok(exit::OK)
        }
        Command::Run { scenario, junit, json } => {
            let file = scenario::load(&scenario)?;
            let mut results = Vec::new();
            for s in &file.scenario {
                eprintln!("running scenario {} ({} s)…", s.name, s.duration_s);
                let r = scenario::run_one(s).await;
                scenario::print_summary(&r);
                results.push(r);
            }
            if let Some(path) = junit {
                std::fs::write(&path, scenario::junit(&results))
                    .map_err(|e| exit::exit(exit::FAILED, format!("cannot write {}: {e}", path.display())))?;
            }
            if let Some(path) = json {
                std::fs::write(&path, serde_json::to_string_pretty(&results)?)
                    .map_err(|e| exit::exit(exit::FAILED, format!("cannot write {}: {e}", path.display())))?;
            }
            let failed = results.iter().filter(|r| !r.passed).count();
            println!("{} passed, {} failed", results.len() - failed, failed);
            Ok(if failed == 0 { exit::OK } else { exit::FAILED })
        }
        Command::Bench(args) => {
            let config = config::Config::load(cli.config.as_deref())?;
            bench::run(args, &config).await
        }
        // --- sign-in (auth_cmd.rs) ---
        Command::Login(args) => auth_cmd::login(&config::Config::load(cli.config.as_deref())?, args).await,
        Command::Whoami(args) => auth_cmd::whoami(&config::Config::load(cli.config.as_deref())?, args).await,
        Command::Logout(args) => auth_cmd::logout(&config::Config::load(cli.config.as_deref())?, args).await,
        Command::Mfa(cmd) => auth_cmd::mfa(&config::Config::load(cli.config.as_deref())?, cmd).await,
        Command::Token(args) => auth_cmd::token(&config::Config::load(cli.config.as_deref())?, args).await,
        // --- end sign-in ---
        Command::Channel(args) => api_cmd::channel(cli.config.as_deref(), args).await,
        Command::Recordings(args) => api_cmd::recordings(cli.config.as_deref(), args).await,
        Command::Viewers(args) => viewers_cmd::viewers(cli.config.as_deref(), args).await,
        Command::SimulateViewers(args) => viewers_cmd::simulate(cli.config.as_deref(), args).await,
        Command::BenchViewers(args) => viewers_cmd::bench(cli.config.as_deref(), args).await,
        Command::BenchEncode { video, frames, paced } => {
            bench::bench_encode(&video.resolution, video.fps, video.video_kbps, frames, paced)
        }
        Command::GenRaw { video, frames } => bench::gen_raw(&video.resolution, video.fps, frames),
    }
}
