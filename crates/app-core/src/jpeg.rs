//! The preview's JPEG encoder: libjpeg-turbo's TurboJPEG API (SIMD), fed the
//! downscaled I420 planes as they are — no RGB or interleaved YCbCr step and no
//! chroma subsampling left to do. Measured against the pure-Rust encoder it
//! replaced (which took interleaved YCbCr and subsampled it itself), this is
//! most of what the preview cost in the app's own process while live.
//!
//! The FFI is confined to this file; every call's result is checked.

use std::ffi::CStr;

use turbojpeg_sys as tj;

use mentorcast_media::scale::SmallFrame;

#[derive(Debug, thiserror::Error)]
pub enum JpegError {
    #[error("the JPEG encoder could not start: {0}")]
    Init(String),
    #[error("a {0}×{1} preview frame is not a valid I420 image")]
    BadFrame(u32, u32),
    #[error("JPEG encoding failed: {0}")]
    Encode(String),
}

/// One TurboJPEG compressor (not shared between threads; the preview's worker owns one).
pub struct JpegEncoder {
    handle: tj::tjhandle,
    quality: i32,
    /// Reused output buffer, sized for the worst case of the last frame size.
    buf: Vec<u8>,
}

// The handle is used by one thread at a time (`&mut self`); TurboJPEG handles may move between threads.
unsafe impl Send for JpegEncoder {}

impl JpegEncoder {
    pub fn new(quality: u8) -> Result<Self, JpegError> {
        // SAFETY: no preconditions; a null handle is an error.
        let handle = unsafe { tj::tjInitCompress() };
        if handle.is_null() {
            return Err(JpegError::Init(last_error(std::ptr::null_mut())));
        }
        Ok(Self { handle, quality: quality.clamp(1, 100) as i32, buf: Vec::new() })
    }

    /// Encodes a planar I420 frame (4:2:0 JPEG, as the camera's chroma already is).
    pub fn encode(&mut self, f: &SmallFrame) -> Result<Vec<u8>, JpegError> {
        let (w, h) = (f.width as usize, f.height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        if w == 0 || h == 0 || f.y.len() < w * h || f.u.len() < cw * ch || f.v.len() < cw * ch {
            return Err(JpegError::BadFrame(f.width, f.height));
        }
        let (wi, hi) = (c_int(f.width)?, c_int(f.height)?);
        let samp = tj::TJSAMP_TJSAMP_420 as libc::c_int;
        // SAFETY: plain arithmetic on valid dimensions.
        let worst = unsafe { tj::tjBufSize(wi, hi, samp) } as usize;
        if worst == 0 || worst == usize::MAX {
            return Err(JpegError::BadFrame(f.width, f.height));
        }
        if self.buf.len() < worst {
            self.buf.resize(worst, 0);
        }
        let mut planes = [f.y.as_ptr(), f.u.as_ptr(), f.v.as_ptr()];
        let cwi = c_int(cw as u32)?;
        let strides = [wi, cwi, cwi];
        let mut out = self.buf.as_mut_ptr();
        let mut size = worst as libc::c_ulong;
        // SAFETY: the planes hold at least stride × rows bytes each (checked above), `out`
        // points to `size` writable bytes and NOREALLOC keeps TurboJPEG from freeing or
        // replacing it (tjBufSize is its own worst case for these dimensions).
        let rc = unsafe {
            tj::tjCompressFromYUVPlanes(
                self.handle,
                planes.as_mut_ptr(),
                wi,
                strides.as_ptr(),
                hi,
                samp,
                &mut out,
                &mut size,
                self.quality,
                (tj::TJFLAG_NOREALLOC | tj::TJFLAG_FASTDCT) as libc::c_int,
            )
        };
        if rc != 0 || out != self.buf.as_mut_ptr() || size as usize > self.buf.len() {
            return Err(JpegError::Encode(last_error(self.handle)));
        }
        Ok(self.buf[..size as usize].to_vec())
    }
}

impl Drop for JpegEncoder {
    fn drop(&mut self) {
        // SAFETY: the handle came from tjInitCompress and is destroyed once.
        unsafe { tj::tjDestroy(self.handle) };
    }
}

fn c_int(v: u32) -> Result<libc::c_int, JpegError> {
    libc::c_int::try_from(v).map_err(|_| JpegError::BadFrame(v, v))
}

fn last_error(handle: tj::tjhandle) -> String {
    // SAFETY: TurboJPEG returns a pointer to a static or per-handle NUL-terminated string.
    let p = unsafe { tj::tjGetErrorStr2(handle) };
    if p.is_null() {
        return "unknown error".into();
    }
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes to grey with TurboJPEG (the web view's decoder is libjpeg-turbo too).
    fn decode_grey(jpeg: &[u8]) -> (usize, usize, Vec<u8>) {
        unsafe {
            let d = tj::tjInitDecompress();
            assert!(!d.is_null());
            let (mut w, mut h, mut s, mut c) = (0, 0, 0, 0);
            assert_eq!(
                tj::tjDecompressHeader3(d, jpeg.as_ptr(), jpeg.len() as _, &mut w, &mut h, &mut s, &mut c),
                0,
                "{}",
                last_error(d)
            );
            assert_eq!(s, tj::TJSAMP_TJSAMP_420 as i32, "4:2:0");
            let mut out = vec![0u8; (w * h) as usize];
            assert_eq!(
                tj::tjDecompress2(d, jpeg.as_ptr(), jpeg.len() as _, out.as_mut_ptr(), w, w, h, tj::TJPF_TJPF_GRAY, 0),
                0,
                "{}",
                last_error(d)
            );
            tj::tjDestroy(d);
            (w as usize, h as usize, out)
        }
    }

    #[test]
    fn planes_come_back_as_the_same_picture() {
        let (w, h) = (64usize, 48usize);
        // a horizontal luma ramp over grey chroma
        let y: Vec<u8> = (0..w * h).map(|i| (16 + (i % w) * 3) as u8).collect();
        let f = SmallFrame {
            width: w as u32,
            height: h as u32,
            y: y.clone(),
            u: vec![128; w * h / 4],
            v: vec![128; w * h / 4],
        };
        let mut enc = JpegEncoder::new(90).unwrap();
        let jpeg = enc.encode(&f).unwrap();
        let again = enc.encode(&f).unwrap();
        assert_eq!(jpeg, again, "the reused buffer gives the same bytes");
        let (dw, dh, grey) = decode_grey(&jpeg);
        assert_eq!((dw, dh), (w, h));
        let worst = grey.iter().zip(&y).map(|(a, b)| (*a as i32 - *b as i32).abs()).max().unwrap();
        assert!(worst <= 8, "decoded luma off by up to {worst}");
    }

    #[test]
    fn short_planes_are_refused_not_read_past() {
        let f = SmallFrame { width: 64, height: 48, y: vec![0; 64 * 48], u: vec![0; 10], v: vec![0; 32 * 24] };
        assert!(matches!(JpegEncoder::new(70).unwrap().encode(&f), Err(JpegError::BadFrame(64, 48))));
    }
}
