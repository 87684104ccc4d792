//! Recordings' "On this computer": the local copies of past broadcasts in the
//! folder Settings names, and opening one (to play it, or to show it in its
//! folder) with the system's own apps — only files in that folder.

use std::path::{Path, PathBuf};

use crate::dto::{ErrorKindDto, LocalCopyView, UiError};
use crate::settings::AppSettings;

/// The copies in the settings' folder, newest first.
pub fn list(settings: &AppSettings) -> Result<Vec<LocalCopyView>, UiError> {
    let Some(dir) = settings.copies_dir() else { return Ok(Vec::new()) };
    let files = mentorcast_engine::record::list_copies(&dir).map_err(|e| {
        UiError::new(ErrorKindDto::Storage, format!("cannot read the local copies in {}: {e}", dir.display()))
    })?;
    Ok(files
        .into_iter()
        .map(|f| LocalCopyView {
            name: f.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            path: f.path.display().to_string(),
            ended_at: f.modified_s.min(i64::MAX as u64) as i64,
            duration_s: f.duration_s,
            size_bytes: f.size_bytes.min(i64::MAX as u64) as i64,
        })
        .collect())
}

/// Which of a copy's two buttons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    /// With the system's video player.
    Play,
    /// Its folder, in the file manager.
    ShowInFolder,
}

/// Opens `path` (a copy listed by [`list`]) as asked; anything outside the copies' folder is refused.
pub fn open(settings: &AppSettings, path: &str, how: Open) -> Result<(), UiError> {
    let file = inside_copies(settings, Path::new(path))?;
    let target = match how {
        Open::Play => file,
        Open::ShowInFolder => file.parent().map(Path::to_path_buf).unwrap_or(file),
    };
    let mut cmd = opener(&target);
    let mut child = cmd.spawn().map_err(|e| {
        UiError::new(
            ErrorKindDto::Other,
            format!("cannot open {}: {e} (is a desktop opener installed?)", target.display()),
        )
    })?;
    // Reaped when it exits (the opener hands the file to an app and returns).
    std::thread::spawn(move || child.wait());
    Ok(())
}

/// `path`, resolved, when it is a file in the copies' folder.
fn inside_copies(settings: &AppSettings, path: &Path) -> Result<PathBuf, UiError> {
    let refuse = || UiError::new(ErrorKindDto::BadInput, "that file is not one of the local copies");
    let dir = settings.copies_dir().and_then(|d| d.canonicalize().ok()).ok_or_else(refuse)?;
    let file = path.canonicalize().map_err(|_| refuse())?;
    if file.parent() == Some(dir.as_path()) && file.is_file() {
        Ok(file)
    } else {
        Err(refuse())
    }
}

fn opener(target: &Path) -> std::process::Command {
    #[cfg(target_os = "macos")]
    let mut c = std::process::Command::new("open");
    #[cfg(target_os = "windows")]
    let mut c = std::process::Command::new("explorer");
    #[cfg(not(any(target_os = "macos", target_os = "windows")))]
    let mut c = std::process::Command::new("xdg-open");
    c.arg(target)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_the_folder_and_opens_only_what_is_in_it() {
        let dir = tempfile::tempdir().unwrap();
        let copies = dir.path().join("Mentorcast");
        std::fs::create_dir_all(&copies).unwrap();
        let settings = AppSettings { local_copy_dir: Some(copies.clone()), ..Default::default() };
        assert!(list(&settings).unwrap().is_empty());
        let flv = header_only_flv();
        std::fs::write(copies.join("mentorcast-20261203-070000.flv"), &flv).unwrap();
        std::fs::write(dir.path().join("elsewhere.flv"), &flv).unwrap();
        let l = list(&settings).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].name, "mentorcast-20261203-070000.flv");
        assert_eq!(l[0].size_bytes, flv.len() as i64);
        let outside = dir.path().join("elsewhere.flv");
        let sneaky = copies.join("../elsewhere.flv");
        for p in [outside, sneaky, copies.join("missing.flv"), copies.clone()] {
            let e = inside_copies(&settings, &p).unwrap_err();
            assert_eq!(e.kind, ErrorKindDto::BadInput, "{p:?}");
        }
        assert!(inside_copies(&settings, Path::new(&l[0].path)).is_ok());
    }

    /// A minimal FLV file: the header only.
    fn header_only_flv() -> Vec<u8> {
        vec![b'F', b'L', b'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0]
    }
}
