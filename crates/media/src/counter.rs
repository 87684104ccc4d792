//! The burned-in frame counter: a row of large black/white cells near the top
//! of the frame that a machine reads back.
//!
//! Layout, as fractions of the frame so that it survives scaling to any size
//! (down to 320×180): a band from 3% to 13% of the height and 4% to 96% of the
//! width, split into [`CELLS`] equal cells:
//!
//! ```text
//! | W | B | 24 data bits, MSB first | 8 CRC bits | B | W |
//! ```
//!
//! The outer reference cells give the reader its black and white levels, so
//! the code reads after re-encoding at low bitrate, level changes and scaling;
//! the CRC-8 rejects frames where a cell reads wrong (a smeared or half-decoded
//! frame) rather than reporting a wrong number. The reader samples only the
//! middle half of each cell, away from blurred edges.

pub const DATA_BITS: u32 = 24;
pub const CRC_BITS: u32 = 8;
pub const CELLS: u32 = 2 + DATA_BITS + CRC_BITS + 2;
/// Counter values wrap at this modulus (about 6.5 days at 30 fps).
pub const MODULUS: u64 = 1 << DATA_BITS;

const BAND_TOP: f64 = 0.03;
const BAND_BOTTOM: f64 = 0.13;
const BAND_LEFT: f64 = 0.04;
const BAND_RIGHT: f64 = 0.96;

pub const BLACK: u8 = 16;
pub const WHITE: u8 = 235;
/// Minimum white/black reference difference for a read to be trusted.
const MIN_CONTRAST: i32 = 60;

fn crc8(value: u32) -> u8 {
    // CRC-8/ATM (poly 0x07) over the three bytes of the 24-bit value.
    let mut crc: u8 = 0;
    for byte in [(value >> 16) as u8, (value >> 8) as u8, value as u8] {
        crc ^= byte;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 { (crc << 1) ^ 0x07 } else { crc << 1 };
        }
    }
    crc
}

/// The cell colours (true = white) for a counter value.
pub fn cells(value: u64) -> [bool; CELLS as usize] {
    let v = (value % MODULUS) as u32;
    let crc = crc8(v);
    let mut out = [false; CELLS as usize];
    out[0] = true;
    out[1] = false;
    for i in 0..DATA_BITS {
        out[2 + i as usize] = (v >> (DATA_BITS - 1 - i)) & 1 == 1;
    }
    for i in 0..CRC_BITS {
        out[(2 + DATA_BITS + i) as usize] = (crc >> (CRC_BITS - 1 - i)) & 1 == 1;
    }
    out[(CELLS - 2) as usize] = false;
    out[(CELLS - 1) as usize] = true;
    out
}

/// Pixel rectangle (x0, y0, x1, y1), end-exclusive, of the whole band.
pub fn band_rect(width: u32, height: u32) -> (u32, u32, u32, u32) {
    let y0 = (height as f64 * BAND_TOP).floor() as u32;
    let y1 = (height as f64 * BAND_BOTTOM).ceil() as u32;
    let x0 = (width as f64 * BAND_LEFT).floor() as u32;
    let x1 = (width as f64 * BAND_RIGHT).ceil() as u32;
    (x0, y0, x1.min(width), y1.min(height))
}

fn cell_x(width: u32, cell: f64) -> f64 {
    let left = width as f64 * BAND_LEFT;
    let right = width as f64 * BAND_RIGHT;
    left + (right - left) * cell / CELLS as f64
}

/// Draws the counter into a luma plane (row stride `stride`). The caller
/// keeps chroma neutral under the band (see [`band_rect`]).
pub fn draw(y_plane: &mut [u8], width: u32, height: u32, stride: usize, value: u64) {
    let (_, y0, _, y1) = band_rect(width, height);
    let colours = cells(value);
    // Precompute one row of the band, then copy it into every band row.
    let mut row = vec![BLACK; width as usize];
    let (bx0, _, bx1, _) = band_rect(width, height);
    for x in bx0..bx1 {
        let cell = ((x as f64 + 0.5 - width as f64 * BAND_LEFT) / (width as f64 * (BAND_RIGHT - BAND_LEFT))
            * CELLS as f64)
            .floor()
            .clamp(0.0, (CELLS - 1) as f64) as usize;
        row[x as usize] = if colours[cell] { WHITE } else { BLACK };
    }
    for y in y0..y1 {
        let start = y as usize * stride;
        y_plane[start + bx0 as usize..start + bx1 as usize].copy_from_slice(&row[bx0 as usize..bx1 as usize]);
    }
}

/// Why a frame's counter could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    /// The frame is too small to hold a readable band.
    TooSmall,
    /// The reference cells are not black and white: no counter here.
    NoContrast,
    /// The cells read, but their check bits do not match.
    BadCheck,
}

/// Reads the counter from a luma plane. Works on any scaled or re-encoded
/// copy of a frame drawn by [`draw`].
pub fn read(y_plane: &[u8], width: u32, height: u32, stride: usize) -> Result<u64, ReadError> {
    if width < 160 || height < 90 || y_plane.len() < stride * height as usize {
        return Err(ReadError::TooSmall);
    }
    let band_h = height as f64 * (BAND_BOTTOM - BAND_TOP);
    let ys = height as f64 * BAND_TOP + band_h * 0.25;
    let ye = height as f64 * BAND_TOP + band_h * 0.75;
    let (ys, ye) = (ys.round() as usize, (ye.round() as usize).max(ys.round() as usize + 1));
    let mut means = [0i32; CELLS as usize];
    for (cell, mean) in means.iter_mut().enumerate() {
        let xs = cell_x(width, cell as f64 + 0.25).round() as usize;
        let xe = (cell_x(width, cell as f64 + 0.75).round() as usize).max(xs + 1);
        let mut sum: u64 = 0;
        for y in ys..ye {
            let row = &y_plane[y * stride..y * stride + width as usize];
            sum += row[xs..xe].iter().map(|&p| p as u64).sum::<u64>();
        }
        *mean = (sum / ((ye - ys) * (xe - xs)) as u64) as i32;
    }
    let last = CELLS as usize - 1;
    let white = (means[0] + means[last]) / 2;
    let black = (means[1] + means[last - 1]) / 2;
    if white - black < MIN_CONTRAST {
        return Err(ReadError::NoContrast);
    }
    let threshold = (white + black) / 2;
    let bit = |i: usize| (means[i] > threshold) as u32;
    let mut value = 0u32;
    for i in 0..DATA_BITS as usize {
        value = (value << 1) | bit(2 + i);
    }
    let mut crc = 0u32;
    for i in 0..CRC_BITS as usize {
        crc = (crc << 1) | bit(2 + DATA_BITS as usize + i);
    }
    if crc8(value) as u32 != crc {
        return Err(ReadError::BadCheck);
    }
    Ok(value as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(width: u32, height: u32, value: u64) -> Vec<u8> {
        let mut y = vec![128u8; (width * height) as usize];
        draw(&mut y, width, height, width as usize, value);
        y
    }

    /// Box-filter downscale, standing in for a server-side rendition.
    fn downscale(src: &[u8], sw: u32, sh: u32, dw: u32, dh: u32) -> Vec<u8> {
        let mut out = vec![0u8; (dw * dh) as usize];
        for y in 0..dh {
            for x in 0..dw {
                let (sx0, sx1) = (x * sw / dw, ((x + 1) * sw / dw).max(x * sw / dw + 1));
                let (sy0, sy1) = (y * sh / dh, ((y + 1) * sh / dh).max(y * sh / dh + 1));
                let mut sum = 0u32;
                for yy in sy0..sy1 {
                    for xx in sx0..sx1 {
                        sum += src[(yy * sw + xx) as usize] as u32;
                    }
                }
                out[(y * dw + x) as usize] = (sum / ((sx1 - sx0) * (sy1 - sy0))) as u8;
            }
        }
        out
    }

    #[test]
    fn round_trips_at_many_sizes() {
        for &(w, h) in &[(1920, 1080), (1280, 720), (854, 480), (640, 360), (320, 180), (162, 92)] {
            for &v in &[0u64, 1, 29, 30, 12345, MODULUS - 1] {
                assert_eq!(read(&plane(w, h, v), w, h, w as usize), Ok(v), "{w}x{h} value {v}");
            }
        }
    }

    #[test]
    fn reads_after_downscale_and_level_change() {
        let y = plane(1280, 720, 987_654);
        let small = downscale(&y, 1280, 720, 640, 360);
        assert_eq!(read(&small, 640, 360, 640), Ok(987_654));
        // Limited contrast (as after a lossy transcode with a level shift).
        let squashed: Vec<u8> = small.iter().map(|&p| 60 + (p as u32 * 100 / 255) as u8).collect();
        assert_eq!(read(&squashed, 640, 360, 640), Ok(987_654));
        let odd = downscale(&y, 1280, 720, 854, 480);
        assert_eq!(read(&odd, 854, 480, 854), Ok(987_654));
    }

    #[test]
    fn rejects_a_frame_without_a_counter_and_a_corrupted_cell() {
        let flat = vec![128u8; 640 * 360];
        assert_eq!(read(&flat, 640, 360, 640), Err(ReadError::NoContrast));
        let mut y = plane(640, 360, 4242);
        // Invert one data cell: the CRC must catch it.
        let cell = 10.0;
        let xs = cell_x(640, cell + 0.1) as usize;
        let xe = cell_x(640, cell + 0.9) as usize;
        let (_, y0, _, y1) = band_rect(640, 360);
        for row in y0 as usize..y1 as usize {
            for x in xs..xe {
                y[row * 640 + x] = 255 - y[row * 640 + x];
            }
        }
        assert_eq!(read(&y, 640, 360, 640), Err(ReadError::BadCheck));
    }

    #[test]
    fn respects_stride() {
        let (w, h, stride) = (640u32, 360u32, 704usize);
        let mut y = vec![77u8; stride * h as usize];
        draw(&mut y, w, h, stride, 77);
        assert_eq!(read(&y, w, h, stride), Ok(77));
    }
}
