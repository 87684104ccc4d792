//! Scaling a video frame down, as planar I420: for the app's preview (its JPEG
//! encoder takes the planes as they are) and for the encoder's smaller picture
//! sizes when the network lowers the bitrate. Each output is the mean of a 2×2
//! block at the centre of its span (smooth where decimation aliases), NV12
//! chroma read in place.

use crate::VideoFrame;

/// A downscaled frame, planar I420 (what the JPEG encoder takes directly: no
/// colour conversion and no chroma subsampling left to do).
pub struct SmallFrame {
    pub width: u32,
    pub height: u32,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

/// For each of `dst` outputs, the source sample (of `src`) it starts from: when
/// shrinking, the first of the two around the centre of its span; else the nearest.
fn taps(src: usize, dst: usize) -> Vec<usize> {
    (0..dst)
        .map(|o| if src > dst { ((2 * o + 1) * src).saturating_sub(dst) / (2 * dst) } else { o * src / dst })
        .map(|i| i.min(src.saturating_sub(if src > dst { 2 } else { 1 })))
        .collect()
}

/// Scales one plane (`stride` bytes a row, every `step`-th byte a sample) to `w`×`h`.
/// Shrinking, each output is the rounded mean of the 2×2 block at the centre of its
/// span (smooth where plain decimation aliases; 4 reads an output, not an area filter).
#[allow(clippy::too_many_arguments)]
fn scale_plane(src: &[u8], sw: usize, sh: usize, stride: usize, step: usize, w: usize, h: usize, out: &mut Vec<u8>) {
    let (xs, ys) = (taps(sw, w), taps(sh, h));
    let (dx, dy) = (usize::from(sw > w) * step, usize::from(sh > h) * stride);
    out.reserve(w * h);
    for &sy in &ys {
        let (r0, r1) = (&src[sy * stride..], &src[sy * stride + dy..]);
        out.extend(xs.iter().map(|&sx| {
            let i = sx * step;
            ((r0[i] as u16 + r0[i + dx] as u16 + r1[i] as u16 + r1[i + dx] as u16 + 2) >> 2) as u8
        }));
    }
}

/// Downscale of an I420/NV12 frame to `(w, h)` (even) as planar I420.
pub fn downscale(frame: &VideoFrame, w: u32, h: u32) -> Option<SmallFrame> {
    let (sw, sh) = (frame.width as usize, frame.height as usize);
    let (w, h) = (w as usize & !1, h as usize & !1);
    if sw < 2 || sh < 2 || w == 0 || h == 0 {
        return None;
    }
    let luma = sw * sh;
    let (cw, ch) = (sw / 2, sh / 2);
    if frame.data.len() < luma + 2 * cw * ch {
        return None;
    }
    let (mut y, mut u, mut v) = (Vec::new(), Vec::new(), Vec::new());
    let data = &frame.data[..];
    scale_plane(&data[..luma], sw, sh, sw, 1, w, h, &mut y);
    match frame.pixel_format {
        crate::PixelFormat::I420 => {
            scale_plane(&data[luma..luma + cw * ch], cw, ch, cw, 1, w / 2, h / 2, &mut u);
            scale_plane(&data[luma + cw * ch..luma + 2 * cw * ch], cw, ch, cw, 1, w / 2, h / 2, &mut v);
        }
        crate::PixelFormat::Nv12 => {
            let uv = &data[luma..luma + 2 * cw * ch];
            scale_plane(uv, cw, ch, 2 * cw, 2, w / 2, h / 2, &mut u);
            scale_plane(&uv[1..], cw, ch, 2 * cw, 2, w / 2, h / 2, &mut v);
        }
    }
    Some(SmallFrame { width: w as u32, height: h as u32, y, u, v })
}
