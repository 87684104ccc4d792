//! Microphone capture through cpal, behind [`AudioSource`].
//!
//! The device is opened with its own default config (ALSA refuses odd rates)
//! on a dedicated thread that owns the cpal stream (cpal streams
//! are not `Send`). Its callback hands interleaved `f32` buffers to the
//! source, which mixes or duplicates them to stereo, resamples to 48 kHz with
//! rubato when the device runs at another rate, and cuts 10 ms chunks.
//!
//! Timing: audio is stamped by when it was *captured*, not when its callback
//! ran. cpal reports, per buffer, how long ago its first frame was captured
//! (ALSA's delay: the frames waiting in the device buffer plus the hardware's
//! own latency); the source turns that into the capture instant on the
//! session clock, so a late callback (a loaded machine) or the device's
//! buffering never shifts the audio against the video. The first buffer sets
//! the timeline's origin; after that the chunks are contiguous (the encoder
//! stamps from the sample count) and a [`DriftCorrector`] holds the sample
//! timeline to the capture times by dropping or repeating single sample
//! frames, so a device clock that runs fast or slow is absorbed. Samples the
//! device lost (an overrun) are filled with silence and a reopened device is
//! lined up with the timeline ([`RESYNC_MS`]), so neither leaves a standing offset.
//!
//! A device that reports an error or delivers nothing for
//! [`STALL_TIMEOUT`] is *unavailable*: the source goes on with silence paced
//! by the clock (no gap in the timeline), says so in its [`SourceStatus`],
//! and tries to open the device again every [`REOPEN_EVERY`].

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use mentorcast_media::{
    AudioChunk, AudioSource, DeviceStatus, MediaClock, SourceError, SourceStatus, AUDIO_SAMPLE_RATE,
};
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
const DRIFT_DEADBAND_MS: f64 = 1.0;
/// At most one correction per this many output frames (0.2 %, 2 ms/s: far above real clock errors).
const MAX_CORRECTION_EVERY: u64 = 500;
/// Averaging time constant of the drift estimate, in device buffers.
const DRIFT_SMOOTHING: f64 = 0.02;
/// A buffer whose capture time is this far (ms) from where the previous one
/// ended is a break in the device's stream (an overrun lost samples, or the
/// device was reopened): the timeline is lined up again at once (silence for
/// the lost time, or the overlap dropped) instead of being pulled over slowly.
pub const RESYNC_MS: f64 = 30.0;
/// A reported capture delay above this is not believed (the buffer's own length is used).
const MAX_PLAUSIBLE_DELAY: Duration = Duration::from_secs(1);
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
    /// Interleaved samples at the device rate, and when the first of them was captured.
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
                let stream = build_stream(&device, &config, format, data_tx.clone(), on_err)
                    .map_err(|e| map_open_err(&name, e))?;
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
    let frame_ns = 1e9 / config.sample_rate.0.max(1) as f64;
    let channels = config.channels.max(1) as usize;
    fn cb<T: cpal::SizedSample + 'static>(
        tx: SyncSender<DeviceMsg>,
        conv: fn(T) -> f32,
        channels: usize,
        frame_ns: f64,
    ) -> impl FnMut(&[T], &cpal::InputCallbackInfo) + Send + 'static {
        move |data: &[T], info: &cpal::InputCallbackInfo| {
            let now = Instant::now();
            let ts = info.timestamp();
            let span = Duration::from_nanos(((data.len() / channels) as f64 * frame_ns) as u64);
            let captured = capture_instant(now, ts.callback.duration_since(&ts.capture), span);
            let v: Vec<f32> = data.iter().map(|&s| conv(s)).collect();
            // A full channel means the reader stopped; dropping here never blocks the audio thread.
            let _ = tx.try_send(DeviceMsg::Data(v, captured));
        }
    }
    let r = match format {
        F::F32 => device.build_input_stream(config, cb::<f32>(tx, |s| s, channels, frame_ns), on_err, None),
        F::I16 => {
            device.build_input_stream(config, cb::<i16>(tx, |s| s as f32 / 32768.0, channels, frame_ns), on_err, None)
        }
        F::U16 => device.build_input_stream(
            config,
            cb::<u16>(tx, |s| (s as f32 - 32768.0) / 32768.0, channels, frame_ns),
            on_err,
            None,
        ),
        F::I32 => device.build_input_stream(
            config,
            cb::<i32>(tx, |s| s as f32 / 2_147_483_648.0, channels, frame_ns),
            on_err,
            None,
        ),
        F::I8 => {
            device.build_input_stream(config, cb::<i8>(tx, |s| s as f32 / 128.0, channels, frame_ns), on_err, None)
        }
        F::U8 => device.build_input_stream(
            config,
            cb::<u8>(tx, |s| (s as f32 - 128.0) / 128.0, channels, frame_ns),
            on_err,
            None,
        ),
        F::F64 => device.build_input_stream(config, cb::<f64>(tx, |s| s as f32, channels, frame_ns), on_err, None),
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

/// When the first frame of a buffer was captured: `now` (the callback) less
/// the delay cpal reports (`callback − capture`). The first of `span`'s worth
/// of frames cannot be younger than `span`, so that is the floor (and the
/// fallback when a device reports no delay or an implausible one).
pub fn capture_instant(now: Instant, reported: Option<Duration>, span: Duration) -> Instant {
    let lag = match reported {
        Some(d) if d <= MAX_PLAUSIBLE_DELAY => d.max(span),
        _ => span,
    };
    now.checked_sub(lag).unwrap_or(now)
}

/// Converts stereo f32 at the device rate to 48 kHz (identity when it already is).
/// Output frame `k` is input frame `k × rate_in / 48000`: the resampler's
/// priming output (its fixed delay) is dropped.
pub struct StereoResampler {
    inner: Option<FftFixedIn<f32>>,
    pending: [Vec<f32>; 2],
    /// Priming output frames still to drop.
    skip: usize,
}

impl StereoResampler {
    pub fn new(rate_in: u32) -> Result<Self, SourceError> {
        let inner = if rate_in == AUDIO_SAMPLE_RATE {
            None
        } else {
            Some(
                FftFixedIn::<f32>::new(rate_in as usize, AUDIO_SAMPLE_RATE as usize, RESAMPLE_BLOCK, 2, 2).map_err(
                    |e| SourceError::UnsupportedFormat(format!("cannot resample {rate_in} Hz to 48 kHz: {e}")),
                )?,
            )
        };
        let skip = inner.as_ref().map(|r| r.output_delay()).unwrap_or(0);
        Ok(Self { inner, pending: [Vec::new(), Vec::new()], skip })
    }

    /// Input frames taken but not yet turned into output (less than one resampler block).
    pub fn pending_frames(&self) -> usize {
        self.pending[0].len()
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
                            let skip = self.skip.min(res[0].len());
                            self.skip -= skip;
                            for (l, r) in res[0][skip..].iter().zip(&res[1][skip..]) {
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

/// Holds the sample timeline to the capture times by dropping or repeating
/// single frames. It observes `error_ms` = (where the timeline puts the newest
/// sample − when that sample was captured), smoothed, and steers it to zero:
/// at most one frame per [`MAX_CORRECTION_EVERY`] (2 ms/s), nothing inside
/// ±[`DRIFT_DEADBAND_MS`].
#[derive(Debug, Default)]
pub struct DriftCorrector {
    smoothed_ms: Option<f64>,
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

impl DriftCorrector {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets the estimate (the timeline was lined up again); keeps the counts.
    pub fn reset(&mut self) {
        self.smoothed_ms = None;
        self.since_correction = 0;
    }

    /// Records one observation: timeline position minus capture time (ms).
    pub fn observe(&mut self, error_ms: f64) {
        self.smoothed_ms = Some(match self.smoothed_ms {
            None => error_ms,
            Some(s) => s + DRIFT_SMOOTHING * (error_ms - s),
        });
    }

    /// Current smoothed error (ms); positive = timeline ahead of the capture times.
    pub fn drift_ms(&self) -> f64 {
        self.smoothed_ms.unwrap_or(0.0)
    }

    /// Called per output frame.
    pub fn next_frame(&mut self) -> Correction {
        self.since_correction += 1;
        if self.since_correction < MAX_CORRECTION_EVERY {
            return Correction::None;
        }
        let Some(s) = self.smoothed_ms.as_mut() else { return Correction::None };
        // Account for the correction at once so the loop does not overshoot.
        let step = 1000.0 / AUDIO_SAMPLE_RATE as f64;
        let c = if *s > DRIFT_DEADBAND_MS {
            *s -= step;
            self.dropped += 1;
            Correction::Drop
        } else if *s < -DRIFT_DEADBAND_MS {
            *s += step;
            self.inserted += 1;
            Correction::Insert
        } else {
            return Correction::None;
        };
        self.since_correction = 0;
        c
    }
}

/// Device buffers, each with the capture time of its first frame, in; a
/// contiguous 48 kHz stereo timeline on the session clock out. Everything
/// about timing lives here, apart from the device, so it is unit-tested with
/// simulated devices (fast and slow clocks, late callbacks, overruns).
pub struct Timeline {
    native: NativeConfig,
    resampler: StereoResampler,
    /// Ready stereo samples at 48 kHz (interleaved), not yet handed out.
    ready: VecDeque<f32>,
    /// Session time (µs) of output frame 0; None before the first buffer.
    origin_us: Option<i64>,
    /// Frames handed out so far.
    emitted: u64,
    drift: DriftCorrector,
    /// Where (session µs) the next device buffer should start if the device
    /// stream is unbroken; None: line the next buffer up with the timeline.
    expect_us: Option<f64>,
    /// Input frames fed to the resampler, and frames it gave back, since the last line-up:
    /// output frame `k` is input frame `k × rate_in / 48000`.
    seg_in: u64,
    seg_out: u64,
    /// Line-ups after a break (overruns, reopened device).
    pub resyncs: u64,
    scratch: (Vec<f32>, Vec<f32>),
}

impl Timeline {
    pub fn new(native: NativeConfig) -> Result<Self, SourceError> {
        Ok(Self {
            native,
            resampler: StereoResampler::new(native.sample_rate)?,
            ready: VecDeque::new(),
            origin_us: None,
            emitted: 0,
            drift: DriftCorrector::new(),
            expect_us: None,
            seg_in: 0,
            seg_out: 0,
            resyncs: 0,
            scratch: (Vec::new(), Vec::new()),
        })
    }

    /// A device (re)opened with `native`: its first buffer is lined up with the timeline.
    pub fn attach(&mut self, native: NativeConfig) -> Result<(), SourceError> {
        self.resampler = StereoResampler::new(native.sample_rate)?;
        self.native = native;
        self.expect_us = None;
        self.drift.reset();
        Ok(())
    }

    /// Starts over (the session went live): nothing held, no origin.
    pub fn restart(&mut self) -> Result<(), SourceError> {
        self.ready.clear();
        self.origin_us = None;
        self.emitted = 0;
        self.attach(self.native)
    }

    pub fn ready_frames(&self) -> usize {
        self.ready.len() / 2
    }

    pub fn has_origin(&self) -> bool {
        self.origin_us.is_some()
    }

    /// Sets the origin if there is none yet (silence before any device data).
    pub fn set_origin_if_none(&mut self, us: i64) {
        self.origin_us.get_or_insert(us);
    }

    /// Time (session clock, µs) of output frame `n`.
    pub fn time_of(&self, n: u64) -> i64 {
        self.origin_us.unwrap_or(0) + (n as i128 * 1_000_000 / AUDIO_SAMPLE_RATE as i128) as i64
    }

    /// Session time just after the last frame held.
    pub fn held_end_us(&self) -> i64 {
        self.time_of(self.emitted + self.ready_frames() as u64)
    }

    /// Smoothed (timeline − capture) error, ms.
    pub fn drift_ms(&self) -> f64 {
        self.drift.drift_ms()
    }

    /// Frames dropped / repeated so far to hold the timeline to the capture times.
    pub fn corrections(&self) -> (u64, u64) {
        (self.drift.dropped, self.drift.inserted)
    }

    /// Appends `frames` of silence.
    pub fn pad_silence(&mut self, frames: usize) {
        self.ready.extend(std::iter::repeat_n(0.0, frames * 2));
    }

    /// Takes one device buffer (interleaved, device rate and channels) whose
    /// first frame was captured at `capture_us` on the session clock.
    pub fn push(&mut self, data: &[f32], capture_us: i64) {
        let ch = self.native.channels.max(1) as usize;
        let rate = self.native.sample_rate.max(1) as f64;
        let mut data = &data[..data.len() / ch * ch];
        let mut capture_us = capture_us as f64;
        let frames_all = data.len() / ch;
        // A break in the device's stream (first buffer, reopened device, lost samples)?
        let line_up = match self.expect_us {
            None => true,
            Some(e) => (capture_us - e).abs() > RESYNC_MS * 1000.0,
        };
        self.expect_us = Some(capture_us + frames_all as f64 * 1e6 / rate);
        if line_up {
            // Where this buffer belongs: at its capture time. Before the origin (or
            // before time 0 for the first buffer) means the overlap is dropped; after
            // the timeline's end, the gap is silence. Pending resampler input is
            // dropped with the old stream.
            if self.origin_us.is_some() {
                self.resampler = StereoResampler::new(self.native.sample_rate).expect("the rate was accepted before");
            }
            (self.seg_in, self.seg_out) = (0, 0);
            let target = if self.origin_us.is_some() { self.held_end_us() as f64 } else { 0.0 };
            if capture_us < target {
                let drop = (((target - capture_us) * rate / 1e6).ceil() as usize).min(frames_all);
                data = &data[drop * ch..];
                capture_us += drop as f64 * 1e6 / rate;
                if data.is_empty() {
                    return;
                }
            }
            match self.origin_us {
                None => self.origin_us = Some(capture_us.round() as i64),
                Some(_) => {
                    let gap_us = capture_us - self.held_end_us() as f64;
                    if gap_us > 0.0 {
                        self.pad_silence((gap_us * AUDIO_SAMPLE_RATE as f64 / 1e6).round() as usize);
                    }
                    self.resyncs += 1;
                    tracing::debug!("microphone timeline lined up again ({:+.1} ms)", gap_us / 1000.0);
                }
            }
            self.drift.reset();
        }
        let frames_in = data.len() / ch;
        let before = self.ready_frames();
        let (l, r) = &mut self.scratch;
        l.clear();
        r.clear();
        to_stereo(data, ch, l, r);
        self.resampler.push(l, r, &mut self.ready);
        let produced = self.ready_frames() - before;
        // The newest output frame against the capture time of the input it came from
        // (reckoned from this buffer's capture time, so the device's clock is what is measured).
        let fed_before = self.seg_in;
        self.seg_in += frames_in as u64;
        self.seg_out += produced as u64;
        let input_pos = self.seg_out as f64 * rate / AUDIO_SAMPLE_RATE as f64;
        let capture_end_us = capture_us + (input_pos - fed_before as f64) * 1e6 / rate;
        let error_ms = (self.held_end_us() as f64 - capture_end_us) / 1000.0;
        self.drift.observe(error_ms);
        // Apply corrections to the frames just produced.
        let mut i = self.ready.len() - produced * 2;
        while i < self.ready.len() {
            match self.drift.next_frame() {
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

    /// Hands out the next `frames` (which must be ready) as a chunk.
    pub fn take_chunk(&mut self, frames: usize) -> AudioChunk {
        let pts_us = self.time_of(self.emitted);
        let samples = self.ready.drain(..frames * 2).map(|s| (s.clamp(-1.0, 1.0) * 32767.0).round() as i16).collect();
        let chunk = AudioChunk { samples, pts_us, first_sample: self.emitted };
        self.emitted += frames as u64;
        chunk
    }
}

struct Live {
    _thread: DeviceThread,
    rx: Receiver<DeviceMsg>,
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
    timeline: Timeline,
    last_reopen: Instant,
    last_report: Instant,
}

impl MicSource {
    /// Opens the device now (a missing microphone fails here, before any connection).
    pub fn open(selector: MicSelector) -> Result<Self, SourceError> {
        let (thread, rx, native, name) = open_device(&selector)?;
        let timeline = Timeline::new(native)?;
        let status = SourceStatus::new();
        status.set(DeviceStatus::ACTIVE);
        Ok(Self {
            selector,
            name,
            native,
            live: Some(Live { _thread: thread, rx, last_data: Instant::now(), got_data: false }),
            clock: MediaClock::start(),
            status,
            timeline,
            last_reopen: Instant::now(),
            last_report: Instant::now(),
        })
    }

    /// The device's native config (rate and channels before conversion).
    pub fn native_config(&self) -> NativeConfig {
        self.native
    }

    /// Frames dropped / repeated so far to hold the timeline to the capture times.
    pub fn drift_corrections(&self) -> (u64, u64) {
        self.timeline.corrections()
    }

    fn lose(&mut self, reason: String) {
        if self.live.take().is_some() {
            tracing::warn!("microphone '{}' unavailable: {reason}; sending silence", self.name);
        }
        self.status.set(DeviceStatus::unavailable(reason));
        self.last_reopen = Instant::now();
    }

    fn try_reopen(&mut self) {
        if self.last_reopen.elapsed() < REOPEN_EVERY {
            return;
        }
        self.last_reopen = Instant::now();
        match open_device(&self.selector) {
            Ok((thread, rx, native, name)) => match self.timeline.attach(native) {
                Ok(()) => {
                    tracing::info!("microphone '{name}' is back");
                    self.name = name;
                    self.native = native;
                    self.live = Some(Live { _thread: thread, rx, last_data: Instant::now(), got_data: false });
                    self.status.set(DeviceStatus::ACTIVE);
                }
                Err(e) => tracing::debug!("microphone back with an unusable format: {e}"),
            },
            Err(e) => tracing::debug!("microphone still unavailable: {e}"),
        }
    }

    /// Session time (µs) of an instant; negative before the session started.
    fn session_us(&self, at: Instant) -> i64 {
        let start = self.clock.start_instant();
        match at.checked_duration_since(start) {
            Some(d) => d.as_micros() as i64,
            None => -(start.duration_since(at).as_micros() as i64),
        }
    }

    fn take(&mut self, data: Vec<f32>, captured: Instant) {
        let Some(live) = self.live.as_mut() else { return };
        live.last_data = Instant::now();
        live.got_data = true;
        let capture_us = self.session_us(captured);
        let first = !self.timeline.has_origin();
        self.timeline.push(&data, capture_us);
        if first || self.last_report.elapsed() >= Duration::from_secs(10) {
            self.last_report = Instant::now();
            let (d, i) = self.timeline.corrections();
            tracing::debug!(
                "microphone timeline at {:.1} s: {:+.2} ms from the capture times, {d} frames dropped, {i} repeated, {} line-ups; this buffer: {} frames captured {:.1} ms before it was taken",
                self.clock.now_us() as f64 / 1e6,
                self.timeline.drift_ms(),
                self.timeline.resyncs,
                data.len() / self.native.channels.max(1) as usize,
                captured.elapsed().as_secs_f64() * 1000.0
            );
        }
    }
}

impl AudioSource for MicSource {
    fn start(&mut self, clock: MediaClock) {
        self.clock = clock;
        let _ = self.timeline.restart();
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
            if self.timeline.ready_frames() >= CHUNK_FRAMES {
                return Ok(self.timeline.take_chunk(CHUNK_FRAMES));
            }
            let Some(live) = self.live.as_mut() else {
                // Unavailable: silence, paced by the clock, keeping the timeline whole.
                self.timeline.set_origin_if_none(self.clock.now_us());
                let need = CHUNK_FRAMES - self.timeline.ready_frames();
                self.timeline.pad_silence(need);
                let end = self.timeline.held_end_us();
                self.clock.sleep_until(end);
                let chunk = self.timeline.take_chunk(CHUNK_FRAMES);
                self.try_reopen();
                return Ok(chunk);
            };
            let limit = if live.got_data { STALL_TIMEOUT } else { FIRST_DATA_TIMEOUT };
            let wait = limit.saturating_sub(live.last_data.elapsed());
            match live.rx.recv_timeout(wait) {
                Ok(DeviceMsg::Data(d, at)) => self.take(d, at),
                Ok(DeviceMsg::Error(e)) => self.lose(e),
                Err(RecvTimeoutError::Timeout) => {
                    let limit = self
                        .live
                        .as_ref()
                        .map(|l| if l.got_data { STALL_TIMEOUT } else { FIRST_DATA_TIMEOUT })
                        .unwrap_or(STALL_TIMEOUT);
                    self.lose(format!("no audio for {} ms", limit.as_millis()))
                }
                Err(RecvTimeoutError::Disconnected) => self.lose("the device stream ended".into()),
            }
            if self.live.is_none() && self.timeline.has_origin() {
                // Fill up to now with silence so the timeline stays level with the clock.
                let behind_us = self.clock.now_us() - self.timeline.held_end_us();
                if behind_us > 0 {
                    self.timeline.pad_silence((behind_us as i128 * AUDIO_SAMPLE_RATE as i128 / 1_000_000) as usize);
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
        (from..from + frames)
            .map(|n| (0.5 * (std::f64::consts::TAU * freq * n as f64 / rate as f64).sin()) as f32)
            .collect()
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
        for (slope_ms_per_s, want) in [(1.0, Correction::Drop), (-1.0, Correction::Insert)] {
            let mut d = DriftCorrector::new();
            let mut corrections = 0i64;
            // 10 ms buffers for 20 s; the device clock gains `slope` ms per second.
            for i in 0..2000u64 {
                let t = i as f64 * 0.01;
                let err = slope_ms_per_s * t - (corrections as f64) * (1000.0 / 48_000.0) * slope_ms_per_s.signum();
                d.observe(err);
                for _ in 0..480 {
                    match d.next_frame() {
                        Correction::None => {}
                        c => {
                            assert_eq!(c, want);
                            corrections += 1;
                        }
                    }
                }
            }
            // 20 s at 1 ms/s: about 20 ms = 960 frames corrected, and the residual stays small.
            assert!(corrections > 800, "{slope_ms_per_s}: {corrections} corrections");
            assert!(d.drift_ms().abs() < 4.0, "residual drift {} ms", d.drift_ms());
        }
    }

    #[test]
    fn capture_instant_uses_the_reported_delay_with_the_buffer_as_floor() {
        let now = Instant::now() + Duration::from_secs(10);
        let span = Duration::from_millis(25);
        assert_eq!(capture_instant(now, Some(Duration::from_millis(60)), span), now - Duration::from_millis(60));
        // No delay, too little, or an absurd one: one buffer's length.
        assert_eq!(capture_instant(now, None, span), now - span);
        assert_eq!(capture_instant(now, Some(Duration::from_millis(3)), span), now - span);
        assert_eq!(capture_instant(now, Some(Duration::from_secs(30)), span), now - span);
    }

    /// A simulated capture device: its clock runs `ppm` fast (negative: slow),
    /// it delivers `buffer` frames at a time with the capture time of the first
    /// (as cpal reports it: exact, or with `noise_us` of error), and it plays
    /// a 100 ms 1 kHz beep starting exactly on each true second.
    struct SimDevice {
        native: NativeConfig,
        ppm: f64,
        buffer: usize,
        /// Session time (µs) when device frame 0 was captured.
        t0_us: f64,
        noise_us: f64,
        n: u64,
    }

    impl SimDevice {
        fn time_us(&self, n: u64) -> f64 {
            self.t0_us + n as f64 * 1e6 / (self.native.sample_rate as f64 * (1.0 + self.ppm * 1e-6))
        }

        fn sample(&self, n: u64) -> f32 {
            let t = self.time_us(n) / 1e6;
            let f = t - t.floor();
            if t >= 0.0 && f < 0.1 {
                (0.5 * (std::f64::consts::TAU * 1000.0 * f).sin()) as f32
            } else {
                0.0
            }
        }

        /// The next buffer (interleaved) and its reported capture time (µs).
        fn next(&mut self) -> (Vec<f32>, i64) {
            let ch = self.native.channels as usize;
            let mut v = Vec::with_capacity(self.buffer * ch);
            for k in 0..self.buffer as u64 {
                let s = self.sample(self.n + k);
                v.extend(std::iter::repeat_n(s, ch));
            }
            // Deterministic "noise": a sawtooth over 7 buffers.
            let noise = self.noise_us * (((self.n / self.buffer as u64) % 7) as f64 / 3.0 - 1.0);
            let at = (self.time_us(self.n) + noise).round() as i64;
            self.n += self.buffer as u64;
            (v, at)
        }

        /// The device loses `frames` (an overrun): they are never delivered.
        fn lose(&mut self, frames: u64) {
            self.n += frames;
        }
    }

    /// Runs `secs` of the device through a timeline; returns the beep onsets'
    /// errors (ms, received time − true second) and the timeline.
    fn run_sim(dev: &mut SimDevice, secs: f64, lose_at_s: Option<(f64, u64)>) -> (Vec<f64>, Timeline) {
        let mut tl = Timeline::new(dev.native).unwrap();
        tl.restart().unwrap();
        let mut out: Vec<f32> = Vec::new();
        let mut origin = None;
        let mut lost = false;
        while dev.time_us(dev.n) < secs * 1e6 {
            if let Some((at, frames)) = lose_at_s {
                if !lost && dev.time_us(dev.n) >= at * 1e6 {
                    dev.lose(frames);
                    lost = true;
                }
            }
            let (buf, at) = dev.next();
            tl.push(&buf, at);
            while tl.ready_frames() >= CHUNK_FRAMES {
                let c = tl.take_chunk(CHUNK_FRAMES);
                let o = *origin.get_or_insert(c.pts_us);
                // Contiguous: each chunk starts where the previous one ended.
                assert_eq!(c.pts_us, o + (c.first_sample as i128 * 1_000_000 / 48_000) as i64);
                out.extend(c.samples.iter().step_by(2).map(|&s| s as f32 / 32767.0));
            }
        }
        let origin = origin.unwrap() as f64 / 1000.0;
        let mut errors = Vec::new();
        let mut last_loud = None::<usize>;
        for (j, s) in out.iter().enumerate() {
            if s.abs() > 0.25 {
                let t_ms = origin + j as f64 * 1000.0 / 48_000.0;
                // (The device may start in the middle of the first beep.)
                if last_loud.is_none_or(|l| j - l > 48_000 / 5) && t_ms > 500.0 {
                    errors.push(t_ms - (t_ms / 1000.0).round() * 1000.0);
                }
                last_loud = Some(j);
            }
        }
        (errors, tl)
    }

    fn assert_on_time(errors: &[f64], secs: f64, within_ms: f64, what: &str) {
        assert!(errors.len() as f64 >= secs - 2.0, "{what}: {} beeps in {secs} s", errors.len());
        let worst = errors.iter().copied().fold(0.0f64, |m, e| m.max(e.abs()));
        // The onset is found where the sine first passes half its amplitude: 0.08 ms after it starts.
        assert!(worst <= within_ms, "{what}: beeps off by up to {worst:.2} ms: {errors:?}");
    }

    #[test]
    fn timeline_follows_capture_times_of_fast_and_slow_devices() {
        for (rate, channels, ppm, buffer) in [
            (48_000, 2, 0.0, 1200),
            (48_000, 2, 500.0, 1200),
            (48_000, 1, -500.0, 1024),
            (44_100, 2, 300.0, 1102),
            (44_100, 1, -300.0, 441),
        ] {
            let native = NativeConfig { sample_rate: rate, channels };
            let mut dev = SimDevice { native, ppm, buffer, t0_us: 30_000.0, noise_us: 1500.0, n: 0 };
            let secs = 60.0;
            let (errors, tl) = run_sim(&mut dev, secs, None);
            let what = format!("{rate} Hz × {channels}, {ppm:+} ppm, {buffer}-frame buffers");
            assert_on_time(&errors, secs, 2.5, &what);
            assert_eq!(tl.resyncs, 0, "{what}");
            let (dropped, inserted) = tl.corrections();
            // 500 ppm over 60 s is 30 ms = 1440 frames to absorb; the sign says which way.
            let want = (ppm.abs() * 1e-6 * secs * 48_000.0) as i64;
            let (done, other) = if ppm > 0.0 { (dropped, inserted) } else { (inserted, dropped) };
            if ppm != 0.0 {
                assert!(
                    (done as i64 - want).abs() < want / 5 + 150,
                    "{what}: {dropped} dropped, {inserted} repeated, want about {want}"
                );
                assert!(other < 100, "{what}: {dropped} dropped, {inserted} repeated");
            } else {
                assert!(dropped + inserted < 100, "{what}: {dropped} dropped, {inserted} repeated");
            }
        }
    }

    #[test]
    fn timeline_fills_lost_samples_with_silence_instead_of_shifting() {
        for rate in [48_000, 44_100] {
            let native = NativeConfig { sample_rate: rate, channels: 2 };
            let mut dev =
                SimDevice { native, ppm: 0.0, buffer: rate as usize / 40, t0_us: 10_000.0, noise_us: 0.0, n: 0 };
            // An overrun 20.5 s in loses 200 ms of samples.
            let (errors, tl) = run_sim(&mut dev, 40.0, Some((20.5, rate as u64 / 5)));
            assert_on_time(&errors, 40.0, 2.5, &format!("{rate} Hz with an overrun"));
            assert_eq!(tl.resyncs, 1);
        }
    }

    #[test]
    fn timeline_starts_at_zero_when_the_first_buffer_was_captured_before_the_start() {
        let native = NativeConfig { sample_rate: 48_000, channels: 2 };
        let mut tl = Timeline::new(native).unwrap();
        tl.restart().unwrap();
        // 25 ms captured, 15 ms of it before the session started.
        tl.push(&vec![0.1; 1200 * 2], -15_000);
        assert_eq!(tl.ready_frames(), 480);
        let c = tl.take_chunk(480);
        assert_eq!(c.pts_us, 0);
    }

    #[test]
    fn reopened_device_is_lined_up_with_the_timeline() {
        let native = NativeConfig { sample_rate: 48_000, channels: 2 };
        let mut tl = Timeline::new(native).unwrap();
        tl.restart().unwrap();
        tl.push(&vec![0.1; 960 * 2], 1_000_000);
        let c = tl.take_chunk(960);
        assert_eq!((c.pts_us, tl.held_end_us()), (1_000_000, 1_020_000));
        // Gone, then back 500 ms later (nothing was padded meanwhile): silence fills the gap.
        tl.attach(native).unwrap();
        tl.push(&vec![0.1; 480 * 2], 1_520_000);
        assert_eq!(tl.ready_frames(), 24_000 + 480);
        let c = tl.take_chunk(24_000);
        assert!(c.samples.iter().all(|&s| s == 0));
        let c = tl.take_chunk(480);
        assert_eq!(c.pts_us, 1_520_000);
        assert!(c.samples.iter().all(|&s| s != 0));
        // Back with audio from before the timeline's end (silence was sent meanwhile): the overlap is dropped.
        tl.pad_silence(4800);
        tl.attach(native).unwrap();
        tl.push(&vec![0.2; 4800 * 2], 1_550_000);
        assert_eq!(tl.held_end_us(), 1_550_000 + 100_000);
        assert_eq!(tl.resyncs, 2);
    }
}
