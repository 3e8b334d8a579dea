//! QR codes that any phone camera opens as the verification page.
//!
//! The code holds `<base URL>/v#<payload>`. The credential rides in the fragment, so a browser
//! never sends it to the server. The payload is the COSE_Sign1 bytes written as decimal digits in
//! QR numeric mode (see docs/qr-payload.md): seven bytes become seventeen digits, which QR packs
//! at 10 bits per 3 digits, about 8.1 bits per byte against 10.7 for base64url in byte mode. That
//! is what lets a driver or vehicle credential fit version 10 at error-correction level M.
//! The decoder also takes base64url (RFC 4648 §5, no padding), the form the APIs return.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::fmt::Write as _;

use qrcodegen::{QrCode, QrCodeEcc, QrSegment, Version};

use crate::cose::MAX_SIGN1_BYTES;

/// Longest text (URL or payload) the decoder will look at.
pub const MAX_QR_TEXT_CHARS: usize = 4 * MAX_SIGN1_BYTES;
/// Quiet zone around the symbol, in modules (ISO/IEC 18004 asks for four).
pub const QUIET_ZONE_MODULES: i32 = 4;
/// The highest QR version we accept when rendering.
pub const MAX_QR_VERSION: u8 = 40;
/// Path of the verification page, before the fragment.
pub const VERIFY_PATH: &str = "/v";
/// The same page under an upper-case path, for codes whose URL head is written in QR
/// alphanumeric mode (upper case only): 5.5 bits a character instead of 8.
pub const VERIFY_PATH_UPPER: &str = "/V";

/// The characters of QR alphanumeric mode (ISO/IEC 18004 §7.4.4).
const ALPHANUMERIC: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/// Bytes per numeric chunk and the digits each chunk length takes: ceil(8·k·log10 2).
const CHUNK_BYTES: usize = 7;
const DIGITS_FOR_BYTES: [usize; CHUNK_BYTES + 1] = [0, 3, 5, 8, 10, 13, 15, 17];

/// Why QR text could not be turned back into credential bytes, or a code not drawn.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QrError {
    #[error("text is {found} characters, over the {limit}-character limit")]
    TooLong { found: usize, limit: usize },
    #[error("text is empty")]
    Empty,
    #[error("URL has no '#' fragment carrying a credential")]
    NoFragment,
    #[error("URL percent-encoding is malformed")]
    PercentEncoding,
    #[error("numeric payload has an invalid length {0}")]
    NumericLength(usize),
    #[error("numeric payload chunk at character {0} is out of range")]
    NumericChunk(usize),
    #[error("payload is neither decimal digits nor base64url")]
    NotBase64Url,
    #[error("data does not fit a QR code: {0}")]
    TooBigForQr(String),
}

/// Writes bytes as the numeric payload.
pub fn encode_digits(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 17 / 7 + 17);
    for chunk in bytes.chunks(CHUNK_BYTES) {
        let value = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let width = DIGITS_FOR_BYTES[chunk.len()];
        out.push_str(&format!("{value:0width$}"));
    }
    out
}

/// Reads the numeric payload back; every chunk must be in range, so each byte string has one form.
pub fn decode_digits(text: &str) -> Result<Vec<u8>, QrError> {
    let full_chunks = text.len() / DIGITS_FOR_BYTES[CHUNK_BYTES];
    let rest = text.len() % DIGITS_FOR_BYTES[CHUNK_BYTES];
    let rest_bytes = DIGITS_FOR_BYTES
        .iter()
        .position(|d| *d == rest)
        .ok_or(QrError::NumericLength(text.len()))?;
    let mut out = Vec::with_capacity(full_chunks * CHUNK_BYTES + rest_bytes);
    let mut offset = 0;
    let lengths = std::iter::repeat_n(CHUNK_BYTES, full_chunks).chain(Some(rest_bytes));
    for byte_count in lengths.filter(|n| *n > 0) {
        let width = DIGITS_FOR_BYTES[byte_count];
        let digits = text
            .get(offset..offset + width)
            .ok_or(QrError::NumericChunk(offset))?;
        let value: u64 = digits.parse().map_err(|_| QrError::NumericChunk(offset))?;
        if value >> (8 * byte_count) != 0 {
            return Err(QrError::NumericChunk(offset));
        }
        out.extend_from_slice(&value.to_be_bytes()[8 - byte_count..]);
        offset += width;
    }
    Ok(out)
}

/// The verification URL for credential bytes.
pub fn verification_url(public_base_url: &str, credential: &[u8]) -> String {
    format!(
        "{}{VERIFY_PATH}#{}",
        public_base_url.trim_end_matches('/'),
        encode_digits(credential)
    )
}

/// The head (before `#`) of a wallet's dynamic code. Scheme and host are case-insensitive, so
/// when the base URL has no path and upper-cases into QR alphanumeric characters, the head is
/// `HTTPS://HOST/V`, which QR packs at 5.5 bits a character; otherwise the usual `<base>/v`. The
/// seven bytes this saves are what let a dynamic code fit version 12-M (docs/qr-payload.md).
pub fn dynamic_head(public_base_url: &str) -> String {
    let base = public_base_url.trim_end_matches('/');
    let path_free = base
        .split_once("://")
        .is_some_and(|(_, rest)| !rest.contains('/'));
    let upper = format!("{}{VERIFY_PATH_UPPER}", base.to_ascii_uppercase());
    if path_free && upper.chars().all(|c| ALPHANUMERIC.contains(c)) {
        upper
    } else {
        format!("{base}{VERIFY_PATH}")
    }
}

/// The URL of a dynamic code: [`dynamic_head`], `#`, and the payload's digits.
pub fn dynamic_url(public_base_url: &str, payload: &[u8]) -> String {
    format!(
        "{}#{}",
        dynamic_head(public_base_url),
        encode_digits(payload)
    )
}

/// Turns whatever a scanner or a person hands us into credential bytes: a verification URL, a
/// URL a camera app percent-encoded, a bare numeric payload, or base64url.
pub fn decode_input(text: &str) -> Result<Vec<u8>, QrError> {
    if text.len() > MAX_QR_TEXT_CHARS {
        return Err(QrError::TooLong {
            found: text.len(),
            limit: MAX_QR_TEXT_CHARS,
        });
    }
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(QrError::Empty);
    }
    // Neither payload form contains '%', so any '%' comes from a camera app's percent-encoding.
    let decoded = percent_decode(trimmed)?;
    let payload = if looks_like_url(&decoded) {
        decoded
            .split_once('#')
            .map(|(_, f)| f.to_string())
            .ok_or(QrError::NoFragment)?
    } else {
        decoded
    };
    decode_payload(&payload)
}

fn looks_like_url(text: &str) -> bool {
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://") || text.contains('#')
}

/// Decodes a bare payload: all digits means the numeric form, anything else base64url.
pub fn decode_payload(payload: &str) -> Result<Vec<u8>, QrError> {
    if payload.is_empty() {
        return Err(QrError::Empty);
    }
    if payload.bytes().all(|b| b.is_ascii_digit()) {
        return decode_digits(payload);
    }
    URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| QrError::NotBase64Url)
}

fn percent_decode(text: &str) -> Result<String, QrError> {
    if !text.contains('%') {
        return Ok(text.to_string());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(QrError::PercentEncoding)?;
            let hex = std::str::from_utf8(hex).map_err(|_| QrError::PercentEncoding)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| QrError::PercentEncoding)?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| QrError::PercentEncoding)
}

/// Builds the QR symbol for a verification URL at error-correction level M (or better, if the
/// version does not grow), as a byte segment for the URL head and a numeric one for the payload.
pub fn encode_url(url: &str) -> Result<QrCode, QrError> {
    let (head, payload) = match url.split_once('#') {
        Some((head, payload)) if payload.bytes().all(|b| b.is_ascii_digit()) => {
            (format!("{head}#"), payload)
        }
        _ => (url.to_string(), ""),
    };
    let mut segments = match head.strip_suffix('#') {
        // An upper-case head goes in alphanumeric mode; '#' is not in that set.
        Some(upper) if !upper.is_empty() && upper.chars().all(|c| ALPHANUMERIC.contains(c)) => {
            vec![
                QrSegment::make_alphanumeric(upper),
                QrSegment::make_bytes(b"#"),
            ]
        }
        _ => vec![QrSegment::make_bytes(head.as_bytes())],
    };
    if !payload.is_empty() {
        segments.push(QrSegment::make_numeric(payload));
    }
    QrCode::encode_segments_advanced(
        &segments,
        QrCodeEcc::Medium,
        Version::MIN,
        Version::new(MAX_QR_VERSION),
        None,
        true,
    )
    .map_err(|e| QrError::TooBigForQr(e.to_string()))
}

/// The symbol as an SVG document with a quiet zone.
pub fn to_svg(code: &QrCode) -> String {
    let border = QUIET_ZONE_MODULES;
    let size = code.size() + 2 * border;
    // One rectangle per horizontal run of dark modules, written in place: a path per module,
    // each formatted into a String of its own, cost 94 µs per activation code drawn.
    let mut path = String::with_capacity(4096);
    for y in 0..code.size() {
        let mut x = 0;
        while x < code.size() {
            if !code.get_module(x, y) {
                x += 1;
                continue;
            }
            let start = x;
            while x < code.size() && code.get_module(x, y) {
                x += 1;
            }
            let run = x - start;
            let _ = write!(path, "M{},{}h{run}v1h-{run}z", start + border, y + border);
        }
    }
    format!(
        concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" viewBox=\"0 0 {0} {0}\" ",
            "width=\"{1}\" height=\"{1}\" shape-rendering=\"crispEdges\">\n",
            "<rect width=\"100%\" height=\"100%\" fill=\"#FFFFFF\"/>\n",
            "<path d=\"{2}\" fill=\"#000000\"/>\n</svg>\n"
        ),
        size,
        size * 8,
        path
    )
}

/// The symbol as a greyscale PNG, `scale` pixels per module, with a quiet zone.
pub fn to_png(code: &QrCode, scale: u32) -> Result<Vec<u8>, QrError> {
    let scale = scale.clamp(1, 64);
    let border = QUIET_ZONE_MODULES;
    let modules = u32::try_from(code.size() + 2 * border).unwrap_or(0);
    let side = modules * scale;
    let mut pixels = vec![255u8; (side as usize) * (side as usize)];
    for (row, line) in pixels.chunks_mut(side as usize).enumerate() {
        let y = (row as u32 / scale) as i32 - border;
        for (col, px) in line.iter_mut().enumerate() {
            let x = (col as u32 / scale) as i32 - border;
            if code.get_module(x, y) {
                *px = 0;
            }
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder
        .write_header()
        .map_err(|e| QrError::TooBigForQr(e.to_string()))?;
    writer
        .write_image_data(&pixels)
        .map_err(|e| QrError::TooBigForQr(e.to_string()))?;
    writer
        .finish()
        .map_err(|e| QrError::TooBigForQr(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_heads_are_upper_case_only_where_that_is_safe() {
        for (base, head) in [
            (
                "https://wyc.jtysj.xm.gov.cn",
                "HTTPS://WYC.JTYSJ.XM.GOV.CN/V",
            ),
            ("http://127.0.0.1:8080/", "HTTP://127.0.0.1:8080/V"),
            ("https://example.com/licreg", "https://example.com/licreg/v"),
            (
                "https://under_score.example",
                "https://under_score.example/v",
            ),
        ] {
            assert_eq!(dynamic_head(base), head, "{base}");
        }
        let url = dynamic_url("https://wyc.jtysj.xm.gov.cn", &[1, 2, 3]);
        assert_eq!(decode_input(&url).unwrap(), vec![1, 2, 3]);
        // The upper-case head costs fewer modules than the same URL in lower case.
        let lower = url.replacen(
            "HTTPS://WYC.JTYSJ.XM.GOV.CN/V",
            "https://wyc.jtysj.xm.gov.cn/v",
            1,
        );
        let payload = "1".repeat(600);
        let upper_code = encode_url(&format!(
            "{}{payload}",
            url.split('#').next().map(|h| format!("{h}#")).unwrap()
        ))
        .unwrap();
        let lower_code = encode_url(&format!(
            "{}{payload}",
            lower.split('#').next().map(|h| format!("{h}#")).unwrap()
        ))
        .unwrap();
        assert!(upper_code.version().value() <= lower_code.version().value());
    }
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn digits_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let text = encode_digits(&bytes);
            prop_assert!(text.bytes().all(|b| b.is_ascii_digit()));
            prop_assert_eq!(decode_digits(&text).unwrap(), bytes);
        }

        #[test]
        fn any_input_decodes_or_errors_without_panicking(text in ".{0,300}") {
            let _ = decode_input(&text);
        }
    }

    #[test]
    fn out_of_range_chunks_and_lengths_are_refused() {
        assert_eq!(decode_digits("256"), Err(QrError::NumericChunk(0)));
        assert_eq!(decode_digits("1234"), Err(QrError::NumericLength(4)));
        assert_eq!(decode_digits("255").unwrap(), vec![255]);
    }

    #[test]
    fn decoder_accepts_url_percent_encoded_url_payload_and_base64url() {
        let bytes = vec![0xD2, 0x84, 0x43, 0x01, 0x02, 0x03, 0xFF, 0x00, 0x10];
        let url = verification_url("https://licreg.example/", &bytes);
        assert!(url.starts_with("https://licreg.example/v#"));
        assert_eq!(decode_input(&url).unwrap(), bytes);
        let encoded = url.replace('#', "%23").replace(':', "%3A");
        assert_eq!(decode_input(&encoded).unwrap(), bytes);
        let payload = url.split_once('#').unwrap().1;
        assert_eq!(decode_input(payload).unwrap(), bytes);
        assert_eq!(
            decode_input(&URL_SAFE_NO_PAD.encode(&bytes)).unwrap(),
            bytes
        );
        assert_eq!(
            decode_input("https://licreg.example/v"),
            Err(QrError::NoFragment)
        );
        assert_eq!(decode_input("  "), Err(QrError::Empty));
        assert_eq!(decode_input("%zz#1"), Err(QrError::PercentEncoding));
    }

    #[test]
    fn renders_svg_and_png_with_a_quiet_zone() {
        let code = encode_url(&verification_url("https://l.example", &[1, 2, 3])).unwrap();
        let svg = to_svg(&code);
        let side = code.size() + 2 * QUIET_ZONE_MODULES;
        assert!(svg.contains(&format!("viewBox=\"0 0 {side} {side}\"")));
        let png = to_png(&code, 4).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().unwrap();
        assert_eq!(reader.info().width, (side * 4) as u32);
    }

    /// The SVG's path, read back run by run, paints exactly the symbol's dark modules.
    #[test]
    fn svg_runs_paint_exactly_the_dark_modules() {
        let code = encode_url("https://licreg.test/wallet#activate=ABCD-EFGH-JKLM").unwrap();
        let svg = to_svg(&code);
        let path = svg
            .split("<path d=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap();
        let n = code.size();
        let mut painted = vec![false; (n * n) as usize];
        for rect in path.split('z').filter(|r| !r.is_empty()) {
            let (xy, rest) = rect[1..].split_once('h').unwrap();
            let (x, y) = xy.split_once(',').unwrap();
            let run: i32 = rest.split_once('v').unwrap().0.parse().unwrap();
            assert_eq!(rest, format!("{run}v1h-{run}"));
            let (x, y): (i32, i32) = (x.parse().unwrap(), y.parse().unwrap());
            for dx in 0..run {
                let (mx, my) = (x + dx - QUIET_ZONE_MODULES, y - QUIET_ZONE_MODULES);
                let cell = &mut painted[(my * n + mx) as usize];
                assert!(!*cell, "module {mx},{my} painted twice");
                *cell = true;
            }
        }
        for y in 0..n {
            for x in 0..n {
                assert_eq!(
                    painted[(y * n + x) as usize],
                    code.get_module(x, y),
                    "{x},{y}"
                );
            }
        }
    }
}
