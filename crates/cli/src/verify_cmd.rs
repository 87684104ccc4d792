//! `mentorcast verify SOURCE`: decode what an ingest received and report.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use mentorcast_engine::{Service, TlsOptions};
use mentorcast_verify::{PlayLimits, Report, VerifyError, VerifyOptions};

use crate::exit::{self, exit};

pub fn is_rtmp_url(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    l.starts_with("rtmp://") || l.starts_with("rtmps://")
}

/// Maps a verify error to an exit code and sentence.
pub fn verify_exit(e: VerifyError) -> anyhow::Error {
    match e {
        VerifyError::Rtmp(r) => exit(exit::code_for(r.kind()), exit::explain(r.kind(), &r.to_string())),
        VerifyError::NoStream { .. } => exit(exit::FAILED, format!("{e}. Is something publishing to it?")),
        VerifyError::NotFound(_) | VerifyError::Read { .. } => exit(exit::BAD_ARGS, format!("{e}.")),
        other => exit(exit::FAILED, format!("Could not verify: {other}.")),
    }
}

pub async fn verify_source(
    source: &str,
    fps: Option<u32>,
    ca_file: Option<PathBuf>,
    limits: PlayLimits,
) -> Result<Report> {
    let opts = VerifyOptions { fps };
    if is_rtmp_url(source) {
        let service = Service::parse(source, None).map_err(|e| exit(exit::BAD_ARGS, format!("Bad play URL: {e}.")))?;
        let tls = TlsOptions { extra_ca_file: ca_file };
        mentorcast_verify::verify_rtmp(&service, &tls, opts, limits).await.map_err(verify_exit)
    } else {
        let path = PathBuf::from(source);
        tokio::task::spawn_blocking(move || mentorcast_verify::verify_file(&path, opts))
            .await
            .map_err(|e| exit(exit::FAILED, format!("verify crashed: {e}")))?
            .map_err(verify_exit)
    }
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

pub fn print_human(r: &Report) {
    println!("resolution        {}x{}", r.width, r.height);
    println!("video             {} (level {})", opt(&r.video_codec), opt(&r.video_level));
    println!(
        "audio             {} {} Hz, {} ch",
        opt(&r.audio_codec),
        opt(&r.audio_sample_rate),
        opt(&r.audio_channels)
    );
    println!("duration          {:.2} s", r.duration_s);
    println!("frames expected   {} (counter {}..{})", r.frames_expected, opt(&r.first_frame), opt(&r.last_frame));
    println!("frames received   {}", r.frames_received);
    println!("frames lost       {}", r.frames_lost);
    println!("frames duplicated {}", r.frames_duplicated);
    println!("frames unreadable {}", r.frames_unreadable);
    println!("fps               {:.2}", r.fps);
    println!("keyframe interval {}", r.keyframe_interval_s.map(|k| format!("{k:.2} s")).unwrap_or_else(|| "-".into()));
    println!(
        "a/v offset        {}",
        r.av_offset_ms
            .map(|o| format!("{o:+.1} ms ({} flash/beep pairs)", r.av_pairs))
            .unwrap_or_else(|| "- (no flash/beep pairs)".into())
    );
}

pub fn default_limits(max: Option<f64>) -> PlayLimits {
    let mut l = PlayLimits::default();
    if let Some(m) = max {
        l.max_duration = Duration::from_secs_f64(m);
    }
    l
}
