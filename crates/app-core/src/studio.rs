//! The Studio's broadcast controller: opens the chosen sources, runs the preview
//! while not live, starts the engine on Go Live (the preview then shows the very
//! frames sent), and turns the engine's state, stats and audio level — and the
//! backend's viewer count — into UI events through a [`StudioSink`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mentorcast_devices::{DeviceError, SourceSpec, Sources, VideoRequest};
use mentorcast_engine::{
    check_video_kbps, AudioLevel, AudioSettings, Broadcast, BroadcastConfig, PresetId, ReconnectPolicy, Service,
    SessionPhase, SessionState, StopHandle, TlsOptions, VideoEncoding,
};
use mentorcast_media::VideoSource;

use crate::backend::Backend;
use crate::dto::{
    BroadcastStatus, DeviceList, DeviceOption, ErrorKindDto, GoLiveRequest, MicLevel, UiError, ViewerCountView,
};
use crate::health::{self, HealthTracker};
use crate::preview::{FrameSink, PreviewOut, PreviewRunner, TapVideo};

/// Where the Studio's events go (the app emits them to the window).
pub trait StudioSink: Send + Sync + 'static {
    fn status(&self, status: BroadcastStatus);
    fn level(&self, level: MicLevel);
    fn viewers(&self, count: ViewerCountView);
}

pub const AUDIO_KBPS: u32 = 128;

/// The device lists for the pickers; "synthetic" and "none" always first.
pub fn devices() -> DeviceList {
    let mut notes = Vec::new();
    let mut cameras = vec![DeviceOption { id: "synthetic".into(), label: "Synthetic test pattern".into() }];
    match mentorcast_devices::devices::cameras() {
        Ok(list) if list.is_empty() => notes.push("No camera found: the test pattern is available.".into()),
        Ok(list) => cameras.extend(list.into_iter().map(|c| DeviceOption { label: c.name, id: c.id })),
        Err(e) => notes.push(format!("Cameras could not be listed: {e}.")),
    }
    cameras.push(DeviceOption { id: "none".into(), label: "No camera (audio only)".into() });
    let mut microphones = vec![DeviceOption { id: "synthetic".into(), label: "Synthetic tone and beeps".into() }];
    match mentorcast_devices::devices::microphones() {
        Ok(list) if list.is_empty() => notes.push("No microphone found: the synthetic tone is available.".into()),
        Ok(list) => microphones.extend(list.into_iter().map(|m| DeviceOption {
            label: if m.is_default { format!("{} (default)", m.id) } else { m.id.clone() },
            id: m.id,
        })),
        Err(e) => notes.push(format!("Microphones could not be listed: {e}.")),
    }
    microphones.push(DeviceOption { id: "none".into(), label: "No microphone (video only)".into() });
    DeviceList { cameras, microphones, notes }
}

/// The device error as the Studio says it: what happened, and what to pick instead.
fn device_error(e: DeviceError) -> UiError {
    match e {
        DeviceError::NothingToSend | DeviceError::Format(_) => UiError::new(ErrorKindDto::BadInput, e.to_string()),
        e => UiError::new(ErrorKindDto::Device, format!("{e}: pick another one, or the synthetic source")),
    }
}

/// A picker's id as a source spec ("synthetic", "none", "default" or a device id).
fn spec(id: &str) -> Result<SourceSpec, UiError> {
    id.parse().map_err(|_| UiError::new(ErrorKindDto::BadInput, "choose a camera and a microphone (or None) first"))
}

/// Opens the sources the pickers name at the preset's format (blocking: call off the async threads).
pub fn open_sources(camera: &str, microphone: &str, preset: PresetId) -> Result<Sources, UiError> {
    let (camera, microphone) = (spec(camera)?, spec(microphone)?);
    let p = preset.preset();
    mentorcast_devices::open(&camera, &microphone, VideoRequest { width: p.width, height: p.height, fps: p.fps })
        .map_err(device_error)
}

pub fn level_of(l: AudioLevel) -> MicLevel {
    MicLevel { peak_dbfs: l.peak_dbfs, rms_dbfs: l.rms_dbfs }
}

/// Where to send: the QA override when set, else the channel's ingest.
pub struct Target {
    pub service: Service,
    pub tls: TlsOptions,
    /// For the viewer count: the channel's app (None with an override).
    pub app: Option<String>,
    /// The folder for this broadcast's local copy (None: no copy).
    pub record: Option<std::path::PathBuf>,
    pub adaptive: bool,
}

/// Where Go Live sends: the QA override of `settings` when set, else `channel`'s ingest with its key.
/// `MENTORCAST_CA_FILE` adds a CA for RTMPS (private ingests, the local stack's test CA).
pub fn target(
    settings: &crate::settings::AppSettings,
    channel: Option<&mentorcast_api::Channel>,
) -> Result<Target, UiError> {
    let tls = TlsOptions { extra_ca_file: std::env::var_os("MENTORCAST_CA_FILE").map(std::path::PathBuf::from) };
    let bad = |e: mentorcast_engine::ServiceError| {
        UiError::new(ErrorKindDto::BadInput, format!("the ingest address is not usable: {e}"))
    };
    let (record, adaptive) = (settings.record_to(), settings.adaptive());
    match (settings.ingest_override_url.as_deref(), channel) {
        (Some(url), _) => Ok(Target {
            service: Service::parse(url, settings.ingest_override_key.as_deref()).map_err(bad)?,
            tls,
            app: None,
            record,
            adaptive,
        }),
        (None, Some(ch)) => Ok(Target {
            service: Service::parse(&ch.ingest_url, Some(&ch.stream_key)).map_err(bad)?,
            tls,
            app: Some(ch.app.clone()),
            record,
            adaptive,
        }),
        (None, None) => Err(UiError::new(
            ErrorKindDto::Misconfigured,
            "no channel to send to: sign in as a mentor, or set an ingest override in Settings",
        )),
    }
}

struct Live {
    stop: StopHandle,
    viewers_stop: tokio::sync::watch::Sender<bool>,
}

/// The preview's frames to whichever output is set now.
struct Fanout(Arc<Mutex<Option<FrameSink>>>);

impl PreviewOut for Fanout {
    fn wanted(&self) -> bool {
        lock(&self.0).as_ref().is_some_and(|o| o.wanted())
    }
    fn frame(&self, jpeg: Vec<u8>) {
        let out = lock(&self.0).clone();
        if let Some(o) = out {
            o.frame(jpeg)
        }
    }
}

pub struct Studio {
    sink: Arc<dyn StudioSink>,
    frames: Arc<Mutex<Option<FrameSink>>>,
    preview: Mutex<Option<PreviewRunner>>,
    /// Bumped by every preview start and Go Live: a preview whose sources finish
    /// opening after a newer request (or Go Live) is not installed.
    epoch: AtomicU64,
    /// Go Live is opening the sources (no preview may start meanwhile).
    starting: AtomicBool,
    live: Arc<Mutex<Option<Live>>>,
    status: Arc<Mutex<BroadcastStatus>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Studio {
    pub fn new(sink: Arc<dyn StudioSink>) -> Self {
        Self {
            sink,
            frames: Arc::new(Mutex::new(None)),
            preview: Mutex::new(None),
            epoch: Default::default(),
            starting: Default::default(),
            live: Arc::new(Mutex::new(None)),
            status: Arc::new(Mutex::new(BroadcastStatus::default())),
        }
    }

    /// Preview frames go here from now on (replacing the previous receiver).
    pub fn set_frame_sink(&self, sink: Option<FrameSink>) {
        *lock(&self.frames) = sink;
    }

    fn frame_fanout(&self) -> FrameSink {
        Arc::new(Fanout(self.frames.clone()))
    }

    pub fn is_live(&self) -> bool {
        lock(&self.live).is_some()
    }

    pub fn status(&self) -> BroadcastStatus {
        lock(&self.status).clone()
    }

    /// (Re)starts the preview of these sources; not while live (the live preview shows what is sent).
    pub async fn start_preview(&self, camera: String, microphone: String, preset: PresetId) -> Result<(), UiError> {
        if self.is_live() || self.starting.load(Ordering::SeqCst) {
            return Ok(());
        }
        let me = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        self.stop_preview();
        tracing::debug!(%camera, %microphone, "preview: opening the sources");
        let s = tokio::task::spawn_blocking(move || open_sources(&camera, &microphone, preset))
            .await
            .map_err(|e| UiError::new(ErrorKindDto::Other, format!("opening the sources failed: {e}")))??;
        // Go Live or a newer preview came while the sources opened: this one is not wanted.
        let mut slot = lock(&self.preview);
        if self.epoch.load(Ordering::SeqCst) != me || self.is_live() || self.starting.load(Ordering::SeqCst) {
            tracing::debug!("preview: not wanted any more (live, or a newer preview)");
            return Ok(());
        }
        drop(slot.take());
        tracing::debug!("preview: started");
        let sink = self.sink.clone();
        *slot = Some(PreviewRunner::start(
            s.video,
            s.audio,
            self.frame_fanout(),
            Arc::new(move |l| sink.level(level_of(l))),
        ));
        Ok(())
    }

    pub fn stop_preview(&self) {
        let p = lock(&self.preview).take();
        drop(p);
    }

    /// Goes live to `target` with the chosen sources; events follow through the sink.
    pub async fn go_live(
        &self,
        req: GoLiveRequest,
        target: Target,
        backend: Option<Arc<Backend>>,
    ) -> Result<(), UiError> {
        check_video_kbps(req.video_kbps).map_err(|e| UiError::new(ErrorKindDto::BadInput, e.to_string()))?;
        if self.is_live() || self.starting.swap(true, Ordering::SeqCst) {
            return Err(UiError::new(ErrorKindDto::Busy, "already live: end the broadcast first"));
        }
        // cleared however this ends (error, or the live slot is filled)
        struct Starting<'a>(&'a AtomicBool);
        impl Drop for Starting<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::SeqCst);
            }
        }
        let _starting = Starting(&self.starting);
        tracing::debug!(camera = %req.camera, microphone = %req.microphone, "go live: stopping the preview");
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.stop_preview();
        tracing::debug!("go live: opening the sources");
        let (camera, mic, preset, kbps) = (req.camera.clone(), req.microphone.clone(), req.preset, req.video_kbps);
        let sources = tokio::task::spawn_blocking(move || open_sources(&camera, &mic, preset))
            .await
            .map_err(|e| UiError::new(ErrorKindDto::Other, format!("opening the sources failed: {e}")))??;
        let video = sources.video.map(|v| Box::new(TapVideo::new(v, self.frame_fanout())) as Box<dyn VideoSource>);
        let fps = video.as_ref().map(|v| v.format().fps).unwrap_or(0);
        let config = BroadcastConfig {
            service: target.service.clone(),
            tls: target.tls,
            video: Some(VideoEncoding::kbps(kbps)),
            audio: Some(AudioSettings { kbps: AUDIO_KBPS }),
            duration: None,
            reconnect: ReconnectPolicy::default(),
            adaptive: target.adaptive,
            adaptive_floor_kbps: None,
            // A folder: each broadcast gets its own file (a trailing '/' says so even before it exists).
            record: target.record.as_ref().map(|d| d.join("")),
        };
        let destination = Some(target.service.to_string());
        tracing::debug!("go live: starting the broadcast");
        let broadcast = Broadcast::start(config, video, sources.audio);
        let (viewers_stop, viewers_rx) = tokio::sync::watch::channel(false);
        let mut guard = lock(&self.live);
        if guard.is_some() {
            broadcast.stop_handle().stop();
            return Err(UiError::new(ErrorKindDto::Busy, "already live: end the broadcast first"));
        }
        *guard = Some(Live { stop: broadcast.stop_handle(), viewers_stop });
        drop(guard);

        let mut tracker = HealthTracker::new(fps, kbps);
        let (sink, status) = (self.sink.clone(), self.status.clone());
        let mut state_rx = broadcast.state();
        let mut stats_rx = broadcast.stats();
        let mut level_rx = broadcast.audio_level();
        let app = target.app.clone();
        let live_slot = self.live_handle();
        tokio::spawn(async move {
            let publish = |st: &SessionState, stats: &mentorcast_engine::Stats, tracker: &mut HealthTracker| {
                let s = health::status(st, stats, tracker.update(stats), destination.clone());
                *lock(&status) = s.clone();
                sink.status(s);
            };
            let mut viewers_started = false;
            let mut state = SessionState::Connecting;
            publish(
                &state,
                &mentorcast_engine::Stats { state: SessionPhase::Connecting, ..Default::default() },
                &mut tracker,
            );
            let wait = broadcast_wait(broadcast);
            tokio::pin!(wait);
            let result = loop {
                tokio::select! {
                    r = &mut wait => break r,
                    Ok(()) = state_rx.changed() => {
                        state = state_rx.borrow_and_update().clone();
                        let stats = stats_rx.borrow().clone();
                        publish(&state, &stats, &mut tracker);
                        if state == SessionState::Live && !viewers_started {
                            viewers_started = true;
                            if let (Some(b), Some(app)) = (backend.clone(), app.clone()) {
                                let (sink, rx) = (sink.clone(), viewers_rx.clone());
                                tokio::spawn(async move { b.follow_viewers(app, move |v| sink.viewers(v), rx).await });
                            }
                        }
                    }
                    Ok(()) = stats_rx.changed() => {
                        let stats = stats_rx.borrow_and_update().clone();
                        publish(&state, &stats, &mut tracker);
                    }
                    Ok(()) = level_rx.changed() => {
                        if let Some(l) = *level_rx.borrow_and_update() { sink.level(level_of(l)); }
                    }
                }
            };
            let final_state = match &result {
                Ok(_) => SessionState::Ended,
                Err(f) => SessionState::Failed { kind: f.kind, reason: f.message.clone() },
            };
            let stats = match result {
                Ok(s) => s,
                Err(_) => stats_rx.borrow().clone(),
            };
            if let Some(l) = lock(&live_slot).take() {
                let _ = l.viewers_stop.send(true);
            }
            publish(&final_state, &stats, &mut tracker);
        });
        Ok(())
    }

    /// The live slot, shared with the monitor task so that it can clear it at the end.
    fn live_handle(&self) -> Arc<Mutex<Option<Live>>> {
        self.live.clone()
    }

    /// Ends the broadcast (the engine drains and closes the stream).
    pub fn end(&self) -> Result<(), UiError> {
        match lock(&self.live).as_ref() {
            Some(l) => {
                l.stop.stop();
                Ok(())
            }
            None => Err(UiError::new(ErrorKindDto::BadInput, "not live")),
        }
    }
}

async fn broadcast_wait(b: Broadcast) -> Result<mentorcast_engine::Stats, mentorcast_engine::BroadcastFailure> {
    b.wait().await
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NullSink;
    impl StudioSink for NullSink {
        fn status(&self, _: BroadcastStatus) {}
        fn level(&self, _: MicLevel) {}
        fn viewers(&self, _: ViewerCountView) {}
    }

    fn closed_port_target() -> Target {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Target {
            service: Service::parse(&format!("rtmp://127.0.0.1:{port}/live"), Some("k")).unwrap(),
            tls: TlsOptions::default(),
            app: None,
            record: None,
            adaptive: true,
        }
    }

    fn request() -> GoLiveRequest {
        GoLiveRequest {
            camera: "synthetic".into(),
            microphone: "synthetic".into(),
            preset: PresetId::P480p30,
            video_kbps: 1000,
        }
    }

    fn preview_running(s: &Studio) -> bool {
        lock(&s.preview).is_some()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_preview_racing_go_live_is_never_left_running_beside_the_broadcast() {
        for round in 0..20 {
            let s = Studio::new(Arc::new(NullSink));
            // the preview's sources open on another thread while Go Live opens its own
            let (p, g) =
                tokio::join!(s.start_preview("synthetic".into(), "synthetic".into(), PresetId::P480p30), async {
                    if round % 2 == 1 {
                        tokio::task::yield_now().await;
                    }
                    s.go_live(request(), closed_port_target(), None).await
                });
            p.unwrap();
            g.unwrap();
            assert!(!preview_running(&s), "round {round}: a preview runs beside the broadcast");
            // and a preview asked for while live does not start either
            s.start_preview("synthetic".into(), "synthetic".into(), PresetId::P480p30).await.unwrap();
            assert!(!preview_running(&s) || !s.is_live(), "round {round}: preview started while live");
            let _ = s.end();
        }
    }

    #[tokio::test]
    async fn the_newest_preview_request_wins() {
        let s = Studio::new(Arc::new(NullSink));
        // the older request (video only, quicker to open) finishes first; the newer one still wins
        let (a, b) = tokio::join!(
            s.start_preview("synthetic".into(), "none".into(), PresetId::P480p30),
            s.start_preview("synthetic".into(), "synthetic".into(), PresetId::P1080p30)
        );
        a.unwrap();
        b.unwrap();
        assert_eq!(lock(&s.preview).as_ref().map(|p| p.sources()), Some(2));
    }

    #[test]
    fn empty_source_ids_are_refused_before_any_device_is_opened() {
        let e = open_sources("", "synthetic", PresetId::P480p30).err().unwrap();
        assert_eq!(e.kind, ErrorKindDto::BadInput);
        assert!(open_sources("synthetic", " ", PresetId::P480p30).is_err());
    }
}
