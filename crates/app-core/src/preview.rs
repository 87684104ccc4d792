//! Camera preview for the Studio: frames scaled down to preview size and encoded
//! as JPEG at most [`PREVIEW_FPS`] times a second, handed to a sink as bytes
//! (the app serves them as an MJPEG stream on loopback: never base64 JSON).
//!
//! Before going live a [`PreviewRunner`] pulls the chosen sources itself (and
//! measures the microphone level); while live, [`TapVideo`] wraps the source the
//! engine encodes so that the preview shows exactly what is sent.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mentorcast_engine::{AudioLevel, LevelMeter};
use mentorcast_media::{AudioSource, MediaClock, SourceError, VideoFormat, VideoFrame, VideoSource};

/// At most this many preview frames a second (before going live).
pub const PREVIEW_FPS: u32 = 15;
/// While live: fewer (each frame costs a JPEG encode here and a decode and repaint
/// in WebKit, which without a GPU is most of the app's cost above the CLI's).
pub const LIVE_PREVIEW_FPS: u32 = 10;
/// Preview width (height follows the aspect ratio, even).
pub const PREVIEW_WIDTH: u32 = 640;
pub const JPEG_QUALITY: u8 = 70;

/// Where preview frames go (the app: [`crate::stream::PreviewStream`]).
pub trait PreviewOut: Send + Sync + 'static {
    /// Whether anything shows the frames now: when not, no frame is scaled or encoded.
    fn wanted(&self) -> bool {
        true
    }
    fn frame(&self, jpeg: Vec<u8>);
}

impl<F: Fn(Vec<u8>) + Send + Sync + 'static> PreviewOut for F {
    fn frame(&self, jpeg: Vec<u8>) {
        self(jpeg)
    }
}

pub type FrameSink = Arc<dyn PreviewOut>;
pub type LevelSink = Arc<dyn Fn(AudioLevel) + Send + Sync>;

/// The preview size for a frame size: at most [`PREVIEW_WIDTH`] wide, even dimensions.
pub fn preview_size(width: u32, height: u32) -> (u32, u32) {
    if width <= PREVIEW_WIDTH {
        return (width & !1, height & !1);
    }
    let h = (height as u64 * PREVIEW_WIDTH as u64 / width as u64) as u32;
    (PREVIEW_WIDTH, (h & !1).max(2))
}

pub use crate::jpeg::{JpegEncoder, JpegError};
pub use mentorcast_media::scale::{downscale, SmallFrame};

/// Throttles frames to the preview rate and encodes them on a worker thread, so
/// the capture thread only pays for the downscale.
pub struct PreviewTap {
    out: FrameSink,
    tx: SyncSender<SmallFrame>,
    last: Option<Instant>,
    interval: Duration,
}

impl PreviewTap {
    pub fn new(sink: FrameSink) -> Self {
        Self::with_fps(sink, PREVIEW_FPS)
    }

    pub fn with_fps(sink: FrameSink, fps: u32) -> Self {
        let (tx, rx) = sync_channel::<SmallFrame>(1);
        let out = sink.clone();
        let _ = std::thread::Builder::new().name("preview-jpeg".into()).spawn(move || {
            let mut jpeg = match JpegEncoder::new(JPEG_QUALITY) {
                Ok(j) => j,
                Err(e) => return tracing::warn!("preview off: {e}"),
            };
            while let Ok(f) = rx.recv() {
                match jpeg.encode(&f) {
                    Ok(bytes) => sink.frame(bytes),
                    Err(e) => tracing::warn!("preview: {e}"),
                }
            }
        });
        Self { out, tx, last: None, interval: Duration::from_secs(1) / fps.clamp(1, PREVIEW_FPS) }
    }

    /// Offers a frame; most are skipped (rate, nobody watching) or dropped (worker busy).
    pub fn offer(&mut self, frame: &VideoFrame) {
        let now = Instant::now();
        if self.last.is_some_and(|l| now.duration_since(l) < self.interval) || !self.out.wanted() {
            return;
        }
        let (w, h) = preview_size(frame.width, frame.height);
        let Some(small) = downscale(frame, w, h) else { return };
        match self.tx.try_send(small) {
            Ok(()) => self.last = Some(now),
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// A video source that shows its frames in the preview on their way to the encoder.
pub struct TapVideo {
    inner: Box<dyn VideoSource>,
    tap: PreviewTap,
}

impl TapVideo {
    pub fn new(inner: Box<dyn VideoSource>, sink: FrameSink) -> Self {
        Self { inner, tap: PreviewTap::with_fps(sink, LIVE_PREVIEW_FPS) }
    }
}

impl VideoSource for TapVideo {
    fn start(&mut self, clock: MediaClock) {
        self.inner.start(clock)
    }
    fn format(&self) -> VideoFormat {
        self.inner.format()
    }
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn next_frame(&mut self) -> Result<VideoFrame, SourceError> {
        let f = self.inner.next_frame()?;
        self.tap.offer(&f);
        Ok(f)
    }
    fn status(&self) -> Option<mentorcast_media::SourceStatus> {
        self.inner.status()
    }
}

/// Pulls sources for the preview while not live: video frames to the frame
/// sink, the microphone's level every 100 ms to the level sink. Stops on drop.
pub struct PreviewRunner {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl PreviewRunner {
    pub fn start(
        video: Option<Box<dyn VideoSource>>,
        audio: Option<Box<dyn AudioSource>>,
        frames: FrameSink,
        levels: LevelSink,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let clock = MediaClock::start();
        if let Some(mut v) = video {
            let stop = stop.clone();
            v.start(clock);
            if let Ok(t) = std::thread::Builder::new().name("preview-video".into()).spawn(move || {
                let mut tap = PreviewTap::new(frames);
                while !stop.load(Ordering::Relaxed) {
                    match v.next_frame() {
                        Ok(f) => tap.offer(&f),
                        Err(e) => {
                            tracing::warn!("preview video ended: {e}");
                            break;
                        }
                    }
                }
            }) {
                threads.push(t);
            }
        }
        if let Some(mut a) = audio {
            let stop = stop.clone();
            a.start(clock);
            if let Ok(t) = std::thread::Builder::new().name("preview-audio".into()).spawn(move || {
                let mut meter = LevelMeter::default();
                while !stop.load(Ordering::Relaxed) {
                    match a.next_chunk() {
                        Ok(c) => {
                            for l in meter.push(&c.samples) {
                                levels(l);
                            }
                        }
                        Err(e) => {
                            tracing::warn!("preview audio ended: {e}");
                            break;
                        }
                    }
                }
            }) {
                threads.push(t);
            }
        }
        Self { stop, threads }
    }

    pub fn stop(mut self) {
        self.halt();
    }

    /// One thread per source pulled (video, audio).
    pub fn sources(&self) -> usize {
        self.threads.len()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for PreviewRunner {
    fn drop(&mut self) {
        self.halt();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mentorcast_media::SyntheticVideo;
    use std::sync::Mutex;

    #[test]
    fn preview_sizes_keep_aspect_and_are_even() {
        assert_eq!(preview_size(1920, 1080), (640, 360));
        assert_eq!(preview_size(1280, 720), (640, 360));
        assert_eq!(preview_size(854, 480), (640, 358));
        assert_eq!(preview_size(320, 240), (320, 240));
    }

    #[test]
    fn a_synthetic_frame_becomes_a_small_jpeg() {
        let v = SyntheticVideo::new(1280, 720, 30, MediaClock::start()).unwrap();
        let f = v.render(10);
        let small = downscale(&f, 640, 360).unwrap();
        assert_eq!((small.y.len(), small.u.len(), small.v.len()), (640 * 360, 320 * 180, 320 * 180));
        let jpeg = JpegEncoder::new(JPEG_QUALITY).unwrap().encode(&small).unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "JPEG SOI");
        assert_eq!(&jpeg[jpeg.len() - 2..], &[0xFF, 0xD9], "JPEG EOI");
        assert!(jpeg.len() < 100_000, "preview JPEG is {} bytes", jpeg.len());
    }

    fn frame(
        w: u32,
        h: u32,
        format: mentorcast_media::PixelFormat,
        luma: impl Fn(usize, usize) -> u8,
        cb: u8,
        cr: u8,
    ) -> VideoFrame {
        let (wu, hu) = (w as usize, h as usize);
        let mut data: Vec<u8> = (0..wu * hu).map(|i| luma(i % wu, i / wu)).collect();
        let quarter = wu * hu / 4;
        match format {
            mentorcast_media::PixelFormat::I420 => {
                data.extend(std::iter::repeat_n(cb, quarter));
                data.extend(std::iter::repeat_n(cr, quarter));
            }
            mentorcast_media::PixelFormat::Nv12 => {
                data.extend((0..2 * quarter).map(|i| if i % 2 == 0 { cb } else { cr }))
            }
        }
        VideoFrame { width: w, height: h, pixel_format: format, data, pts_us: 0, index: 0 }
    }

    #[test]
    fn fine_detail_is_averaged_not_aliased_and_nv12_matches_i420() {
        use mentorcast_media::PixelFormat::{Nv12, I420};
        // one-pixel checkerboard: decimation would keep only black or only white
        let check = |x: usize, y: usize| if (x + y).is_multiple_of(2) { 0 } else { 255 };
        let small = downscale(&frame(1280, 720, I420, check, 90, 200), 640, 360).unwrap();
        assert!(small.y.iter().all(|&v| (126..=129).contains(&v)), "checkerboard → mid grey, got {:?}", &small.y[..8]);
        assert!(small.u.iter().all(|&v| v == 90) && small.v.iter().all(|&v| v == 200), "flat chroma kept");
        // a ramp keeps its ends and its order, at 1280→480 (not a whole ratio) as well
        let ramp = |x: usize, _| (x * 255 / 1279) as u8;
        for (w, h) in [(640, 360), (480, 270)] {
            let a = downscale(&frame(1280, 720, I420, ramp, 60, 160), w, h).unwrap();
            let b = downscale(&frame(1280, 720, Nv12, ramp, 60, 160), w, h).unwrap();
            assert_eq!((a.y.len(), a.u.len()), ((w * h) as usize, (w * h / 4) as usize));
            assert_eq!((&a.y, &a.u, &a.v), (&b.y, &b.u, &b.v), "NV12 and I420 of one picture scale alike");
            let row = &a.y[..w as usize];
            assert!(row.windows(2).all(|p| p[0] <= p[1]), "ramp stays monotonic");
            assert!(row[0] <= 2 && row[w as usize - 1] >= 253, "ramp ends kept: {} … {}", row[0], row[w as usize - 1]);
        }
        // not shrinking: nearest samples, nothing read past the end
        let same = downscale(&frame(320, 240, Nv12, check, 1, 2), 320, 240).unwrap();
        assert_eq!(same.y[..4], [0, 255, 0, 255]);
    }

    #[test]
    fn the_runner_sends_frames_at_most_at_the_preview_rate_and_levels() {
        let frames = Arc::new(Mutex::new(Vec::<Instant>::new()));
        let levels = Arc::new(Mutex::new(0usize));
        let (f2, l2) = (frames.clone(), levels.clone());
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let done_tx = Mutex::new(Some(done_tx));
        let video = SyntheticVideo::new(640, 360, 30, MediaClock::start()).unwrap();
        let audio = mentorcast_media::SyntheticAudio::new(MediaClock::start());
        let runner = PreviewRunner::start(
            Some(Box::new(video)),
            Some(Box::new(audio)),
            Arc::new(move |jpeg: Vec<u8>| {
                assert_eq!(jpeg[0], 0xFF);
                let mut g = f2.lock().unwrap();
                g.push(Instant::now());
                if g.len() == 10 {
                    if let Some(tx) = done_tx.lock().unwrap().take() {
                        let _ = tx.send(());
                    }
                }
            }),
            Arc::new(move |l: AudioLevel| {
                assert!(l.peak_dbfs.is_some());
                *l2.lock().unwrap() += 1;
            }),
        );
        done_rx.recv_timeout(Duration::from_secs(10)).expect("10 preview frames within 10 s");
        runner.stop();
        let f = frames.lock().unwrap();
        let span = f[9].duration_since(f[0]).as_secs_f64();
        // 9 intervals of ≥ 1/15 s (a little slack for timer granularity)
        assert!(span >= 9.0 / 15.0 * 0.95, "10 frames in {span:.3} s: faster than 15 fps");
        assert!(*levels.lock().unwrap() >= 3, "mic levels arrive every 100 ms");
    }
}
