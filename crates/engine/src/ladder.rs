//! Smaller pictures at lower bitrates. When adaptive bitrate lowers the target
//! far under the configured one, the encoder cannot keep every frame at the full
//! picture size: openh264's rate control skips frames instead (a 720p30 picture
//! at a third of its bitrate loses more than half of them). Like WebRTC's
//! "maintain framerate" degradation, the video then steps down to 3/4 and 1/2 of
//! the configured size — a new encoder at the new size, starting with a keyframe
//! and its own decoder config — and back up as the target recovers.
//!
//! Stepping down is at once; stepping up waits until the target has allowed it
//! for [`UP_AFTER`] without a break, with hysteresis between the thresholds, so
//! a controller probing for bandwidth does not cost a keyframe at each probe.

use std::time::{Duration, Instant};

use mentorcast_media::scale::downscale;
use mentorcast_media::VideoFrame;

use crate::encode::{EncodeError, VideoEncoder, VideoOutput, VideoSettings};

/// Picture size as a fraction of the configured one (numerator, denominator).
const RUNGS: [(u32, u32); 3] = [(1, 1), (3, 4), (1, 2)];
/// Go down to rung `i` when target / configured falls under `DOWN_BELOW[i]`.
const DOWN_BELOW: [f64; 3] = [f64::INFINITY, 0.6, 0.4];
/// Leave rung `i` for the one above when target / configured reaches `UP_FROM[i]`.
const UP_FROM: [f64; 3] = [f64::INFINITY, 0.8, 0.5];
/// How long the target must allow a larger size before the video steps up.
pub const UP_AFTER: Duration = Duration::from_secs(5);
/// Never smaller than this.
const MIN_WIDTH: u32 = 320;
const MIN_HEIGHT: u32 = 180;

/// The picture size of rung `i` for a configured size (even, as H.264 wants).
fn size_at(rung: usize, width: u32, height: u32) -> (u32, u32) {
    let (n, d) = RUNGS[rung];
    ((width * n / d) & !1, (height * n / d) & !1)
}

/// The rungs a configured size may use (all of them at least MIN_WIDTH×MIN_HEIGHT).
fn usable_rungs(width: u32, height: u32) -> usize {
    (0..RUNGS.len())
        .take_while(|&i| {
            let (w, h) = size_at(i, width, height);
            i == 0 || (w >= MIN_WIDTH && h >= MIN_HEIGHT)
        })
        .count()
}

/// The rung for `ratio` = target / configured bitrate from rung `current`, with
/// `usable` rungs, and whether that is a step down (taken at once) or up (taken
/// only once the ratio has allowed it for [`UP_AFTER`]).
fn next_rung(current: usize, ratio: f64, usable: usize) -> usize {
    let mut down = current;
    while down + 1 < usable && ratio < DOWN_BELOW[down + 1] {
        down += 1;
    }
    if down != current {
        return down;
    }
    let mut up = current;
    while up > 0 && ratio >= UP_FROM[up] {
        up -= 1;
    }
    up
}

/// The video encoder with its smaller sizes: frames come in at the configured
/// size, and go out at the size the target bitrate allows.
pub struct VideoLadder {
    configured: VideoSettings,
    usable: usize,
    rung: usize,
    /// Since when the target has allowed a larger size.
    up_since: Option<Instant>,
    encoder: VideoEncoder,
}

impl VideoLadder {
    pub fn new(settings: VideoSettings) -> Result<Self, EncodeError> {
        Ok(Self {
            configured: settings,
            usable: usable_rungs(settings.width, settings.height),
            rung: 0,
            up_since: None,
            encoder: VideoEncoder::new(settings)?,
        })
    }

    /// The configured settings (the size frames come in at).
    pub fn configured(&self) -> VideoSettings {
        self.configured
    }

    /// What the encoder runs at now: size and bitrate.
    pub fn current(&self) -> VideoSettings {
        self.encoder.settings()
    }

    /// Makes the next frame an IDR with the decoder config (after a reconnect, or when the output dropped frames).
    pub fn force_keyframe(&mut self) {
        self.encoder.force_keyframe();
        self.encoder.resend_config();
    }

    /// The target bitrate from the next frame on, called before every frame: at a
    /// size that suits it (a new encoder, from a keyframe) when the target moved far
    /// from the configured one.
    pub fn update(&mut self, kbps: u32, now: Instant) -> Result<(), EncodeError> {
        let ratio = kbps as f64 / self.configured.kbps.max(1) as f64;
        let mut rung = next_rung(self.rung, ratio, self.usable);
        if rung < self.rung {
            let since = *self.up_since.get_or_insert(now);
            if now.saturating_duration_since(since) < UP_AFTER {
                rung = self.rung;
            }
        } else {
            self.up_since = None;
        }
        if rung == self.rung {
            return if kbps != self.encoder.settings().kbps { self.encoder.set_kbps(kbps) } else { Ok(()) };
        }
        let (width, height) = size_at(rung, self.configured.width, self.configured.height);
        let encoder = VideoEncoder::with_max_kbps(
            VideoSettings { width, height, kbps, ..self.configured },
            self.configured.kbps,
        )?;
        tracing::info!(
            width,
            height,
            kbps,
            configured_kbps = self.configured.kbps,
            "picture size changed for the target bitrate"
        );
        self.encoder = encoder;
        self.rung = rung;
        self.up_since = None;
        Ok(())
    }

    /// Encodes a frame of the configured size, scaled to the current one.
    pub fn encode(&mut self, frame: &VideoFrame) -> Result<VideoOutput, EncodeError> {
        let s = self.encoder.settings();
        if self.rung == 0 || (frame.width == s.width && frame.height == s.height) {
            return self.encoder.encode(frame);
        }
        if frame.width != self.configured.width || frame.height != self.configured.height {
            return Err(EncodeError::FrameSize {
                got_w: frame.width,
                got_h: frame.height,
                want_w: self.configured.width,
                want_h: self.configured.height,
            });
        }
        let small = downscale(frame, s.width, s.height)
            .ok_or_else(|| EncodeError::Video(format!("could not scale the frame to {}x{}", s.width, s.height)))?;
        self.encoder.encode_planes((&small.y, &small.u, &small.v), frame.pts_us, frame.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::VideoOutput;
    use mentorcast_media::{MediaClock, SyntheticVideo};

    #[test]
    fn thresholds_with_hysteresis() {
        assert_eq!(next_rung(0, 0.7, 3), 0);
        assert_eq!(next_rung(0, 0.55, 3), 1);
        assert_eq!(next_rung(0, 0.3, 3), 2, "down as far as the ratio says");
        assert_eq!(next_rung(1, 0.35, 3), 2);
        assert_eq!(next_rung(2, 0.45, 3), 2, "between 0.4 and 0.5 it stays");
        assert_eq!(next_rung(2, 0.55, 3), 1);
        assert_eq!(next_rung(1, 0.75, 3), 1, "between 0.6 and 0.8 it stays");
        assert_eq!(next_rung(1, 0.85, 3), 0);
        assert_eq!(next_rung(2, 1.0, 3), 0, "the whole way up when the target is back");
        // Only the rungs a small picture may use.
        assert_eq!(next_rung(0, 0.1, 1), 0);
        assert_eq!(next_rung(0, 0.1, 2), 1);
    }

    #[test]
    fn down_at_once_up_only_after_the_target_allowed_it_for_a_while() {
        let settings = VideoSettings { width: 1280, height: 720, fps: 30, kbps: 1500, keyframe_secs: 2 };
        let mut l = VideoLadder::new(settings).unwrap();
        let t0 = Instant::now();
        let size = |l: &VideoLadder| (l.current().width, l.current().height);
        l.update(450, t0).unwrap();
        assert_eq!(size(&l), (640, 360), "down at once");
        // A probe up for less than UP_AFTER, then back down: no change of size.
        l.update(825, t0 + Duration::from_secs(1)).unwrap();
        l.update(825, t0 + Duration::from_secs(3)).unwrap();
        assert_eq!(size(&l), (640, 360));
        l.update(450, t0 + Duration::from_secs(4)).unwrap();
        l.update(825, t0 + Duration::from_secs(5)).unwrap();
        l.update(825, t0 + Duration::from_secs(5) + UP_AFTER / 2).unwrap();
        assert_eq!(size(&l), (640, 360), "the break restarted the wait");
        l.update(825, t0 + Duration::from_secs(5) + UP_AFTER).unwrap();
        assert_eq!(size(&l), (960, 540), "up once the target allowed it for UP_AFTER");
        l.update(1500, t0 + Duration::from_secs(30)).unwrap();
        l.update(1500, t0 + Duration::from_secs(30) + UP_AFTER).unwrap();
        assert_eq!(l.current(), settings);
    }

    #[test]
    fn sizes_are_even_and_not_too_small() {
        assert_eq!(size_at(1, 1280, 720), (960, 540));
        assert_eq!(size_at(2, 1280, 720), (640, 360));
        assert_eq!(size_at(1, 854, 480), (640, 360));
        assert_eq!(size_at(2, 1920, 1080), (960, 540));
        assert_eq!(usable_rungs(1280, 720), 3);
        assert_eq!(usable_rungs(640, 360), 3, "down to 320x180");
        assert_eq!(usable_rungs(480, 270), 2, "not under 320x180");
        assert_eq!(usable_rungs(320, 240), 1);
    }

    /// At a third of the configured bitrate, a 720p encoder skips most frames;
    /// the ladder's smaller size keeps nearly all of them, and comes back to full
    /// size (with a keyframe and a new decoder config) when the target recovers.
    #[test]
    fn a_low_target_keeps_the_frames_at_a_smaller_size() {
        let settings = VideoSettings { width: 1280, height: 720, fps: 30, kbps: 1500, keyframe_secs: 2 };
        let src = SyntheticVideo::new(1280, 720, 30, MediaClock::start()).unwrap();
        let frames: Vec<VideoFrame> = (0..90).map(|i| src.render(i)).collect();
        let kept = |ladder: bool| {
            let t0 = Instant::now();
            let mut full = VideoEncoder::new(settings).unwrap();
            let mut l = VideoLadder::new(settings).unwrap();
            if ladder {
                l.update(450, t0).unwrap();
            } else {
                full.set_kbps(450).unwrap();
            }
            let mut n = 0;
            for f in &frames {
                let out = if ladder { l.encode(f) } else { full.encode(f) };
                n += matches!(out.unwrap(), VideoOutput::Packet(_)) as u32;
            }
            (n, l.current())
        };
        let (without, _) = kept(false);
        let (with, size) = kept(true);
        assert_eq!((size.width, size.height), (640, 360));
        assert!(with >= 80, "the ladder kept {with} of 90 frames");
        assert!(without * 3 < with * 2, "full size kept {without}, the ladder {with}");

        let mut l = VideoLadder::new(settings).unwrap();
        let t0 = Instant::now();
        l.update(450, t0).unwrap();
        let first = l.encode(&frames[0]).unwrap();
        let VideoOutput::Packet(p) = first else { panic!("the first frame at a new size was skipped") };
        assert!(p.keyframe && p.config.is_some(), "a new size starts with a keyframe and its config");
        l.update(1500, t0).unwrap();
        l.update(1500, t0 + UP_AFTER).unwrap();
        assert_eq!(l.current(), settings, "back to the configured size and bitrate");
        let VideoOutput::Packet(p) = l.encode(&frames[1]).unwrap() else { panic!("skipped") };
        assert!(p.keyframe && p.config.is_some());
    }
}
