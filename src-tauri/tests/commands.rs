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
    let app = mentorcast_app_lib::build_app(mock_builder()).build(tauri::generate_context!()).expect("the app builds on the mock runtime");
    mentorcast_app_lib::init(app.handle(), Config::default(), settings);
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
    assert_eq!(v, json!({"ingest_override_url": null, "ingest_override_has_key": false, "token_store": null}));

    let e = invoke(&w, "save_settings", json!({"update": {"ingest_override_url": "ftp://nope", "ingest_override_key": null, "token_store": null}})).unwrap_err();
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
    invoke(&w, "go_live", json!({"request": {"camera": "synthetic", "microphone": "synthetic", "preset": "p480p30", "video_kbps": 1000}})).unwrap();
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
    assert!(failed["destination"].as_str().unwrap().ends_with("/****"), "the key is masked in the destination: {failed}");
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
