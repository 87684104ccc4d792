//! FLV: the tag bodies RTMP carries in its audio and video messages (mux and
//! demux), and FLV files (what nginx-rtmp records; what `verify` saves).
//!
//! Video: H.264 in AVCC form — an AVC sequence header carrying the
//! AVCDecoderConfigurationRecord (SPS/PPS), then NALU tags with 4-byte length
//! prefixes. Audio: AAC with a sequence header carrying the
//! AudioSpecificConfig, then raw AAC frames; the tag byte `0xAF` says AAC,
//! 44 kHz nominal (FLV's fixed value for AAC), 16-bit, stereo.

use bytes::{BufMut, Bytes, BytesMut};

use crate::h264::{self, H264Error};

pub const TAG_AUDIO: u8 = 8;
pub const TAG_VIDEO: u8 = 9;
pub const TAG_SCRIPT: u8 = 18;
/// FLV audio tag header byte for AAC, stereo, 16-bit.
pub const AAC_TAG_BYTE: u8 = 0xAF;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FlvError {
    #[error("not an FLV file (bad signature)")]
    BadSignature,
    #[error("FLV data is truncated")]
    Truncated,
    #[error("the tag is not H.264 video (codec id {0})")]
    NotAvc(u8),
    #[error("the tag is not AAC audio (format {0})")]
    NotAac(u8),
    #[error("malformed H.264 data: {0}")]
    BadAvc(#[from] H264Error),
}

/// Video tag body: AVC sequence header.
pub fn video_sequence_header(avcc: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(5 + avcc.len());
    b.put_u8(0x17); // keyframe, AVC
    b.put_u8(0); // sequence header
    b.put_slice(&[0, 0, 0]);
    b.put_slice(avcc);
    b.freeze()
}

/// Video tag body: NAL units (without start codes) as 4-byte length-prefixed AVCC.
pub fn video_nalus<'a>(keyframe: bool, composition_ms: i32, nals: impl IntoIterator<Item = &'a [u8]>) -> Bytes {
    let mut b = BytesMut::new();
    b.put_u8(if keyframe { 0x17 } else { 0x27 });
    b.put_u8(1);
    let cts = composition_ms.to_be_bytes();
    b.put_slice(&cts[1..]);
    for nal in nals {
        b.put_u32(nal.len() as u32);
        b.put_slice(nal);
    }
    b.freeze()
}

/// Audio tag body: AAC sequence header with the AudioSpecificConfig.
pub fn audio_sequence_header(asc: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(2 + asc.len());
    b.put_u8(AAC_TAG_BYTE);
    b.put_u8(0);
    b.put_slice(asc);
    b.freeze()
}

/// Audio tag body: one raw AAC frame.
pub fn audio_frame(aac: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(2 + aac.len());
    b.put_u8(AAC_TAG_BYTE);
    b.put_u8(1);
    b.put_slice(aac);
    b.freeze()
}

/// AudioSpecificConfig for AAC-LC at a sample rate and channel count.
pub fn audio_specific_config(sample_rate: u32, channels: u8) -> [u8; 2] {
    const RATES: [u32; 13] = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];
    let idx = RATES.iter().position(|&r| r == sample_rate).unwrap_or(3) as u8;
    let aot = 2u8; // AAC-LC
    [(aot << 3) | (idx >> 1), ((idx & 1) << 7) | (channels << 3)]
}

/// A parsed video tag body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoTag {
    /// AVCDecoderConfigurationRecord: SPS and PPS NAL units.
    SequenceHeader {
        sps: Vec<Vec<u8>>,
        pps: Vec<Vec<u8>>,
    },
    /// Coded NAL units of one frame (without length prefixes).
    Frame {
        keyframe: bool,
        composition_ms: i32,
        nals: Vec<Vec<u8>>,
    },
    EndOfSequence,
}

pub fn parse_video_tag(body: &[u8]) -> Result<VideoTag, FlvError> {
    if body.len() < 5 {
        return Err(FlvError::Truncated);
    }
    let codec = body[0] & 0x0f;
    if codec != 7 {
        return Err(FlvError::NotAvc(codec));
    }
    let keyframe = body[0] >> 4 == 1;
    let cts = i32::from_be_bytes([if body[2] & 0x80 != 0 { 0xff } else { 0 }, body[2], body[3], body[4]]);
    let data = &body[5..];
    match body[1] {
        0 => {
            let c = h264::parse_decoder_config(data)?;
            Ok(VideoTag::SequenceHeader { sps: c.sps, pps: c.pps })
        }
        1 => {
            let mut nals = Vec::new();
            let mut p = 0;
            while p + 4 <= data.len() {
                let len = u32::from_be_bytes([data[p], data[p + 1], data[p + 2], data[p + 3]]) as usize;
                p += 4;
                if p + len > data.len() {
                    return Err(FlvError::Truncated);
                }
                nals.push(data[p..p + len].to_vec());
                p += len;
            }
            if p != data.len() {
                return Err(FlvError::Truncated);
            }
            Ok(VideoTag::Frame { keyframe, composition_ms: cts, nals })
        }
        _ => Ok(VideoTag::EndOfSequence),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioTag {
    SequenceHeader { asc: Vec<u8> },
    Frame { data: Vec<u8> },
}

pub fn parse_audio_tag(body: &[u8]) -> Result<AudioTag, FlvError> {
    if body.len() < 2 {
        return Err(FlvError::Truncated);
    }
    let format = body[0] >> 4;
    if format != 10 {
        return Err(FlvError::NotAac(format));
    }
    Ok(match body[1] {
        0 => AudioTag::SequenceHeader { asc: body[2..].to_vec() },
        _ => AudioTag::Frame { data: body[2..].to_vec() },
    })
}

/// One tag read from an FLV file or an RTMP play session.
#[derive(Debug, Clone)]
pub struct Tag {
    pub kind: u8,
    /// Decode timestamp, milliseconds.
    pub timestamp_ms: u32,
    pub body: Bytes,
}

/// Reads all tags of an FLV file held in memory.
pub fn read_file(data: &[u8]) -> Result<Vec<Tag>, FlvError> {
    if data.len() < 9 || &data[..3] != b"FLV" {
        return Err(FlvError::BadSignature);
    }
    let header_len = u32::from_be_bytes([data[5], data[6], data[7], data[8]]) as usize;
    let mut p = header_len + 4; // skip PreviousTagSize0
    let mut tags = Vec::new();
    while p + 11 <= data.len() {
        let kind = data[p] & 0x1f;
        let size = u32::from_be_bytes([0, data[p + 1], data[p + 2], data[p + 3]]) as usize;
        let ts = u32::from_be_bytes([data[p + 7], data[p + 4], data[p + 5], data[p + 6]]);
        let start = p + 11;
        if start + size > data.len() {
            // A recording cut short (the ingest still writing): keep what is whole.
            break;
        }
        tags.push(Tag { kind, timestamp_ms: ts, body: Bytes::copy_from_slice(&data[start..start + size]) });
        p = start + size + 4;
    }
    Ok(tags)
}

/// The FLV file header (with PreviousTagSize0).
pub fn file_header(has_audio: bool, has_video: bool) -> [u8; 13] {
    let mut h = [0u8; 13];
    h[..4].copy_from_slice(b"FLV\x01");
    h[4] = (has_audio as u8) << 2 | has_video as u8;
    h[5..9].copy_from_slice(&9u32.to_be_bytes());
    h
}

/// One tag of an FLV file, with its PreviousTagSize.
pub fn file_tag(kind: u8, timestamp_ms: u32, body: &[u8]) -> Vec<u8> {
    let size = body.len() as u32;
    let mut out = Vec::with_capacity(body.len() + 15);
    out.push(kind);
    out.extend_from_slice(&size.to_be_bytes()[1..]);
    let ts = timestamp_ms.to_be_bytes();
    out.extend_from_slice(&[ts[1], ts[2], ts[3], ts[0]]);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(body);
    out.extend_from_slice(&(size + 11).to_be_bytes());
    out
}

/// Writes tags as an FLV file (used by tests and by `verify` to save what it received).
pub fn write_file(tags: &[Tag], has_audio: bool, has_video: bool) -> Vec<u8> {
    let mut out = file_header(has_audio, has_video).to_vec();
    for t in tags {
        out.extend_from_slice(&file_tag(t.kind, t.timestamp_ms, &t.body));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avc_tags_round_trip() {
        let sps = [0x67, 0x42, 0xc0, 0x1f, 0xaa];
        let pps = [0x68, 0xce, 0x3c, 0x80];
        let avcc = h264::decoder_config(&sps, &pps).unwrap();
        assert_eq!(&avcc[..6], &[1, 0x42, 0xc0, 0x1f, 0xff, 0xe1]);
        let tag = video_sequence_header(&avcc);
        assert_eq!(
            parse_video_tag(&tag).unwrap(),
            VideoTag::SequenceHeader { sps: vec![sps.to_vec()], pps: vec![pps.to_vec()] }
        );
        let frame = video_nalus(true, 0, [&[0x65u8, 1, 2, 3][..]]);
        assert_eq!(&frame[..9], &[0x17, 1, 0, 0, 0, 0, 0, 0, 4]);
        assert_eq!(
            parse_video_tag(&frame).unwrap(),
            VideoTag::Frame { keyframe: true, composition_ms: 0, nals: vec![vec![0x65, 1, 2, 3]] }
        );
        assert!(matches!(parse_video_tag(&frame[..7]), Err(FlvError::Truncated)));
    }

    #[test]
    fn audio_specific_config_is_lc_48k_stereo() {
        assert_eq!(audio_specific_config(48_000, 2), [0x11, 0x90]);
        assert_eq!(audio_specific_config(44_100, 2), [0x12, 0x10]);
        let tag = audio_sequence_header(&[0x11, 0x90]);
        assert_eq!(&tag[..], &[0xAF, 0, 0x11, 0x90]);
        assert_eq!(parse_audio_tag(&tag).unwrap(), AudioTag::SequenceHeader { asc: vec![0x11, 0x90] });
    }

    #[test]
    fn file_round_trip_and_truncation() {
        let tags = vec![
            Tag { kind: TAG_VIDEO, timestamp_ms: 0, body: video_nalus(true, 0, [&[0x65u8, 1][..]]) },
            Tag { kind: TAG_AUDIO, timestamp_ms: 0x0100_0021, body: audio_frame(&[1, 2, 3]) },
        ];
        let file = write_file(&tags, true, true);
        let back = read_file(&file).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[1].timestamp_ms, 0x0100_0021);
        assert_eq!(back[1].body, tags[1].body);
        assert_eq!(read_file(&file[..file.len() - 6]).unwrap().len(), 1);
        assert_eq!(read_file(b"NOPE").unwrap_err(), FlvError::BadSignature);
    }
}
