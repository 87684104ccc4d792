//! The Mentorcast desktop app's shell: Tauri commands and events over
//! `mentorcast-app-core` (sign-in, backend, Studio controller, preview,
//! settings). No media, protocol or HTTP logic lives here: each command
//! forwards to app-core and each event carries one of its DTOs.
//!
//! The commands and events are typed; `ui/src/bindings.ts` is generated from
//! them by [`specta_builder`] (the `bindings` test fails when it is stale;
//! `make bindings` rewrites it).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use mentorcast_app_core::account::Account;
use mentorcast_app_core::backend::Backend;
use mentorcast_app_core::settings::{origin_of, AppSettings, Config};
use mentorcast_app_core::stream::{PreviewStream, StreamError};
use mentorcast_app_core::studio::{self, Studio, StudioSink};
use mentorcast_app_core::*;
use mentorcast_engine::connection_test::ConnectionReport;
use mentorcast_engine::presets::{
    BitrateLimits, FormatLimits, Preset, PresetId, BITRATE_LIMITS, FORMAT_LIMITS, PRESETS,
};
use serde::{Deserialize, Serialize};
use specta::Type;
use tauri::{Manager, Runtime, State};
use tauri_specta::{collect_commands, collect_events, Event};

/// The broadcast's state, title, what to do, and health (about once a second while live).
#[derive(Debug, Clone, Serialize, Deserialize, Type, Event)]
pub struct BroadcastStatusEvent(pub BroadcastStatus);

/// The microphone level, every 100 ms (preview or live).
#[derive(Debug, Clone, Serialize, Deserialize, Type, Event)]
pub struct MicLevelEvent(pub MicLevel);

/// The live viewer count, pushed by the backend (SSE) as it changes.
#[derive(Debug, Clone, Serialize, Deserialize, Type, Event)]
pub struct ViewersEvent(pub ViewerCountView);

/// Everything the commands share.
pub struct AppState {
    pub config: Config,
    pub settings_path: Option<PathBuf>,
    pub settings: Mutex<AppSettings>,
    pub account: Arc<Account>,
    pub backend: Arc<Backend>,
    pub studio: Studio,
    pub preview: Arc<PreviewStream>,
}

struct Emitter<R: Runtime>(tauri::AppHandle<R>);

impl<R: Runtime> StudioSink for Emitter<R> {
    fn status(&self, status: BroadcastStatus) {
        let _ = BroadcastStatusEvent(status).emit(&self.0);
    }
    fn level(&self, level: MicLevel) {
        let _ = MicLevelEvent(level).emit(&self.0);
    }
    fn viewers(&self, count: ViewerCountView) {
        let _ = ViewersEvent(count).emit(&self.0);
    }
}

impl AppState {
    pub fn new<R: Runtime>(
        app: &tauri::AppHandle<R>,
        config: Config,
        settings_path: Option<PathBuf>,
        preview: Arc<PreviewStream>,
    ) -> Self {
        let settings = settings_path.as_deref().map(AppSettings::load).unwrap_or_default();
        let account = Arc::new(Account::new(config.cognito.clone(), settings.store_choice()));
        let backend = Arc::new(Backend::new(config.api_url(), account.clone()));
        let studio = Studio::new(Arc::new(Emitter(app.clone())));
        studio.set_frame_sink(Some(preview.clone()));
        Self { config, settings_path, settings: Mutex::new(settings), account, backend, studio, preview }
    }

    fn settings(&self) -> AppSettings {
        self.settings.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

type Res<T> = Result<T, UiError>;

#[tauri::command]
#[specta::specta]
async fn app_info(state: State<'_, AppState>) -> Res<AppInfo> {
    let store = match state.account.auth().await {
        Ok(a) => a.store_description(),
        Err(e) => e.message,
    };
    Ok(AppInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        config_path: state.config.path.as_ref().map(|p| p.display().to_string()),
        api_url: state.config.api_url(),
        cognito: state.config.cognito_view(),
        token_store: store,
        licences: licences(),
    })
}

fn licences() -> Vec<Licence> {
    [
        ("Mentorcast", "MIT"),
        ("Tauri", "Apache-2.0 OR MIT"),
        ("OpenH264 (Cisco)", "BSD-2-Clause"),
        ("Fraunhofer FDK AAC", "FDK AAC licence"),
        ("rml_rtmp", "MIT OR Apache-2.0"),
        ("tokio", "MIT"),
        ("AWS SDK for Rust", "Apache-2.0"),
        ("WebKitGTK", "LGPL-2.1 / BSD"),
    ]
    .into_iter()
    .map(|(n, l)| Licence { name: n.into(), licence: l.into() })
    .collect()
}

/// When the process started (for the "UI ready" log line the start-up bench reads).
static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
static UI_READY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[tauri::command]
#[specta::specta]
async fn current_user(state: State<'_, AppState>) -> Res<Option<Me>> {
    if !UI_READY.swap(true, std::sync::atomic::Ordering::Relaxed) {
        if let Some(t) = STARTED.get() {
            tracing::info!(startup_ms = t.elapsed().as_millis() as u64, "ui ready");
        }
    }
    state.account.current().await
}

#[tauri::command]
#[specta::specta]
async fn sign_in(state: State<'_, AppState>, username: String, password: String) -> Res<SignInStepDto> {
    state.account.sign_in(&username, &password).await
}

#[tauri::command]
#[specta::specta]
async fn answer_new_password(state: State<'_, AppState>, new_password: String) -> Res<SignInStepDto> {
    state.account.answer_new_password(&new_password).await
}

#[tauri::command]
#[specta::specta]
async fn answer_mfa(state: State<'_, AppState>, code: String) -> Res<SignInStepDto> {
    state.account.answer_mfa(&code).await
}

#[tauri::command]
#[specta::specta]
async fn sign_out(state: State<'_, AppState>) -> Res<String> {
    if state.studio.is_live() {
        return Err(UiError::new(ErrorKindDto::Busy, "end the broadcast before signing out"));
    }
    state.studio.stop_preview();
    state.backend.forget().await;
    state.account.sign_out().await
}

#[tauri::command]
#[specta::specta]
async fn get_channel(state: State<'_, AppState>) -> Res<ChannelView> {
    state.backend.channel_view().await
}

/// The stream key in clear, for the explicit Reveal and Copy buttons only.
#[tauri::command]
#[specta::specta]
async fn reveal_key(state: State<'_, AppState>) -> Res<String> {
    state.backend.reveal_key().await
}

#[tauri::command]
#[specta::specta]
async fn rotate_key(state: State<'_, AppState>) -> Res<ChannelView> {
    if state.studio.is_live() {
        return Err(UiError::new(ErrorKindDto::Busy, "end the broadcast before issuing a new key"));
    }
    state.backend.rotate_key().await
}

#[tauri::command]
#[specta::specta]
async fn list_devices() -> Res<DeviceList> {
    tokio::task::spawn_blocking(studio::devices)
        .await
        .map_err(|e| UiError::new(ErrorKindDto::Other, format!("listing devices failed: {e}")))
}

/// Starts the preview of these sources; the frames are on [`preview_url`]'s stream.
#[tauri::command]
#[specta::specta]
async fn start_preview(state: State<'_, AppState>, camera: String, microphone: String, preset: PresetId) -> Res<()> {
    state.studio.start_preview(camera, microphone, preset).await
}

/// The preview's MJPEG stream on 127.0.0.1 (≤ 15 fps JPEG frames; the URL carries a random token).
#[tauri::command]
#[specta::specta]
async fn preview_url(state: State<'_, AppState>) -> Res<String> {
    Ok(state.preview.url().to_string())
}

/// Ends the preview stream's open responses (the window hid, or left the Studio):
/// WebKit keeps reading an `<img>`'s stream after its `src` changes, and while a
/// reader is connected frames are scaled and encoded. Loading the URL again reopens it.
#[tauri::command]
#[specta::specta]
async fn release_preview(state: State<'_, AppState>) -> Res<()> {
    state.preview.close_readers();
    Ok(())
}

#[tauri::command]
#[specta::specta]
async fn stop_preview(state: State<'_, AppState>) -> Res<()> {
    state.studio.stop_preview();
    Ok(())
}

#[tauri::command]
#[specta::specta]
async fn go_live(state: State<'_, AppState>, request: GoLiveRequest) -> Res<()> {
    tracing::info!(preset = ?request.preset, kbps = request.video_kbps, "go live requested");
    let settings = state.settings();
    let channel = match settings.ingest_override_url {
        Some(_) => None,
        None => Some(state.backend.channel().await?),
    };
    let target = studio::target(&settings, channel.as_ref())?;
    state.studio.go_live(request, target, Some(state.backend.clone())).await
}

/// The connection test (at most 10 s, nothing a viewer sees) and its recommendations.
#[tauri::command]
#[specta::specta]
async fn test_connection(state: State<'_, AppState>) -> Res<ConnectionReport> {
    let settings = state.settings();
    let channel = match settings.ingest_override_url {
        Some(_) => None,
        None => Some(state.backend.channel().await?),
    };
    let service = connection::test_service(&settings, channel.as_ref())?;
    tracing::info!(to = %service, "connection test requested");
    connection::test(&service).await
}

#[tauri::command]
#[specta::specta]
async fn end_live(state: State<'_, AppState>) -> Res<()> {
    tracing::info!("end requested");
    state.studio.end()
}

#[tauri::command]
#[specta::specta]
async fn broadcast_status(state: State<'_, AppState>) -> Res<BroadcastStatus> {
    Ok(state.studio.status())
}

#[tauri::command]
#[specta::specta]
async fn list_recordings(state: State<'_, AppState>) -> Res<Vec<RecordingView>> {
    state.backend.recordings().await
}

#[tauri::command]
#[specta::specta]
async fn list_local_copies(state: State<'_, AppState>) -> Res<Vec<LocalCopyView>> {
    local_copies::list(&state.settings())
}

/// Plays a local copy with the system's player, or shows it in its folder (`reveal`).
#[tauri::command]
#[specta::specta]
async fn open_local_copy(state: State<'_, AppState>, path: String, reveal: bool) -> Res<()> {
    let how = if reveal { local_copies::Open::ShowInFolder } else { local_copies::Open::Play };
    local_copies::open(&state.settings(), &path, how)
}

#[tauri::command]
#[specta::specta]
async fn get_settings(state: State<'_, AppState>) -> Res<SettingsView> {
    Ok(state.settings().view())
}

#[tauri::command]
#[specta::specta]
async fn save_settings(state: State<'_, AppState>, update: SettingsUpdate) -> Res<SettingsView> {
    let mut s = state.settings();
    s.apply(update)?;
    if let Some(p) = &state.settings_path {
        s.save(p).map_err(|e| UiError::new(ErrorKindDto::Storage, e.to_string()))?;
    }
    let changed_store = s.token_store != state.settings().token_store;
    *state.settings.lock().unwrap_or_else(|p| p.into_inner()) = s.clone();
    if changed_store {
        state.account.set_store(s.store_choice()).await;
    }
    Ok(s.view())
}

/// The typed commands and events; also what generates `ui/src/bindings.ts`.
pub fn specta_builder<R: Runtime>() -> tauri_specta::Builder<R> {
    tauri_specta::Builder::<R>::new()
        .commands(collect_commands![
            app_info,
            current_user,
            sign_in,
            answer_new_password,
            answer_mfa,
            sign_out,
            get_channel,
            reveal_key,
            rotate_key,
            list_devices,
            start_preview,
            preview_url,
            release_preview,
            stop_preview,
            go_live,
            test_connection,
            end_live,
            broadcast_status,
            list_recordings,
            list_local_copies,
            open_local_copy,
            get_settings,
            save_settings,
        ])
        .events(collect_events![BroadcastStatusEvent, MicLevelEvent, ViewersEvent])
        // The one table of presets and limits, so the UI never repeats their values.
        .typ::<Preset>()
        .typ::<FormatLimits>()
        .typ::<BitrateLimits>()
        .constant("PRESETS", PRESETS)
        .constant("FORMAT_LIMITS", FORMAT_LIMITS)
        .constant("BITRATE_LIMITS", BITRATE_LIMITS)
        .dangerously_cast_bigints_to_number()
        .disable_serde_phases()
}

/// Writes the TypeScript bindings to `path`.
pub fn export_bindings(path: &std::path::Path) -> Result<(), String> {
    specta_builder::<tauri::Wry>()
        .export(specta_typescript::Typescript::default().header("// Generated from the Rust commands and events (src-tauri/lib.rs): do not edit. `make bindings` rewrites it.\n"), path)
        .map_err(|e| e.to_string())
}

/// `--config FILE` on the command line, else MENTORCAST_CONFIG, else the user's config.
fn config_arg() -> Option<PathBuf> {
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        if a == "--config" {
            return args.next().map(PathBuf::from);
        }
    }
    None
}

/// The app's commands on any runtime (the tests use the mock one); [`init`] adds events and state.
pub fn build_app<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder.invoke_handler(specta_builder::<R>().invoke_handler())
}

/// Registers the typed events and the shared state (in `setup`, or after `build` in tests).
/// Mounts the events and the state; `preview` must be bound (its origin is in the CSP).
pub fn init<R: Runtime>(
    app: &tauri::AppHandle<R>,
    config: Config,
    settings_path: Option<PathBuf>,
    mut preview: PreviewStream,
) -> Result<(), StreamError> {
    specta_builder::<R>().mount_events(app);
    tauri::async_runtime::block_on(async { preview.serve() })?;
    app.manage(AppState::new(app, config, settings_path, Arc::new(preview)));
    Ok(())
}

/// Without a GPU render node WebKitGTK composites through software GL (llvmpipe),
/// which costs a few % of a core even at rest and ~100 MB more of the web process;
/// there, draw without accelerated compositing (what a user can still override).
#[cfg(target_os = "linux")]
fn software_rendering_defaults() {
    let has_gpu = std::fs::read_dir("/dev/dri")
        .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with("renderD")))
        .unwrap_or(false);
    if !has_gpu && std::env::var_os("WEBKIT_DISABLE_COMPOSITING_MODE").is_none() {
        // Safe: called first thing in `run`, before any thread is started.
        std::env::set_var("WEBKIT_DISABLE_COMPOSITING_MODE", "1");
    }
}

pub fn run() {
    let _ = STARTED.set(std::time::Instant::now());
    #[cfg(target_os = "linux")]
    software_rendering_defaults();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MENTORCAST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = match Config::load(config_arg().as_deref()) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}; starting without backend and Cognito settings");
            Config::default()
        }
    };
    let preview = match PreviewStream::bind() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("Mentorcast could not start: {e}");
            std::process::exit(1);
        }
    };
    let mut context = tauri::generate_context!();
    // The signed recording URLs are on the backend's origin: allow exactly that one for media
    // and thumbnails; the preview's stream is on its own loopback origin.
    let origin = origin_of(&config.api_url()).unwrap_or_else(|| "'none'".into());
    if let Some(csp) = context.config_mut().app.security.csp.take() {
        let policy =
            csp.to_string().replace("__BACKEND_ORIGIN__", &origin).replace("__PREVIEW_ORIGIN__", preview.origin());
        context.config_mut().app.security.csp = Some(tauri::utils::config::Csp::Policy(policy));
    }
    let preview = std::sync::Mutex::new(Some(preview));
    let settings_path =
        std::env::var_os("MENTORCAST_APP_SETTINGS").map(PathBuf::from).or_else(AppSettings::default_path);
    let app = build_app(tauri::Builder::default()).setup(move |app| {
        let preview = preview.lock().unwrap_or_else(|p| p.into_inner()).take().ok_or("set up twice")?;
        init(app.handle(), config.clone(), settings_path.clone(), preview)?;
        Ok(())
    });
    if let Err(e) = app.run(context) {
        eprintln!("Mentorcast could not start: {e}");
        std::process::exit(1);
    }
}
