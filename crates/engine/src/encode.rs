//! Encoders: H.264 with openh264 tuned for live, AAC-LC with fdk-aac.
//! Both are synchronous and meant to run on their own threads; the engine
//! never calls them from the async runtime.

use bytes::Bytes;
use mentorcast_media::{AudioChunk, VideoFrame, AUDIO_CHANNELS, AUDIO_SAMPLE_RATE};
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Profile, RateControlMode,
    SpsPpsStrategy, UsageType,
};
use openh264::formats::YUVSlices;
use openh264::OpenH264API;

use mentorcast_protocol::{flv, h264};

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("H.264 encoder error: {0}")]
    Video(String),
    #[error("AAC encoder error: {0}")]
    Audio(String),
    #[error("frame is {got_w}x{got_h}, the encoder was set up for {want_w}x{want_h}")]
    FrameSize { got_w: u32, got_h: u32, want_w: u32, want_h: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct VideoSettings {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub kbps: u32,
    /// Keyframe interval in seconds (ingests want 2).
    pub keyframe_secs: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct AudioSettings {
    pub kbps: u32,
}

/// One encoded video frame (NAL units without start codes).
#[derive(Debug, Clone)]
pub struct VideoPacket {
    pub pts_us: i64,
    pub keyframe: bool,
    /// Slice NAL units of this frame.
    pub nals: Vec<Bytes>,
    /// The AVCDecoderConfigurationRecord, when SPS/PPS changed with this frame.
    pub config: Option<Bytes>,
    /// The source's frame index.
    pub index: u64,
}

#[derive(Debug, Clone)]
pub struct AudioPacket {
    pub pts_us: i64,
    /// One raw AAC-LC access unit.
    pub data: Bytes,
}

/// What an encoder did with one input frame.
pub enum VideoOutput {
    Packet(VideoPacket),
    /// The rate control chose to skip this frame: nothing is sent for it.
    Skipped,
}

pub struct VideoEncoder {
    encoder: Encoder,
    settings: VideoSettings,
    last_sps_pps: Option<(Vec<u8>, Vec<u8>)>,
    /// openh264 sets itself up at the first frame: a bitrate change before it waits here.
    started: bool,
    pending_kbps: Option<u32>,
    /// The highest bitrate `set_kbps` may ask for (openh264 refuses more than its maximum).
    max_kbps: u32,
    /// openh264 set itself up with the starting bitrate as its maximum: raise it before the next frame.
    pending_max: bool,
}

impl VideoEncoder {
    pub fn new(settings: VideoSettings) -> Result<Self, EncodeError> {
        Self::with_max_kbps(settings, settings.kbps)
    }

    /// An encoder starting at `settings.kbps` whose bitrate may later be raised up to `max_kbps`.
    pub fn with_max_kbps(settings: VideoSettings, max_kbps: u32) -> Result<Self, EncodeError> {
        let config = EncoderConfig::new()
            .usage_type(UsageType::CameraVideoRealTime)
            .profile(Profile::Baseline)
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(settings.kbps.saturating_mul(1000)))
            .max_frame_rate(FrameRate::from_hz(settings.fps as f32))
            .intra_frame_period(IntraFramePeriod::from_num_frames(settings.fps * settings.keyframe_secs.max(1)))
            // Scene-change IDRs would break the fixed keyframe interval ingests ask for.
            .scene_change_detect(false)
            .skip_frames(true)
            .sps_pps_strategy(SpsPpsStrategy::ConstantId)
            .complexity(Complexity::Medium)
            .num_threads(1);
        let encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| EncodeError::Video(e.to_string()))?;
        Ok(Self {
            encoder,
            settings,
            last_sps_pps: None,
            started: false,
            pending_kbps: None,
            max_kbps: max_kbps.max(settings.kbps),
            pending_max: false,
        })
    }

    pub fn settings(&self) -> VideoSettings {
        self.settings
    }

    /// Makes the next frame an IDR (after a reconnect, or when the output dropped frames).
    pub fn force_keyframe(&mut self) {
        self.encoder.force_intra_frame();
    }

    /// Changes the target bitrate from the next frame on (no new keyframe): the
    /// output's adaptive bitrate. openh264's `SetOption(ENCODER_OPTION_BITRATE)`.
    pub fn set_kbps(&mut self, kbps: u32) -> Result<(), EncodeError> {
        if !self.started {
            self.pending_kbps = Some(kbps);
            return Ok(());
        }
        self.raise_max();
        let kbps = kbps.min(self.max_kbps);
        self.set_rate(openh264_sys2::ENCODER_OPTION_BITRATE, openh264_sys2::SPATIAL_LAYER_ALL, kbps).map_err(|r| {
            EncodeError::Video(format!("could not change the bitrate to {kbps} kbps (openh264 returned {r})"))
        })?;
        self.settings.kbps = kbps;
        Ok(())
    }

    /// openh264's `SetOption` of a bitrate (`ENCODER_OPTION_BITRATE` or `_MAX_BITRATE`) of
    /// `layer`; Err: its return code.
    fn set_rate(
        &mut self,
        option: openh264_sys2::ENCODER_OPTION,
        layer: openh264_sys2::LAYER_NUM,
        kbps: u32,
    ) -> Result<(), i32> {
        let mut info = openh264_sys2::SBitrateInfo {
            iLayer: layer,
            iBitrate: kbps.saturating_mul(1000).min(i32::MAX as u32) as std::os::raw::c_int,
        };
        // SAFETY: the encoder is initialised (a frame was encoded); the option takes an
        // SBitrateInfo, which lives for the call.
        let r = unsafe { self.encoder.raw_api().set_option(option, std::ptr::addr_of_mut!(info).cast()) };
        if r == 0 {
            Ok(())
        } else {
            Err(r)
        }
    }

    /// Raises openh264's maximum bitrate once it is set up (at the first frame, with
    /// its starting bitrate as the maximum).
    fn raise_max(&mut self) {
        if std::mem::take(&mut self.pending_max) {
            // The layer's maximum (what a target is checked against), then the whole stream's.
            let max = openh264_sys2::ENCODER_OPTION_MAX_BITRATE;
            let set = self
                .set_rate(max, openh264_sys2::SPATIAL_LAYER_0, self.max_kbps)
                .and_then(|()| self.set_rate(max, openh264_sys2::SPATIAL_LAYER_ALL, self.max_kbps));
            if let Err(r) = set {
                tracing::warn!(max_kbps = self.max_kbps, "openh264 kept its maximum bitrate (returned {r})");
            }
        }
    }

    /// Forgets the last SPS/PPS so the next keyframe carries the decoder config again.
    pub fn resend_config(&mut self) {
        self.last_sps_pps = None;
    }

    pub fn encode(&mut self, frame: &VideoFrame) -> Result<VideoOutput, EncodeError> {
        let (w, h) = (self.settings.width, self.settings.height);
        if frame.width != w || frame.height != h {
            return Err(EncodeError::FrameSize { got_w: frame.width, got_h: frame.height, want_w: w, want_h: h });
        }
        let i420 = frame.to_i420();
        let luma = (w * h) as usize;
        let quarter = luma / 4;
        let planes = (&i420[..luma], &i420[luma..luma + quarter], &i420[luma + quarter..luma + 2 * quarter]);
        self.encode_planes(planes, frame.pts_us, frame.index)
    }

    /// Encodes a picture of the encoder's size given as I420 planes (tightly packed).
    pub fn encode_planes(
        &mut self,
        (y, u, v): (&[u8], &[u8], &[u8]),
        pts_us: i64,
        index: u64,
    ) -> Result<VideoOutput, EncodeError> {
        self.raise_max();
        if self.started {
            if let Some(kbps) = self.pending_kbps.take() {
                self.set_kbps(kbps)?;
            }
        }
        let (w, h) = (self.settings.width as usize, self.settings.height as usize);
        if y.len() < w * h || u.len() < w * h / 4 || v.len() < w * h / 4 {
            return Err(EncodeError::Video(format!("the planes are too small for {w}x{h}")));
        }
        let yuv = YUVSlices::new((y, u, v), (w, h), (w, w / 2, w / 2));
        let ts = openh264::Timestamp::from_millis((pts_us.max(0) / 1000) as u64);
        let bitstream = self.encoder.encode_at(&yuv, ts).map_err(|e| EncodeError::Video(e.to_string()))?;
        if !self.started {
            self.started = true;
            self.pending_max = self.max_kbps > self.settings.kbps;
        }
        let frame_type = bitstream.frame_type();
        if matches!(frame_type, FrameType::Skip | FrameType::Invalid) {
            return Ok(VideoOutput::Skipped);
        }
        let annex_b = bitstream.to_vec();
        let mut sps = None;
        let mut pps = None;
        let mut nals = Vec::new();
        let mut keyframe = false;
        for nal in h264::split_annex_b(&annex_b) {
            match h264::nal_type(nal) {
                h264::NAL_SPS => sps = Some(nal.to_vec()),
                h264::NAL_PPS => pps = Some(nal.to_vec()),
                t => {
                    keyframe |= t == h264::NAL_IDR;
                    nals.push(Bytes::copy_from_slice(nal));
                }
            }
        }
        if nals.is_empty() {
            return Ok(VideoOutput::Skipped);
        }
        // openh264 repeats SPS/PPS before every IDR: they stay in the frame (in-band), so
        // that a file joined or remuxed from the stream decodes across a change of
        // picture size, and the config is passed on only when it changed.
        if keyframe {
            if let (Some(sps), Some(pps)) = (&sps, &pps) {
                nals.splice(0..0, [Bytes::copy_from_slice(sps), Bytes::copy_from_slice(pps)]);
            }
        }
        let mut config = None;
        if let (Some(sps), Some(pps)) = (sps, pps) {
            let changed = self.last_sps_pps.as_ref().map(|(s, p)| *s != sps || *p != pps).unwrap_or(true);
            if changed {
                config =
                    Some(Bytes::from(h264::decoder_config(&sps, &pps).map_err(|e| EncodeError::Video(e.to_string()))?));
                self.last_sps_pps = Some((sps, pps));
            }
        }
        Ok(VideoOutput::Packet(VideoPacket { pts_us, keyframe, nals, config, index }))
    }
}

/// Samples per channel in one AAC-LC frame.
pub const AAC_FRAME_SAMPLES: usize = 1024;

pub struct AudioEncoder {
    encoder: fdk_aac::enc::Encoder,
    pending: Vec<i16>,
    /// Session time of sample 0 of this encoder's input.
    origin_us: Option<i64>,
    /// Sample frames consumed so far.
    consumed: u64,
    /// AAC frames produced so far.
    produced: u64,
    /// Encoder delay in samples: output frame n starts at input sample n*1024 − delay.
    delay: u64,
    out: Vec<u8>,
}

impl AudioEncoder {
    pub fn new(settings: AudioSettings) -> Result<Self, EncodeError> {
        use fdk_aac::enc::{AudioObjectType, BitRate, ChannelMode, EncoderParams, Transport};
        let encoder = fdk_aac::enc::Encoder::new(EncoderParams {
            bit_rate: BitRate::Cbr(settings.kbps.saturating_mul(1000)),
            sample_rate: AUDIO_SAMPLE_RATE,
            transport: Transport::Raw,
            channels: ChannelMode::Stereo,
            audio_object_type: AudioObjectType::Mpeg4LowComplexity,
        })
        .map_err(|e| EncodeError::Audio(e.to_string()))?;
        let info = encoder.info().map_err(|e| EncodeError::Audio(e.to_string()))?;
        Ok(Self {
            encoder,
            pending: Vec::with_capacity(AAC_FRAME_SAMPLES * 4),
            origin_us: None,
            consumed: 0,
            produced: 0,
            delay: info.nDelay as u64,
            out: vec![0u8; (info.maxOutBufBytes as usize).max(8192)],
        })
    }

    /// The AudioSpecificConfig for the FLV sequence header.
    pub fn specific_config(&self) -> [u8; 2] {
        flv::audio_specific_config(AUDIO_SAMPLE_RATE, AUDIO_CHANNELS as u8)
    }

    /// Feeds a chunk; returns the AAC frames that completed. Packets whose
    /// start would lie before the first input sample (encoder priming) are dropped.
    pub fn encode(&mut self, chunk: &AudioChunk) -> Result<Vec<AudioPacket>, EncodeError> {
        if self.origin_us.is_none() {
            self.origin_us = Some(chunk.pts_us);
        }
        self.pending.extend_from_slice(&chunk.samples);
        let block = AAC_FRAME_SAMPLES * AUDIO_CHANNELS as usize;
        let mut packets = Vec::new();
        let mut offset = 0;
        while self.pending.len() - offset >= block {
            let input = &self.pending[offset..offset + block];
            let info = self.encoder.encode(input, &mut self.out).map_err(|e| EncodeError::Audio(e.to_string()))?;
            offset += info.input_consumed.max(1).min(block);
            self.consumed += (info.input_consumed / AUDIO_CHANNELS as usize) as u64;
            if info.output_size > 0 {
                let n = self.produced;
                self.produced += 1;
                let start = (n * AAC_FRAME_SAMPLES as u64) as i64 - self.delay as i64;
                if start >= 0 {
                    let pts_us = self.origin_us.unwrap_or(0) + start * 1_000_000 / AUDIO_SAMPLE_RATE as i64;
                    packets.push(AudioPacket { pts_us, data: Bytes::copy_from_slice(&self.out[..info.output_size]) });
                }
            }
        }
        self.pending.drain(..offset);
        Ok(packets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mentorcast_media::{MediaClock, SyntheticAudio, SyntheticVideo};

    #[test]
    fn h264_has_keyframes_every_two_seconds_and_config_once() {
        let settings = VideoSettings { width: 320, height: 180, fps: 30, kbps: 500, keyframe_secs: 2 };
        let mut enc = VideoEncoder::new(settings).unwrap();
        let src = SyntheticVideo::new(320, 180, 30, MediaClock::start()).unwrap();
        let mut keyframes = Vec::new();
        let mut configs = 0;
        let mut packets = 0;
        for i in 0..150 {
            if let VideoOutput::Packet(p) = enc.encode(&src.render(i)).unwrap() {
                packets += 1;
                if p.keyframe {
                    keyframes.push(p.index);
                }
                configs += p.config.is_some() as u32;
                assert!(p.nals.iter().all(|n| !n.starts_with(&[0, 0, 1]) && !n.starts_with(&[0, 0, 0, 1])));
                // Keyframes carry SPS and PPS in-band as well; other frames only slices.
                let types: Vec<u8> = p.nals.iter().map(|n| mentorcast_protocol::h264::nal_type(n)).collect();
                let in_band =
                    types.starts_with(&[mentorcast_protocol::h264::NAL_SPS, mentorcast_protocol::h264::NAL_PPS]);
                assert_eq!(in_band, p.keyframe, "{types:?}");
            }
        }
        assert!(packets > 140, "only {packets} packets of 150 frames");
        assert_eq!(keyframes, vec![0, 60, 120]);
        assert_eq!(configs, 1);
        enc.force_keyframe();
        match enc.encode(&src.render(150)).unwrap() {
            VideoOutput::Packet(p) => assert!(p.keyframe),
            VideoOutput::Skipped => panic!("forced keyframe skipped"),
        }
    }

    #[test]
    fn the_bitrate_changes_while_encoding() {
        let settings = VideoSettings { width: 640, height: 360, fps: 30, kbps: 3000, keyframe_secs: 2 };
        let mut enc = VideoEncoder::new(settings).unwrap();
        let src = SyntheticVideo::new(640, 360, 30, MediaClock::start()).unwrap();
        let bytes = |enc: &mut VideoEncoder, from: u64| -> usize {
            (from..from + 90)
                .filter_map(|i| match enc.encode(&src.render(i)).unwrap() {
                    VideoOutput::Packet(p) => Some(p.nals.iter().map(|n| n.len()).sum::<usize>()),
                    VideoOutput::Skipped => None,
                })
                .sum()
        };
        let high = bytes(&mut enc, 0);
        enc.set_kbps(300).unwrap();
        assert_eq!(enc.settings().kbps, 300);
        let _settle = bytes(&mut enc, 90);
        let low = bytes(&mut enc, 180);
        // The synthetic pattern fills about 700 kbps: at 3000 it sends that, at 300 it must send less.
        assert!(low * 2 < high, "3 s at 300 kbps ({low} B) vs at 3000 kbps ({high} B)");
        assert!((low as f64) < 300_000.0 / 8.0 * 3.0 * 1.5, "{low} B in 3 s at 300 kbps");
    }

    /// An encoder started low (a smaller picture size under congestion) may rise to
    /// its maximum (openh264 refuses a target above the maximum it was set up with).
    #[test]
    fn the_bitrate_rises_to_the_maximum_it_was_made_with() {
        let settings = VideoSettings { width: 640, height: 360, fps: 30, kbps: 375, keyframe_secs: 2 };
        let src = SyntheticVideo::new(640, 360, 30, MediaClock::start()).unwrap();
        let mut enc = VideoEncoder::with_max_kbps(settings, 1500).unwrap();
        for i in 0..3 {
            enc.encode(&src.render(i)).unwrap();
        }
        enc.set_kbps(1200).unwrap();
        assert_eq!(enc.settings().kbps, 1200);
        enc.set_kbps(4000).unwrap();
        assert_eq!(enc.settings().kbps, 1500, "held at the maximum");
        let mut plain = VideoEncoder::new(settings).unwrap();
        plain.encode(&src.render(0)).unwrap();
        plain.encode(&src.render(1)).unwrap();
        assert!(plain.set_kbps(1200).is_ok() && plain.settings().kbps == 375, "a plain encoder stays at its start");
    }

    #[test]
    fn wrong_frame_size_is_an_error() {
        let settings = VideoSettings { width: 320, height: 180, fps: 30, kbps: 500, keyframe_secs: 2 };
        let mut enc = VideoEncoder::new(settings).unwrap();
        let src = SyntheticVideo::new(640, 360, 30, MediaClock::start()).unwrap();
        assert!(matches!(enc.encode(&src.render(0)), Err(EncodeError::FrameSize { .. })));
    }

    #[test]
    fn aac_frames_are_stamped_contiguously() {
        let mut enc = AudioEncoder::new(AudioSettings { kbps: 128 }).unwrap();
        assert_eq!(enc.specific_config(), [0x11, 0x90]);
        let mut all = Vec::new();
        for c in 0..100u64 {
            let first = c * 480;
            let chunk = AudioChunk {
                samples: SyntheticAudio::render(first, 480),
                pts_us: (first * 1_000_000 / 48_000) as i64,
                first_sample: first,
            };
            all.extend(enc.encode(&chunk).unwrap());
        }
        assert!(all.len() >= 44, "{} packets for 1 s", all.len());
        for w in all.windows(2) {
            let step = w[1].pts_us - w[0].pts_us;
            assert!((21_333..=21_334).contains(&step), "frames must be 1024 samples apart, got {step} us");
        }
        assert!(all[0].pts_us >= 0 && all[0].pts_us < 21_334);
    }
}
