//! Streaming detector for the synthetic 1 kHz beep, with sub-millisecond onset.
//!
//! The signal is demodulated at 1 kHz (multiplied by e^{-jωk}) and averaged
//! over a centred window of `L = rate / 80` samples (12.5 ms at 48 kHz). That
//! boxcar has nulls every 80 Hz, so after demodulation the always-present
//! 440 Hz tone (−560 Hz) and the beep's own mirror image (−2 kHz) fall on
//! nulls; what is left is the 1 kHz amplitude. Across a sharp onset this
//! envelope ramps linearly from 0 to the plateau over `L` samples, centred on
//! the onset, so the onset is where the envelope crosses half the plateau
//! (interpolated between samples). AAC pre-echo and noise are far below half
//! the plateau and barely move that crossing.

use mentorcast_media::BEEP_FREQ_HZ;

/// Envelope level (amplitude, full scale = 1.0) that arms the detector.
const TRIGGER: f64 = 0.05;
/// Minimum plateau amplitude for a detection to count as a beep.
const MIN_PLATEAU: f64 = 0.08;
/// After an onset, ignore the signal for this long (the beep lasts 100 ms).
const REFRACTORY_S: f64 = 0.15;

pub(crate) struct BeepDetector {
    /// Window length in samples (even).
    l: u64,
    omega: f64,
    /// Coarse scan step in samples.
    step: u64,
    /// Absolute sample index of `prefix[0]`.
    base: u64,
    /// Prefix sums of the demodulated signal: prefix[i] = Σ_{k<base+i} x[k]·e^{-jωk}.
    prefix: Vec<(f64, f64)>,
    /// Total samples pushed.
    total: u64,
    /// Next window centre to evaluate.
    scan: u64,
    refractory: u64,
    /// Onsets as (fractional) absolute sample indices.
    pub onsets: Vec<f64>,
}

impl BeepDetector {
    pub fn new(sample_rate: u32) -> Self {
        let rate = sample_rate.max(8000) as f64;
        let mut l = (rate / 80.0).round() as u64;
        l += l % 2;
        let half = l / 2;
        BeepDetector {
            l,
            omega: std::f64::consts::TAU * BEEP_FREQ_HZ / rate,
            step: (rate / 2000.0).round().max(1.0) as u64,
            base: 0,
            prefix: vec![(0.0, 0.0)],
            total: 0,
            scan: half,
            refractory: (REFRACTORY_S * rate) as u64,
            onsets: Vec::new(),
        }
    }

    /// Window length in samples.
    pub fn window(&self) -> u64 {
        self.l
    }

    /// Appends mono samples (full scale ±1.0) and detects what it can.
    pub fn push(&mut self, mono: &[f32]) {
        self.prefix.reserve(mono.len());
        let (mut si, mut sq) = *self.prefix.last().unwrap_or(&(0.0, 0.0));
        for (i, &x) in mono.iter().enumerate() {
            let k = self.total + i as u64;
            // Reduce the phase to keep precision over long streams.
            let phase = (self.omega * k as f64) % std::f64::consts::TAU;
            let (s, c) = phase.sin_cos();
            si += x as f64 * c;
            sq -= x as f64 * s;
            self.prefix.push((si, sq));
        }
        self.total += mono.len() as u64;
        self.process(false);
    }

    /// Processes what is left at the end of the stream.
    pub fn finish(&mut self) {
        self.process(true);
    }

    /// Envelope (1 kHz amplitude) of the window centred on `c`, if its samples are held.
    fn env(&self, c: u64) -> Option<f64> {
        let half = self.l / 2;
        if c < half || c - half < self.base || c + half > self.total {
            return None;
        }
        let a = self.prefix[(c - half - self.base) as usize];
        let b = self.prefix[(c + half - self.base) as usize];
        let (i, q) = (b.0 - a.0, b.1 - a.1);
        Some((i * i + q * q).sqrt() * 2.0 / self.l as f64)
    }

    fn process(&mut self, at_end: bool) {
        let l = self.l;
        let half = l / 2;
        while let Some(e) = self.env(self.scan) {
            if e < TRIGGER {
                self.scan += self.step;
                continue;
            }
            let c0 = self.scan;
            // Plateau: windows fully inside the beep.
            let probes = [c0 + 3 * l / 2, c0 + 2 * l, c0 + 5 * l / 2];
            if c0 + 5 * l / 2 + half > self.total && !at_end {
                break; // wait for more samples
            }
            let vals: Vec<f64> = probes.iter().filter_map(|&c| self.env(c)).collect();
            if vals.is_empty() {
                self.scan += self.step;
                continue;
            }
            let plateau = vals.iter().sum::<f64>() / vals.len() as f64;
            if plateau < MIN_PLATEAU {
                self.scan += self.step;
                continue;
            }
            let target = plateau / 2.0;
            let from = c0.saturating_sub(l).max(self.base + half).max(half);
            let mut prev: Option<(u64, f64)> = None;
            let mut onset = None;
            for c in from..=c0 + l {
                let Some(v) = self.env(c) else { break };
                if v >= target {
                    // No value below half before it: the beep started before the
                    // samples held (start of the stream): its onset is unknown.
                    onset = prev.map(|(pc, pv)| pc as f64 + (target - pv) / (v - pv).max(1e-12));
                    break;
                }
                prev = Some((c, v));
            }
            match onset {
                Some(o) => {
                    self.onsets.push(o);
                    self.scan = (o as u64).max(c0) + self.refractory;
                }
                None => self.scan = c0 + self.refractory,
            }
        }
        // Forget samples no window will need again.
        let keep_from = self.scan.min(self.total).saturating_sub(2 * l + half);
        if keep_from > self.base + 48_000 {
            let drop = (keep_from - self.base) as usize;
            self.prefix.drain(..drop);
            self.base = keep_from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mentorcast_media::SyntheticAudio;

    #[test]
    fn finds_exact_onsets_in_clean_audio_pushed_in_odd_chunks() {
        let mut d = BeepDetector::new(48_000);
        let mono: Vec<f32> = (0..48_000 * 3 + 1000).map(|n| SyntheticAudio::sample(n) as f32).collect();
        for chunk in mono.chunks(777) {
            d.push(chunk);
        }
        d.finish();
        // The beep at sample 0 has no silence before it: not measurable.
        assert_eq!(d.onsets.len(), 3, "{:?}", d.onsets);
        for (i, o) in d.onsets.iter().enumerate() {
            let err = o - ((i + 1) as f64 * 48_000.0);
            assert!(err.abs() < 3.0, "beep {i} onset {o} (error {err} samples)");
        }
    }
}
