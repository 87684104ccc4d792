//! tauri-build with the config at the top level and capabilities in src-tauri/.
//! The app manifest lists every command, so a window may call only those its capability allows.
const COMMANDS: &[&str] = &[
    "app_info",
    "current_user",
    "sign_in",
    "answer_new_password",
    "answer_mfa",
    "sign_out",
    "get_channel",
    "reveal_key",
    "rotate_key",
    "list_devices",
    "start_preview",
    "preview_url",
    "release_preview",
    "stop_preview",
    "go_live",
    "test_connection",
    "end_live",
    "broadcast_status",
    "list_recordings",
    "list_local_copies",
    "open_local_copy",
    "get_settings",
    "save_settings",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .capabilities_path_pattern("./src-tauri/capabilities/**/*")
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri-build failed");
}
