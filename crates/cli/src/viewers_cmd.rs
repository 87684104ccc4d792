//! Live viewers from the backend: `mentorcast viewers` (stats, or `--watch`
//! the live count over SSE), `mentorcast simulate-viewers` (N simulated
//! players) and `mentorcast bench-viewers` (the heartbeat load bench).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::api_cmd::{api_fail, auth_fail, open_auth, with_token};
use anyhow::Result;
use futures_util::StreamExt;
use mentorcast_api::simulate::{self, Progress, SimReport, Simulation};
use mentorcast_api::{Client, StreamStats};

use crate::config::Config;
use crate::exit::{self, exit};

#[derive(clap::Args)]
pub struct ApiArgs {
    /// The backend's URL (default: the config's `[api] url`, else http://127.0.0.1:8940).
    #[arg(long, env = "MENTORCAST_API_URL")]
    pub api: Option<String>,
}

#[derive(clap::Args)]
pub struct ViewersArgs {
    /// The channel's app name (e.g. room-mentor1).
    #[arg(long)]
    pub app: String,
    /// Follow the live count (SSE) until Ctrl-C.
    #[arg(long)]
    pub watch: bool,
    /// JSON: the stats object (with --watch, one object per change and line).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(clap::Args)]
pub struct SimulateArgs {
    #[arg(long)]
    pub app: String,
    /// Simulated players (1–200000).
    #[arg(long, default_value_t = 10)]
    pub count: usize,
    /// Seconds they play.
    #[arg(long, default_value_t = 30.0)]
    pub duration: f64,
    /// Milliseconds between two heartbeats of a player.
    #[arg(long, default_value_t = 750)]
    pub interval_ms: u64,
    /// Send the signed-in user's token with every heartbeat (the 2-device limit then applies).
    #[arg(long)]
    pub signed_in: bool,
    /// The final report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// At most this many requests in flight (= connections) over all players; 0: no limit.
    #[arg(long, default_value_t = simulate::DEFAULT_CONNECTIONS)]
    pub connections: usize,
    /// Beats due in the first SECS are not measured (the bench's ramp-up).
    #[arg(long, default_value_t = 0.0, hide = true)]
    pub warmup: f64,
    /// Prefix of the players' ids.
    #[arg(long, hide = true)]
    pub id_prefix: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(clap::Args)]
pub struct BenchViewersArgs {
    /// The channel to beat on (default: the signed-in mentor's own channel).
    #[arg(long)]
    pub app: Option<String>,
    /// Viewer counts to step through, comma-separated.
    #[arg(long, default_value = "5000,10000,15000,20000,25000,30000,40000")]
    pub steps: String,
    /// Measured seconds per step (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Warm-up seconds per step (players ramp in over one interval, then settle).
    #[arg(long, default_value_t = 3.0)]
    pub warmup: f64,
    /// The server's PID, to measure its CPU (the stack's: .stack/server/server.pid).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// p99 (from when a beat was due to its answer) must stay under this, ms.
    #[arg(long, default_value_t = 50.0)]
    pub p99_ms: f64,
    /// Stop after this many steps in a row miss the target.
    #[arg(long, default_value_t = 1)]
    pub stop_after: usize,
    /// At most this many requests in flight (= connections) over all players, like a
    /// proxy's upstream pool; 0: a new connection whenever all are busy.
    #[arg(long, default_value_t = simulate::DEFAULT_CONNECTIONS)]
    pub connections: usize,
    /// Load generator processes (`mentorcast simulate-viewers` children) sharing the
    /// viewers; 1 runs them in this process. One process tops out before the server does.
    #[arg(long, default_value_t = 4)]
    pub generators: usize,
    /// Also write the table (Markdown) here.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// The backend's URL: the flag, else the config's `[api] url`, else the local default.
fn api_url(config_path: Option<&Path>, flag: &Option<String>) -> Result<String> {
    Ok(crate::api_cmd::api_base(&Config::load(config_path)?, flag.as_deref()))
}

fn print_stats(s: &StreamStats) {
    println!("{}: {}", s.app, if s.live { "live" } else { "not live" });
    println!("  active now     {}", s.active);
    println!("  total          {}", s.total);
    println!("  peak           {}", s.peak);
    println!("  avg play time  {:.1} s", s.avg_play_time_s);
    if s.active > 0 {
        println!("  bitrate kbps   min {} / avg {:.0} / max {}", s.bitrate.min, s.bitrate.avg, s.bitrate.max);
    }
    let line = |name: &str, m: &std::collections::BTreeMap<String, u64>| {
        if !m.is_empty() {
            println!("  {name:<14} {}", m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "));
        }
    };
    line("devices", &s.by_device);
    line("os", &s.by_os);
    line("browsers", &s.by_browser);
}

pub async fn viewers(config_path: Option<&Path>, args: ViewersArgs) -> Result<i32> {
    let config = Config::load(config_path)?;
    let base = crate::api_cmd::api_base(&config, args.api.api.as_deref());
    let auth = open_auth(&config).await?;
    let app = args.app.clone();
    if !args.watch {
        let stats = with_token(&auth, &base, |c| {
            let app = app.clone();
            async move { c.stream_stats(&app).await }
        })
        .await?;
        if args.json {
            println!("{}", serde_json::to_string(&stats)?);
        } else {
            print_stats(&stats);
        }
        return Ok(exit::OK);
    }
    let mut events = with_token(&auth, &base, |c| {
        let app = app.clone();
        async move { c.viewers_live(&app).await.map(Box::pin) }
    })
    .await?;
    if !args.json {
        eprintln!("following the viewers of {} (Ctrl-C to stop)", args.app);
    }
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(exit::OK),
            ev = events.next() => match ev {
                Some(Ok(c)) => {
                    if args.json {
                        println!("{}", serde_json::json!({"app": args.app, "active": c.active, "peak": c.peak, "total": c.total}));
                    } else {
                        println!("{}  active {}  peak {}  total {}", clock(), c.active, c.peak, c.total);
                    }
                }
                Some(Err(e)) => return Err(api_fail(e)),
                None => return Err(exit(exit::FAILED, "The backend closed the live count; run the command again.")),
            }
        }
    }
}

/// HH:MM:SS (UTC).
fn clock() -> String {
    let s =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn bad(msg: impl Into<String>) -> anyhow::Error {
    exit(exit::BAD_ARGS, msg)
}

pub async fn simulate(config_path: Option<&Path>, args: SimulateArgs) -> Result<i32> {
    let base = api_url(config_path, &args.api.api)?;
    if args.count == 0 || args.count > simulate::MAX_PLAYERS {
        return Err(bad(format!("--count must be 1–{}", simulate::MAX_PLAYERS)));
    }
    if !(args.duration > 0.0 && args.duration <= simulate::MAX_DURATION.as_secs_f64()) {
        return Err(bad(format!("--duration must be more than 0 and at most {} s", simulate::MAX_DURATION.as_secs())));
    }
    if args.interval_ms < 10 {
        return Err(bad("--interval-ms must be at least 10"));
    }
    let mut sim = Simulation::new(&base, &args.app, args.count, Duration::from_secs_f64(args.duration));
    sim.interval = Duration::from_millis(args.interval_ms);
    sim.max_connections = args.connections;
    if !(args.warmup >= 0.0 && args.warmup < args.duration) {
        return Err(bad("--warmup must be shorter than --duration"));
    }
    sim.warmup = Duration::from_secs_f64(args.warmup);
    sim.id_prefix = args.id_prefix.clone().unwrap_or_else(|| {
        format!(
            "sim-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
        )
    });
    if args.signed_in {
        let config = Config::load(config_path)?;
        let auth = open_auth(&config).await?;
        sim.token = Some(auth.session().await.map_err(auth_fail)?.tokens.id_token);
    }
    // One probe first, so a wrong app or URL fails with one clear sentence.
    let mut probe = Client::new(&base).map_err(api_fail)?;
    if let Some(t) = &sim.token {
        probe = probe.with_token(t.clone());
    }
    // (as the first player, so the probe is not an extra viewer)
    let first = mentorcast_api::Heartbeat {
        player_id: format!("{}-0", sim.id_prefix),
        app: args.app.clone(),
        bitrate: 0,
        play_time: 0.0,
        agent: Default::default(),
    };
    probe.heartbeat(&first).await.map_err(api_fail)?;
    eprintln!(
        "simulating {} players on {} for {:.0} s ({} ms heartbeats)…",
        args.count, args.app, args.duration, args.interval_ms
    );
    let progress = Arc::new(Progress::default());
    let p = progress.clone();
    let ticker = tokio::spawn(async move {
        let mut t = tokio::time::interval(Duration::from_secs(1));
        t.tick().await;
        loop {
            t.tick().await;
            eprintln!(
                "  sent {}  ok {}  failed {}  active {}",
                p.sent.load(Ordering::Relaxed),
                p.ok.load(Ordering::Relaxed),
                p.failed.load(Ordering::Relaxed),
                p.last_active.load(Ordering::Relaxed)
            );
        }
    });
    let report = tokio::select! {
        r = simulate::run(&sim, progress) => r,
        _ = tokio::signal::ctrl_c() => { ticker.abort(); return Ok(exit::OK) }
    };
    ticker.abort();
    let report = report.map_err(api_fail)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{} players: {} heartbeats, {} ok, {} failed, {} missed; response p50 {:.1} ms, p99 {:.1} ms; active at the end {}",
            report.players, report.sent, report.ok, report.failed, report.missed, report.response.p50_ms, report.response.p99_ms, report.last_active
        );
        if let Some(e) = &report.first_error {
            println!("first error: {e}");
        }
    }
    Ok(if report.failed == 0 { exit::OK } else { exit::FAILED })
}

// ---- the heartbeat load bench ----

/// user+sys CPU seconds of this process.
fn self_cpu_s() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// user+sys CPU seconds of another process (from /proc/PID/stat).
fn pid_cpu_s(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let ut: f64 = f.get(11)?.parse().ok()?;
    let st: f64 = f.get(12)?.parse().ok()?;
    Some((ut + st) / ticks)
}

struct Step {
    players: usize,
    report: SimReport,
    server_cpu: Option<f64>,
    gen_cpu: f64,
    ok: bool,
}

/// user+sys CPU seconds of the children waited for.
fn children_cpu_s() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// One step: `n` players, in this process or split over `--generators` child processes.
/// With several, counts and rates add up and each percentile is the worst generator's.
async fn run_step(base: &str, app: &str, n: usize, args: &BenchViewersArgs, step: usize) -> Result<SimReport> {
    let duration = args.warmup + args.seconds;
    if args.generators <= 1 {
        let mut sim = Simulation::new(base, app, n, Duration::from_secs_f64(duration));
        sim.warmup = Duration::from_secs_f64(args.warmup);
        sim.id_prefix = format!("bench{step}");
        sim.max_connections = args.connections;
        return simulate::run(&sim, Arc::new(Progress::default())).await.map_err(api_fail);
    }
    let exe = std::env::current_exe()
        .map_err(|e| exit(exit::FAILED, format!("cannot find this program to start generators: {e}")))?;
    let k = args.generators.min(n);
    let mut children = Vec::new();
    for g in 0..k {
        let count = n / k + usize::from(g < n % k);
        let conns = if args.connections == 0 { 0 } else { (args.connections / k).max(1) };
        let child = tokio::process::Command::new(&exe)
            .arg("simulate-viewers")
            .args(["--api", base, "--app", app, "--json"])
            .args([
                "--count",
                &count.to_string(),
                "--duration",
                &duration.to_string(),
                "--warmup",
                &args.warmup.to_string(),
            ])
            .args(["--connections", &conns.to_string(), "--id-prefix", &format!("bench{step}g{g}")])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| exit(exit::FAILED, format!("cannot start a generator: {e}")))?;
        children.push(child);
    }
    let limit = Duration::from_secs_f64(duration + 60.0);
    let mut parts = Vec::new();
    for c in children {
        let out = tokio::time::timeout(limit, c.wait_with_output())
            .await
            .map_err(|_| exit(exit::FAILED, "a generator did not finish in time"))??;
        let text = String::from_utf8_lossy(&out.stdout);
        let report: SimReport = serde_json::from_str(text.trim()).map_err(|_| {
            let err = String::from_utf8_lossy(&out.stderr);
            exit(exit::FAILED, format!("a generator failed: {}", err.lines().last().unwrap_or("no output")))
        })?;
        parts.push(report);
    }
    Ok(combine(parts))
}

fn combine(parts: Vec<SimReport>) -> SimReport {
    let mut r = SimReport::default();
    for p in parts {
        r.players += p.players;
        r.sent += p.sent;
        r.ok += p.ok;
        r.failed += p.failed;
        r.missed += p.missed;
        for (k, v) in p.errors {
            *r.errors.entry(k).or_default() += v;
        }
        r.first_error = r.first_error.or(p.first_error);
        r.measured += p.measured;
        r.rate_per_s += p.rate_per_s;
        r.target_rate_per_s += p.target_rate_per_s;
        let worst = |a: simulate::Latency, b: simulate::Latency| simulate::Latency {
            p50_ms: a.p50_ms.max(b.p50_ms),
            p90_ms: a.p90_ms.max(b.p90_ms),
            p99_ms: a.p99_ms.max(b.p99_ms),
            max_ms: a.max_ms.max(b.max_ms),
        };
        r.response = worst(r.response, p.response);
        r.service = worst(r.service, p.service);
        r.last_active = r.last_active.max(p.last_active);
    }
    r
}

fn loopback_only(base: &str) -> Result<()> {
    let rest = base
        .strip_prefix("http://")
        .ok_or_else(|| bad("the bench only targets http://127.0.0.1 (a server on this machine)"))?;
    let host = rest.split(['/', ':']).next().unwrap_or("");
    if host != "127.0.0.1" && host != "localhost" {
        return Err(bad(format!("the bench only targets a server on this machine (127.0.0.1), not {host:?}")));
    }
    Ok(())
}

pub async fn bench(config_path: Option<&Path>, args: BenchViewersArgs) -> Result<i32> {
    let base = api_url(config_path, &args.api.api)?;
    loopback_only(&base)?;
    let steps: Vec<usize> = args
        .steps
        .split(',')
        .map(|s| s.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad("--steps must be numbers separated by commas"))?;
    if steps.is_empty() || steps.len() > 20 || steps.iter().any(|n| *n == 0 || *n > simulate::MAX_PLAYERS) {
        return Err(bad(format!("--steps: 1–20 steps of 1–{} viewers", simulate::MAX_PLAYERS)));
    }
    if !(args.seconds >= 1.0 && args.seconds <= 120.0 && args.warmup >= 0.0 && args.warmup <= 30.0) {
        return Err(bad("--seconds must be 1–120 and --warmup 0–30"));
    }
    if args.generators == 0 || args.generators > 8 {
        return Err(bad("--generators must be 1–8"));
    }
    let app = match &args.app {
        Some(a) => a.clone(),
        None => {
            let config = Config::load(config_path)?;
            let auth = open_auth(&config).await?;
            with_token(&auth, &base, |c| async move { c.channel().await.map(|ch| ch.app) }).await?
        }
    };
    let conns = if args.connections == 0 {
        "a connection per request in flight".to_string()
    } else {
        format!("at most {} connections", args.connections)
    };
    let conns = format!("{conns}, {} generator process(es)", args.generators);
    println!("heartbeat load bench: {base}, app {app}, 750 ms heartbeats, {conns}, {:.0} s measured per step after {:.0} s warm-up; target p99 < {} ms", args.seconds, args.warmup, args.p99_ms);
    if args.server_pid.is_none() {
        println!("(no --server-pid: the server's CPU is not measured)");
    }
    let mut rows: Vec<Step> = Vec::new();
    let mut misses = 0;
    for (i, &n) in steps.iter().enumerate() {
        let (g0, s0, t0) = (self_cpu_s() + children_cpu_s(), args.server_pid.and_then(pid_cpu_s), Instant::now());
        let report = run_step(&base, &app, n, &args, i).await?;
        let wall = t0.elapsed().as_secs_f64();
        let gen_cpu = (self_cpu_s() + children_cpu_s() - g0) / wall;
        let server_cpu = match (s0, args.server_pid.and_then(pid_cpu_s)) {
            (Some(a), Some(b)) => Some((b - a) / wall),
            _ => None,
        };
        let ok = report.failed == 0
            && report.response.p99_ms < args.p99_ms
            && report.rate_per_s >= 0.98 * report.target_rate_per_s
            && (report.missed as f64) <= 0.001 * report.sent as f64;
        let row = Step { players: n, report, server_cpu, gen_cpu, ok };
        println!("{}", row_line(&row));
        rows.push(row);
        if ok {
            misses = 0;
        } else {
            misses += 1;
            if misses >= args.stop_after.max(1) {
                break;
            }
        }
        // let this step's players expire before the next one starts
        tokio::time::sleep(Duration::from_millis(2500)).await;
    }
    let best = rows.iter().filter(|r| r.ok).map(|r| r.players).max();
    let table = markdown(&rows, args.p99_ms);
    println!("\n{table}");
    match best {
        Some(n) => println!(
            "sustained: {n} concurrent viewers with p99 < {} ms (target ≥ 10000: {})",
            args.p99_ms,
            if n >= 10_000 { "met" } else { "missed" }
        ),
        None => println!("sustained: none of the steps kept p99 < {} ms", args.p99_ms),
    }
    if let Some(path) = &args.markdown {
        std::fs::write(path, &table)
            .map_err(|e| exit(exit::FAILED, format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(exit::OK)
}

fn row_line(r: &Step) -> String {
    let p = &r.report;
    format!(
        "{:>6} viewers: {:>7.0}/s of {:>7.0}/s, response p50 {:>6.1} p99 {:>7.1} max {:>7.1} ms, service p99 {:>6.1} ms, failed {}, missed {}, CPU server {} generator {:.0}% → {}",
        r.players,
        p.rate_per_s,
        p.target_rate_per_s,
        p.response.p50_ms,
        p.response.p99_ms,
        p.response.max_ms,
        p.service.p99_ms,
        p.failed,
        p.missed,
        r.server_cpu.map(|c| format!("{:.0}%", c * 100.0)).unwrap_or_else(|| "-".into()),
        r.gen_cpu * 100.0,
        if r.ok { "sustained" } else { "NOT sustained" }
    )
}

fn markdown(rows: &[Step], p99: f64) -> String {
    let mut t = format!("| viewers | beats/s (target) | response p50 / p99 / max ms | service p99 ms | failed | missed | server CPU | generator CPU | p99 < {p99} ms |\n|---|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        let p = &r.report;
        t.push_str(&format!(
            "| {} | {:.0} ({:.0}) | {:.1} / {:.1} / {:.1} | {:.1} | {} | {} | {} | {:.0}% | {} |\n",
            r.players,
            p.rate_per_s,
            p.target_rate_per_s,
            p.response.p50_ms,
            p.response.p99_ms,
            p.response.max_ms,
            p.service.p99_ms,
            p.failed,
            p.missed,
            r.server_cpu.map(|c| format!("{:.0}%", c * 100.0)).unwrap_or_else(|| "-".into()),
            r.gen_cpu * 100.0,
            if r.ok { "yes" } else { "no" }
        ));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bench_targets_loopback_only() {
        assert!(loopback_only("http://127.0.0.1:8940").is_ok());
        assert!(loopback_only("http://localhost:8940/").is_ok());
        assert!(loopback_only("http://10.0.0.1:8940").is_err());
        assert!(loopback_only("https://127.0.0.1:8940").is_err());
        assert!(loopback_only("http://127.0.0.1.evil.example:80").is_err());
    }
}
