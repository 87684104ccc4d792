//! Microphone capture through cpal, behind [`AudioSource`].
//!
//! The device is opened with its own default config (ALSA refuses odd rates;
//! CONTEXT §5) on a dedicated thread that owns the cpal stream (cpal streams
//! are not `Send`). Its callback hands interleaved `f32` buffers to the
//! source, which mixes or duplicates them to stereo, resamples to 48 kHz with
//! rubato when the device runs at another rate, and cuts 10 ms chunks.
//!
//! Timing: a chunk's time is the capture time of its first sample on the
//! session clock, and consecutive chunks are contiguous (the encoder stamps
//! from the sample count). A device clock that runs fast or slow would make
//! that sample timeline drift from the session clock; the source measures the
//! difference continuously (smoothed) and drops or repeats single sample
//! frames to hold it, so audio never drifts from video.
//!
//! A device that reports an error or delivers nothing for
//! [`STALL_TIMEOUT`] is *unavailable*: the source goes on with silence paced
//! by the clock (no gap in the timeline), says so in its [`SourceStatus`],
//! and tries to open the device again every [`REOPEN_EVERY`].

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use mentorcast_media::{AudioChunk, AudioSource, DeviceState, MediaClock, SourceError, SourceStatus, AUDIO_SAMPLE_RATE};
use rubato::{FftFixedIn, Resampler};

/// 10 ms chunks at 48 kHz.
const CHUNK_FRAMES: usize = AUDIO_SAMPLE_RATE as usize / 100;
/// No data for this long: the device is gone.
pub const STALL_TIMEOUT: Duration = Duration::from_millis(500);
/// A freshly opened device may take this long to deliver its first buffer
/// (PulseAudio through ALSA takes about 600 ms here).
pub const FIRST_DATA_TIMEOUT: Duration = Duration::from_secs(3);
/// While unavailable, try to open the device again this often.
pub const REOPEN_EVERY: Duration = Duration::from_secs(2);
/// Drift held within this band (ms) before a sample is dropped or repeated.
const DRIFT_DEADBAND_MS: f64 = 2.0;
/// At most one correction per this many output frames (0.2 %, 2 ms/s: far above real clock errors).
const MAX_CORRECTION_EVERY: u64 = 500;
/// Averaging time constant of the drift estimate, in device buffers.
const DRIFT_SMOOTHING: f64 = 0.02;
/// Time to learn the steady latency before correcting.
const WARMUP: Duration = Duration::from_secs(2);
/// Resampler input block (frames at the device rate).
const RESAMPLE_BLOCK: usize = 1024;

/// Which microphone to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MicSelector {
    /// The host's default input device.
    Default,
    /// A device by its name as `mentorcast devices` lists it.
    Name(String),
}

/// The device's native format, as opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct NativeConfig {
    pub sample_rate: u32,
    pub channels: u16,
}

enum DeviceMsg {
    /// Interleaved samples at the device rate, and when the callback ran.
    Data(Vec<f32>, Instant),
    Error(String),
}

/// The thread that owns a cpal input stream; dropping it stops the stream.
struct DeviceThread {
    stop: Option<SyncSender<()>>,
    join: Option<std::thread::JoinHandle<()>>,
}

impl Drop for DeviceThread {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

fn find_device(sel: &MicSelector) -> Result<cpal::Device, SourceError> {
    let host = cpal::default_host();
    match sel {
        MicSelector::Default => host.default_input_device().ok_or(SourceError::NotFound { kind: "microphone" }),
        MicSelector::Name(name) => host
            .input_devices()
            .map_err(|e| SourceError::Device(e.to_string()))?
            .find(|d| d.name().map(|n| &n == name).unwrap_or(false))
            .ok_or(SourceError::NotFound { kind: "microphone" }),
    }
}

/// Opens the device with its default config on a thread of its own.
fn open_device(sel: &MicSelector) -> Result<(DeviceThread, Receiver<DeviceMsg>, NativeConfig, String), SourceError> {
    let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<(NativeConfig, String), SourceError>>(1);
    let (stop_tx, stop_rx) = mpsc::sync_channel::<()>(1);
    // ~2.7 s of 10 ms buffers: the reader falling that far behind means it is stuck.
    let (data_tx, data_rx) = mpsc::sync_channel::<DeviceMsg>(256);
    let sel = sel.clone();
    let join = std::thread::Builder::new()
        .name("mic-device".into())
        .spawn(move || {
            let opened = (|| {
                let device = find_device(&sel)?;
                let name = device.name().unwrap_or_else(|_| "microphone".into());
                let supported = device.default_input_config().map_err(|e| map_open_err(&name, e.to_string()))?;
                let format = supported.sample_format();
                let config: cpal::StreamConfig = supported.into();
                let native = NativeConfig { sample_rate: config.sample_rate.0, channels: config.channels };
                let err_tx = data_tx.clone();
                let on_err = move |e: cpal::StreamError| {
                    let _ = err_tx.try_send(DeviceMsg::Error(e.to_string()));
                };
                let stream = build_stream(&device, &config, format, data_tx.clone(), on_err).map_err(|e| map_open_err(&name, e))?;
                stream.play().map_err(|e| map_open_err(&name, e.to_string()))?;
                Ok((stream, native, name))
            })();
            match opened {
                Ok((stream, native, name)) => {
                    let _ = ready_tx.send(Ok((native, name)));
                    // Hold the stream until the source is dropped.
                    let _ = stop_rx.recv();
                    drop(stream);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            }
        })
        .map_err(|e| SourceError::Device(format!("cannot start the microphone thread: {e}")))?;
    let thread = DeviceThread { stop: Some(stop_tx), join: Some(join) };
    match ready_rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok((native, name))) => Ok((thread, data_rx, native, name)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(SourceError::Device("the microphone did not open within 10 s".into())),
    }
}

fn map_open_err(name: &str, e: String) -> SourceError {
    SourceError::Device(format!("cannot open the microphone '{name}': {e}"))
}

fn build_stream(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    format: cpal::SampleFormat,
    tx: SyncSender<DeviceMsg>,
    on_err: impl FnMut(cpal::StreamError) + Send + 'static,
) -> Result<cpal::Stream, String> {
    use cpal::SampleFormat as F;
    fn cb<T: cpal::SizedSample + 'static>(tx: SyncSender<DeviceMsg>, conv: fn(T) -> f32) -> impl FnMut(&[T], &cpal::InputCallbackInfo) + Send + 'static {
        move |data: &[T], _| {
            let v: Vec<f32> = data.iter().map(|&s| conv(s)).collect();
            // A full channel means the reader stopped; dropping here never blocks the audio thread.
            let _ = tx.try_send(DeviceMsg::Data(v, Instant::now()));
        }
    }
    let r = match format {
        F::F32 => device.build_input_stream(config, cb::<f32>(tx, |s| s), on_err, None),
        F::I16 => device.build_input_stream(config, cb::<i16>(tx, |s| s as f32 / 32768.0), on_err, None),
        F::U16 => device.build_input_stream(config, cb::<u16>(tx, |s| (s as f32 - 32768.0) / 32768.0), on_err, None),
        F::I32 => device.build_input_stream(config, cb::<i32>(tx, |s| s as f32 / 2_147_483_648.0), on_err, None),
        F::I8 => device.build_input_stream(config, cb::<i8>(tx, |s| s as f32 / 128.0), on_err, None),
        F::U8 => device.build_input_stream(config, cb::<u8>(tx, |s| (s as f32 - 128.0) / 128.0), on_err, None),
        F::F64 => device.build_input_stream(config, cb::<f64>(tx, |s| s as f32), on_err, None),
        other => return Err(format!("unsupported sample format {other:?}")),
    };
    r.map_err(|e| e.to_string())
}

/// Interleaved device samples → stereo: mono is duplicated, more than two channels are mixed down.
pub fn to_stereo(input: &[f32], channels: usize, left: &mut Vec<f32>, right: &mut Vec<f32>) {
    match channels {
        0 => {}
        1 => {
            left.extend_from_slice(input);
            right.extend_from_slice(input);
        }
        2 => {
            for f in input.chunks_exact(2) {
                left.push(f[0]);
                right.push(f[1]);
            }
        }
        n => {
            // Odd channels to the left, even to the right (front pairs come first), averaged.
            let nl = n.div_ceil(2) as f32;
            let nr = (n / 2) as f32;
            for f in input.chunks_exact(n) {
                let l: f32 = f.iter().step_by(2).sum();
                let r: f32 = f.iter().skip(1).step_by(2).sum();
                left.push(l / nl);
                right.push(r / nr);
            }
        }
    }
}

/// Converts stereo f32 at the device rate to 48 kHz (identity when it already is).
pub struct StereoResampler {
    inner: Option<FftFixedIn<f32>>,
    pending: [Vec<f32>; 2],
}

impl StereoResampler {
    pub fn new(rate_in: u32) -> Result<Self, SourceError> {
        let inner = if rate_in == AUDIO_SAMPLE_RATE {
            None
        } else {
            Some(
                FftFixedIn::<f32>::new(rate_in as usize, AUDIO_SAMPLE_RATE as usize, RESAMPLE_BLOCK, 2, 2)
                    .map_err(|e| SourceError::UnsupportedFormat(format!("cannot resample {rate_in} Hz to 48 kHz: {e}")))?,
            )
        };
        Ok(Self { inner, pending: [Vec::new(), Vec::new()] })
    }

    /// Output frames the resampler holds back (its fixed latency), in 48 kHz frames.
    pub fn delay_frames(&self) -> usize {
        self.inner.as_ref().map(|r| r.output_delay()).unwrap_or(0)
    }

    /// Pushes stereo input; appends what is ready, interleaved, to `out`.
    pub fn push(&mut self, left: &[f32], right: &[f32], out: &mut VecDeque<f32>) {
        match &mut self.inner {
            None => {
                for (l, r) in left.iter().zip(right) {
                    out.push_back(*l);
                    out.push_back(*r);
                }
            }
            Some(rs) => {
                self.pending[0].extend_from_slice(left);
                self.pending[1].extend_from_slice(right);
                loop {
                    let need = rs.input_frames_next();
                    if self.pending[0].len() < need {
                        break;
                    }
                    let block = [&self.pending[0][..need], &self.pending[1][..need]];
                    match rs.process(&block, None) {
                        Ok(res) => {
                            for (l, r) in res[0].iter().zip(&res[1]) {
                                out.push_back(*l);
                                out.push_back(*r);
                            }
                        }
                        Err(e) => tracing::warn!("resampler: {e}"),
                    }
                    self.pending[0].drain(..need);
                    self.pending[1].drain(..need);
                }
            }
        }
    }
}

/// Holds the sample timeline to the session clock by dropping or repeating
/// single frames. `error_ms` is (timeline position − capture time), smoothed;
/// its steady value (the device's buffering latency) is learnt during warm-up.
#[derive(Debug)]
pub struct DriftCorrector {
    smoothed_ms: Option<f64>,
    baseline_ms: Option<f64>,
    warmup_sum: f64,
    warmup_n: u64,
    started: Option<Instant>,
    since_correction: u64,
    pub dropped: u64,
    pub inserted: u64,
}

/// What to do with the next output frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Correction {
    None,
    /// The timeline is ahead of the clock (device fast): drop one frame.
    Drop,
    /// The timeline is behind (device slow): repeat one frame.
    Insert,
}

impl Default for DriftCorrector {
    fn default() -> Self {
        Self::new()
    }
}

impl DriftCorrector {
    pub fn new() -> Self {
        Self { smoothed_ms: None, baseline_ms: None, warmup_sum: 0.0, warmup_n: 0, started: None, since_correction: 0, dropped: 0, inserted: 0 }
    }

    /// Forgets the learnt latency (after the device was opened again).
    pub fn reset(&mut self) {
        let (d, i) = (self.dropped, self.inserted);
        *self = Self::new();
        self.dropped = d;
        self.inserted = i;
    }

    /// Records one observation at `now`: timeline position minus capture time (ms).
    pub fn observe(&mut self, error_ms: f64, now: Instant) {
        let started = *self.started.get_or_insert(now);
        self.smoothed_ms = Some(match self.smoothed_ms {
            None => error_ms,
            Some(s) => s + DRIFT_SMOOTHING * (error_ms - s),
        });
        if self.baseline_ms.is_none() {
            self.warmup_sum += error_ms;
            self.warmup_n += 1;
            if now.duration_since(started) >= WARMUP {
                let b = self.warmup_sum / self.warmup_n as f64;
                self.baseline_ms = Some(b);
                self.smoothed_ms = Some(b);
            }
        }
    }

    /// Current drift (ms) past the learnt latency; positive = timeline ahead.
    pub fn drift_ms(&self) -> f64 {
        match (self.smoothed_ms, self.baseline_ms) {
            (Some(s), Some(b)) => s - b,
            _ => 0.0,
        }
    }

    /// Called per output frame.
    pub fn next(&mut self) -> Correction {
        self.since_correction += 1;
        if self.since_correction < MAX_CORRECTION_EVERY || self.baseline_ms.is_none() {
            return Correction::None;
        }
        let d = self.drift_ms();
        let c = if d > DRIFT_DEADBAND_MS {
            Correction::Drop
        } else if d < -DRIFT_DEADBAND_MS {
            Correction::Insert
        } else {
            return Correction::None;
        };
        self.since_correction = 0;
        // Account for the correction at once so the loop does not overshoot.
        let step = 1000.0 / AUDIO_SAMPLE_RATE as f64;
        if let (Some(s), Correction::Drop) = (self.smoothed_ms.as_mut(), c) {
            *s -= step;
            self.dropped += 1;
        } else if let Some(s) = self.smoothed_ms.as_mut() {
            *s += step;
            self.inserted += 1;
        }
        c
    }
}

struct Live {
    _thread: DeviceThread,
    rx: Receiver<DeviceMsg>,
    native: NativeConfig,
    resampler: StereoResampler,
    last_data: Instant,
    got_data: bool,
}

/// A real microphone as an [`AudioSource`].
pub struct MicSource {
    selector: MicSelector,
    name: String,
    native: NativeConfig,
    live: Option<Live>,
    clock: MediaClock,
    status: SourceStatus,
    /// Ready stereo samples at 48 kHz (interleaved), not yet handed out.
    ready: VecDeque<f32>,
    /// Time of the first sample handed out (None before the first chunk).
    origin_us: Option<i64>,
    /// Frames handed out so far.
    emitted: u64,
    drift: DriftCorrector,
    last_reopen: Instant,
    scratch: (Vec<f32>, Vec<f32>),
}

impl MicSource {
    /// Opens the device now (a missing microphone fails here, before any connection).
    pub fn open(selector: MicSelector) -> Result<Self, SourceError> {
        let (thread, rx, native, name) = open_device(&selector)?;
        let resampler = StereoResampler::new(native.sample_rate)?;
        let status = SourceStatus::new();
        status.set(DeviceState::Active);
        Ok(Self {
            selector,
            name,
            native,
            live: Some(Live { _thread: thread, rx, native, resampler, last_data: Instant::now(), got_data: false }),
            clock: MediaClock::start(),
            status,
            ready: VecDeque::new(),
            origin_us: None,
            emitted: 0,
            drift: DriftCorrector::new(),
            last_reopen: Instant::now(),
            scratch: (Vec::new(), Vec::new()),
        })
    }

    /// The device's native config (rate and channels before conversion).
    pub fn native_config(&self) -> NativeConfig {
        self.native
    }

    /// Frames dropped / repeated so far to hold the timeline to the clock.
    pub fn drift_corrections(&self) -> (u64, u64) {
        (self.drift.dropped, self.drift.inserted)
    }

    fn lose(&mut self, reason: String) {
        if self.live.take().is_some() {
            tracing::warn!("microphone '{}' unavailable: {reason}; sending silence", self.name);
        }
        self.status.set(DeviceState::Unavailable(reason));
        self.last_reopen = Instant::now();
    }

    fn try_reopen(&mut self) {
        if self.last_reopen.elapsed() < REOPEN_EVERY {
            return;
        }
        self.last_reopen = Instant::now();
        match open_device(&self.selector).and_then(|(t, rx, native, name)| Ok((t, rx, native, name, StereoResampler::new(native.sample_rate)?))) {
            Ok((thread, rx, native, name, resampler)) => {
                tracing::info!("microphone '{name}' is back");
                self.name = name;
                self.native = native;
                self.live = Some(Live { _thread: thread, rx, native, resampler, last_data: Instant::now(), got_data: false });
                self.drift.reset();
                self.status.set(DeviceState::Active);
            }
            Err(e) => tracing::debug!("microphone still unavailable: {e}"),
        }
    }

    /// Time (session clock, µs) of output frame `n`.
    fn time_of(&self, n: u64) -> i64 {
        self.origin_us.unwrap_or(0) + (n as i128 * 1_000_000 / AUDIO_SAMPLE_RATE as i128) as i64
    }

    /// Takes one device buffer into `ready`, applying drift correction.
    fn take(&mut self, data: Vec<f32>, at: Instant) {
        let Some(live) = self.live.as_mut() else { return };
        live.last_data = at;
        live.got_data = true;
        let ch = live.native.channels as usize;
        let (l, r) = &mut self.scratch;
        l.clear();
        r.clear();
        to_stereo(&data, ch, l, r);
        let frames_in = l.len();
        let before = self.ready.len() / 2;
        live.resampler.push(l, r, &mut self.ready);
        let produced = self.ready.len() / 2 - before;
        let capture_end_us = (at.saturating_duration_since(self.clock.start_instant())).as_micros() as i64;
        if self.origin_us.is_none() {
            // The first sample of this buffer was captured one buffer before the callback ran.
            let dur_us = frames_in as i64 * 1_000_000 / live.native.sample_rate.max(1) as i64;
            self.origin_us = Some(capture_end_us - dur_us);
        }
        // Drift: where the timeline says the newest sample is, against when it was captured.
        let timeline_end = self.time_of(self.emitted + (self.ready.len() / 2) as u64);
        let error_ms = (timeline_end - capture_end_us) as f64 / 1000.0;
        self.drift.observe(error_ms, at);
        // Apply corrections to the frames just produced.
        if produced > 0 {
            let start = self.ready.len() - produced * 2;
            let mut i = start;
            while i < self.ready.len() {
                match self.drift.next() {
                    Correction::None => i += 2,
                    Correction::Drop => {
                        self.ready.remove(i);
                        self.ready.remove(i);
                    }
                    Correction::Insert => {
                        let (a, b) = (self.ready[i], self.ready[i + 1]);
                        self.ready.insert(i, b);
                        self.ready.insert(i, a);
                        i += 4;
                    }
                }
            }
        }
    }

    fn emit(&mut self, frames: usize) -> AudioChunk {
        let pts_us = self.time_of(self.emitted);
        let mut samples = Vec::with_capacity(frames * 2);
        for s in self.ready.drain(..frames * 2) {
            samples.push((s.clamp(-1.0, 1.0) * 32767.0).round() as i16);
        }
        let chunk = AudioChunk { samples, pts_us, first_sample: self.emitted };
        self.emitted += frames as u64;
        chunk
    }
}

impl AudioSource for MicSource {
    fn start(&mut self, clock: MediaClock) {
        self.clock = clock;
        self.ready.clear();
        self.origin_us = None;
        self.emitted = 0;
        self.drift.reset();
        // Discard what the device captured before going live.
        if let Some(live) = &mut self.live {
            while live.rx.try_recv().is_ok() {}
            live.last_data = Instant::now();
        }
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn status(&self) -> Option<SourceStatus> {
        Some(self.status.clone())
    }

    fn next_chunk(&mut self) -> Result<AudioChunk, SourceError> {
        loop {
            if self.ready.len() >= CHUNK_FRAMES * 2 {
                return Ok(self.emit(CHUNK_FRAMES));
            }
            let Some(live) = self.live.as_mut() else {
                // Unavailable: silence, paced by the clock, keeping the timeline whole.
                if self.origin_us.is_none() {
                    self.origin_us = Some(self.clock.now_us());
                }
                let need = CHUNK_FRAMES - self.ready.len() / 2;
                self.ready.extend(std::iter::repeat(0.0).take(need * 2));
                let end = self.time_of(self.emitted + CHUNK_FRAMES as u64);
                self.clock.sleep_until(end);
                let chunk = self.emit(CHUNK_FRAMES);
                self.try_reopen();
                return Ok(chunk);
            };
            let limit = if live.got_data { STALL_TIMEOUT } else { FIRST_DATA_TIMEOUT };
            let wait = limit.saturating_sub(live.last_data.elapsed());
            match live.rx.recv_timeout(wait) {
                Ok(DeviceMsg::Data(d, at)) => self.take(d, at),
                Ok(DeviceMsg::Error(e)) => self.lose(e),
                Err(RecvTimeoutError::Timeout) => {
                    let limit = self.live.as_ref().map(|l| if l.got_data { STALL_TIMEOUT } else { FIRST_DATA_TIMEOUT }).unwrap_or(STALL_TIMEOUT);
                    self.lose(format!("no audio for {} ms", limit.as_millis()))
                }
                Err(RecvTimeoutError::Disconnected) => self.lose("the device stream ended".into()),
            }
            if self.live.is_none() {
                // Fill up to now with silence so the timeline stays level with the clock.
                if let Some(_origin) = self.origin_us {
                    let now = self.clock.now_us();
                    let held = self.emitted + (self.ready.len() / 2) as u64;
                    let behind_us = now - self.time_of(held);
                    if behind_us > 0 {
                        let frames = (behind_us as i128 * AUDIO_SAMPLE_RATE as i128 / 1_000_000) as usize;
                        self.ready.extend(std::iter::repeat(0.0).take(frames * 2));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mono_is_duplicated_and_surround_is_mixed() {
        let (mut l, mut r) = (Vec::new(), Vec::new());
        to_stereo(&[0.5, -0.25], 1, &mut l, &mut r);
        assert_eq!((l.as_slice(), r.as_slice()), (&[0.5, -0.25][..], &[0.5, -0.25][..]));
        let (mut l, mut r) = (Vec::new(), Vec::new());
        to_stereo(&[0.1, 0.2, 0.3, 0.4], 2, &mut l, &mut r);
        assert_eq!((l, r), (vec![0.1, 0.3], vec![0.2, 0.4]));
        let (mut l, mut r) = (Vec::new(), Vec::new());
        // 4 channels: FL FR RL RR.
        to_stereo(&[0.2, 0.4, 0.6, 0.8], 4, &mut l, &mut r);
        assert!((l[0] - 0.4).abs() < 1e-6 && (r[0] - 0.6).abs() < 1e-6, "{l:?} {r:?}");
    }

    fn tone(rate: u32, freq: f64, frames: usize, from: usize) -> Vec<f32> {
        (from..from + frames).map(|n| (0.5 * (std::f64::consts::TAU * freq * n as f64 / rate as f64).sin()) as f32).collect()
    }

    #[test]
    fn resamples_44100_to_48000_keeping_frequency_and_length() {
        let mut rs = StereoResampler::new(44_100).unwrap();
        let mut out = VecDeque::new();
        let total_in = 44_100 * 2;
        let mut from = 0;
        while from < total_in {
            let n = 441.min(total_in - from);
            let t = tone(44_100, 1000.0, n, from);
            rs.push(&t, &t, &mut out);
            from += n;
        }
        let frames = out.len() / 2;
        // 2 s in → 2 s out, less what the resampler holds back.
        assert!((frames as i64 - 96_000).abs() <= 2 * RESAMPLE_BLOCK as i64 * 48 / 44 + 10, "{frames} frames");
        // Count zero crossings of the left channel over the steady part: 1 kHz.
        let left: Vec<f32> = out.iter().step_by(2).copied().collect();
        let part = &left[4800..4800 + 48_000];
        let crossings = part.windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count();
        assert!((1998..=2002).contains(&crossings), "{crossings} crossings in 1 s");
    }

    #[test]
    fn drift_corrector_drops_when_fast_and_inserts_when_slow() {
        let t0 = Instant::now();
        for (slope_ms_per_s, want) in [(1.0, Correction::Drop), (-1.0, Correction::Insert)] {
            let mut d = DriftCorrector::new();
            let mut corrections = 0i64;
            // 10 ms buffers for 20 s; the device clock gains `slope` ms per second.
            for i in 0..2000u64 {
                let t = i as f64 * 0.01;
                let err = 5.0 + slope_ms_per_s * t - (corrections as f64) * (1000.0 / 48_000.0) * slope_ms_per_s.signum();
                d.observe(err, t0 + Duration::from_millis(i * 10));
                for _ in 0..480 {
                    match d.next() {
                        Correction::None => {}
                        c => {
                            assert_eq!(c, want);
                            corrections += 1;
                        }
                    }
                }
            }
            // 18 s past warm-up at 1 ms/s: about 18 ms = 864 frames corrected, and the residual stays small.
            assert!(corrections > 600, "{slope_ms_per_s}: {corrections} corrections");
            assert!(d.drift_ms().abs() < 6.0, "residual drift {} ms", d.drift_ms());
        }
    }
}
