//! Scenes: the compositor between the video sources and the encoder. It is
//! the one video source the encoder sees: a canvas of the broadcast's size and
//! frame rate, fixed when going live, onto which each frame the current scene
//! is drawn from the latest frame of each input —
//!
//! - **Camera**: the camera, fitted to the canvas;
//! - **Screen**: the screen (or a window), fitted to the canvas;
//! - **Screen + camera** ([`Scene::Pip`]): the screen, with the camera in a
//!   corner, 15–35 % of the canvas's width.
//!
//! Fitting keeps the aspect (black bars where it differs). Each input runs on
//! its own thread and keeps only its latest frame, so a slow input never holds
//! the canvas back, and switching scenes ([`SceneControl`]) takes effect on the
//! next frame with no black frame: every input is captured all the time.
//! Composition works on I420 planes (scale + copy).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::clock::{FramePacer, MediaClock};
use crate::frame::{PixelFormat, VideoFormat, VideoFrame};
use crate::limits::{check_format, FormatError};
use crate::scale::downscale;
use crate::source::{SourceError, SourceStatus, VideoSource};

/// What the canvas shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scene {
    Camera,
    Screen,
    /// The screen with the camera in a corner.
    Pip,
}

impl Scene {
    pub const ALL: [Scene; 3] = [Scene::Camera, Scene::Screen, Scene::Pip];

    pub fn as_str(self) -> &'static str {
        match self {
            Scene::Camera => "camera",
            Scene::Screen => "screen",
            Scene::Pip => "pip",
        }
    }
}

impl std::str::FromStr for Scene {
    type Err = LayoutError;
    fn from_str(s: &str) -> Result<Self, LayoutError> {
        Scene::ALL.into_iter().find(|sc| sc.as_str() == s).ok_or_else(|| LayoutError::Scene(s.to_string()))
    }
}

/// The corner the camera sits in, in the picture-in-picture scene.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Corner {
    TopLeft,
    TopRight,
    BottomLeft,
    BottomRight,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("the camera's width must be {min}–{max} % of the picture, not {0} %", min = PipLayout::MIN_PCT, max = PipLayout::MAX_PCT)]
    Width(u32),
    #[error("no scene called {0:?}: camera, screen or pip")]
    Scene(String),
}

/// Where the camera goes in the picture-in-picture scene.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PipLayout {
    pub corner: Corner,
    /// The camera's width as a share of the canvas's, in percent.
    pub width_pct: u32,
}

impl PipLayout {
    pub const MIN_PCT: u32 = 15;
    pub const MAX_PCT: u32 = 35;

    pub fn new(corner: Corner, width_pct: u32) -> Result<Self, LayoutError> {
        if !(Self::MIN_PCT..=Self::MAX_PCT).contains(&width_pct) {
            return Err(LayoutError::Width(width_pct));
        }
        Ok(Self { corner, width_pct })
    }
}

impl Default for PipLayout {
    fn default() -> Self {
        Self { corner: Corner::BottomRight, width_pct: 25 }
    }
}

/// A rectangle on the canvas, in pixels (even, as I420's chroma wants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

fn even(v: u32) -> u32 {
    v & !1
}

/// Where a `src_w`×`src_h` picture goes inside `area`: as large as fits with its
/// aspect kept, centred (black bars where the aspects differ).
pub fn fit(src_w: u32, src_h: u32, area: Rect) -> Rect {
    if src_w == 0 || src_h == 0 {
        return Rect { w: 0, h: 0, ..area };
    }
    // Wider than the area: full width; else full height.
    let (w, h) = if src_w as u64 * area.h as u64 >= src_h as u64 * area.w as u64 {
        (area.w, even((area.w as u64 * src_h as u64 / src_w as u64) as u32))
    } else {
        (even((area.h as u64 * src_w as u64 / src_h as u64) as u32), area.h)
    };
    Rect { x: area.x + even((area.w - w) / 2), y: area.y + even((area.h - h) / 2), w, h }
}

/// Where the camera goes on a `canvas_w`×`canvas_h` canvas: `layout.width_pct`
/// of its width, the camera's aspect kept, in the corner with a margin of 2 %.
pub fn pip_rect(layout: PipLayout, cam_w: u32, cam_h: u32, canvas_w: u32, canvas_h: u32) -> Rect {
    let w = even(canvas_w * layout.width_pct / 100).max(2);
    let h = even((w as u64 * cam_h as u64 / cam_w.max(1) as u64) as u32).clamp(2, even(canvas_h));
    let margin = even(canvas_w * 2 / 100);
    let right = canvas_w.saturating_sub(w + margin);
    let bottom = canvas_h.saturating_sub(h + margin);
    let (x, y) = match layout.corner {
        Corner::TopLeft => (margin, margin),
        Corner::TopRight => (right, margin),
        Corner::BottomLeft => (margin, bottom),
        Corner::BottomRight => (right, bottom),
    };
    Rect { x: even(x), y: even(y), w, h }
}

/// Black in I420 (video range).
const BLACK_Y: u8 = 16;
const BLACK_C: u8 = 128;

/// An I420 picture the scene is drawn on.
pub struct Canvas {
    pub width: u32,
    pub height: u32,
    /// Y, then U, then V (tightly packed).
    pub data: Vec<u8>,
}

impl Canvas {
    pub fn new(width: u32, height: u32) -> Self {
        let mut c = Self { width: even(width), height: even(height), data: Vec::new() };
        c.clear();
        c
    }

    fn luma(&self) -> usize {
        self.width as usize * self.height as usize
    }

    /// All black.
    pub fn clear(&mut self) {
        let luma = self.luma();
        self.data.resize(luma * 3 / 2, 0);
        self.data[..luma].fill(BLACK_Y);
        self.data[luma..].fill(BLACK_C);
    }

    /// Draws `frame` scaled to `at` (which must lie on the canvas).
    pub fn draw(&mut self, frame: &VideoFrame, at: Rect) {
        let (cw, ch) = (self.width, self.height);
        if at.w == 0 || at.h == 0 || at.x + at.w > cw || at.y + at.h > ch {
            return;
        }
        let (fw, fh) = (frame.width as usize, frame.height as usize);
        let (w, h) = (at.w as usize, at.h as usize);
        let luma = self.luma();
        let (y_plane, chroma) = self.data.split_at_mut(luma);
        let (u_plane, v_plane) = chroma.split_at_mut(luma / 4);
        let stride = cw as usize;
        let (x0, y0) = (at.x as usize, at.y as usize);
        let copy = |dst: &mut [u8], dst_stride: usize, src: &[u8], w: usize, h: usize, x0: usize, y0: usize| {
            for (row, line) in src.chunks_exact(w).take(h).enumerate() {
                let start = (y0 + row) * dst_stride + x0;
                dst[start..start + w].copy_from_slice(line);
            }
        };
        if (fw, fh) == (w, h) && frame.pixel_format == PixelFormat::I420 && frame.data.len() >= w * h * 3 / 2 {
            // The same size: straight copies of the planes.
            let (y, c) = frame.data.split_at(w * h);
            copy(y_plane, stride, y, w, h, x0, y0);
            copy(u_plane, stride / 2, &c[..w * h / 4], w / 2, h / 2, x0 / 2, y0 / 2);
            copy(v_plane, stride / 2, &c[w * h / 4..w * h / 2], w / 2, h / 2, x0 / 2, y0 / 2);
            return;
        }
        let Some(small) = downscale(frame, at.w, at.h) else { return };
        let (sw, sh) = (small.width as usize, small.height as usize);
        copy(y_plane, stride, &small.y, sw, sh, x0, y0);
        copy(u_plane, stride / 2, &small.u, sw / 2, sh / 2, x0 / 2, y0 / 2);
        copy(v_plane, stride / 2, &small.v, sw / 2, sh / 2, x0 / 2, y0 / 2);
    }
}

/// Draws one frame of `scene` on `canvas` from the inputs' latest frames (an
/// input with no frame yet leaves its place black).
pub fn compose(
    canvas: &mut Canvas,
    scene: Scene,
    layout: PipLayout,
    camera: Option<&VideoFrame>,
    screen: Option<&VideoFrame>,
) {
    canvas.clear();
    let full = Rect { x: 0, y: 0, w: canvas.width, h: canvas.height };
    let whole = |canvas: &mut Canvas, f: Option<&VideoFrame>| {
        if let Some(f) = f {
            canvas.draw(f, fit(f.width, f.height, full));
        }
    };
    match scene {
        Scene::Camera => whole(canvas, camera),
        Scene::Screen => whole(canvas, screen),
        Scene::Pip => {
            whole(canvas, screen);
            if let Some(cam) = camera {
                let at = pip_rect(layout, cam.width, cam.height, canvas.width, canvas.height);
                canvas.draw(cam, at);
            }
        }
    }
}

/// The scene on air and the camera's corner, shared between the compositor and
/// whoever switches (the CLI's control lines, the app): a change takes effect
/// on the next frame.
#[derive(Debug, Clone)]
pub struct SceneControl(Arc<Mutex<(Scene, PipLayout)>>);

impl SceneControl {
    pub fn new(scene: Scene, layout: PipLayout) -> Self {
        Self(Arc::new(Mutex::new((scene, layout))))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Scene, PipLayout)> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_scene(&self, scene: Scene) {
        self.lock().0 = scene;
    }

    pub fn set_layout(&self, layout: PipLayout) {
        self.lock().1 = layout;
    }

    pub fn get(&self) -> (Scene, PipLayout) {
        *self.lock()
    }
}

/// One input: its source until the compositor starts, then its thread and latest frame.
struct Input {
    source: Option<Box<dyn VideoSource>>,
    status: Option<SourceStatus>,
    latest: Arc<Mutex<Option<VideoFrame>>>,
    thread: Option<JoinHandle<()>>,
}

impl Input {
    fn new(source: Box<dyn VideoSource>) -> Self {
        Self { status: source.status(), source: Some(source), latest: Default::default(), thread: None }
    }

    fn start(&mut self, clock: MediaClock, stop: Arc<AtomicBool>) {
        let Some(mut src) = self.source.take() else { return };
        src.start(clock);
        let latest = self.latest.clone();
        let name = format!("scene-input-{}", src.name());
        let spawned = std::thread::Builder::new().name(name).spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match src.next_frame() {
                    Ok(f) => *latest.lock().unwrap_or_else(|p| p.into_inner()) = Some(f),
                    Err(e) => {
                        tracing::warn!("a scene's input ended: {e}");
                        break;
                    }
                }
            }
        });
        match spawned {
            Ok(t) => self.thread = Some(t),
            Err(e) => tracing::error!("could not start a scene's input: {e}"),
        }
    }
}

/// An input's latest frame, held while the canvas is drawn (None: no such input).
fn latest(input: &Option<Input>) -> Option<std::sync::MutexGuard<'_, Option<VideoFrame>>> {
    input.as_ref().map(|i| i.latest.lock().unwrap_or_else(|p| p.into_inner()))
}

/// The compositor as the encoder's one video source: `camera` and `screen`
/// (either may be absent) drawn at `width`×`height`, `fps`, in the scene `control` says.
pub struct Compositor {
    format: VideoFormat,
    camera: Option<Input>,
    screen: Option<Input>,
    control: SceneControl,
    canvas: Canvas,
    clock: MediaClock,
    pacer: FramePacer,
    stop: Arc<AtomicBool>,
}

impl Compositor {
    pub fn new(
        width: u32,
        height: u32,
        fps: u32,
        camera: Option<Box<dyn VideoSource>>,
        screen: Option<Box<dyn VideoSource>>,
        control: SceneControl,
    ) -> Result<Self, FormatError> {
        check_format(width, height, fps)?;
        Ok(Self {
            format: VideoFormat { width, height, fps, pixel_format: PixelFormat::I420 },
            camera: camera.map(Input::new),
            screen: screen.map(Input::new),
            control,
            canvas: Canvas::new(width, height),
            clock: MediaClock::start(),
            pacer: FramePacer::new(fps),
            stop: Arc::new(AtomicBool::new(false)),
        })
    }
}

impl VideoSource for Compositor {
    fn start(&mut self, clock: MediaClock) {
        self.clock = clock;
        for input in [self.camera.as_mut(), self.screen.as_mut()].into_iter().flatten() {
            input.start(clock, self.stop.clone());
        }
    }

    fn format(&self) -> VideoFormat {
        self.format
    }

    fn name(&self) -> &str {
        "scene"
    }

    fn next_frame(&mut self) -> Result<VideoFrame, SourceError> {
        // Paced by the canvas's own clock: a frame every 1/fps, whatever the inputs do.
        let index = self.pacer.wait_next(&self.clock);
        let (scene, layout) = self.control.get();
        let (cam, scr) = (latest(&self.camera), latest(&self.screen));
        let (cam, scr) = (cam.as_ref().and_then(|g| g.as_ref()), scr.as_ref().and_then(|g| g.as_ref()));
        compose(&mut self.canvas, scene, layout, cam, scr);
        Ok(VideoFrame {
            width: self.canvas.width,
            height: self.canvas.height,
            pixel_format: PixelFormat::I420,
            data: self.canvas.data.clone(),
            pts_us: self.pacer.pts_of(index),
            index,
        })
    }

    fn status(&self) -> Option<SourceStatus> {
        self.camera.as_ref().and_then(|c| c.status.clone())
    }
}

impl Drop for Compositor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for input in [self.camera.as_mut(), self.screen.as_mut()].into_iter().flatten() {
            if let Some(t) = input.thread.take() {
                let _ = t.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SyntheticVideo;

    /// A flat picture of one luma value, paced by the clock.
    struct Flat {
        w: u32,
        h: u32,
        luma: u8,
        fps: u32,
        clock: MediaClock,
        n: u64,
    }

    impl Flat {
        fn frame(w: u32, h: u32, luma: u8) -> VideoFrame {
            let n = (w * h) as usize;
            let mut data = vec![luma; n];
            data.resize(n * 3 / 2, 128);
            VideoFrame { width: w, height: h, pixel_format: PixelFormat::I420, data, pts_us: 0, index: 0 }
        }
    }

    impl VideoSource for Flat {
        fn start(&mut self, clock: MediaClock) {
            self.clock = clock;
        }
        fn format(&self) -> VideoFormat {
            VideoFormat { width: self.w, height: self.h, fps: self.fps, pixel_format: PixelFormat::I420 }
        }
        fn name(&self) -> &str {
            "flat"
        }
        fn next_frame(&mut self) -> Result<VideoFrame, SourceError> {
            self.n += 1;
            self.clock.sleep_until(self.n as i64 * 1_000_000 / self.fps as i64);
            Ok(Flat::frame(self.w, self.h, self.luma))
        }
    }

    fn y_at(c: &Canvas, x: u32, y: u32) -> u8 {
        c.data[(y * c.width + x) as usize]
    }

    #[test]
    fn pictures_fit_with_their_aspect_kept() {
        let full = Rect { x: 0, y: 0, w: 1280, h: 720 };
        assert_eq!(fit(1920, 1080, full), full, "16:9 fills 16:9");
        assert_eq!(fit(1440, 900, full), Rect { x: 64, y: 0, w: 1152, h: 720 }, "16:10: bars left and right");
        assert_eq!(fit(640, 480, full), Rect { x: 160, y: 0, w: 960, h: 720 }, "4:3");
        assert_eq!(fit(2560, 1080, full), Rect { x: 0, y: 90, w: 1280, h: 540 }, "ultra-wide: bars above and below");
        let r = fit(3000, 2001, full);
        assert!([r.w, r.h, r.x, r.y].iter().all(|v| v.is_multiple_of(2)), "{r:?}");
    }

    #[test]
    fn the_camera_corner() {
        let l = |corner, pct| PipLayout::new(corner, pct).unwrap();
        assert_eq!(
            pip_rect(l(Corner::BottomRight, 25), 1280, 720, 1920, 1080),
            Rect { x: 1402, y: 772, w: 480, h: 270 }
        );
        assert_eq!(pip_rect(l(Corner::TopLeft, 15), 640, 480, 1280, 720), Rect { x: 24, y: 24, w: 192, h: 144 });
        assert_eq!(pip_rect(l(Corner::TopRight, 35), 1280, 720, 1280, 720).x, 1280 - 448 - 24);
        assert_eq!(
            pip_rect(l(Corner::BottomLeft, 20), 1280, 720, 1280, 720),
            Rect { x: 24, y: 696 - 144, w: 256, h: 144 }
        );
        assert_eq!(PipLayout::new(Corner::TopLeft, 14), Err(LayoutError::Width(14)));
        assert_eq!(PipLayout::new(Corner::TopLeft, 36), Err(LayoutError::Width(36)));
        assert_eq!("pip".parse::<Scene>(), Ok(Scene::Pip));
        assert!("slides".parse::<Scene>().unwrap_err().to_string().contains("camera, screen or pip"));
    }

    #[test]
    fn each_scene_draws_what_it_says() {
        let (cam, screen) = (Flat::frame(640, 360, 200), Flat::frame(1440, 900, 90));
        let mut c = Canvas::new(1280, 720);
        let layout = PipLayout::default();
        compose(&mut c, Scene::Camera, layout, Some(&cam), Some(&screen));
        assert_eq!((y_at(&c, 0, 0), y_at(&c, 640, 360), y_at(&c, 1279, 719)), (200, 200, 200), "the camera fills 16:9");
        compose(&mut c, Scene::Screen, layout, Some(&cam), Some(&screen));
        assert_eq!(y_at(&c, 10, 360), BLACK_Y, "16:10 screen: a bar at the left");
        assert_eq!(y_at(&c, 640, 360), 90);
        compose(&mut c, Scene::Pip, layout, Some(&cam), Some(&screen));
        let r = pip_rect(layout, 640, 360, 1280, 720);
        assert_eq!(y_at(&c, r.x + r.w / 2, r.y + r.h / 2), 200, "the camera in its corner");
        assert_eq!(y_at(&c, r.x - 1, r.y + r.h / 2), 90, "the screen around it");
        assert_eq!(y_at(&c, 640, 360), 90);
        compose(&mut c, Scene::Pip, layout, None, None);
        assert!(c.data[..1280 * 720].iter().all(|&y| y == BLACK_Y), "nothing yet: black");
    }

    /// The counter the synthetic camera burns in still reads after the canvas
    /// scaled it (the end-to-end tests count frames through scenes this way).
    #[test]
    fn the_synthetic_counter_reads_through_the_canvas() {
        let src = SyntheticVideo::new(1280, 720, 30, MediaClock::start()).unwrap();
        let mut c = Canvas::new(1920, 1080);
        for i in [0u64, 7, 1234] {
            compose(&mut c, Scene::Camera, PipLayout::default(), Some(&src.render(i)), None);
            assert_eq!(crate::counter::read(&c.data[..1920 * 1080], 1920, 1080, 1920).ok(), Some(i));
        }
    }

    #[test]
    fn a_scene_switch_shows_on_the_next_frame_with_no_black_frame() {
        let control = SceneControl::new(Scene::Camera, PipLayout::default());
        let cam = Flat { w: 640, h: 360, luma: 200, fps: 60, clock: MediaClock::start(), n: 0 };
        let scr = Flat { w: 1280, h: 720, luma: 90, fps: 60, clock: MediaClock::start(), n: 0 };
        let mut comp =
            Compositor::new(1280, 720, 30, Some(Box::new(cam)), Some(Box::new(scr)), control.clone()).unwrap();
        comp.start(MediaClock::start());
        // The first frames may come before the inputs' first: wait for the camera.
        let mut f = comp.next_frame().unwrap();
        for _ in 0..30 {
            if f.data[360 * 1280 + 640] == 200 {
                break;
            }
            f = comp.next_frame().unwrap();
        }
        assert_eq!(f.data[360 * 1280 + 640], 200, "the camera scene");
        let before = f.index;
        control.set_scene(Scene::Screen);
        let f = comp.next_frame().unwrap();
        assert_eq!(f.index, before + 1, "the very next frame");
        assert_eq!(f.data[360 * 1280 + 640], 90, "shows the screen, not black");
        control.set_scene(Scene::Pip);
        let f = comp.next_frame().unwrap();
        let r = pip_rect(PipLayout::default(), 640, 360, 1280, 720);
        assert_eq!(f.data[((r.y + 10) * 1280 + r.x + 10) as usize], 200);
        assert_eq!(f.data[360 * 1280 + 640], 90);
    }
}
