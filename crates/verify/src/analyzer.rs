//! The incremental analyzer: decodes video and audio, reads counters, finds
//! flashes and beeps, and builds the [`Report`].

use fdk_aac::dec::{Decoder as AacDecoder, Transport};
use mentorcast_media::counter;
use mentorcast_protocol::flv::{self, AudioTag, Tag, VideoTag};
use mentorcast_protocol::h264;
use openh264::decoder::{DecodedYUV, Decoder as H264Decoder, DecoderConfig, Flush};
use openh264::formats::YUVSource;
use openh264::OpenH264API;
use std::collections::HashSet;
use tracing::{debug, warn};

use crate::beep::BeepDetector;
use crate::{AudioWindow, Report, VerifyError, VerifyOptions};

/// Mean luma of the lower half above which a frame counts as a flash.
const FLASH_LUMA: f64 = 200.0;
/// Flashes and beeps further apart than this are not paired.
const PAIR_WINDOW_MS: f64 = 500.0;
/// Audio frames whose time is off the running timeline by more than this start a new segment.
const AUDIO_GAP_MS: f64 = 5.0;
/// Decoded pictures wait at most this many pending input times (B-frame reordering depth).
const MAX_PENDING: usize = 32;
/// Runs of lost frames listed in a report (the count is always complete).
pub const MAX_LOST_RANGES: usize = 1000;
const START_CODE: [u8; 4] = [0, 0, 0, 1];

#[derive(Debug, Clone, Copy)]
struct FrameObs {
    pts_ms: f64,
    counter: Option<u64>,
    flash: bool,
}

struct VideoState {
    decoder: H264Decoder,
    /// Annex-B SPS+PPS from the last sequence header.
    params: Vec<u8>,
    /// Whether `params` was handed to the decoder.
    params_fed: bool,
    /// Input times of frames not yet output by the decoder, ascending.
    pending: Vec<f64>,
    profile: Option<(u8, u8, u8)>,
}

struct AudioSegment {
    detector: BeepDetector,
    /// Samples (per channel) so far.
    samples: u64,
    /// Σ (frame time − frame start / rate) and count: the fitted time of sample 0.
    anchor_sum: f64,
    anchor_n: u64,
    /// Onsets before this sample index are not trusted: decoder delay plus the
    /// first decoded frame, which lacks its overlap half unless it is the
    /// stream's true first frame (a fade-in that would skew the onset).
    warmup: u64,
}

impl AudioSegment {
    fn anchor_ms(&self) -> f64 {
        self.anchor_sum / self.anchor_n.max(1) as f64
    }
}

struct AudioState {
    decoder: AacDecoder,
    asc: Vec<u8>,
    aot: u8,
    pcm: Vec<i16>,
    rate: Option<u32>,
    channels: Option<u32>,
    segments: Vec<AudioSegment>,
    /// Beep onsets already converted to milliseconds (from closed segments).
    beeps_ms: Vec<f64>,
    /// Mono samples of the second being collected, and its start time (ms).
    window: Vec<f32>,
    window_start_ms: f64,
}

/// Decodes and measures a stream fed to it tag by tag (or sample by sample for MP4).
///
/// Not `Sync`; `Send`, so it can live on a blocking thread while a network task feeds it.
pub struct Analyzer {
    opts: VerifyOptions,
    video: Option<VideoState>,
    audio: Option<AudioState>,
    frames: Vec<FrameObs>,
    /// Input video frames: (dts, pts) ms.
    video_times: Vec<(f64, f64)>,
    keyframe_pts: Vec<f64>,
    video_tags: u64,
    video_decode_errors: u64,
    audio_frames: u64,
    audio_decode_errors: u64,
    malformed_tags: u64,
    width: u32,
    height: u32,
    yuv_scratch: Vec<u8>,
    audio_windows: Vec<AudioWindow>,
    audio_gaps: u64,
    audio_gap_max_ms: f64,
    audio_overlaps: u64,
    audio_end_ms: Option<f64>,
}

impl Analyzer {
    pub fn new(opts: VerifyOptions) -> Self {
        Analyzer {
            opts,
            video: None,
            audio: None,
            frames: Vec::new(),
            video_times: Vec::new(),
            keyframe_pts: Vec::new(),
            video_tags: 0,
            video_decode_errors: 0,
            audio_frames: 0,
            audio_decode_errors: 0,
            malformed_tags: 0,
            width: 0,
            height: 0,
            yuv_scratch: Vec::new(),
            audio_windows: Vec::new(),
            audio_gaps: 0,
            audio_gap_max_ms: 0.0,
            audio_overlaps: 0,
            audio_end_ms: None,
        }
    }

    /// Feeds one FLV/RTMP tag. Script and unknown tags are ignored. A tag that
    /// cannot be parsed is counted and returned as an error; the analyzer stays
    /// usable (keep pushing). Decode failures are counted in the report, not returned.
    pub fn push(&mut self, tag: &Tag) -> Result<(), VerifyError> {
        match tag.kind {
            flv::TAG_VIDEO => {
                self.video_tags += 1;
                match flv::parse_video_tag(&tag.body) {
                    Ok(VideoTag::SequenceHeader { sps, pps }) => {
                        self.push_video_config(&sps, &pps);
                        Ok(())
                    }
                    Ok(VideoTag::Frame { keyframe, composition_ms, nals }) => {
                        let dts = tag.timestamp_ms as f64;
                        let refs: Vec<&[u8]> = nals.iter().map(Vec::as_slice).collect();
                        self.push_video_frame(dts, dts + composition_ms as f64, keyframe, &refs);
                        Ok(())
                    }
                    Ok(VideoTag::EndOfSequence) => Ok(()),
                    Err(e) => {
                        self.malformed_tags += 1;
                        Err(VerifyError::Malformed(format!("video tag at {} ms: {e}", tag.timestamp_ms)))
                    }
                }
            }
            flv::TAG_AUDIO => match flv::parse_audio_tag(&tag.body) {
                Ok(AudioTag::SequenceHeader { asc }) => self.push_audio_config(&asc),
                Ok(AudioTag::Frame { data }) => {
                    self.push_audio_frame(tag.timestamp_ms as f64, &data);
                    Ok(())
                }
                Err(e) => {
                    self.malformed_tags += 1;
                    Err(VerifyError::Malformed(format!("audio tag at {} ms: {e}", tag.timestamp_ms)))
                }
            },
            _ => Ok(()),
        }
    }

    /// Sets the H.264 parameter sets (NAL units without start codes or lengths).
    pub fn push_video_config(&mut self, sps: &[Vec<u8>], pps: &[Vec<u8>]) {
        let mut params = Vec::new();
        for nal in sps.iter().chain(pps) {
            params.extend_from_slice(&START_CODE);
            params.extend_from_slice(nal);
        }
        let profile = sps.first().filter(|s| s.len() >= 4).map(|s| (s[1], s[2], s[3]));
        match &mut self.video {
            Some(v) => {
                if v.params != params {
                    v.params = params;
                    v.params_fed = false;
                }
                if profile.is_some() {
                    v.profile = profile;
                }
            }
            None => match new_h264_decoder() {
                Ok(decoder) => {
                    self.video = Some(VideoState { decoder, params, params_fed: false, pending: Vec::new(), profile })
                }
                Err(e) => warn!("cannot create the H.264 decoder: {e}"),
            },
        }
    }

    /// One coded video frame: its NAL units (no start codes, no length prefixes), times in ms.
    pub fn push_video_frame(&mut self, dts_ms: f64, pts_ms: f64, keyframe: bool, nals: &[&[u8]]) {
        self.video_times.push((dts_ms, pts_ms));
        if keyframe {
            self.keyframe_pts.push(pts_ms);
        }
        if self.video.is_none() {
            // No sequence header yet: the frame may still carry its own SPS/PPS (Annex-B style).
            match new_h264_decoder() {
                Ok(decoder) => {
                    self.video = Some(VideoState {
                        decoder,
                        params: Vec::new(),
                        params_fed: true,
                        pending: Vec::new(),
                        profile: None,
                    })
                }
                Err(e) => {
                    warn!("cannot create the H.264 decoder: {e}");
                    return;
                }
            }
        }
        let v = self.video.as_mut().expect("video state");
        let mut packet = Vec::new();
        if !v.params_fed {
            packet.extend_from_slice(&v.params);
            v.params_fed = true;
        }
        for nal in nals {
            if nal.is_empty() {
                continue;
            }
            if v.profile.is_none() && h264::nal_type(nal) == h264::NAL_SPS && nal.len() >= 4 {
                v.profile = Some((nal[1], nal[2], nal[3]));
            }
            packet.extend_from_slice(&START_CODE);
            packet.extend_from_slice(nal);
        }
        let pos = v.pending.partition_point(|&p| p <= pts_ms);
        v.pending.insert(pos, pts_ms);
        let result = v.decoder.decode(&packet);
        match result {
            Ok(Some(pic)) => {
                let pts = take_pending(&mut v.pending);
                let obs = observe(&pic, pts, &mut self.width, &mut self.height, &mut self.yuv_scratch);
                self.frames.push(obs);
            }
            Ok(None) => {
                if v.pending.len() > MAX_PENDING {
                    let stale = v.pending.remove(0);
                    debug!("no picture for the frame at {stale:.1} ms");
                }
            }
            Err(e) => {
                self.video_decode_errors += 1;
                if let Some(i) = v.pending.iter().position(|&p| p == pts_ms) {
                    v.pending.remove(i);
                }
                if self.video_decode_errors <= 5 {
                    warn!("H.264 decode error on the frame at {pts_ms:.1} ms: {e}");
                }
            }
        }
    }

    /// Sets the AAC AudioSpecificConfig.
    pub fn push_audio_config(&mut self, asc: &[u8]) -> Result<(), VerifyError> {
        if let Some(a) = &self.audio {
            if a.asc == asc {
                return Ok(());
            }
            self.close_audio_segments();
        }
        let mut decoder = AacDecoder::new(Transport::Raw);
        if let Err(e) = decoder.config_raw(asc) {
            self.malformed_tags += 1;
            return Err(VerifyError::Malformed(format!("AAC AudioSpecificConfig {asc:02x?} rejected: {e}")));
        }
        let aot = asc.first().map(|b| b >> 3).unwrap_or(0);
        if let Some(a) = self.audio.as_mut() {
            flush_window(a, &mut self.audio_windows);
        }
        let beeps_ms = self.audio.take().map(|a| a.beeps_ms).unwrap_or_default();
        self.audio = Some(AudioState {
            decoder,
            asc: asc.to_vec(),
            aot,
            pcm: vec![0; 8 * 2048],
            rate: None,
            channels: None,
            segments: Vec::new(),
            beeps_ms,
            window: Vec::new(),
            window_start_ms: 0.0,
        });
        Ok(())
    }

    /// One raw AAC access unit; `time_ms` is the time of its first decoded sample.
    pub fn push_audio_frame(&mut self, time_ms: f64, data: &[u8]) {
        self.audio_frames += 1;
        let Some(a) = self.audio.as_mut() else {
            self.audio_decode_errors += 1;
            if self.audio_decode_errors == 1 {
                warn!("AAC frame before the AAC sequence header: skipped");
            }
            return;
        };
        let decoded = a.decoder.fill(data).and_then(|_| a.decoder.decode_frame(&mut a.pcm));
        if let Err(e) = decoded {
            self.audio_decode_errors += 1;
            if self.audio_decode_errors <= 5 {
                warn!("AAC decode error on the frame at {time_ms:.1} ms: {e}");
            }
            return;
        }
        let info = a.decoder.stream_info();
        let (rate, channels, frame_size) = (info.sampleRate, info.numChannels, info.frameSize);
        let output_delay = info.outputDelay;
        if rate <= 0 || channels <= 0 || frame_size <= 0 || (channels * frame_size) as usize > a.pcm.len() {
            self.audio_decode_errors += 1;
            return;
        }
        let (rate, channels, frame_size) = (rate as u32, channels as usize, frame_size as usize);
        // fdk-aac's decoder delays its output (its PCM limiter's look-ahead:
        // 1744 samples at 48 kHz): what comes out now began that much earlier.
        let time_ms = time_ms - output_delay as f64 * 1000.0 / rate as f64;
        if a.rate.is_some_and(|r| r != rate) {
            // A rate change: the beep detector works per rate.
            let closing: Vec<AudioSegment> = a.segments.drain(..).collect();
            for seg in closing {
                close_segment(seg, a.rate.unwrap_or(rate), &mut a.beeps_ms);
            }
        }
        a.rate = Some(rate);
        a.channels = Some(channels as u32);
        let rate_f = rate as f64;
        let continues = a.segments.last().is_some_and(|s| {
            let expected = s.anchor_ms() + s.samples as f64 * 1000.0 / rate_f;
            (time_ms - expected).abs() <= AUDIO_GAP_MS
        });
        if !continues {
            if let Some(last) = a.segments.last() {
                let expected = last.anchor_ms() + last.samples as f64 * 1000.0 / rate_f;
                if time_ms > expected {
                    self.audio_gaps += 1;
                    self.audio_gap_max_ms = self.audio_gap_max_ms.max(time_ms - expected);
                } else {
                    self.audio_overlaps += 1;
                }
                debug!(
                    "audio timeline break at {time_ms:.1} ms (expected {:.1} ms)",
                    last.anchor_ms() + last.samples as f64 * 1000.0 / rate_f
                );
            }
            if !a.segments.is_empty() {
                // The analysis windows follow the timeline: start a new one here.
                flush_window(a, &mut self.audio_windows);
            }
            let detector = BeepDetector::new(rate);
            let warmup = output_delay as u64 + frame_size as u64 + detector.window();
            a.segments.push(AudioSegment { detector, samples: 0, anchor_sum: 0.0, anchor_n: 0, warmup });
        }
        let seg = a.segments.last_mut().expect("segment");
        seg.anchor_sum += time_ms - seg.samples as f64 * 1000.0 / rate_f;
        seg.anchor_n += 1;
        let mono: Vec<f32> = a.pcm[..channels * frame_size]
            .chunks_exact(channels)
            .map(|c| c.iter().map(|&s| s as f32).sum::<f32>() / (channels as f32 * 32768.0))
            .collect();
        seg.detector.push(&mono);
        seg.samples += frame_size as u64;
        let end_ms = time_ms + frame_size as f64 * 1000.0 / rate_f;
        self.audio_end_ms = Some(self.audio_end_ms.map_or(end_ms, |e: f64| e.max(end_ms)));
        if a.window.is_empty() {
            a.window_start_ms = time_ms;
        }
        let mut rest = &mono[..];
        while !rest.is_empty() {
            let take = (rate as usize - a.window.len()).min(rest.len());
            a.window.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if a.window.len() == rate as usize {
                let start = a.window_start_ms;
                self.audio_windows.push(analyze_window(&a.window, rate, start));
                a.window.clear();
                a.window_start_ms = start + 1000.0;
            }
        }
        // Keep only the open segment alive.
        if a.segments.len() > 1 {
            let closing: Vec<AudioSegment> = a.segments.drain(..a.segments.len() - 1).collect();
            for s in closing {
                close_segment(s, rate, &mut a.beeps_ms);
            }
        }
    }

    fn close_audio_segments(&mut self) {
        if let Some(a) = self.audio.as_mut() {
            let rate = a.rate.unwrap_or(48_000);
            for s in a.segments.drain(..) {
                close_segment(s, rate, &mut a.beeps_ms);
            }
        }
    }

    /// Frames decoded so far.
    pub fn frames_decoded(&self) -> u64 {
        self.frames.len() as u64
    }

    /// Whether any audio or video media has been pushed.
    pub fn has_media(&self) -> bool {
        !self.video_times.is_empty() || self.audio_frames > 0
    }

    /// Video frames pushed (coded frames, not sequence headers).
    pub fn video_frames_pushed(&self) -> u64 {
        self.video_times.len() as u64
    }

    /// Flushes the decoders and computes the report.
    pub fn finish(mut self) -> Report {
        if let Some(v) = self.video.as_mut() {
            match v.decoder.flush_remaining() {
                Ok(pics) => {
                    for pic in pics {
                        let pts = take_pending(&mut v.pending);
                        let obs = observe(&pic, pts, &mut self.width, &mut self.height, &mut self.yuv_scratch);
                        self.frames.push(obs);
                    }
                }
                Err(e) => debug!("H.264 flush: {e}"),
            }
        }
        self.close_audio_segments();
        if let Some(a) = self.audio.as_mut() {
            flush_window(a, &mut self.audio_windows);
        }
        self.report()
    }

    /// Finishes, also returning every beep onset (ms) — for the delay tests.
    #[cfg(test)]
    pub(crate) fn finish_with_beeps(mut self) -> (Report, Vec<f64>) {
        self.close_audio_segments();
        let beeps = self.audio.as_ref().map(|a| a.beeps_ms.clone()).unwrap_or_default();
        (self.finish(), beeps)
    }

    fn report(&self) -> Report {
        // Counters.
        let mut seen = HashSet::new();
        let mut duplicated = 0u64;
        let mut unreadable = 0u64;
        let (mut min_c, mut max_c) = (None::<u64>, None::<u64>);
        for f in &self.frames {
            match f.counter {
                Some(c) => {
                    if !seen.insert(c) {
                        duplicated += 1;
                    }
                    min_c = Some(min_c.map_or(c, |m| m.min(c)));
                    max_c = Some(max_c.map_or(c, |m| m.max(c)));
                }
                None => unreadable += 1,
            }
        }
        let received = seen.len() as u64;
        let lost_ranges = lost_ranges(&seen);
        let expected = match (min_c, max_c) {
            (Some(a), Some(b)) => b - a + 1,
            _ => 0,
        };

        // Frame rate: as given, or from the typical DTS spacing.
        let nominal_fps = self.opts.fps.map(|f| f as f64).or_else(|| infer_fps(&self.video_times));
        let frame_ms = nominal_fps.map(|f| 1000.0 / f).unwrap_or(0.0);
        let duration_s = if self.video_times.is_empty() {
            0.0
        } else {
            let min = self.video_times.iter().map(|t| t.1).fold(f64::INFINITY, f64::min);
            let max = self.video_times.iter().map(|t| t.1).fold(f64::NEG_INFINITY, f64::max);
            (max - min + frame_ms) / 1000.0
        };
        let fps = if duration_s > 0.0 { received as f64 / duration_s } else { 0.0 };

        // Keyframe spacing.
        let mut kf = self.keyframe_pts.clone();
        kf.sort_by(f64::total_cmp);
        kf.dedup();
        let gaps: Vec<f64> = kf.windows(2).map(|w| (w[1] - w[0]) / 1000.0).collect();
        let keyframe_interval_s = median(gaps);

        // Flashes and beeps.
        let flashes: Vec<f64> = self.frames.iter().filter(|f| f.flash).map(|f| f.pts_ms).collect();
        let beeps: Vec<f64> = self.audio.as_ref().map(|a| a.beeps_ms.clone()).unwrap_or_default();
        let mut offsets = Vec::new();
        for &fl in &flashes {
            let nearest = beeps.iter().map(|&b| b - fl).min_by(|x, y| x.abs().total_cmp(&y.abs()));
            if let Some(d) = nearest.filter(|d| d.abs() <= PAIR_WINDOW_MS) {
                offsets.push(d);
            }
        }
        let av_pairs = offsets.len() as u64;
        let av_offset_ms = median(offsets.clone());
        let (av_offset_min_ms, av_offset_max_ms) = if offsets.is_empty() {
            (None, None)
        } else {
            (
                Some(offsets.iter().copied().fold(f64::INFINITY, f64::min)),
                Some(offsets.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
            )
        };

        let (video_codec, video_level) = match self.video.as_ref().and_then(|v| v.profile) {
            Some((idc, flags, level)) => {
                (Some(format!("h264 {}", profile_name(idc, flags))), Some(level_name(level, idc, flags)))
            }
            None if !self.video_times.is_empty() => (Some("h264".to_string()), None),
            None => (None, None),
        };
        let audio = self.audio.as_ref();
        Report {
            frames_expected: expected,
            frames_received: received,
            frames_lost: expected.saturating_sub(received),
            lost_ranges,
            frames_duplicated: duplicated,
            frames_unreadable: unreadable,
            frames_decoded: self.frames.len() as u64,
            fps,
            nominal_fps,
            av_offset_ms,
            av_offset_min_ms,
            av_offset_max_ms,
            av_pairs,
            av_offsets_ms: offsets.clone(),
            duration_s,
            width: self.width,
            height: self.height,
            video_codec,
            video_level,
            audio_codec: audio.map(|a| aot_name(a.aot)),
            audio_sample_rate: audio.and_then(|a| a.rate),
            audio_channels: audio.and_then(|a| a.channels),
            keyframe_interval_s,
            flashes: flashes.len() as u64,
            beeps: beeps.len() as u64,
            first_frame: min_c,
            last_frame: max_c,
            video_frames: self.video_times.len() as u64,
            video_decode_errors: self.video_decode_errors,
            audio_frames: self.audio_frames,
            audio_decode_errors: self.audio_decode_errors,
            malformed_tags: self.malformed_tags,
            audio_windows: self.audio_windows.clone(),
            audio_gaps: self.audio_gaps,
            audio_gap_max_ms: self.audio_gap_max_ms,
            audio_overlaps: self.audio_overlaps,
            audio_end_ms: self.audio_end_ms,
            video_end_ms: if self.video_times.is_empty() {
                None
            } else {
                Some(self.video_times.iter().map(|t| t.1).fold(f64::NEG_INFINITY, f64::max) + frame_ms)
            },
            live_delay_max_s: None,
        }
    }
}

fn new_h264_decoder() -> Result<H264Decoder, openh264::Error> {
    // No flushing after each decode: with B-frames that would hand out pictures
    // before their reordering is known. What is left comes out in `finish`.
    H264Decoder::with_api_config(OpenH264API::from_source(), DecoderConfig::new().flush_after_decode(Flush::NoFlush))
}

/// The runs of counters missing between the lowest and the highest seen, as
/// inclusive `[first, last]` pairs in order (at most [`MAX_LOST_RANGES`]).
fn lost_ranges(seen: &HashSet<u64>) -> Vec<[u64; 2]> {
    let mut counters: Vec<u64> = seen.iter().copied().collect();
    counters.sort_unstable();
    counters.windows(2).filter(|w| w[1] > w[0] + 1).map(|w| [w[0] + 1, w[1] - 1]).take(MAX_LOST_RANGES).collect()
}

/// The earliest pending input time: decoders output pictures in presentation order.
fn take_pending(pending: &mut Vec<f64>) -> f64 {
    if pending.is_empty() {
        f64::NAN
    } else {
        pending.remove(0)
    }
}

fn observe(pic: &DecodedYUV<'_>, pts_ms: f64, width: &mut u32, height: &mut u32, scratch: &mut Vec<u8>) -> FrameObs {
    let (w, h) = pic.dimensions();
    let (stride, _, _) = pic.strides();
    // The largest picture: a sender may step its size down while the network is slow.
    if (w * h) as u64 > *width as u64 * *height as u64 {
        *width = w as u32;
        *height = h as u32;
    }
    let y = pic.y();
    // The decoder's slice may end before the last row's padding: copy if short.
    let plane: &[u8] = if y.len() >= stride * h {
        y
    } else {
        scratch.clear();
        scratch.resize(stride * h, 0);
        scratch[..y.len()].copy_from_slice(y);
        scratch
    };
    let counter = counter::read(plane, w as u32, h as u32, stride).ok();
    // Mean luma of the lower half, sampled on a grid.
    let (mut sum, mut n) = (0u64, 0u64);
    let step = (w / 64).max(1);
    for row in (h / 2..h).step_by((h / 64).max(1)) {
        let line = &plane[row * stride..row * stride + w];
        for x in (0..w).step_by(step) {
            sum += line[x] as u64;
            n += 1;
        }
    }
    let flash = n > 0 && (sum as f64 / n as f64) > FLASH_LUMA;
    FrameObs { pts_ms, counter, flash }
}

/// Analyzes what is left of the current window if it holds at least a quarter second.
fn flush_window(a: &mut AudioState, out: &mut Vec<AudioWindow>) {
    let rate = a.rate.unwrap_or(48_000);
    if a.window.len() >= rate as usize / 4 {
        out.push(analyze_window(&a.window, rate, a.window_start_ms));
    }
    a.window.clear();
}

pub(crate) fn analyze_window(mono: &[f32], rate: u32, start_ms: f64) -> AudioWindow {
    let n = mono.len();
    let (mut peak, mut sum) = (0f64, 0f64);
    for &s in mono {
        peak = peak.max((s as f64).abs());
        sum += s as f64 * s as f64;
    }
    let rms = if n > 0 { (sum / n as f64).sqrt() } else { 0.0 };
    let db = |x: f64| (x > 0.0).then(|| 20.0 * x.log10());
    let mut dominant_hz = None;
    if n >= 64 && rms > 1e-5 {
        let mut planner = realfft::RealFftPlanner::<f64>::new();
        let fft = planner.plan_fft_forward(n);
        let mut input: Vec<f64> = mono
            .iter()
            .enumerate()
            .map(|(i, &s)| s as f64 * (0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos()))
            .collect();
        let mut spectrum = fft.make_output_vec();
        if fft.process(&mut input, &mut spectrum).is_ok() {
            let mags: Vec<f64> = spectrum.iter().map(|c| c.norm()).collect();
            // Skip DC and the lowest bins (below ~20 Hz).
            let lo = ((20.0 * n as f64 / rate as f64).ceil() as usize).max(1);
            if let Some((k, _)) = mags
                .iter()
                .enumerate()
                .skip(lo)
                .take(mags.len().saturating_sub(lo + 1))
                .max_by(|a, b| a.1.total_cmp(b.1))
            {
                // Parabolic interpolation on log magnitudes (Hann: accurate to a small fraction of a bin).
                let (a, b, c) = (mags[k - 1].max(1e-12).ln(), mags[k].max(1e-12).ln(), mags[k + 1].max(1e-12).ln());
                let denom = a - 2.0 * b + c;
                let delta = if denom.abs() > 1e-12 { 0.5 * (a - c) / denom } else { 0.0 };
                dominant_hz = Some((k as f64 + delta) * rate as f64 / n as f64);
            }
        }
    }
    AudioWindow { start_ms, rms_dbfs: db(rms), peak_dbfs: db(peak), dominant_hz }
}

fn close_segment(mut seg: AudioSegment, rate: u32, out: &mut Vec<f64>) {
    seg.detector.finish();
    let anchor = seg.anchor_ms();
    let warmup = seg.warmup as f64;
    out.extend(seg.detector.onsets.iter().filter(|&&k| k >= warmup).map(|&k| anchor + k * 1000.0 / rate as f64));
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

/// Frame rate from the DTS spacing: the mean of the deltas near the median
/// (so that millisecond rounding averages out and gaps are ignored).
fn infer_fps(times: &[(f64, f64)]) -> Option<f64> {
    let mut dts: Vec<f64> = times.iter().map(|t| t.0).collect();
    dts.sort_by(f64::total_cmp);
    let deltas: Vec<f64> = dts.windows(2).map(|w| w[1] - w[0]).filter(|d| *d > 0.0).collect();
    let med = median(deltas.clone())?;
    let near: Vec<f64> = deltas.into_iter().filter(|d| (*d - med).abs() <= med * 0.5 + 1.0).collect();
    let mean = near.iter().sum::<f64>() / near.len().max(1) as f64;
    (mean > 0.0).then(|| 1000.0 / mean)
}

fn profile_name(idc: u8, flags: u8) -> String {
    match idc {
        66 if flags & 0x40 != 0 => "Constrained Baseline".into(),
        66 => "Baseline".into(),
        77 => "Main".into(),
        88 => "Extended".into(),
        100 => "High".into(),
        110 => "High 10".into(),
        122 => "High 4:2:2".into(),
        244 => "High 4:4:4 Predictive".into(),
        other => format!("profile {other}"),
    }
}

fn level_name(level: u8, idc: u8, flags: u8) -> String {
    if level == 11 && (idc == 66 || idc == 77) && flags & 0x10 != 0 {
        return "1b".into();
    }
    format!("{}.{}", level / 10, level % 10)
}

fn aot_name(aot: u8) -> String {
    match aot {
        2 => "aac-lc".into(),
        5 => "he-aac".into(),
        29 => "he-aac-v2".into(),
        1 => "aac-main".into(),
        other => format!("aac (object type {other})"),
    }
}
