//! End-to-end checks with the real codecs: openh264 + fdk-aac in memory, and ffmpeg/x264.

use super::*;
use bytes::Bytes;
use fdk_aac::enc::{
    AudioObjectType, BitRate as AacBitRate, ChannelMode, Encoder as AacEncoder, EncoderParams, Transport,
};
use mentorcast_media::{MediaClock, SyntheticAudio, SyntheticVideo};
use mentorcast_protocol::flv::{self, Tag};
use mentorcast_protocol::h264;
use openh264::encoder::{BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, RateControlMode};
use openh264::formats::YUVBuffer;
use openh264::OpenH264API;
use std::io::Write;
use std::process::{Command, Stdio};

const RATE: u64 = 48_000;

struct Aac {
    asc: Vec<u8>,
    frames: Vec<Vec<u8>>,
    n_delay: u32,
    n_delay_core: u32,
}

/// SyntheticAudio from sample 0, AAC-LC 48 kHz stereo 128 kbps CBR, raw.
fn encode_aac(seconds: f64) -> Aac {
    let enc = AacEncoder::new(EncoderParams {
        bit_rate: AacBitRate::Cbr(128_000),
        sample_rate: RATE as u32,
        transport: Transport::Raw,
        channels: ChannelMode::Stereo,
        audio_object_type: AudioObjectType::Mpeg4LowComplexity,
    })
    .expect("fdk-aac encoder");
    let info = enc.info().expect("encoder info");
    let asc = info.confBuf[..info.confSize as usize].to_vec();
    let total = (seconds * RATE as f64) as u64;
    let mut frames = Vec::new();
    let mut out = vec![0u8; 8192];
    let mut n = 0u64;
    while n < total {
        let pcm = SyntheticAudio::render(n, 1024);
        let mut input = &pcm[..];
        while !input.is_empty() {
            let r = enc.encode(input, &mut out).expect("encode");
            if r.output_size > 0 {
                frames.push(out[..r.output_size].to_vec());
            }
            input = &input[r.input_consumed..];
            if r.input_consumed == 0 && r.output_size == 0 {
                break;
            }
        }
        n += 1024;
    }
    Aac { asc, frames, n_delay: info.nDelay, n_delay_core: info.nDelayCore }
}

/// Time in ms of AAC frame `n`'s first decoded sample, by the delay rule.
fn aac_time_ms(n: usize, delay: u32) -> f64 {
    (n as f64 * 1024.0 - delay as f64) * 1000.0 / RATE as f64
}

struct H264 {
    /// Per output slot: keyframe flag and NAL units (no start codes), SPS/PPS removed.
    frames: Vec<(bool, Vec<Vec<u8>>)>,
    sps: Vec<u8>,
    pps: Vec<u8>,
}

/// Encodes the synthetic frames with these indices, in this order, one output slot each.
fn encode_h264(width: u32, height: u32, fps: u32, indices: &[u64]) -> H264 {
    let config = EncoderConfig::new()
        .bitrate(BitRate::from_bps(800_000))
        .rate_control_mode(RateControlMode::Bitrate)
        .max_frame_rate(FrameRate::from_hz(fps as f32))
        .intra_frame_period(IntraFramePeriod::from_num_frames(2 * fps))
        .skip_frames(false);
    let mut enc = Encoder::with_api_config(OpenH264API::from_source(), config).expect("openh264 encoder");
    let src = SyntheticVideo::new(width, height, fps, MediaClock::start()).unwrap();
    let (mut sps, mut pps) = (Vec::new(), Vec::new());
    let mut frames = Vec::new();
    for &i in indices {
        let yuv = YUVBuffer::from_vec(src.render(i).data, width as usize, height as usize);
        let bs = enc.encode(&yuv).expect("encode");
        assert_ne!(bs.frame_type(), FrameType::Skip, "frame skipping is off");
        let annexb = bs.to_vec();
        let mut nals = Vec::new();
        for nal in h264::split_annex_b(&annexb) {
            match h264::nal_type(nal) {
                h264::NAL_SPS => sps = nal.to_vec(),
                h264::NAL_PPS => pps = nal.to_vec(),
                _ => nals.push(nal.to_vec()),
            }
        }
        let key = matches!(bs.frame_type(), FrameType::IDR | FrameType::I);
        frames.push((key, nals));
    }
    H264 { frames, sps, pps }
}

struct FlvCase {
    fps: u32,
    seconds: u64,
    /// Source frame indices left out (the file itself stays gapless).
    drop: std::ops::Range<u64>,
    /// A source frame index sent twice in a row.
    duplicate: Option<u64>,
    /// Audio: None = no audio; Some(shift) = audio tags shifted by `shift` ms.
    audio_shift_ms: Option<i64>,
}

impl Default for FlvCase {
    fn default() -> Self {
        FlvCase { fps: 30, seconds: 4, drop: 0..0, duplicate: None, audio_shift_ms: Some(0) }
    }
}

fn build_flv(case: &FlvCase) -> Vec<u8> {
    let (w, h) = (640, 360);
    let mut indices = Vec::new();
    for i in 0..case.fps as u64 * case.seconds {
        if case.drop.contains(&i) {
            continue;
        }
        indices.push(i);
        if case.duplicate == Some(i) {
            indices.push(i);
        }
    }
    let video = encode_h264(w, h, case.fps, &indices);
    let mut tags = vec![Tag {
        kind: flv::TAG_VIDEO,
        timestamp_ms: 0,
        body: flv::video_sequence_header(&h264::decoder_config(&video.sps, &video.pps).unwrap()),
    }];
    for (slot, (key, nals)) in video.frames.iter().enumerate() {
        let ts = (slot as u64 * 1000 / case.fps as u64) as u32;
        tags.push(Tag {
            kind: flv::TAG_VIDEO,
            timestamp_ms: ts,
            body: flv::video_nalus(*key, 0, nals.iter().map(Vec::as_slice)),
        });
    }
    if let Some(shift) = case.audio_shift_ms {
        let aac = encode_aac(case.seconds as f64 + 0.2);
        tags.push(Tag { kind: flv::TAG_AUDIO, timestamp_ms: 0, body: flv::audio_sequence_header(&aac.asc) });
        for (n, frame) in aac.frames.iter().enumerate() {
            let t = (aac_time_ms(n, aac.n_delay) + shift as f64).round();
            if t < 0.0 {
                continue; // FLV has no negative times: the priming frames go
            }
            tags.push(Tag { kind: flv::TAG_AUDIO, timestamp_ms: t as u32, body: flv::audio_frame(frame) });
        }
    }
    tags.sort_by_key(|t| t.timestamp_ms); // stable: sequence headers stay first
    flv::write_file(&tags, case.audio_shift_ms.is_some(), true)
}

fn show(r: &Report) -> String {
    serde_json_string(r)
}

fn serde_json_string(r: &Report) -> String {
    serde_json::to_string_pretty(r).unwrap()
}

#[test]
fn aac_delay_rule_puts_beeps_on_the_second() {
    let aac = encode_aac(4.2);
    eprintln!("fdk-aac: nDelay {} nDelayCore {} ASC {:02x?}", aac.n_delay, aac.n_delay_core, aac.asc);
    assert_eq!(aac.asc, vec![0x11, 0x90]);
    // One packet out per 1024 samples in, from the very first call: packet n
    // is "the n-th encode call", so counting packets or input frames is the same.
    let calls = (4.2f64 * RATE as f64 / 1024.0).ceil() as usize;
    eprintln!("{} packets for {calls} encode calls", aac.frames.len());
    assert_eq!(aac.frames.len(), calls);
    let mut results = Vec::new();
    for (name, delay) in [("nDelay", aac.n_delay), ("nDelayCore", aac.n_delay_core), ("0", 0)] {
        let mut a = Analyzer::new(VerifyOptions::default());
        a.push_audio_config(&aac.asc).unwrap();
        for (n, f) in aac.frames.iter().enumerate() {
            a.push_audio_frame(aac_time_ms(n, delay), f);
        }
        let (_, beeps) = a.finish_with_beeps();
        let errs: Vec<f64> = beeps.iter().map(|b| b - (b / 1000.0).round() * 1000.0).collect();
        eprintln!("{name} = {delay}: beeps at {beeps:.2?} ms, errors {errs:.2?}");
        results.push((name, beeps, errs));
    }
    // The rule: AAC frame n (from 0) starts at (n·1024 − nDelay) / 48 ms.
    let (_, beeps, errs) = &results[0];
    assert!(beeps.len() >= 3, "{beeps:?}");
    assert!(errs.iter().all(|e| e.abs() <= 2.0), "nDelay rule errors {errs:?}");
}

#[test]
fn clean_flv_reads_every_frame_and_zero_offset() {
    let r = verify_flv_bytes(&build_flv(&FlvCase::default()), VerifyOptions::default()).unwrap();
    eprintln!("{}", show(&r));
    assert_eq!((r.width, r.height), (640, 360));
    assert_eq!(r.frames_lost, 0);
    assert_eq!(r.frames_duplicated, 0);
    assert_eq!(r.frames_unreadable, 0);
    assert_eq!(r.frames_received, 120);
    assert_eq!((r.first_frame, r.last_frame), (Some(0), Some(119)));
    assert!((r.fps - 30.0).abs() < 0.5, "fps {}", r.fps);
    assert!((r.duration_s - 4.0).abs() < 0.05, "duration {}", r.duration_s);
    let off = r.av_offset_ms.expect("A/V pairs");
    assert!(off.abs() <= 5.0, "offset {off}");
    assert_eq!(r.flashes, 4);
    // Audio runs 4.2 s: beeps at 1..4 s (the one at 0 falls in the decoder's warm-up: the priming frames before 0 ms were dropped).
    assert!(r.beeps >= 3 && r.beeps <= 5, "beeps {}", r.beeps);
    assert!(r.av_offset_max_ms.unwrap() - r.av_offset_min_ms.unwrap() < 2.0, "{}", show(&r));
    assert!(r.av_pairs >= 3);
    let kf = r.keyframe_interval_s.expect("keyframes");
    assert!((kf - 2.0).abs() < 0.05, "keyframe interval {kf}");
    assert!(r.video_codec.as_deref().unwrap().starts_with("h264 "), "{:?}", r.video_codec);
    assert_eq!(r.audio_codec.as_deref(), Some("aac-lc"));
    assert_eq!((r.audio_sample_rate, r.audio_channels), (Some(48_000), Some(2)));
    assert_eq!(r.video_decode_errors + r.audio_decode_errors + r.malformed_tags, 0);
}

#[test]
fn lost_and_duplicated_frames_and_a_shifted_audio_track() {
    let lost = verify_flv_bytes(&build_flv(&FlvCase { drop: 45..75, ..Default::default() }), VerifyOptions::default())
        .unwrap();
    eprintln!("lost: {}", show(&lost));
    assert_eq!(lost.frames_lost, 30);
    assert_eq!(lost.lost_ranges, vec![[45, 74]], "where they went missing");
    assert_eq!(lost.frames_received, 90);
    assert_eq!(lost.frames_duplicated, 0);

    let dup = verify_flv_bytes(
        &build_flv(&FlvCase { duplicate: Some(50), ..Default::default() }),
        VerifyOptions { fps: Some(30) },
    )
    .unwrap();
    eprintln!("duplicated: {}", show(&dup));
    assert!(dup.frames_duplicated >= 1);
    assert_eq!(dup.frames_lost, 0);
    assert!(dup.lost_ranges.is_empty());

    let late = verify_flv_bytes(
        &build_flv(&FlvCase { audio_shift_ms: Some(100), ..Default::default() }),
        VerifyOptions::default(),
    )
    .unwrap();
    eprintln!("audio +100 ms: {}", show(&late));
    let off = late.av_offset_ms.expect("pairs");
    assert!((off - 100.0).abs() <= 5.0, "offset {off}");

    let early = verify_flv_bytes(
        &build_flv(&FlvCase { audio_shift_ms: Some(-40), ..Default::default() }),
        VerifyOptions::default(),
    )
    .unwrap();
    let off = early.av_offset_ms.expect("pairs");
    assert!((off + 40.0).abs() <= 5.0, "offset {off}");

    let silent =
        verify_flv_bytes(&build_flv(&FlvCase { audio_shift_ms: None, ..Default::default() }), VerifyOptions::default())
            .unwrap();
    assert_eq!(silent.audio_codec, None);
    assert_eq!(silent.av_offset_ms, None);
    assert_eq!(silent.frames_lost, 0);
}

#[test]
fn a_dropped_reference_frame_costs_the_rest_of_its_gop() {
    // A P-frame tag removed from the stream (as a sender's drop policy would):
    // openh264 (no error concealment) refuses the frames that reference it until the next IDR.
    let flv = build_flv(&FlvCase { audio_shift_ms: None, ..Default::default() });
    let mut tags = flv::read_file(&flv).unwrap();
    let victim = tags
        .iter()
        .enumerate()
        .filter(|(_, t)| t.kind == flv::TAG_VIDEO)
        .nth(1 + 10) // sequence header, then frames 0..: frame 10
        .map(|(i, _)| i)
        .unwrap();
    tags.remove(victim);
    let r = verify_flv_bytes(&flv::write_file(&tags, false, true), VerifyOptions::default()).unwrap();
    eprintln!("dropped P-frame: {}", show(&r));
    assert_eq!((r.first_frame, r.last_frame), (Some(0), Some(119)));
    assert!(r.frames_lost >= 1, "{}", show(&r));
    // Frames from the next IDR (60) on are back.
    assert!(r.frames_received >= 70, "{}", show(&r));
}

/// Pipes 1280x720 synthetic frames (and optionally the synthetic audio) into ffmpeg.
fn ffmpeg(
    dir: &std::path::Path,
    out: &str,
    seconds: u64,
    with_audio: bool,
    vf: &str,
    extra: &[&str],
) -> std::path::PathBuf {
    let (w, h, fps) = (1280u32, 720u32, 30u32);
    let audio_path = dir.join("audio.s16le");
    if with_audio {
        let pcm = SyntheticAudio::render(0, (seconds * RATE) as usize);
        let bytes: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
        std::fs::write(&audio_path, bytes).unwrap();
    }
    let out_path = dir.join(out);
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-y"]);
    cmd.args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", &format!("{w}x{h}"), "-r", &fps.to_string(), "-i", "-"]);
    if with_audio {
        cmd.args(["-f", "s16le", "-ar", "48000", "-ac", "2", "-i"]).arg(&audio_path);
    }
    cmd.args(["-vf", vf, "-c:v", "libx264", "-preset", "veryfast", "-b:v", "600k"]);
    if with_audio {
        cmd.args(["-c:a", "aac", "-b:a", "128k"]);
    }
    cmd.args(extra).arg(&out_path);
    let mut child = cmd.stdin(Stdio::piped()).spawn().expect("ffmpeg is a project dependency: install it");
    let mut stdin = child.stdin.take().unwrap();
    let src = SyntheticVideo::new(w, h, fps, MediaClock::start()).unwrap();
    let mut buf = Vec::new();
    for i in 0..seconds * fps as u64 {
        src.render_into(i, &mut buf);
        stdin.write_all(&buf).expect("write to ffmpeg");
    }
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "ffmpeg failed for {out}");
    out_path
}

#[test]
fn ffmpeg_x264_mp4_and_flv() {
    let dir = tempfile::tempdir().unwrap();

    let mp4 = ffmpeg(dir.path(), "clean.mp4", 4, true, "scale=640:360", &[]);
    let r = verify_file(&mp4, VerifyOptions::default()).unwrap();
    eprintln!("mp4: {}", show(&r));
    assert_eq!((r.width, r.height), (640, 360));
    assert_eq!(r.frames_lost, 0);
    assert_eq!(r.frames_duplicated, 0);
    assert_eq!(r.frames_received, 120);
    assert!((r.fps - 30.0).abs() < 0.5, "fps {}", r.fps);
    assert_eq!(r.flashes, 4);
    assert_eq!(r.audio_codec.as_deref(), Some("aac-lc"));
    let off = r.av_offset_ms.expect("pairs");
    assert!(off.abs() <= 5.0, "mp4 offset {off}");

    let cut = ffmpeg(
        dir.path(),
        "cut.mp4",
        4,
        false,
        "select='not(between(n,45,74))',setpts=N/FRAME_RATE/TB,scale=640:360",
        &[],
    );
    let r = verify_file(&cut, VerifyOptions { fps: Some(30) }).unwrap();
    eprintln!("cut mp4: {}", show(&r));
    assert_eq!(r.frames_lost, 30);
    assert_eq!(r.frames_received, 90);
    assert_eq!(r.audio_codec, None);

    let flv_path = ffmpeg(dir.path(), "clean.flv", 4, true, "scale=640:360", &["-f", "flv"]);
    let r = verify_file(&flv_path, VerifyOptions::default()).unwrap();
    eprintln!("flv: {}", show(&r));
    assert_eq!((r.width, r.height), (640, 360));
    assert_eq!(r.frames_lost, 0);
    assert_eq!(r.frames_received, 120);
    assert_eq!(r.audio_codec.as_deref(), Some("aac-lc"));
    let off = r.av_offset_ms.expect("pairs");
    assert!(off.abs() <= 5.0, "flv offset {off}");
}

#[test]
fn garbage_and_truncated_input_never_panic() {
    // Not media at all.
    assert!(matches!(verify_flv_bytes(b"hello world", VerifyOptions::default()), Err(VerifyError::UnknownFormat)));
    assert!(matches!(verify_flv_bytes(b"FLV", VerifyOptions::default()), Err(VerifyError::UnknownFormat)));
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("junk.bin");
    std::fs::write(&p, b"\x00\x01garbage garbage").unwrap();
    assert!(matches!(verify_file(&p, VerifyOptions::default()), Err(VerifyError::UnknownFormat)));
    std::fs::write(&p, b"").unwrap();
    assert!(matches!(verify_file(&p, VerifyOptions::default()), Err(VerifyError::UnknownFormat)));
    assert!(matches!(
        verify_file(dir.path().join("missing.flv"), VerifyOptions::default()),
        Err(VerifyError::NotFound(_))
    ));

    // A valid file cut anywhere: an error or a partial report.
    let flv = build_flv(&FlvCase { seconds: 2, ..Default::default() });
    for cut in [9, 13, 20, 200, flv.len() / 3, flv.len() / 2, flv.len() - 5] {
        match verify_flv_bytes(&flv[..cut], VerifyOptions::default()) {
            Ok(r) => assert!(r.frames_received <= 60 && r.frames_lost == 0, "cut at {cut}: {}", show(&r)),
            Err(e) => eprintln!("cut at {cut}: {e}"),
        }
    }
    // Half a file: a partial report with the frames up to the cut.
    let r = verify_flv_bytes(&flv[..flv.len() / 2], VerifyOptions::default()).unwrap();
    assert!(r.frames_received > 5 && r.frames_received < 60, "{}", show(&r));

    // Corrupted bytes inside the tags (headers intact: flip body bytes with a fixed PRNG).
    let tags = flv::read_file(&flv).unwrap();
    let mut seed = 0x1234_5678u32;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    let mangled: Vec<Tag> = tags
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut body = t.body.to_vec();
            if i > 2 && i % 3 == 0 && body.len() > 12 {
                for _ in 0..8 {
                    let k = 5 + rnd() as usize % (body.len() - 5);
                    body[k] = rnd() as u8;
                }
            }
            if i % 17 == 5 {
                body.truncate(body.len() / 2);
            }
            Tag { kind: t.kind, timestamp_ms: t.timestamp_ms, body: Bytes::from(body) }
        })
        .collect();
    match verify_flv_bytes(&flv::write_file(&mangled, true, true), VerifyOptions::default()) {
        Ok(r) => eprintln!("mangled: {}", show(&r)),
        Err(e) => eprintln!("mangled: {e}"),
    }
    // Random tag bodies of every kind.
    let random: Vec<Tag> = (0..300)
        .map(|i| {
            let len = rnd() as usize % 64;
            let body: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
            Tag {
                kind: [flv::TAG_AUDIO, flv::TAG_VIDEO, 18, 3][i % 4],
                timestamp_ms: i as u32 * 10,
                body: Bytes::from(body),
            }
        })
        .collect();
    let _ = verify_flv_bytes(&flv::write_file(&random, true, true), VerifyOptions::default());
    // Random NAL payloads behind a valid sequence header and AAC config.
    let mut fuzz = vec![tags[0].clone()];
    fuzz.extend(tags.iter().find(|t| t.kind == flv::TAG_AUDIO).cloned());
    for i in 0..100u32 {
        let nal: Vec<u8> = (0..(rnd() % 400) as usize).map(|_| rnd() as u8).collect();
        let nal = [&[0x65u8][..], &nal].concat();
        fuzz.push(Tag {
            kind: flv::TAG_VIDEO,
            timestamp_ms: i * 33,
            body: flv::video_nalus(i % 10 == 0, 0, [&nal[..]]),
        });
        let aac: Vec<u8> = (0..(rnd() % 300) as usize).map(|_| rnd() as u8).collect();
        fuzz.push(Tag { kind: flv::TAG_AUDIO, timestamp_ms: i * 21, body: flv::audio_frame(&aac) });
    }
    match verify_flv_bytes(&flv::write_file(&fuzz, true, true), VerifyOptions::default()) {
        Ok(r) => eprintln!("fuzz: {}", show(&r)),
        Err(e) => eprintln!("fuzz: {e}"),
    }
    // A truncated MP4.
    let mp4 = ffmpeg(dir.path(), "t.mp4", 1, false, "scale=320:180", &["-movflags", "+faststart"]);
    let data = std::fs::read(&mp4).unwrap();
    for cut in [16, 100, data.len() / 2, data.len() - 10] {
        let p = dir.path().join(format!("cut{cut}.mp4"));
        std::fs::write(&p, &data[..cut]).unwrap();
        match verify_file(&p, VerifyOptions::default()) {
            Ok(r) => eprintln!("mp4 cut at {cut}: {} frames", r.frames_received),
            Err(e) => eprintln!("mp4 cut at {cut}: {e}"),
        }
    }
}

#[tokio::test]
async fn rtmp_play_fails_cleanly_without_a_stream() {
    use mentorcast_protocol::Service;
    use mentorcast_protocol::TlsOptions;
    use std::time::Duration;
    // Nothing listening: the RTMP error comes through.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let svc = Service::parse(&format!("rtmp://127.0.0.1:{port}/live"), Some("key")).unwrap();
    let limits = PlayLimits { start_timeout: Duration::from_secs(2), ..Default::default() };
    let err = verify_rtmp(&svc, &TlsOptions::default(), VerifyOptions::default(), limits).await.unwrap_err();
    assert!(matches!(err, VerifyError::Rtmp(_)), "{err}");
    // A server that accepts and never answers: no stream within the start timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let _accepting = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let svc = Service::parse(&format!("rtmp://127.0.0.1:{port}/live/secretkey"), None).unwrap();
    let limits = PlayLimits { start_timeout: Duration::from_secs(1), ..Default::default() };
    let t0 = std::time::Instant::now();
    let err = verify_rtmp(&svc, &TlsOptions::default(), VerifyOptions::default(), limits).await.unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(3));
    let msg = err.to_string();
    assert!(matches!(err, VerifyError::NoStream { .. }), "{msg}");
    assert!(msg.contains("within 1 s") && !msg.contains("secretkey"), "{msg}");
}

/// Kills the nginx this test started (by its own child handle) when dropped.
struct Nginx(std::process::Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_nginx_rtmp(dir: &std::path::Path) -> (Nginx, u16) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let prefix = dir.join("nginx");
    std::fs::create_dir_all(prefix.join("logs")).unwrap();
    let conf = format!(
        "load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;\n\
         daemon off;\nmaster_process off;\nerror_log {p}/logs/error.log info;\npid {p}/nginx.pid;\n\
         events {{ worker_connections 64; }}\n\
         rtmp {{ server {{ listen 127.0.0.1:{port}; application live {{ live on; record off; }} }} }}\n",
        p = prefix.display()
    );
    std::fs::write(prefix.join("nginx.conf"), conf).unwrap();
    let child = Command::new("nginx")
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(prefix.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nginx (with the rtmp module) is a project dependency");
    let nginx = Nginx(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (nginx, port);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("nginx did not start listening on {port}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtmp_play_through_nginx_rtmp() {
    use mentorcast_protocol::Service;
    use mentorcast_protocol::TlsOptions;
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let flv_path = dir.path().join("source.flv");
    std::fs::write(&flv_path, build_flv(&FlvCase { seconds: 4, ..Default::default() })).unwrap();
    let (_nginx, port) = start_nginx_rtmp(dir.path());
    let url = format!("rtmp://127.0.0.1:{port}/live/teststream");

    // Play first, then publish: the player waits for the stream, then gets it all.
    let svc = Service::parse(&url, None).unwrap();
    let limits = PlayLimits {
        start_timeout: Duration::from_secs(15),
        idle_timeout: Duration::from_secs(3),
        max_duration: Duration::from_secs(30),
        follow_republish: false,
    };
    let verify = tokio::spawn(async move {
        verify_rtmp(&svc, &TlsOptions::default(), VerifyOptions { fps: Some(30) }, limits).await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re", "-i"])
        .arg(&flv_path)
        .args(["-c", "copy", "-f", "flv", &url])
        .status()
        .await
        .expect("ffmpeg");
    assert!(status.success());
    let r = tokio::time::timeout(Duration::from_secs(20), verify).await.expect("verify ends").unwrap().unwrap();
    eprintln!("rtmp: {}", show(&r));
    assert_eq!(r.frames_lost, 0);
    assert_eq!(r.frames_duplicated, 0);
    assert!(r.frames_received >= 110, "{}", r.frames_received);
    let off = r.av_offset_ms.expect("pairs");
    assert!(off.abs() <= 5.0, "offset {off}");

    // Nobody publishes this one: no stream within the start timeout.
    let svc = Service::parse(&format!("rtmp://127.0.0.1:{port}/live/nobody"), None).unwrap();
    let limits = PlayLimits { start_timeout: Duration::from_secs(2), ..limits };
    let err = verify_rtmp(&svc, &TlsOptions::default(), VerifyOptions::default(), limits).await.unwrap_err();
    assert!(matches!(err, VerifyError::NoStream { secs: 2, .. }), "{err}");
}

#[test]
fn audio_window_finds_the_tone_frequency_and_level() {
    // 660 Hz at -12 dBFS peak (-15 dBFS RMS) for one second.
    let amp = 10f64.powf(-12.0 / 20.0);
    let mono: Vec<f32> =
        (0..48_000).map(|n| (amp * (std::f64::consts::TAU * 660.0 * n as f64 / 48_000.0).sin()) as f32).collect();
    let w = crate::analyze_window(&mono, 48_000, 0.0);
    let f = w.dominant_hz.unwrap();
    assert!((f - 660.0).abs() < 0.5, "dominant {f} Hz");
    assert!((w.peak_dbfs.unwrap() + 12.0).abs() < 0.1, "{w:?}");
    assert!((w.rms_dbfs.unwrap() + 15.01).abs() < 0.1, "{w:?}");
    let silent = crate::analyze_window(&vec![0.0; 48_000], 48_000, 0.0);
    assert_eq!((silent.rms_dbfs, silent.dominant_hz), (None, None));
}
