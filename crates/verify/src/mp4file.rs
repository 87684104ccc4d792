//! MP4 input: the avc1 track (AVCC samples) and the mp4a track (raw AAC).

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use mp4::{Mp4Reader, Mp4Track};
use tracing::{debug, warn};

use crate::{finish_checked, Analyzer, Report, VerifyError, VerifyOptions};

/// Start of the track's presentation, in the track's media timescale, and the
/// empty lead-in before it, in ms (from the edit list).
fn edit_offsets(track: &Mp4Track, movie_timescale: u32) -> (i64, f64) {
    let Some(elst) = track.trak.edts.as_ref().and_then(|e| e.elst.as_ref()) else { return (0, 0.0) };
    let mut lead_ms = 0.0;
    for entry in &elst.entries {
        // media_time −1 (all ones, 32 or 64 bit): an empty edit.
        let empty = entry.media_time == u32::MAX as u64 || entry.media_time == u64::MAX;
        if empty {
            lead_ms += entry.segment_duration as f64 * 1000.0 / movie_timescale.max(1) as f64;
        } else {
            return (entry.media_time as i64, lead_ms);
        }
    }
    (0, lead_ms)
}

pub(crate) fn verify_mp4(path: &Path, opts: VerifyOptions) -> Result<Report, VerifyError> {
    let file = File::open(path).map_err(|source| VerifyError::Read { path: path.to_path_buf(), source })?;
    let size = file.metadata().map_err(|source| VerifyError::Read { path: path.to_path_buf(), source })?.len();
    let mut reader = Mp4Reader::read_header(BufReader::new(file), size).map_err(|e| VerifyError::Mp4(e.to_string()))?;
    let movie_ts = reader.moov.mvhd.timescale;

    let mut video = None;
    let mut audio = None;
    let mut ids: Vec<u32> = reader.tracks().keys().copied().collect();
    ids.sort_unstable();
    for id in ids {
        let t = &reader.tracks()[&id];
        let stsd = &t.trak.mdia.minf.stbl.stsd;
        if video.is_none() {
            if let Some(avc1) = &stsd.avc1 {
                video = Some((id, avc1.avcc.clone(), t.timescale(), edit_offsets(t, movie_ts), t.sample_count()));
                continue;
            }
        }
        if audio.is_none() {
            if let Some(esds) = stsd.mp4a.as_ref().and_then(|m| m.esds.as_ref()) {
                let d = &esds.es_desc.dec_config.dec_specific;
                let asc = [(d.profile << 3) | (d.freq_index >> 1), ((d.freq_index & 1) << 7) | (d.chan_conf << 3)];
                audio = Some((id, asc, t.timescale(), edit_offsets(t, movie_ts), t.sample_count()));
            }
        }
    }
    let Some((vid, avcc, vts, (v_media0, v_lead), v_count)) = video else { return Err(VerifyError::NoVideo) };
    debug!("MP4 video track {vid}: {v_count} samples, timescale {vts}, edit start {v_media0}, lead-in {v_lead} ms");

    let mut analyzer = Analyzer::new(opts);
    let sps: Vec<Vec<u8>> = avcc.sequence_parameter_sets.iter().map(|n| n.bytes.clone()).collect();
    let pps: Vec<Vec<u8>> = avcc.picture_parameter_sets.iter().map(|n| n.bytes.clone()).collect();
    analyzer.push_video_config(&sps, &pps);
    let len_size = (avcc.length_size_minus_one & 3) as usize + 1;
    let vts = vts.max(1) as f64;
    for i in 1..=v_count {
        let sample = match reader.read_sample(vid, i) {
            Ok(Some(s)) => s,
            Ok(None) => break,
            Err(e) => {
                warn!("MP4 video sample {i}: {e}");
                break;
            }
        };
        let dts = (sample.start_time as i64 - v_media0) as f64 * 1000.0 / vts + v_lead;
        let pts = (sample.start_time as i64 + sample.rendering_offset as i64 - v_media0) as f64 * 1000.0 / vts + v_lead;
        let nals = split_length_prefixed(&sample.bytes, len_size);
        analyzer.push_video_frame(dts, pts, sample.is_sync, &nals);
    }

    if let Some((aid, asc, ats, (a_media0, a_lead), a_count)) = audio {
        debug!("MP4 audio track {aid}: {a_count} samples, timescale {ats}, ASC {asc:02x?}, edit start {a_media0}");
        match analyzer.push_audio_config(&asc) {
            Ok(()) => {
                let ats = ats.max(1) as f64;
                for i in 1..=a_count {
                    let sample = match reader.read_sample(aid, i) {
                        Ok(Some(s)) => s,
                        Ok(None) => break,
                        Err(e) => {
                            warn!("MP4 audio sample {i}: {e}");
                            break;
                        }
                    };
                    let t = (sample.start_time as i64 - a_media0) as f64 * 1000.0 / ats + a_lead;
                    analyzer.push_audio_frame(t, &sample.bytes);
                }
            }
            Err(e) => warn!("{e}"),
        }
    }
    finish_checked(analyzer)
}

/// Splits AVCC sample data (length-prefixed NAL units); stops at a truncated unit.
pub(crate) fn split_length_prefixed(data: &[u8], len_size: usize) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut p = 0;
    while p + len_size <= data.len() {
        let len = data[p..p + len_size].iter().fold(0usize, |a, &b| (a << 8) | b as usize);
        p += len_size;
        if len > data.len() - p {
            break;
        }
        out.push(&data[p..p + len]);
        p += len;
    }
    out
}
