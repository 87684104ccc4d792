//! `mentorcast devices [--json]`: cameras (with their modes) and microphones
//! (with their default configs). None found is an empty list, not an error.

use anyhow::Result;

use crate::exit;

pub fn run(json: bool) -> Result<i32> {
    let (cameras, cam_err) = match mentorcast_devices::devices::cameras() {
        Ok(c) => (c, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let (mics, mic_err) = match mentorcast_devices::devices::microphones() {
        Ok(m) => (m, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    if json {
        println!(
            "{}",
            serde_json::json!({"cameras": cameras, "microphones": mics, "camera_error": cam_err, "microphone_error": mic_err})
        );
        return Ok(exit::OK);
    }
    println!("Cameras:");
    if cameras.is_empty() {
        println!("  (none){}", cam_err.map(|e| format!(" — {e}")).unwrap_or_default());
    }
    for c in &cameras {
        println!("  {}  {}", c.id, c.name);
        if let Some(e) = &c.error {
            println!("      (modes unavailable: {e})");
        }
        for m in &c.modes {
            println!("      {}x{} @ {} fps  {}", m.width, m.height, m.fps, m.format.as_str());
        }
    }
    println!("Microphones:");
    if mics.is_empty() {
        println!("  (none){}", mic_err.map(|e| format!(" — {e}")).unwrap_or_default());
    }
    for m in &mics {
        println!(
            "  {}{}  {} Hz, {} ch, {}",
            m.id,
            if m.is_default { " (default)" } else { "" },
            m.sample_rate.map(|r| r.to_string()).unwrap_or_else(|| "?".into()),
            m.channels.map(|c| c.to_string()).unwrap_or_else(|| "?".into()),
            m.sample_format.as_deref().unwrap_or("?")
        );
    }
    Ok(exit::OK)
}
