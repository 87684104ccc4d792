//! Synthetic sources for QA broadcasts with no camera or microphone.
//!
//! Video: a panning colour pattern, the machine-readable counter
//! ([`crate::counter`]) and a white flash (the lower half of the frame) on
//! every frame whose index is a multiple of the frame rate — that is, exactly
//! once a second at t = k s.
//! Audio: a steady 440 Hz tone and a 1 kHz beep that starts exactly at every
//! whole second, i.e. with every flash. A verifier compares the two to measure
//! A/V offset on the received stream.

use crate::clock::{FramePacer, MediaClock};
use crate::counter;
use crate::frame::{AudioChunk, PixelFormat, VideoFormat, VideoFrame, AUDIO_CHANNELS, AUDIO_SAMPLE_RATE};
use crate::limits::{check_format, FormatError};
use crate::source::{AudioSource, SourceError, VideoSource};

pub const TONE_FREQ_HZ: f64 = 440.0;
pub const BEEP_FREQ_HZ: f64 = 1000.0;
pub const BEEP_MS: u32 = 100;
const TONE_AMPLITUDE: f64 = 0.1; // -20 dBFS
const BEEP_AMPLITUDE: f64 = 0.5; // -6 dBFS
/// Horizontal period of the pattern in luma pixels, and its speed.
const PERIOD: usize = 256;
const SPEED: usize = 4;

pub struct SyntheticVideo {
    format: VideoFormat,
    clock: MediaClock,
    /// Pre-rendered planes, PERIOD pixels wider than the frame, copied with a moving offset.
    pattern_y: Vec<u8>,
    pattern_u: Vec<u8>,
    pattern_v: Vec<u8>,
    pacer: FramePacer,
}

impl SyntheticVideo {
    pub fn new(width: u32, height: u32, fps: u32, clock: MediaClock) -> Result<Self, FormatError> {
        check_format(width, height, fps)?;
        let (w, h) = (width as usize, height as usize);
        let pw = w + PERIOD;
        let mut pattern_y = vec![0u8; pw * h];
        for y in 0..h {
            let fy = y as f64 / h as f64;
            for x in 0..pw {
                let phase = (x % PERIOD) as f64 / PERIOD as f64 * std::f64::consts::TAU;
                let wave = (phase.sin() * 0.5 + (phase * 3.0 + fy * 9.0).sin() * 0.25) * 70.0;
                let stripe = if ((x % PERIOD) / 16 + y / 24).is_multiple_of(2) { 10.0 } else { -10.0 };
                pattern_y[y * pw + x] = (120.0 + wave + stripe + fy * 20.0).clamp(20.0, 230.0) as u8;
            }
        }
        let (cw, ch, cpw) = (w / 2, h / 2, pw / 2);
        let mut pattern_u = vec![0u8; cpw * ch];
        let mut pattern_v = vec![0u8; cpw * ch];
        for y in 0..ch {
            for x in 0..cpw {
                let bar = (x % (PERIOD / 2)) * 8 / (PERIOD / 2);
                const U: [u8; 8] = [128, 44, 156, 72, 184, 100, 212, 128];
                const V: [u8; 8] = [128, 142, 44, 58, 198, 212, 114, 128];
                let shade = (y * 40 / ch.max(1)) as i32 - 20;
                pattern_u[y * cpw + x] = (U[bar] as i32 + shade).clamp(16, 240) as u8;
                pattern_v[y * cpw + x] = (V[bar] as i32 - shade).clamp(16, 240) as u8;
            }
        }
        let _ = cw;
        Ok(Self {
            format: VideoFormat { width, height, fps, pixel_format: PixelFormat::I420 },
            clock,
            pattern_y,
            pattern_u,
            pattern_v,
            pacer: FramePacer::new(fps),
        })
    }

    /// Presentation time of frame `index`, microseconds.
    pub fn pts_of(&self, index: u64) -> i64 {
        self.pacer.pts_of(index)
    }

    /// True for the frames that flash white (one a second, at t = k s).
    pub fn is_flash(index: u64, fps: u32) -> bool {
        index.is_multiple_of(fps as u64)
    }

    /// Frames the source skipped because its thread fell behind the clock.
    pub fn skipped(&self) -> u64 {
        self.pacer.skipped()
    }

    /// Renders frame `index` into `out` (resized as needed), without pacing.
    pub fn render_into(&self, index: u64, out: &mut Vec<u8>) {
        let (w, h) = (self.format.width as usize, self.format.height as usize);
        let pw = w + PERIOD;
        let (cw, ch, cpw) = (w / 2, h / 2, pw / 2);
        out.resize(w * h + 2 * cw * ch, 0);
        let (y_plane, chroma) = out.split_at_mut(w * h);
        let (u_plane, v_plane) = chroma.split_at_mut(cw * ch);
        let off = (index as usize * SPEED) % PERIOD;
        for y in 0..h {
            y_plane[y * w..(y + 1) * w].copy_from_slice(&self.pattern_y[y * pw + off..y * pw + off + w]);
        }
        let coff = off / 2;
        for y in 0..ch {
            u_plane[y * cw..(y + 1) * cw].copy_from_slice(&self.pattern_u[y * cpw + coff..y * cpw + coff + cw]);
            v_plane[y * cw..(y + 1) * cw].copy_from_slice(&self.pattern_v[y * cpw + coff..y * cpw + coff + cw]);
        }
        if Self::is_flash(index, self.format.fps) {
            // The flash whitens the lower half: plain to see and to detect, and
            // half the bits of a full white frame (fewer rate-control skips).
            y_plane[(h / 2) * w..].fill(counter::WHITE);
            u_plane[(ch / 2) * cw..].fill(128);
            v_plane[(ch / 2) * cw..].fill(128);
        }
        // The counter band: neutral chroma under it so it reads in any colour space.
        let (x0, y0, x1, y1) = counter::band_rect(self.format.width, self.format.height);
        for y in (y0 as usize / 2)..(y1 as usize).div_ceil(2).min(ch) {
            u_plane[y * cw + x0 as usize / 2..y * cw + (x1 as usize / 2).min(cw)].fill(128);
            v_plane[y * cw + x0 as usize / 2..y * cw + (x1 as usize / 2).min(cw)].fill(128);
        }
        counter::draw(y_plane, self.format.width, self.format.height, w, index);
    }

    /// Frame `index` as a frame stamped with its nominal time, without pacing.
    pub fn render(&self, index: u64) -> VideoFrame {
        let mut data = Vec::new();
        self.render_into(index, &mut data);
        VideoFrame {
            width: self.format.width,
            height: self.format.height,
            pixel_format: PixelFormat::I420,
            data,
            pts_us: self.pts_of(index),
            index,
        }
    }
}

impl VideoSource for SyntheticVideo {
    fn start(&mut self, clock: MediaClock) {
        self.clock = clock;
        self.pacer = FramePacer::new(self.format.fps);
    }

    fn format(&self) -> VideoFormat {
        self.format
    }

    fn name(&self) -> &str {
        "synthetic"
    }

    /// Waits for the clock to reach the next frame's time, then renders it.
    /// A thread that fell more than a frame behind skips to the current
    /// frame, as a camera would, and the counter shows the gap.
    fn next_frame(&mut self) -> Result<VideoFrame, SourceError> {
        let index = self.pacer.wait_next(&self.clock);
        Ok(self.render(index))
    }
}

/// Tone plus a beep at every whole second, paced by the clock in 10 ms chunks.
pub struct SyntheticAudio {
    clock: MediaClock,
    next_sample: u64,
    chunk_frames: usize,
}

impl SyntheticAudio {
    pub fn new(clock: MediaClock) -> Self {
        Self { clock, next_sample: 0, chunk_frames: AUDIO_SAMPLE_RATE as usize / 100 }
    }

    /// The mono value of sample `n` (in [-1, 1]).
    pub fn sample(n: u64) -> f64 {
        let rate = AUDIO_SAMPLE_RATE as u64;
        let t = n as f64 / rate as f64;
        let mut v = TONE_AMPLITUDE * (std::f64::consts::TAU * TONE_FREQ_HZ * t).sin();
        let in_second = n % rate;
        let beep_len = rate * BEEP_MS as u64 / 1000;
        if in_second < beep_len {
            let tb = in_second as f64 / rate as f64;
            v += BEEP_AMPLITUDE * (std::f64::consts::TAU * BEEP_FREQ_HZ * tb).sin();
        }
        v
    }

    /// Renders `frames` stereo frames starting at sample `first`, without pacing.
    pub fn render(first: u64, frames: usize) -> Vec<i16> {
        let mut out = Vec::with_capacity(frames * AUDIO_CHANNELS as usize);
        for n in first..first + frames as u64 {
            let s = (Self::sample(n) * i16::MAX as f64) as i16;
            out.push(s);
            out.push(s);
        }
        out
    }
}

impl AudioSource for SyntheticAudio {
    fn start(&mut self, clock: MediaClock) {
        self.clock = clock;
        self.next_sample = 0;
    }

    fn name(&self) -> &str {
        "synthetic"
    }

    /// Waits until the chunk's last sample is "captured", then returns it.
    fn next_chunk(&mut self) -> Result<AudioChunk, SourceError> {
        let first = self.next_sample;
        self.next_sample += self.chunk_frames as u64;
        let rate = AUDIO_SAMPLE_RATE as i64;
        let pts_us = (first as i64) * 1_000_000 / rate;
        self.clock.sleep_until((self.next_sample as i64) * 1_000_000 / rate);
        Ok(AudioChunk { samples: Self::render(first, self.chunk_frames), pts_us, first_sample: first })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_their_counter_and_flash_once_a_second() {
        let v = SyntheticVideo::new(854, 480, 30, MediaClock::start()).unwrap();
        for idx in [0u64, 1, 29, 30, 31, 59, 60, 1000] {
            let f = v.render(idx);
            assert_eq!(f.data.len(), 854 * 480 * 3 / 2);
            assert_eq!(counter::read(f.y(), 854, 480, 854), Ok(idx));
            let bottom = &f.y()[854 * 400..854 * 401];
            let mean = bottom.iter().map(|&p| p as u32).sum::<u32>() / 854;
            assert_eq!(mean >= 230, SyntheticVideo::is_flash(idx, 30), "frame {idx} mean {mean}");
        }
        assert_eq!(v.pts_of(30), 1_000_000);
    }

    #[test]
    fn pattern_moves() {
        let v = SyntheticVideo::new(320, 180, 30, MediaClock::start()).unwrap();
        assert_ne!(v.render(1).data[320 * 100..320 * 101], v.render(2).data[320 * 100..320 * 101]);
    }

    #[test]
    fn rejects_odd_sizes_and_bad_fps() {
        assert_eq!(check_format(853, 480, 30), Err(FormatError::Resolution(853, 480)));
        assert_eq!(check_format(854, 480, 0), Err(FormatError::Fps(0)));
        assert_eq!(check_format(854, 480, 61), Err(FormatError::Fps(61)));
        assert!(check_format(854, 480, 60).is_ok());
    }

    #[test]
    fn beep_starts_exactly_on_the_second() {
        let before = SyntheticAudio::sample(47_999).abs();
        assert!(before <= TONE_AMPLITUDE + 1e-9);
        // Within the beep the 1 kHz component dominates.
        let peak = (48_000..48_048).map(|n| SyntheticAudio::sample(n).abs()).fold(0.0, f64::max);
        assert!(peak > 0.45, "peak {peak}");
        let after = (48_000 + 4_800..48_000 + 4_848).map(|n| SyntheticAudio::sample(n).abs()).fold(0.0, f64::max);
        assert!(after <= TONE_AMPLITUDE + 1e-9);
    }
}
