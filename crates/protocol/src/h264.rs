//! H.264 bitstream helpers: Annex B start codes, NAL unit types, and the
//! AVCDecoderConfigurationRecord (SPS + PPS) that FLV's sequence header and
//! MP4's `avcC` carry.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum H264Error {
    #[error("the SPS is too short")]
    SpsTooShort,
    #[error("the decoder configuration record is truncated")]
    Truncated,
}

/// The parameter sets of an AVCDecoderConfigurationRecord.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecoderConfig {
    pub sps: Vec<Vec<u8>>,
    pub pps: Vec<Vec<u8>>,
}

/// Splits an Annex-B byte stream (start codes 00 00 01 / 00 00 00 01) into NAL units.
pub fn split_annex_b(data: &[u8]) -> Vec<&[u8]> {
    let mut nals = Vec::new();
    let mut i = 0;
    let mut start: Option<usize> = None;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            if let Some(s) = start {
                let mut end = i;
                while end > s && data[end - 1] == 0 {
                    end -= 1;
                }
                nals.push(&data[s..end]);
            }
            i += 3;
            start = Some(i);
        } else {
            i += 1;
        }
    }
    if let Some(s) = start {
        if s < data.len() {
            nals.push(&data[s..]);
        }
    }
    nals
}

/// The NAL unit type (the low 5 bits of its first byte).
pub fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map(|b| b & 0x1f).unwrap_or(0)
}

/// A coded slice of an IDR picture (a keyframe).
pub const NAL_IDR: u8 = 5;
/// Sequence parameter set.
pub const NAL_SPS: u8 = 7;
/// Picture parameter set.
pub const NAL_PPS: u8 = 8;

/// Builds the AVCDecoderConfigurationRecord (ISO/IEC 14496-15) from one SPS and one PPS.
pub fn decoder_config(sps: &[u8], pps: &[u8]) -> Result<Vec<u8>, H264Error> {
    if sps.len() < 4 {
        return Err(H264Error::SpsTooShort);
    }
    let mut out = Vec::with_capacity(11 + sps.len() + pps.len());
    out.push(1); // configurationVersion
    out.push(sps[1]); // profile
    out.push(sps[2]); // compatibility
    out.push(sps[3]); // level
    out.push(0xFF); // 4-byte NALU lengths
    out.push(0xE1); // one SPS
    out.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    out.extend_from_slice(sps);
    out.push(1); // one PPS
    out.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    out.extend_from_slice(pps);
    Ok(out)
}

/// Parses an AVCDecoderConfigurationRecord.
pub fn parse_decoder_config(data: &[u8]) -> Result<DecoderConfig, H264Error> {
    if data.len() < 7 {
        return Err(H264Error::Truncated);
    }
    let mut p = 5;
    let read_sets = |count: usize, p: &mut usize| -> Result<Vec<Vec<u8>>, H264Error> {
        let mut sets = Vec::new();
        for _ in 0..count {
            if *p + 2 > data.len() {
                return Err(H264Error::Truncated);
            }
            let len = u16::from_be_bytes([data[*p], data[*p + 1]]) as usize;
            *p += 2;
            if *p + len > data.len() {
                return Err(H264Error::Truncated);
            }
            sets.push(data[*p..*p + len].to_vec());
            *p += len;
        }
        Ok(sets)
    };
    let n_sps = (data[p] & 0x1f) as usize;
    p += 1;
    let sps = read_sets(n_sps, &mut p)?;
    if p >= data.len() {
        return Err(H264Error::Truncated);
    }
    let n_pps = data[p] as usize;
    p += 1;
    let pps = read_sets(n_pps, &mut p)?;
    Ok(DecoderConfig { sps, pps })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annex_b_splits_on_both_start_code_lengths() {
        let data = [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 9, 9];
        let nals = split_annex_b(&data);
        assert_eq!(nals, vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 9, 9][..]]);
        assert_eq!(nal_type(nals[2]), NAL_IDR);
    }

    #[test]
    fn decoder_config_round_trips() {
        let sps = [0x67, 0x42, 0xc0, 0x1f, 0xaa];
        let pps = [0x68, 0xce, 0x3c, 0x80];
        let avcc = decoder_config(&sps, &pps).unwrap();
        assert_eq!(&avcc[..6], &[1, 0x42, 0xc0, 0x1f, 0xff, 0xe1]);
        assert_eq!(
            parse_decoder_config(&avcc).unwrap(),
            DecoderConfig { sps: vec![sps.to_vec()], pps: vec![pps.to_vec()] }
        );
        assert_eq!(parse_decoder_config(&avcc[..avcc.len() - 2]), Err(H264Error::Truncated));
        assert_eq!(decoder_config(&[0x67], &pps), Err(H264Error::SpsTooShort));
    }
}
