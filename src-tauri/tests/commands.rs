//! The app's commands through Tauri's IPC on the mock runtime (no display):
//! argument and result shapes, errors as `UiError`, events, and the ACL of the
//! real config and capability. Plus the staleness check of `ui/src/bindings.ts`.

use std::sync::mpsc;
use std::time::Duration;

use mentorcast_app_core::settings::Config;
use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{Listener, WebviewWindow};

fn app(settings: Option<std::path::PathBuf>) -> (tauri::App<MockRuntime>, WebviewWindow<MockRuntime>) {
    let app = mentorcast_app_lib::build_app(mock_builder())
        .build(tauri::generate_context!())
        .expect("the app builds on the mock runtime");
    mentorcast_app_lib::init(
        app.handle(),
        Config::default(),
        settings,
        mentorcast_app_core::stream::PreviewStream::bind().unwrap(),
    )
    .unwrap();
    let w = tauri::WebviewWindowBuilder::new(&app, "main", Default::default()).build().expect("a main window");
    (app, w)
}

fn invoke(w: &WebviewWindow<MockRuntime>, cmd: &str, args: Value) -> Result<Value, Value> {
    get_ipc_response(
        w,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|b| b.deserialize::<Value>().unwrap())
}

#[test]
fn status_settings_and_errors_round_trip() {
    let dir = std::env::temp_dir().join(format!("mentorcast-app-test-{}", std::process::id()));
    let (_app, w) = app(Some(dir.join("app-settings.json")));

    let s = invoke(&w, "broadcast_status", json!({})).unwrap();
    assert_eq!(s["state"], "idle");
    assert_eq!(s["title"], "Ready");

    let v = invoke(&w, "get_settings", json!({})).unwrap();
    let dir_shown = v["local_copy_dir"].as_str().unwrap_or_default().to_string();
    assert!(dir_shown.ends_with("/Mentorcast"), "the copies go to the videos folder: {v}");
    assert_eq!(
        v,
        json!({"ingest_override_url": null, "ingest_override_has_key": false, "token_store": null,
               "local_copy": true, "local_copy_dir": dir_shown, "adaptive": true})
    );

    let e = invoke(
        &w,
        "save_settings",
        json!({"update": {"ingest_override_url": "ftp://nope", "ingest_override_key": null, "token_store": null}}),
    )
    .unwrap_err();
    assert_eq!(e["kind"], "bad_input", "{e}");

    let v = invoke(&w, "save_settings", json!({"update": {"ingest_override_url": "rtmp://127.0.0.1:1/live", "ingest_override_key": "qa-secret", "token_store": "file"}})).unwrap();
    assert_eq!(v["ingest_override_has_key"], true);
    assert!(!v.to_string().contains("qa-secret"), "the key never goes back to the UI");

    // No Cognito settings: a clear sentence, not a panic.
    let e = invoke(&w, "sign_in", json!({"username": "mentor1", "password": "x"})).unwrap_err();
    assert_eq!(e["kind"], "misconfigured", "{e}");
    assert!(e["message"].as_str().unwrap().ends_with('.'));

    let e = invoke(&w, "end_live", json!({})).unwrap_err();
    assert_eq!(e["kind"], "bad_input");

    let d = invoke(&w, "list_devices", json!({})).unwrap();
    assert_eq!(d["cameras"][0]["id"], "synthetic");
    assert_eq!(d["microphones"][0]["id"], "synthetic");

    let _ = std::fs::remove_dir_all(dir);
}

/// Go Live to a port where nothing listens: the status events say so in plain language.
#[test]
fn going_live_to_a_closed_port_reports_ingest_unreachable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // closed again: nothing listens there now
    let dir = std::env::temp_dir().join(format!("mentorcast-app-test-live-{}", std::process::id()));
    let (app, w) = app(Some(dir.join("app-settings.json")));
    let (tx, rx) = mpsc::channel::<Value>();
    app.listen_any("broadcast-status-event", move |e| {
        let _ = tx.send(serde_json::from_str(e.payload()).unwrap());
    });
    invoke(&w, "save_settings", json!({"update": {"ingest_override_url": format!("rtmp://127.0.0.1:{port}/live"), "ingest_override_key": "k", "token_store": null}})).unwrap();
    invoke(
        &w,
        "go_live",
        json!({"request": {"camera": "synthetic", "microphone": "synthetic", "preset": "p480p30", "video_kbps": 1000}}),
    )
    .unwrap();
    let mut states = Vec::new();
    let failed = loop {
        let s = rx.recv_timeout(Duration::from_secs(60)).expect("a status event within 60 s");
        states.push(s["state"].as_str().unwrap().to_string());
        if s["state"] == "failed" {
            break s;
        }
    };
    assert_eq!(states[0], "connecting", "{states:?}");
    assert_eq!(failed["title"], "Ingest unreachable", "{failed}");
    assert!(
        failed["destination"].as_str().unwrap().ends_with("/****"),
        "the key is masked in the destination: {failed}"
    );
    let s = invoke(&w, "broadcast_status", json!({})).unwrap();
    assert_eq!(s["state"], "failed");
    let _ = std::fs::remove_dir_all(dir);
}

/// `ui/src/bindings.ts` must be what the Rust commands and events generate (`make bindings` rewrites it).
#[test]
fn typescript_bindings_are_current() {
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/src/bindings.ts");
    let fresh = std::env::temp_dir().join(format!("mentorcast-bindings-{}.ts", std::process::id()));
    mentorcast_app_lib::export_bindings(&fresh).expect("exporting the bindings");
    let want = std::fs::read_to_string(&fresh).unwrap();
    let _ = std::fs::remove_file(&fresh);
    if std::env::var_os("UPDATE_BINDINGS").is_some() {
        std::fs::write(&committed, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&committed).unwrap_or_default();
    assert!(have == want, "ui/src/bindings.ts is stale: run `make bindings` (UPDATE_BINDINGS=1 cargo test -p mentorcast-app --test commands typescript_bindings_are_current)");
}

/// The capability allows exactly the commands the UI's bindings call (one was once
/// missing: the UI's call then failed at run time, with nothing in `cargo test`).
#[test]
fn the_capability_allows_exactly_the_commands_in_the_bindings() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let bindings = std::fs::read_to_string(root.join("ui/src/bindings.ts")).unwrap();
    let mut called: Vec<String> =
        bindings.split("TAURI_INVOKE(\"").skip(1).map(|s| s[..s.find('"').unwrap()].replace('_', "-")).collect();
    called.sort();
    let cap: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("src-tauri/capabilities/default.json")).unwrap())
            .unwrap();
    let mut allowed: Vec<String> = cap["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str()?.strip_prefix("allow-").map(str::to_string))
        .collect();
    allowed.sort();
    assert!(!called.is_empty());
    assert_eq!(called, allowed, "commands in ui/src/bindings.ts vs allow-* in src-tauri/capabilities/default.json");
}

/// The preview: `preview_url` names a loopback MJPEG stream, and once the preview
/// runs, JPEG frames arrive on it as parts of one multipart response, until
/// `release_preview` ends the response.
#[test]
fn preview_frames_arrive_on_the_stream_the_command_names() {
    use std::io::{Read, Write};
    let (_app, w) = app(None);
    let url = invoke(&w, "preview_url", json!({})).unwrap();
    let url = url.as_str().unwrap();
    let rest = url.strip_prefix("http://127.0.0.1:").expect("a loopback URL");
    let (port, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).unwrap();
    invoke(&w, "start_preview", json!({"camera": "synthetic", "microphone": "synthetic", "preset": "p480p30"}))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    let jpeg_part = b"Content-Type: image/jpeg\r\nContent-Length: ";
    while got.windows(jpeg_part.len()).filter(|w| w == jpeg_part).count() < 2 {
        let n = s.read(&mut buf).expect("preview frames within 20 s");
        assert!(n > 0, "the stream closed: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n") && text.contains("multipart/x-mixed-replace"), "{text:.300}");
    let at = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4; // end of the response head
    let part = &got[at..];
    let body = part.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4; // end of the first part's head
    assert_eq!(&part[body..body + 2], b"\xff\xd8", "a JPEG (SOI) in the first part");
    invoke(&w, "release_preview", json!({})).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("the response ends within 20 s of release_preview");
    assert!(rest.ends_with(b"--mentorcast-frame--\r\n"), "ends with the closing boundary");
    invoke(&w, "stop_preview", json!({})).unwrap();
}
