//! Camera capture through nokhwa (V4L2), behind [`VideoSource`].
//!
//! - Format choice ([`choose_format`]): the mode nearest the requested size
//!   and frame rate; raw YUYV/NV12 preferred over MJPEG at the same mode, MJPEG
//!   decoded when it is all there is.
//! - A capture thread owns the camera (nokhwa's camera is not `Send`), stamps
//!   each frame from the session clock as it is read, converts it to I420 and
//!   puts it in a 2-slot queue that drops the oldest frame when the engine
//!   lags; a dropped frame leaves a gap in `index` and so counts as dropped.
//! - If the camera fails or goes quiet for [`CAMERA_STALL`], frames continue
//!   as a slate ("CAMERA UNAVAILABLE") at the nominal rate, the status says so,
//!   and the capture thread reopens the camera every second until it is back.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use mentorcast_media::{
    DeviceState, DeviceStatus, MediaClock, PixelFormat, SourceError, SourceStatus, VideoFormat, VideoFrame, VideoSource,
};

use crate::convert::CaptureFormat;

/// No frame for this long: the camera is unavailable, the slate takes over.
pub const CAMERA_STALL: Duration = Duration::from_millis(700);
/// Frames waiting between the capture thread and the engine.
const CAPTURE_QUEUE: usize = 2;

/// One capture mode a camera offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CameraMode {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub format: CaptureFormat,
}

/// The mode nearest `width`×`height`@`fps`: smallest size difference (in
/// pixels, relative), then frame-rate difference, then raw before MJPEG.
/// Odd sizes are skipped (I420 needs even sides).
pub fn choose_format(modes: &[CameraMode], width: u32, height: u32, fps: u32) -> Option<CameraMode> {
    let want_area = (width as f64 * height as f64).max(1.0);
    modes
        .iter()
        .filter(|m| m.width % 2 == 0 && m.height % 2 == 0 && m.fps > 0)
        .min_by(|a, b| {
            let key = |m: &CameraMode| {
                let size = (m.width as f64 - width as f64).abs() / width.max(1) as f64
                    + (m.height as f64 - height as f64).abs() / height.max(1) as f64
                    + ((m.width as f64 * m.height as f64) - want_area).abs() / want_area * 0.01;
                let rate = (m.fps as f64 - fps as f64).abs() / fps.max(1) as f64;
                (size, rate, m.format.preference())
            };
            let (ka, kb) = (key(a), key(b));
            ka.0.total_cmp(&kb.0).then(ka.1.total_cmp(&kb.1)).then(ka.2.cmp(&kb.2))
        })
        .copied()
}

/// Which camera to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraSelector {
    /// The first camera found.
    Default,
    /// By id (as `mentorcast devices` lists it: the V4L2 index) or by name.
    Id(String),
}

/// A grey I420 slate with "CAMERA UNAVAILABLE" across the middle.
pub fn render_slate(width: u32, height: u32) -> Vec<u8> {
    const TEXT: &str = "CAMERA UNAVAILABLE";
    let (w, h) = (width as usize, height as usize);
    let mut buf = vec![0u8; w * h * 3 / 2];
    buf[..w * h].fill(48);
    buf[w * h..].fill(128);
    // 5x7 glyphs, one bit per column (MSB left), with one column of spacing.
    let glyph = |c: char| -> [u8; 7] {
        match c {
            'A' => [0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
            'B' => [0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e],
            'C' => [0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e],
            'E' => [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f],
            'I' => [0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e],
            'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f],
            'M' => [0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11],
            'N' => [0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x11],
            'R' => [0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11],
            'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
            'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04],
            _ => [0; 7],
        }
    };
    let cols = TEXT.len() * 6;
    let scale = (w * 8 / 10 / cols).max(1);
    let (tw, th) = (cols * scale, 7 * scale);
    let (x0, y0) = ((w.saturating_sub(tw)) / 2, (h.saturating_sub(th)) / 2);
    for (i, c) in TEXT.chars().enumerate() {
        let g = glyph(c);
        for (row, bits) in g.iter().enumerate() {
            for col in 0..5 {
                if bits & (0x10 >> col) != 0 {
                    for dy in 0..scale {
                        let y = y0 + row * scale + dy;
                        let x = x0 + (i * 6 + col) * scale;
                        if y < h && x + scale <= w {
                            buf[y * w + x..y * w + x + scale].fill(220);
                        }
                    }
                }
            }
        }
    }
    buf
}

/// Frames from the capture thread, newest kept.
struct Shared {
    queue: Mutex<(VecDeque<VideoFrame>, u64)>,
    ready: Condvar,
    clock: Mutex<Option<MediaClock>>,
    stop: AtomicBool,
}

impl Shared {
    fn push(&self, frame: VideoFrame) {
        let mut g = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if g.0.len() >= CAPTURE_QUEUE {
            g.0.pop_front();
            g.1 += 1;
        }
        g.0.push_back(frame);
        drop(g);
        self.ready.notify_one();
    }

    /// Waits for a frame up to `timeout`; returns it and how many were dropped before it.
    fn pop(&self, timeout: Duration) -> Option<(VideoFrame, u64)> {
        let deadline = Instant::now() + timeout;
        let mut g = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(f) = g.0.pop_front() {
                let dropped = std::mem::take(&mut g.1);
                return Some((f, dropped));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            g = self.ready.wait_timeout(g, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }
}

/// A real camera as a [`VideoSource`].
pub struct CameraSource {
    name: String,
    format: VideoFormat,
    mode: CameraMode,
    shared: Arc<Shared>,
    status: SourceStatus,
    clock: MediaClock,
    thread: Option<std::thread::JoinHandle<()>>,
    next_index: u64,
    slate: Vec<u8>,
    /// Session time of the next slate frame, while the slate is on.
    slate_next_us: Option<i64>,
    last_frame: Instant,
}

impl CameraSource {
    /// Opens the camera now, in the mode nearest the request; fails with
    /// "no camera found" when there is none.
    #[cfg(feature = "camera")]
    pub fn open(selector: CameraSelector, width: u32, height: u32, fps: u32) -> Result<Self, SourceError> {
        let shared = Arc::new(Shared {
            queue: Mutex::new((VecDeque::new(), 0)),
            ready: Condvar::new(),
            clock: Mutex::new(None),
            stop: AtomicBool::new(false),
        });
        let status = SourceStatus::new();
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let (sh, st) = (shared.clone(), status.clone());
        let thread = std::thread::Builder::new()
            .name("camera-capture".into())
            .spawn(move || nokhwa_backend::capture_thread(selector, width, height, fps, sh, st, ready_tx))
            .map_err(|e| SourceError::Device(format!("cannot start the camera thread: {e}")))?;
        let (name, mode) = match ready_rx.recv_timeout(Duration::from_secs(15)) {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => return Err(SourceError::Device("the camera did not open within 15 s".into())),
        };
        Ok(Self::from_parts(name, mode, shared, status, Some(thread)))
    }

    /// The engine side of a camera whose frames `shared` receives (from the
    /// capture thread, or from a test).
    fn from_parts(
        name: String,
        mode: CameraMode,
        shared: Arc<Shared>,
        status: SourceStatus,
        thread: Option<std::thread::JoinHandle<()>>,
    ) -> Self {
        let format =
            VideoFormat { width: mode.width, height: mode.height, fps: mode.fps, pixel_format: PixelFormat::I420 };
        Self {
            name,
            format,
            mode,
            shared,
            status,
            clock: MediaClock::start(),
            thread,
            next_index: 0,
            slate: render_slate(mode.width, mode.height),
            slate_next_us: None,
            last_frame: Instant::now(),
        }
    }

    #[cfg(not(feature = "camera"))]
    pub fn open(_selector: CameraSelector, _width: u32, _height: u32, _fps: u32) -> Result<Self, SourceError> {
        Err(SourceError::NotFound { kind: "camera (built without camera support)" })
    }

    /// The mode the camera was opened in.
    pub fn mode(&self) -> CameraMode {
        self.mode
    }
}

impl Drop for CameraSource {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl VideoSource for CameraSource {
    fn start(&mut self, clock: MediaClock) {
        self.clock = clock;
        *self.shared.clock.lock().unwrap_or_else(|p| p.into_inner()) = Some(clock);
        self.shared.queue.lock().unwrap_or_else(|p| p.into_inner()).0.clear();
        self.next_index = 0;
        self.last_frame = Instant::now();
    }

    fn format(&self) -> VideoFormat {
        self.format
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn status(&self) -> Option<SourceStatus> {
        Some(self.status.clone())
    }

    fn next_frame(&mut self) -> Result<VideoFrame, SourceError> {
        let frame_us = 1_000_000 / self.format.fps.max(1) as i64;
        if self.slate_next_us.is_none() {
            let left = CAMERA_STALL.saturating_sub(self.last_frame.elapsed());
            match self.shared.pop(left) {
                Some((mut f, dropped)) => {
                    self.last_frame = Instant::now();
                    f.index = self.next_index + dropped;
                    self.next_index = f.index + 1;
                    return Ok(f);
                }
                None => {
                    if self.status.get().state == DeviceState::Active {
                        self.status
                            .set(DeviceStatus::unavailable(format!("no frames for {} ms", CAMERA_STALL.as_millis())));
                    }
                    tracing::warn!("camera '{}' unavailable: showing the slate", self.name);
                    self.slate_next_us = Some(self.clock.now_us());
                }
            }
        }
        // Slate: paced by the clock; a real frame ends it.
        let at = self.slate_next_us.unwrap_or(0);
        let wait = (at - self.clock.now_us()).max(0) as u64;
        if let Some((mut f, _)) = self.shared.pop(Duration::from_micros(wait)) {
            tracing::info!("camera '{}' is back", self.name);
            self.slate_next_us = None;
            self.last_frame = Instant::now();
            f.index = self.next_index;
            self.next_index += 1;
            return Ok(f);
        }
        self.slate_next_us = Some(at + frame_us);
        let f = VideoFrame {
            width: self.format.width,
            height: self.format.height,
            pixel_format: PixelFormat::I420,
            data: self.slate.clone(),
            pts_us: at.max(self.clock.now_us() - frame_us),
            index: self.next_index,
        };
        self.next_index += 1;
        Ok(f)
    }
}

#[cfg(feature = "camera")]
pub(crate) mod nokhwa_backend {
    use super::*;
    use crate::convert::Converter;
    use nokhwa::pixel_format::RgbFormat;
    use nokhwa::utils::{
        ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType, Resolution,
    };
    use nokhwa::Camera;

    pub fn to_capture(f: FrameFormat) -> Option<CaptureFormat> {
        match f {
            FrameFormat::YUYV => Some(CaptureFormat::Yuyv),
            FrameFormat::NV12 => Some(CaptureFormat::Nv12),
            FrameFormat::MJPEG => Some(CaptureFormat::Mjpeg),
            _ => None,
        }
    }

    fn from_capture(f: CaptureFormat) -> FrameFormat {
        match f {
            CaptureFormat::Yuyv => FrameFormat::YUYV,
            CaptureFormat::Nv12 => FrameFormat::NV12,
            CaptureFormat::Mjpeg => FrameFormat::MJPEG,
        }
    }

    /// (id, name) of every camera; empty when there is none.
    pub fn list() -> Result<Vec<(CameraIndex, String)>, SourceError> {
        match nokhwa::query(ApiBackend::Video4Linux) {
            Ok(list) => Ok(list.into_iter().map(|i| (i.index().clone(), i.human_name())).collect()),
            Err(e) => Err(SourceError::Device(format!("cannot list cameras: {e}"))),
        }
    }

    pub fn modes(index: &CameraIndex) -> Result<Vec<CameraMode>, SourceError> {
        let mut cam = Camera::new(index.clone(), RequestedFormat::new::<RgbFormat>(RequestedFormatType::None))
            .map_err(|e| SourceError::Device(format!("cannot open camera {index}: {e}")))?;
        let formats =
            cam.compatible_camera_formats().map_err(|e| SourceError::Device(format!("camera {index}: {e}")))?;
        Ok(formats
            .into_iter()
            .filter_map(|f| {
                Some(CameraMode {
                    width: f.width(),
                    height: f.height(),
                    fps: f.frame_rate(),
                    format: to_capture(f.format())?,
                })
            })
            .collect())
    }

    fn resolve(selector: &CameraSelector) -> Result<(CameraIndex, String), SourceError> {
        let cams = list()?;
        if cams.is_empty() {
            return Err(SourceError::NotFound { kind: "camera" });
        }
        match selector {
            CameraSelector::Default => Ok(cams[0].clone()),
            CameraSelector::Id(id) => cams
                .into_iter()
                .find(|(i, n)| i.as_string() == *id || n == id || format!("/dev/video{}", i.as_string()) == *id)
                .ok_or(SourceError::NotFound { kind: "camera" }),
        }
    }

    fn open(index: &CameraIndex, mode: CameraMode) -> Result<Camera, SourceError> {
        let fmt = CameraFormat::new(Resolution::new(mode.width, mode.height), from_capture(mode.format), mode.fps);
        let mut cam = Camera::new(index.clone(), RequestedFormat::new::<RgbFormat>(RequestedFormatType::Exact(fmt)))
            .map_err(|e| SourceError::Device(format!("cannot open camera {index}: {e}")))?;
        cam.open_stream().map_err(|e| SourceError::Device(format!("cannot start camera {index}: {e}")))?;
        Ok(cam)
    }

    pub(super) fn capture_thread(
        selector: CameraSelector,
        width: u32,
        height: u32,
        fps: u32,
        shared: Arc<Shared>,
        status: SourceStatus,
        ready: std::sync::mpsc::SyncSender<Result<(String, CameraMode), SourceError>>,
    ) {
        let first = (|| {
            let (index, name) = resolve(&selector)?;
            let modes = modes(&index)?;
            let mode = choose_format(&modes, width, height, fps).ok_or_else(|| {
                SourceError::UnsupportedFormat(format!("camera '{name}' offers no YUYV, NV12 or MJPEG mode"))
            })?;
            let cam = open(&index, mode)?;
            Ok((index, name, mode, cam))
        })();
        let (index, name, mode, cam) = match first {
            Ok(v) => v,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let _ = ready.send(Ok((name.clone(), mode)));
        let mut conv = match Converter::new(mode.format, mode.width, mode.height) {
            Ok(c) => c,
            Err(e) => {
                status.set(DeviceStatus::unavailable(e.to_string()));
                return;
            }
        };
        let mut cam = Some(cam);
        let mut last_try = Instant::now();
        while !shared.stop.load(Ordering::Relaxed) {
            let Some(c) = cam.as_mut() else {
                if last_try.elapsed() >= Duration::from_secs(1) {
                    last_try = Instant::now();
                    if let Ok(c) = open(&index, mode) {
                        tracing::info!("camera '{name}' reopened");
                        status.set(DeviceStatus::ACTIVE);
                        cam = Some(c);
                    }
                }
                std::thread::park_timeout(Duration::from_millis(100));
                continue;
            };
            match c.frame_raw() {
                Ok(buf) => {
                    let clock = *shared.clock.lock().unwrap_or_else(|p| p.into_inner());
                    let Some(clock) = clock else { continue };
                    let pts_us = clock.now_us();
                    let mut data = Vec::new();
                    match conv.convert(&buf, &mut data) {
                        Ok(()) => shared.push(VideoFrame {
                            width: mode.width,
                            height: mode.height,
                            pixel_format: PixelFormat::I420,
                            data,
                            pts_us,
                            index: 0,
                        }),
                        Err(e) => tracing::debug!("camera frame skipped: {e}"),
                    }
                }
                Err(e) => {
                    tracing::warn!("camera '{name}' failed: {e}");
                    status.set(DeviceStatus::unavailable(e.to_string()));
                    cam = None;
                    last_try = Instant::now();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(width: u32, height: u32, fps: u32, format: CaptureFormat) -> CameraMode {
        CameraMode { width, height, fps, format }
    }

    #[test]
    fn chooses_the_nearest_mode_preferring_raw() {
        use CaptureFormat::*;
        let modes = [
            m(640, 480, 30, Yuyv),
            m(1280, 720, 30, Mjpeg),
            m(1280, 720, 10, Yuyv),
            m(1920, 1080, 30, Mjpeg),
            m(1280, 720, 30, Yuyv),
        ];
        assert_eq!(choose_format(&modes, 1280, 720, 30), Some(m(1280, 720, 30, Yuyv)));
        // Only MJPEG has the size at the rate: it wins over a raw mode at the wrong rate.
        let modes2 = [m(1280, 720, 30, Mjpeg), m(1280, 720, 10, Yuyv), m(640, 480, 30, Yuyv)];
        assert_eq!(choose_format(&modes2, 1280, 720, 30), Some(m(1280, 720, 30, Mjpeg)));
        assert_eq!(choose_format(&modes, 1920, 1080, 30), Some(m(1920, 1080, 30, Mjpeg)));
        assert_eq!(choose_format(&modes, 640, 360, 30), Some(m(640, 480, 30, Yuyv)));
        assert_eq!(choose_format(&[m(641, 480, 30, Yuyv)], 640, 480, 30), None);
        assert_eq!(choose_format(&[], 640, 480, 30), None);
    }

    #[test]
    fn slate_has_text_in_the_middle() {
        let s = render_slate(640, 360);
        assert_eq!(s.len(), 640 * 360 * 3 / 2);
        let mid: Vec<u8> = s[180 * 640..181 * 640].to_vec();
        assert!(mid.iter().filter(|&&p| p == 220).count() > 40, "no text on the middle row");
        assert!(s[..640].iter().all(|&p| p == 48));
    }

    #[test]
    fn queue_drops_the_oldest_and_reports_it() {
        let shared = Shared {
            queue: Mutex::new((VecDeque::new(), 0)),
            ready: Condvar::new(),
            clock: Mutex::new(None),
            stop: AtomicBool::new(false),
        };
        let f = |pts| VideoFrame {
            width: 2,
            height: 2,
            pixel_format: PixelFormat::I420,
            data: vec![0; 6],
            pts_us: pts,
            index: 0,
        };
        for pts in 0..5 {
            shared.push(f(pts));
        }
        let (a, dropped) = shared.pop(Duration::from_millis(10)).unwrap();
        assert_eq!((a.pts_us, dropped), (3, 3));
        let (b, dropped) = shared.pop(Duration::from_millis(10)).unwrap();
        assert_eq!((b.pts_us, dropped), (4, 0));
        assert!(shared.pop(Duration::from_millis(10)).is_none());
    }

    /// The camera goes quiet mid-broadcast: after CAMERA_STALL the slate
    /// follows at the nominal rate and the status says so; when frames come
    /// again they end the slate, and the frame indexes run on without a gap.
    #[test]
    fn a_stalled_camera_gives_the_slate_then_comes_back() {
        let shared = Arc::new(Shared {
            queue: Mutex::new((VecDeque::new(), 0)),
            ready: Condvar::new(),
            clock: Mutex::new(None),
            stop: AtomicBool::new(false),
        });
        let status = SourceStatus::new();
        let mode = m(64, 36, 50, CaptureFormat::Yuyv);
        let mut cam = CameraSource::from_parts("test".into(), mode, shared.clone(), status.clone(), None);
        let clock = MediaClock::start();
        cam.start(clock);
        let real = |pts| VideoFrame {
            width: 64,
            height: 36,
            pixel_format: PixelFormat::I420,
            data: vec![7; 64 * 36 * 3 / 2],
            pts_us: pts,
            index: 0,
        };
        shared.push(real(clock.now_us()));
        let f0 = cam.next_frame().unwrap();
        assert_eq!((f0.index, f0.data[0]), (0, 7));
        assert_eq!(status.get().state, DeviceState::Active);
        // nothing more from the camera: the slate, once the stall is over
        let waited = Instant::now();
        let s1 = cam.next_frame().unwrap();
        assert!(waited.elapsed() >= CAMERA_STALL - Duration::from_millis(50), "slate after {:?}", waited.elapsed());
        assert_eq!(s1.data, render_slate(64, 36));
        assert_eq!(s1.index, 1);
        assert_eq!(status.get().state, DeviceState::Unavailable, "{:?}", status.get());
        // slate frames are paced at the nominal rate (50 fps: 20 ms apart)
        let s2 = cam.next_frame().unwrap();
        let s3 = cam.next_frame().unwrap();
        assert_eq!((s2.index, s3.index), (2, 3));
        // (more only when this thread was not scheduled for a while)
        assert!((20_000..120_000).contains(&(s3.pts_us - s2.pts_us)), "{} µs apart", s3.pts_us - s2.pts_us);
        assert_eq!(s2.data, s1.data);
        // the camera is back: its frame replaces the slate at once
        shared.push(real(clock.now_us()));
        let back = cam.next_frame().unwrap();
        assert_eq!((back.index, back.data[0]), (4, 7));
    }
}
