//! Which source to open, and opening it: one [`SourceSpec`] per kind
//! (camera, microphone; a screen source comes next) that the CLI's flags and
//! the app's pickers both become, resolved to sources here with one mapping
//! of device errors to sentences ([`DeviceError`]).

use std::fmt;

use mentorcast_media::{AudioSource, MediaClock, SourceError, SyntheticAudio, SyntheticVideo, VideoSource};

use crate::camera::{CameraSelector, CameraSource};
use crate::mic::{MicSelector, MicSource};

/// Which source: a device, the synthetic one, or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// The default device if there is one, else the synthetic source (and say so).
    Auto,
    Synthetic,
    None,
    /// The system's default device; an error if there is none.
    Default,
    /// A device by id (as `mentorcast devices` lists it); an error if it is not there.
    Id(String),
}

impl std::str::FromStr for SourceSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.trim() {
            "" => return Err("empty source: use an id, default, synthetic or none".into()),
            "auto" => SourceSpec::Auto,
            "synthetic" => SourceSpec::Synthetic,
            "none" => SourceSpec::None,
            "default" => SourceSpec::Default,
            id => SourceSpec::Id(id.to_string()),
        })
    }
}

/// The kinds of source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Camera,
    Microphone,
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceKind::Camera => "camera",
            SourceKind::Microphone => "microphone",
        })
    }
}

/// Why a source could not be opened, in words a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("no {0} found")]
    NotFound(SourceKind),
    #[error("the {kind} could not be opened ({detail})")]
    Unavailable { kind: SourceKind, detail: String },
    #[error("{0}")]
    Format(#[from] mentorcast_media::FormatError),
    #[error("with no camera and no microphone there is nothing to send: keep at least one")]
    NothingToSend,
}

impl DeviceError {
    fn of(kind: SourceKind, e: SourceError) -> Self {
        match e {
            SourceError::NotFound { .. } => DeviceError::NotFound(kind),
            other => DeviceError::Unavailable { kind, detail: other.to_string() },
        }
    }

    /// The kind of source it is about (None: about the request as a whole).
    pub fn kind(&self) -> Option<SourceKind> {
        match self {
            DeviceError::NotFound(k) | DeviceError::Unavailable { kind: k, .. } => Some(*k),
            DeviceError::Format(_) => Some(SourceKind::Camera),
            DeviceError::NothingToSend => None,
        }
    }
}

/// The video a camera is asked for (it may give the nearest mode it has).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoRequest {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

/// Opened sources, and what to tell the user about them.
pub struct Sources {
    pub video: Option<Box<dyn VideoSource>>,
    pub audio: Option<Box<dyn AudioSource>>,
    /// e.g. "synthetic 1280x720@30", "HD Webcam 1280x720@30 mjpeg", "none".
    pub camera: String,
    /// e.g. "synthetic tone + beeps", "default (48000 Hz, 2 ch)", "none".
    pub microphone: String,
    /// Fallbacks taken (e.g. "camera: no camera found; using the synthetic video").
    pub notes: Vec<String>,
}

/// Opens a camera and a microphone as the specs say (blocking: call off async
/// threads). Devices open before anything connects, so a missing one is
/// reported before going live.
pub fn open(camera: &SourceSpec, microphone: &SourceSpec, want: VideoRequest) -> Result<Sources, DeviceError> {
    if *camera == SourceSpec::None && *microphone == SourceSpec::None {
        return Err(DeviceError::NothingToSend);
    }
    let mut notes = Vec::new();
    let (video, camera) = open_camera(camera, want, &mut notes)?;
    let (audio, microphone) = open_microphone(microphone, &mut notes)?;
    Ok(Sources { video, audio, camera, microphone, notes })
}

fn synthetic_video(want: VideoRequest) -> Result<(Option<Box<dyn VideoSource>>, String), DeviceError> {
    let v = SyntheticVideo::new(want.width, want.height, want.fps, MediaClock::start())?;
    Ok((Some(Box::new(v)), format!("synthetic {}x{}@{}", want.width, want.height, want.fps)))
}

fn open_camera(
    spec: &SourceSpec,
    want: VideoRequest,
    notes: &mut Vec<String>,
) -> Result<(Option<Box<dyn VideoSource>>, String), DeviceError> {
    let selector = match spec {
        SourceSpec::None => return Ok((None, "none".into())),
        SourceSpec::Synthetic => return synthetic_video(want),
        SourceSpec::Id(id) => CameraSelector::Id(id.clone()),
        SourceSpec::Auto | SourceSpec::Default => CameraSelector::Default,
    };
    match CameraSource::open(selector, want.width, want.height, want.fps) {
        Ok(cam) => {
            let m = cam.mode();
            let desc = format!("{} {}x{}@{} {}", cam.name(), m.width, m.height, m.fps, m.format.as_str());
            Ok((Some(Box::new(cam)), desc))
        }
        Err(e) if *spec == SourceSpec::Auto => {
            notes.push(format!("camera: {}; using the synthetic video", DeviceError::of(SourceKind::Camera, e)));
            synthetic_video(want)
        }
        Err(e) => Err(DeviceError::of(SourceKind::Camera, e)),
    }
}

fn open_microphone(
    spec: &SourceSpec,
    notes: &mut Vec<String>,
) -> Result<(Option<Box<dyn AudioSource>>, String), DeviceError> {
    let synthetic = || {
        (
            Some(Box::new(SyntheticAudio::new(MediaClock::start())) as Box<dyn AudioSource>),
            "synthetic tone + beeps".to_string(),
        )
    };
    let selector = match spec {
        SourceSpec::None => return Ok((None, "none".into())),
        SourceSpec::Synthetic => return Ok(synthetic()),
        SourceSpec::Id(id) => MicSelector::Name(id.clone()),
        SourceSpec::Auto | SourceSpec::Default => MicSelector::Default,
    };
    match MicSource::open(selector) {
        Ok(mic) => {
            let n = mic.native_config();
            let desc = format!("{} ({} Hz, {} ch)", mic.name(), n.sample_rate, n.channels);
            Ok((Some(Box::new(mic)), desc))
        }
        Err(e) if *spec == SourceSpec::Auto => {
            notes.push(format!("microphone: {}; using the synthetic tone", DeviceError::of(SourceKind::Microphone, e)));
            Ok(synthetic())
        }
        Err(e) => Err(DeviceError::of(SourceKind::Microphone, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        assert_eq!("synthetic".parse::<SourceSpec>().unwrap(), SourceSpec::Synthetic);
        assert_eq!(" none ".parse::<SourceSpec>().unwrap(), SourceSpec::None);
        assert_eq!("default".parse::<SourceSpec>().unwrap(), SourceSpec::Default);
        assert_eq!("auto".parse::<SourceSpec>().unwrap(), SourceSpec::Auto);
        assert_eq!("2".parse::<SourceSpec>().unwrap(), SourceSpec::Id("2".into()));
        assert!("".parse::<SourceSpec>().is_err());
    }

    #[test]
    fn synthetic_sources_open_at_the_requested_format() {
        let want = VideoRequest { width: 320, height: 180, fps: 25 };
        let s = open(&SourceSpec::Synthetic, &SourceSpec::Synthetic, want).unwrap();
        let f = s.video.as_ref().unwrap().format();
        assert_eq!((f.width, f.height, f.fps), (320, 180, 25));
        assert!(s.audio.is_some());
        assert_eq!(s.camera, "synthetic 320x180@25");
        let s = open(&SourceSpec::None, &SourceSpec::Synthetic, want).unwrap();
        assert!(s.video.is_none());
    }

    #[test]
    fn errors_say_which_and_what() {
        let want = VideoRequest { width: 320, height: 180, fps: 25 };
        let e = open(&SourceSpec::None, &SourceSpec::None, want).err().unwrap();
        assert!(matches!(e, DeviceError::NothingToSend));
        let bad = VideoRequest { width: 321, height: 180, fps: 25 };
        let e = open(&SourceSpec::Synthetic, &SourceSpec::None, bad).err().unwrap();
        assert!(e.to_string().starts_with("resolution 321x180 is not supported"), "{e}");
        // A camera id that does not exist (there is no camera here at all).
        let e = open(&SourceSpec::Id("no-such-camera-77".into()), &SourceSpec::None, want).err().unwrap();
        assert_eq!(e.kind(), Some(SourceKind::Camera));
        assert!(e.to_string().contains("camera"), "{e}");
    }
}
