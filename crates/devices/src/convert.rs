//! Camera frame buffers → the encoder's I420 (tightly packed).
//!
//! YUYV (4:2:2 packed) is repacked with the `yuv` crate's SIMD path (no
//! range change: cameras deliver limited-range BT.601 YUV, as the encoder
//! wants). NV12 is de-interleaved. MJPEG is decoded with `zune-jpeg` to RGB
//! and converted with `yuv` to limited-range BT.601 I420.

use yuv::{YuvConversionMode, YuvPackedImage, YuvPlanarImageMut, YuvRange, YuvStandardMatrix};

/// Pixel formats a camera may deliver that we can convert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CaptureFormat {
    Yuyv,
    Nv12,
    Mjpeg,
}

impl CaptureFormat {
    pub fn as_str(&self) -> &'static str {
        match self {
            CaptureFormat::Yuyv => "YUYV",
            CaptureFormat::Nv12 => "NV12",
            CaptureFormat::Mjpeg => "MJPEG",
        }
    }

    /// Raw formats first: they need no decoding.
    pub fn preference(&self) -> u32 {
        match self {
            CaptureFormat::Yuyv => 0,
            CaptureFormat::Nv12 => 0,
            CaptureFormat::Mjpeg => 1,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConvertError {
    #[error("{format} buffer of {got} bytes is too short for {width}x{height} (need {need})")]
    Short { format: &'static str, got: usize, need: usize, width: u32, height: u32 },
    #[error("odd frame size {0}x{1}: I420 needs even sides")]
    OddSize(u32, u32),
    #[error("MJPEG frame could not be decoded: {0}")]
    Jpeg(String),
    #[error("MJPEG frame is {got_w}x{got_h}, expected {want_w}x{want_h}")]
    JpegSize { got_w: u32, got_h: u32, want_w: u32, want_h: u32 },
    #[error("conversion failed: {0}")]
    Yuv(String),
}

/// Converts frames of one format and size; keeps its scratch buffers between frames.
pub struct Converter {
    pub format: CaptureFormat,
    pub width: u32,
    pub height: u32,
    rgb: Vec<u8>,
}

impl Converter {
    pub fn new(format: CaptureFormat, width: u32, height: u32) -> Result<Self, ConvertError> {
        if !width.is_multiple_of(2) || !height.is_multiple_of(2) || width == 0 || height == 0 {
            return Err(ConvertError::OddSize(width, height));
        }
        Ok(Self { format, width, height, rgb: Vec::new() })
    }

    pub fn i420_len(&self) -> usize {
        let luma = self.width as usize * self.height as usize;
        luma + luma / 2
    }

    /// Converts one captured buffer into `out` (resized to the I420 size).
    pub fn convert(&mut self, src: &[u8], out: &mut Vec<u8>) -> Result<(), ConvertError> {
        out.resize(self.i420_len(), 0);
        match self.format {
            CaptureFormat::Yuyv => yuyv_to_i420(src, self.width, self.height, out),
            CaptureFormat::Nv12 => nv12_to_i420(src, self.width, self.height, out),
            CaptureFormat::Mjpeg => mjpeg_to_i420(src, self.width, self.height, &mut self.rgb, out),
        }
    }
}

fn planes(out: &mut [u8], width: u32, height: u32) -> YuvPlanarImageMut<'_, u8> {
    let luma = width as usize * height as usize;
    let (y, chroma) = out.split_at_mut(luma);
    let (u, v) = chroma.split_at_mut(luma / 4);
    YuvPlanarImageMut {
        y_plane: yuv::BufferStoreMut::Borrowed(y),
        y_stride: width,
        u_plane: yuv::BufferStoreMut::Borrowed(u),
        u_stride: width / 2,
        v_plane: yuv::BufferStoreMut::Borrowed(&mut v[..luma / 4]),
        v_stride: width / 2,
        width,
        height,
    }
}

/// YUYV 4:2:2 (Y0 U Y1 V) → I420; `out` must hold width·height·3/2 bytes.
pub fn yuyv_to_i420(src: &[u8], width: u32, height: u32, out: &mut [u8]) -> Result<(), ConvertError> {
    let need = width as usize * height as usize * 2;
    if src.len() < need {
        return Err(ConvertError::Short { format: "YUYV", got: src.len(), need, width, height });
    }
    let packed = YuvPackedImage { yuy: &src[..need], yuy_stride: width * 2, width, height };
    let mut planar = planes(out, width, height);
    yuv::yuyv422_to_yuv420(&mut planar, &packed).map_err(|e| ConvertError::Yuv(e.to_string()))
}

/// NV12 (Y plane, interleaved UV) → I420.
pub fn nv12_to_i420(src: &[u8], width: u32, height: u32, out: &mut [u8]) -> Result<(), ConvertError> {
    let luma = width as usize * height as usize;
    let need = luma + luma / 2;
    if src.len() < need {
        return Err(ConvertError::Short { format: "NV12", got: src.len(), need, width, height });
    }
    out[..luma].copy_from_slice(&src[..luma]);
    let (u, v) = out[luma..need].split_at_mut(luma / 4);
    for (i, uv) in src[luma..need].chunks_exact(2).enumerate() {
        u[i] = uv[0];
        v[i] = uv[1];
    }
    Ok(())
}

/// MJPEG (one JPEG per frame) → I420 (limited-range BT.601, as the encoder's YUV is).
pub fn mjpeg_to_i420(
    src: &[u8],
    width: u32,
    height: u32,
    rgb: &mut Vec<u8>,
    out: &mut [u8],
) -> Result<(), ConvertError> {
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let opts = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut dec = zune_jpeg::JpegDecoder::new_with_options(src, opts);
    dec.decode_headers().map_err(|e| ConvertError::Jpeg(format!("{e:?}")))?;
    let (w, h) = dec
        .dimensions()
        .map(|(w, h)| (w as u32, h as u32))
        .ok_or_else(|| ConvertError::Jpeg("no dimensions".into()))?;
    if (w, h) != (width, height) {
        return Err(ConvertError::JpegSize { got_w: w, got_h: h, want_w: width, want_h: height });
    }
    let size = dec.output_buffer_size().ok_or_else(|| ConvertError::Jpeg("no output size".into()))?;
    rgb.resize(size, 0);
    dec.decode_into(rgb).map_err(|e| ConvertError::Jpeg(format!("{e:?}")))?;
    let mut planar = planes(out, width, height);
    yuv::rgb_to_yuv420(
        &mut planar,
        rgb,
        width * 3,
        YuvRange::Limited,
        YuvStandardMatrix::Bt601,
        YuvConversionMode::Balanced,
    )
    .map_err(|e| ConvertError::Yuv(e.to_string()))
}

/// Test and bench helpers: synthetic camera buffers of each format.
pub mod fixtures {
    /// A YUYV frame with a horizontal luma ramp, U rising down the frame, V constant.
    pub fn yuyv(width: u32, height: u32) -> Vec<u8> {
        let (w, h) = (width as usize, height as usize);
        let mut buf = vec![0u8; w * h * 2];
        for y in 0..h {
            for x in (0..w).step_by(2) {
                let o = (y * w + x) * 2;
                buf[o] = luma_at(x, w);
                buf[o + 1] = u_at(y, h);
                buf[o + 2] = luma_at(x + 1, w);
                buf[o + 3] = 90;
            }
        }
        buf
    }

    pub fn luma_at(x: usize, w: usize) -> u8 {
        (16 + x * 219 / w.max(1)) as u8
    }

    pub fn u_at(y: usize, h: usize) -> u8 {
        (40 + y * 160 / h.max(1)) as u8
    }

    /// An NV12 frame with the same content as [`yuyv`] (4:2:0 chroma taken from even rows).
    pub fn nv12(width: u32, height: u32) -> Vec<u8> {
        let (w, h) = (width as usize, height as usize);
        let mut buf = vec![0u8; w * h * 3 / 2];
        for y in 0..h {
            for x in 0..w {
                buf[y * w + x] = luma_at(x, w);
            }
        }
        for cy in 0..h / 2 {
            for cx in 0..w / 2 {
                let o = w * h + cy * w + cx * 2;
                buf[o] = u_at(cy * 2, h);
                buf[o + 1] = 90;
            }
        }
        buf
    }

    /// A baseline JPEG of four flat quadrants (red, green, blue, white), encoded
    /// by a minimal encoder here (no crate needed): 4:4:4, quality ~high.
    pub fn mjpeg(width: u32, height: u32) -> Vec<u8> {
        let (w, h) = (width as usize, height as usize);
        let mut rgb = vec![0u8; w * h * 3];
        for y in 0..h {
            for x in 0..w {
                let c = quadrant_rgb(x, y, w, h);
                rgb[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&c);
            }
        }
        super::jpeg_enc::encode_rgb(&rgb, w, h)
    }

    pub fn quadrant_rgb(x: usize, y: usize, w: usize, h: usize) -> [u8; 3] {
        match (x < w / 2, y < h / 2) {
            (true, true) => [220, 30, 30],
            (false, true) => [30, 200, 40],
            (true, false) => [30, 40, 210],
            (false, false) => [235, 235, 235],
        }
    }
}

/// A minimal baseline JPEG encoder (4:4:4, standard Annex K tables) used only
/// to make MJPEG fixtures for the tests and the benchmark.
pub mod jpeg_enc {
    const ZIGZAG: [usize; 64] = [
        0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14,
        21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60,
        61, 54, 47, 55, 62, 63,
    ];
    const QL: [u8; 64] = [
        16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29,
        51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121,
        120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
    ];
    const QC: [u8; 64] = [
        17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99,
        99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
        99, 99, 99, 99, 99, 99, 99, 99,
    ];
    const DC_L_BITS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
    const DC_C_BITS: [u8; 16] = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
    const DC_VALS: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    const AC_L_BITS: [u8; 16] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d];
    const AC_L_VALS: [u8; 162] = [
        0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71,
        0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72,
        0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37,
        0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59,
        0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83,
        0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3,
        0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
        0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
        0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
    ];
    const AC_C_BITS: [u8; 16] = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
    const AC_C_VALS: [u8; 162] = [
        0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13, 0x22,
        0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1,
        0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x35, 0x36,
        0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58,
        0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a,
        0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a,
        0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba,
        0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
        0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
    ];

    /// (code, length) per symbol.
    fn build(bits: &[u8; 16], vals: &[u8]) -> [(u16, u8); 256] {
        let mut table = [(0u16, 0u8); 256];
        let mut code = 0u16;
        let mut k = 0;
        for (i, &n) in bits.iter().enumerate() {
            for _ in 0..n {
                table[vals[k] as usize] = (code, (i + 1) as u8);
                code += 1;
                k += 1;
            }
            code <<= 1;
        }
        table
    }

    struct Bits {
        out: Vec<u8>,
        acc: u32,
        n: u32,
    }

    impl Bits {
        fn put(&mut self, code: u16, len: u8) {
            self.acc = (self.acc << len) | code as u32;
            self.n += len as u32;
            while self.n >= 8 {
                let b = (self.acc >> (self.n - 8)) as u8;
                self.out.push(b);
                if b == 0xff {
                    self.out.push(0);
                }
                self.n -= 8;
                self.acc &= (1 << self.n) - 1;
            }
        }
        fn flush(&mut self) {
            if self.n > 0 {
                let pad = 8 - self.n;
                self.put((1 << pad) - 1, pad as u8);
            }
        }
    }

    fn category(v: i32) -> (u8, u16) {
        let a = v.unsigned_abs();
        let len = 32 - a.leading_zeros();
        let bits = if v < 0 { (v - 1) as u32 & ((1 << len) - 1) } else { v as u32 };
        (len as u8, bits as u16)
    }

    fn fdct(block: &[f32; 64], q: &[u8; 64]) -> [i32; 64] {
        let mut out = [0i32; 64];
        for v in 0..8 {
            for u in 0..8 {
                let mut s = 0.0f32;
                for y in 0..8 {
                    for x in 0..8 {
                        s += block[y * 8 + x]
                            * (((2 * x + 1) as f32 * u as f32 * std::f32::consts::PI) / 16.0).cos()
                            * (((2 * y + 1) as f32 * v as f32 * std::f32::consts::PI) / 16.0).cos();
                    }
                }
                let cu = if u == 0 { std::f32::consts::FRAC_1_SQRT_2 } else { 1.0 };
                let cv = if v == 0 { std::f32::consts::FRAC_1_SQRT_2 } else { 1.0 };
                out[v * 8 + u] = (0.25 * cu * cv * s / q[v * 8 + u] as f32).round() as i32;
            }
        }
        out
    }

    pub fn encode_rgb(rgb: &[u8], w: usize, h: usize) -> Vec<u8> {
        let mut o = vec![0xff, 0xd8];
        // DQT
        for (id, q) in [(0u8, &QL), (1u8, &QC)] {
            o.extend_from_slice(&[0xff, 0xdb, 0, 67, id]);
            o.extend(ZIGZAG.iter().map(|&z| q[z]));
        }
        // SOF0, 3 components 1x1
        o.extend_from_slice(&[
            0xff,
            0xc0,
            0,
            17,
            8,
            (h >> 8) as u8,
            h as u8,
            (w >> 8) as u8,
            w as u8,
            3,
            1,
            0x11,
            0,
            2,
            0x11,
            1,
            3,
            0x11,
            1,
        ]);
        // DHT
        for (class_id, bits, vals) in [
            (0x00u8, &DC_L_BITS, &DC_VALS[..]),
            (0x10, &AC_L_BITS, &AC_L_VALS[..]),
            (0x01, &DC_C_BITS, &DC_VALS[..]),
            (0x11, &AC_C_BITS, &AC_C_VALS[..]),
        ] {
            let len = 2 + 1 + 16 + vals.len();
            o.extend_from_slice(&[0xff, 0xc4, (len >> 8) as u8, len as u8, class_id]);
            o.extend_from_slice(bits);
            o.extend_from_slice(vals);
        }
        // SOS
        o.extend_from_slice(&[0xff, 0xda, 0, 12, 3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]);
        let dcl = build(&DC_L_BITS, &DC_VALS);
        let acl = build(&AC_L_BITS, &AC_L_VALS);
        let dcc = build(&DC_C_BITS, &DC_VALS);
        let acc = build(&AC_C_BITS, &AC_C_VALS);
        let mut bits = Bits { out: Vec::new(), acc: 0, n: 0 };
        let mut pred = [0i32; 3];
        for by in (0..h).step_by(8) {
            for bx in (0..w).step_by(8) {
                #[allow(clippy::needless_range_loop)] // `c` picks the colour formula and the tables too
                for c in 0..3 {
                    let mut block = [0f32; 64];
                    for y in 0..8 {
                        for x in 0..8 {
                            let (px, py) = ((bx + x).min(w - 1), (by + y).min(h - 1));
                            let p = &rgb[(py * w + px) * 3..];
                            let (r, g, b) = (p[0] as f32, p[1] as f32, p[2] as f32);
                            let v = match c {
                                0 => 0.299 * r + 0.587 * g + 0.114 * b,
                                1 => -0.168_736 * r - 0.331_264 * g + 0.5 * b + 128.0,
                                _ => 0.5 * r - 0.418_688 * g - 0.081_312 * b + 128.0,
                            };
                            block[y * 8 + x] = v - 128.0;
                        }
                    }
                    let (q, dc, ac) = if c == 0 { (&QL, &dcl, &acl) } else { (&QC, &dcc, &acc) };
                    let coef = fdct(&block, q);
                    let diff = coef[0] - pred[c];
                    pred[c] = coef[0];
                    let (len, b) = category(diff);
                    bits.put(dc[len as usize].0, dc[len as usize].1);
                    if len > 0 {
                        bits.put(b, len);
                    }
                    let mut run = 0;
                    for &z in &ZIGZAG[1..] {
                        let v = coef[z];
                        if v == 0 {
                            run += 1;
                            continue;
                        }
                        while run > 15 {
                            bits.put(ac[0xf0].0, ac[0xf0].1);
                            run -= 16;
                        }
                        let (len, b) = category(v);
                        let sym = (run << 4) as usize | len as usize;
                        bits.put(ac[sym].0, ac[sym].1);
                        bits.put(b, len);
                        run = 0;
                    }
                    if run > 0 {
                        bits.put(ac[0].0, ac[0].1);
                    }
                }
            }
        }
        bits.flush();
        o.extend_from_slice(&bits.out);
        o.extend_from_slice(&[0xff, 0xd9]);
        o
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn yuyv_buffer_becomes_i420_with_the_same_samples() {
        let (w, h) = (64u32, 48u32);
        let src = yuyv(w, h);
        let mut c = Converter::new(CaptureFormat::Yuyv, w, h).unwrap();
        let mut out = Vec::new();
        c.convert(&src, &mut out).unwrap();
        assert_eq!(out.len(), (w * h * 3 / 2) as usize);
        let (wu, hu) = (w as usize, h as usize);
        for y in [0, 17, hu - 1] {
            for x in [0, 1, 31, wu - 1] {
                assert_eq!(out[y * wu + x], luma_at(x, wu), "Y at {x},{y}");
            }
        }
        let u = &out[wu * hu..wu * hu + wu * hu / 4];
        let v = &out[wu * hu + wu * hu / 4..];
        for cy in [0, 5, hu / 2 - 1] {
            // Vertically subsampled: the two source rows' U values, averaged or taken from one of them.
            let (a, b) = (u_at(cy * 2, hu) as i32, u_at(cy * 2 + 1, hu) as i32);
            let got = u[cy * wu / 2 + 3] as i32;
            assert!(got >= a.min(b) - 1 && got <= a.max(b) + 1, "U row {cy}: {got} not within {a}..{b}");
            assert_eq!(v[cy * wu / 2 + 3], 90);
        }
    }

    #[test]
    fn nv12_buffer_becomes_i420() {
        let (w, h) = (64u32, 48u32);
        let src = nv12(w, h);
        let mut c = Converter::new(CaptureFormat::Nv12, w, h).unwrap();
        let mut out = Vec::new();
        c.convert(&src, &mut out).unwrap();
        let luma = (w * h) as usize;
        assert_eq!(&out[..luma], &src[..luma]);
        assert_eq!(out[luma + 5 * 32 + 7], u_at(10, 48));
        assert!(out[luma + luma / 4..].iter().all(|&v| v == 90));
    }

    #[test]
    fn mjpeg_buffer_decodes_to_limited_range_i420_with_the_right_colours() {
        let (w, h) = (64u32, 48u32);
        let src = mjpeg(w, h);
        assert_eq!(&src[..2], &[0xff, 0xd8]);
        let mut c = Converter::new(CaptureFormat::Mjpeg, w, h).unwrap();
        let mut out = Vec::new();
        c.convert(&src, &mut out).unwrap();
        let (wu, hu) = (w as usize, h as usize);
        let luma = wu * hu;
        let (u, v) = out[luma..].split_at(luma / 4);
        // Sample the middle of each quadrant and compare with BT.601 limited range of its colour.
        for (qx, qy) in [(0usize, 0usize), (1, 0), (0, 1), (1, 1)] {
            let (x, y) = (qx * wu / 2 + wu / 4, qy * hu / 2 + hu / 4);
            let [r, g, b] = quadrant_rgb(x, y, wu, hu).map(|c| c as f64);
            let ey = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0;
            let eu = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0;
            let ev = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0;
            let gy = out[y * wu + x] as f64;
            let gu = u[(y / 2) * wu / 2 + x / 2] as f64;
            let gv = v[(y / 2) * wu / 2 + x / 2] as f64;
            assert!((gy - ey).abs() <= 4.0, "quadrant {qx},{qy}: Y {gy} want {ey:.0}");
            assert!((gu - eu).abs() <= 5.0, "quadrant {qx},{qy}: U {gu} want {eu:.0}");
            assert!((gv - ev).abs() <= 5.0, "quadrant {qx},{qy}: V {gv} want {ev:.0}");
        }
    }

    #[test]
    fn short_or_mismatched_buffers_are_errors_not_panics() {
        let mut out = Vec::new();
        let mut c = Converter::new(CaptureFormat::Yuyv, 64, 48).unwrap();
        assert!(matches!(c.convert(&[0u8; 100], &mut out), Err(ConvertError::Short { .. })));
        let mut c = Converter::new(CaptureFormat::Nv12, 64, 48).unwrap();
        assert!(matches!(c.convert(&[0u8; 100], &mut out), Err(ConvertError::Short { .. })));
        let mut c = Converter::new(CaptureFormat::Mjpeg, 32, 32).unwrap();
        assert!(matches!(c.convert(&mjpeg(64, 48), &mut out), Err(ConvertError::JpegSize { .. })));
        assert!(matches!(c.convert(b"not a jpeg", &mut out), Err(ConvertError::Jpeg(_))));
        assert_eq!(Converter::new(CaptureFormat::Yuyv, 63, 48).err(), Some(ConvertError::OddSize(63, 48)));
    }
}
