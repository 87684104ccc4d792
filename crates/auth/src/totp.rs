//! TOTP (RFC 6238: HMAC-SHA1, 30 s steps, 6 digits, as Cognito's software tokens)
//! and the `otpauth://` URI authenticator apps read.

use hmac::{Hmac, Mac};

/// Decodes RFC 4648 base32 (case-insensitive, padding and spaces ignored).
pub fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u64, 0u32);
    for ch in s.chars().filter(|c| *c != '=' && !c.is_whitespace()) {
        let v = match ch.to_ascii_uppercase() {
            c @ 'A'..='Z' => c as u64 - 'A' as u64,
            c @ '2'..='7' => c as u64 - '2' as u64 + 26,
            _ => return None,
        };
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The code for raw key bytes at `unix_s`.
pub fn code_for_key(key: &[u8], unix_s: u64, digits: u32) -> String {
    let counter = unix_s / 30;
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = (h[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([h[off] & 0x7f, h[off + 1], h[off + 2], h[off + 3]]);
    format!("{:0width$}", bin % 10u32.pow(digits), width = digits as usize)
}

/// The 6-digit code for a base32 secret (as Cognito's AssociateSoftwareToken returns it).
pub fn code(secret_b32: &str, unix_s: u64) -> Option<String> {
    Some(code_for_key(&base32_decode(secret_b32)?, unix_s, 6))
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `otpauth://totp/Mentorcast:{user}?secret=…&issuer=Mentorcast`
pub fn otpauth_uri(user: &str, secret_b32: &str) -> String {
    format!(
        "otpauth://totp/Mentorcast:{}?secret={}&issuer=Mentorcast",
        percent_encode(user),
        percent_encode(secret_b32)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 appendix B, SHA-1 key "12345678901234567890", 8 digits
        let key = b"12345678901234567890";
        assert_eq!(code_for_key(key, 59, 8), "94287082");
        assert_eq!(code_for_key(key, 1_111_111_109, 8), "07081804");
        assert_eq!(code_for_key(key, 1_234_567_890, 8), "89005924");
        assert_eq!(code_for_key(key, 20_000_000_000, 8), "65353130");
    }

    #[test]
    fn base32_roundtrip_of_rfc_key() {
        // base32 of "12345678901234567890"
        assert_eq!(base32_decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap(), b"12345678901234567890");
        assert_eq!(code("gezdgnbvgy3tqojqgezdgnbvgy3tqojq", 59).unwrap(), "287082");
        assert!(base32_decode("not base32!").is_none());
    }

    #[test]
    fn uri_shape() {
        assert_eq!(
            otpauth_uri("mentor 1", "ABC234"),
            "otpauth://totp/Mentorcast:mentor%201?secret=ABC234&issuer=Mentorcast"
        );
    }
}
