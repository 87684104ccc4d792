//! Device listing for `mentorcast devices`: cameras with their modes,
//! microphones with their default configs. No device is an empty list, not an error.

use cpal::traits::{DeviceTrait, HostTrait};

use crate::camera::CameraMode;

#[derive(Debug, Clone, serde::Serialize)]
pub struct CameraInfo {
    /// What `--camera` takes (the V4L2 index).
    pub id: String,
    pub name: String,
    pub modes: Vec<CameraMode>,
    /// Set when the modes could not be read.
    pub error: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct MicInfo {
    /// What `--mic` takes (the host's device name).
    pub id: String,
    pub is_default: bool,
    pub sample_rate: Option<u32>,
    pub channels: Option<u16>,
    pub sample_format: Option<String>,
    /// Set when the default config could not be read.
    pub error: Option<String>,
}

/// Every camera found (empty when there is none).
pub fn cameras() -> Result<Vec<CameraInfo>, String> {
    #[cfg(feature = "camera")]
    {
        let list = crate::camera::nokhwa_backend::list().map_err(|e| e.to_string())?;
        Ok(list
            .into_iter()
            .map(|(index, name)| match crate::camera::nokhwa_backend::modes(&index) {
                Ok(modes) => CameraInfo { id: index.as_string(), name, modes, error: None },
                Err(e) => CameraInfo { id: index.as_string(), name, modes: Vec::new(), error: Some(e.to_string()) },
            })
            .collect())
    }
    #[cfg(not(feature = "camera"))]
    {
        Ok(Vec::new())
    }
}

/// Every input device the audio host lists (empty when there is none).
pub fn microphones() -> Result<Vec<MicInfo>, String> {
    let host = cpal::default_host();
    let default_name = host.default_input_device().and_then(|d| d.name().ok());
    let devices = host.input_devices().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for d in devices {
        let Ok(id) = d.name() else { continue };
        let is_default = default_name.as_deref() == Some(id.as_str());
        match d.default_input_config() {
            Ok(c) => out.push(MicInfo {
                id,
                is_default,
                sample_rate: Some(c.sample_rate().0),
                channels: Some(c.channels()),
                sample_format: Some(format!("{:?}", c.sample_format()).to_lowercase()),
                error: None,
            }),
            // Listed but unusable (e.g. ALSA plugin names with nothing behind them): skip quietly.
            Err(e) => tracing::debug!("input device {id}: {e}"),
        }
    }
    Ok(out)
}
