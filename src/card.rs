//! The printable in-car card (车内公示卡): an A6 sheet with the licence's public facts and its
//! static QR code, for the car's back seat and for drivers who show paper as well as a phone.
//!
//! The card shows exactly what the credential shows a passenger (kind, number, masked name or
//! plate, make and colour, validity, issuing authority), taken from the credential's own claims,
//! so the paper and the QR code can never disagree. The QR code is large enough to scan from the
//! back seat: at A6 every module is at least [`MIN_MODULE_MM`]. Pure: an SVG document in, no
//! fonts embedded (the text names CJK fonts Debian ships; the viewer supplies them).

use crate::clock::{china_time, UnixSeconds};
use crate::credential::Claims;
use crate::ids::LicenceKind;
use crate::qr::{self, QrError, QUIET_ZONE_MODULES};

/// A6, portrait.
pub const CARD_WIDTH_MM: f64 = 105.0;
pub const CARD_HEIGHT_MM: f64 = 148.0;
/// Side of the QR code with its quiet zone.
pub const QR_SIDE_MM: f64 = 66.0;
/// Smallest module a phone camera reads reliably from about a metre away.
pub const MIN_MODULE_MM: f64 = 0.5;
/// The fonts the text asks for, all in Debian (fonts-noto-cjk, fonts-wqy-microhei,
/// fonts-droid-fallback); none is embedded.
const FONT_FAMILY: &str =
    "'Noto Sans CJK SC', 'WenQuanYi Micro Hei', 'Droid Sans Fallback', sans-serif";

/// What a card says besides the credential's claims.
pub struct CardInput<'a> {
    pub claims: &'a Claims,
    /// The verification URL the QR code holds.
    pub url: &'a str,
    /// The issuing authority's name (Chinese), when the policy knows it.
    pub authority: Option<&'a str>,
}

/// The kind's title in Chinese and English.
pub fn title(kind: LicenceKind) -> (&'static str, &'static str) {
    match kind {
        LicenceKind::Driver => (
            "网络预约出租汽车驾驶员证",
            "Ride-hailing driver certificate",
        ),
        LicenceKind::Vehicle => (
            "网络预约出租汽车运输证",
            "Ride-hailing vehicle transport certificate",
        ),
        LicenceKind::Platform => ("网络预约出租汽车经营许可证", "Ride-hailing platform permit"),
    }
}

/// Module size in millimetres for a symbol of `modules` modules printed at [`QR_SIDE_MM`].
pub fn module_mm(modules: i32) -> f64 {
    QR_SIDE_MM / f64::from(modules + 2 * QUIET_ZONE_MODULES)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn date(seconds: UnixSeconds) -> String {
    let t = china_time(seconds);
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// The facts printed under the title, as (label, value) rows.
fn rows(input: &CardInput<'_>) -> Vec<(&'static str, String)> {
    let claims = input.claims;
    let mut rows = vec![("证号 No.", claims.serial.to_string())];
    let optional = [
        ("姓名 Name", &claims.holder_masked),
        ("车牌 Plate", &claims.plate),
        ("车型 Make", &claims.make),
        ("颜色 Colour", &claims.colour),
    ];
    rows.extend(
        optional
            .into_iter()
            .filter_map(|(label, value)| value.clone().map(|v| (label, v))),
    );
    rows.push((
        "有效期 Valid",
        format!("{} — {}", date(claims.not_before), date(claims.expires)),
    ));
    rows.push((
        "发证机关 Issuer",
        input
            .authority
            .map(str::to_string)
            .unwrap_or_else(|| claims.issuer.clone()),
    ));
    rows
}

/// Why a card could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error("the logged credential does not decode: {0}")]
    Credential(String),
    #[error(transparent)]
    Qr(#[from] QrError),
}

/// The card for a logged credential: its claims, its verification URL under `base_url`, and
/// the issuing authority's name from the policy.
pub fn card_for_credential(
    credential: &[u8],
    base_url: &str,
    authorities: &crate::rules::Authorities,
) -> Result<String, CardError> {
    let sign1 =
        crate::cose::decode(credential).map_err(|e| CardError::Credential(e.to_string()))?;
    let claims =
        Claims::decode(&sign1.payload).map_err(|e| CardError::Credential(e.to_string()))?;
    let url = qr::verification_url(base_url, credential);
    let authority = authorities
        .name(&claims.issuer)
        .map(|label| label.zh.as_str());
    Ok(card_svg(&CardInput {
        claims: &claims,
        url: &url,
        authority,
    })?)
}

/// The card as an SVG document sized in millimetres for A6.
pub fn card_svg(input: &CardInput<'_>) -> Result<String, QrError> {
    let code = qr::encode_url(input.url)?;
    let modules = code.size();
    if module_mm(modules) < MIN_MODULE_MM {
        return Err(QrError::TooBigForQr(format!(
            "a {modules}-module code prints at {:.2} mm per module on an A6 card, under {MIN_MODULE_MM} mm",
            module_mm(modules)
        )));
    }
    let side = modules + 2 * QUIET_ZONE_MODULES;
    let mut path = String::new();
    for y in 0..modules {
        for x in 0..modules {
            if code.get_module(x, y) {
                let (px, py) = (x + QUIET_ZONE_MODULES, y + QUIET_ZONE_MODULES);
                path.push_str(&format!("M{px},{py}h1v1h-1z"));
            }
        }
    }
    let (zh, en) = title(input.claims.kind);
    let qr_x = (CARD_WIDTH_MM - QR_SIDE_MM) / 2.0;
    let qr_y = 62.0;
    let mut text = String::new();
    for (i, (label, value)) in rows(input).iter().enumerate() {
        let y = 27.0 + 5.6 * i as f64;
        text.push_str(&format!(
            "<text x=\"8\" y=\"{y:.1}\" font-size=\"3.2\" fill=\"#555\">{}</text>\
             <text x=\"36\" y=\"{y:.1}\" font-size=\"3.6\">{}</text>\n",
            escape(label),
            escape(value)
        ));
    }
    Ok(format!(
        concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" ",
            "width=\"{w}mm\" height=\"{h}mm\" viewBox=\"0 0 {w} {h}\" font-family=\"{font}\">\n",
            "<title>{zh} {serial}</title>\n",
            "<rect width=\"{w}\" height=\"{h}\" fill=\"#FFFFFF\"/>\n",
            "<rect x=\"3\" y=\"3\" width=\"{iw}\" height=\"{ih}\" fill=\"none\" stroke=\"#1F4E8C\" stroke-width=\"0.8\"/>\n",
            "<text x=\"{cx}\" y=\"13\" font-size=\"6\" text-anchor=\"middle\" font-weight=\"bold\" fill=\"#1F4E8C\">{zh}</text>\n",
            "<text x=\"{cx}\" y=\"19\" font-size=\"3.4\" text-anchor=\"middle\" fill=\"#1F4E8C\">{en}</text>\n",
            "{text}",
            "<svg x=\"{qx:.2}\" y=\"{qy:.2}\" width=\"{qs}\" height=\"{qs}\" viewBox=\"0 0 {side} {side}\" shape-rendering=\"crispEdges\">\n",
            "<rect width=\"{side}\" height=\"{side}\" fill=\"#FFFFFF\"/><path d=\"{path}\" fill=\"#000000\"/></svg>\n",
            "<text x=\"{cx}\" y=\"{sy:.1}\" font-size=\"4\" text-anchor=\"middle\">扫码核验 · Scan to verify</text>\n",
            "</svg>\n"
        ),
        w = CARD_WIDTH_MM,
        h = CARD_HEIGHT_MM,
        iw = CARD_WIDTH_MM - 6.0,
        ih = CARD_HEIGHT_MM - 6.0,
        cx = CARD_WIDTH_MM / 2.0,
        font = FONT_FAMILY,
        zh = zh,
        en = en,
        serial = escape(input.claims.serial.as_str()),
        text = text,
        qx = qr_x,
        qy = qr_y,
        qs = QR_SIDE_MM,
        side = side,
        path = path,
        sy = qr_y + QR_SIDE_MM + 7.0,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ShortSerial;

    fn claims(kind: LicenceKind) -> Claims {
        Claims {
            issuer: "350200".into(),
            issued_at: 1_790_000_000,
            not_before: 1_790_000_000,
            expires: 1_900_000_000,
            serial: ShortSerial::new(kind, 42, 3).unwrap(),
            kind,
            holder_masked: (kind == LicenceKind::Driver).then(|| "张*".to_string()),
            plate: (kind == LicenceKind::Vehicle).then(|| "闽D<12345>".to_string()),
            make: None,
            colour: None,
            status_index: Some(7),
            device_key: None,
        }
    }

    #[test]
    fn a_card_holds_the_public_facts_and_a_qr_code_big_enough_for_the_back_seat() {
        let url = format!("https://wyc.example.gov.cn/v#{}", "1".repeat(700));
        for kind in [
            LicenceKind::Driver,
            LicenceKind::Vehicle,
            LicenceKind::Platform,
        ] {
            let claims = claims(kind);
            let svg = card_svg(&CardInput {
                claims: &claims,
                url: &url,
                authority: Some("厦门市交通运输局"),
            })
            .unwrap();
            assert!(svg.contains(title(kind).0), "{kind:?}");
            assert!(svg.contains(&claims.serial.to_string()));
            assert!(svg.contains("厦门市交通运输局"));
            assert!(svg.contains("width=\"105mm\" height=\"148mm\""));
            let modules = qr::encode_url(&url).unwrap().size();
            assert!(
                module_mm(modules) >= MIN_MODULE_MM,
                "{}",
                module_mm(modules)
            );
        }
        let driver = claims(LicenceKind::Driver);
        let svg = card_svg(&CardInput {
            claims: &driver,
            url: &url,
            authority: None,
        })
        .unwrap();
        assert!(svg.contains("张*") && svg.contains("350200"));
        let vehicle = claims(LicenceKind::Vehicle);
        let svg = card_svg(&CardInput {
            claims: &vehicle,
            url: &url,
            authority: None,
        })
        .unwrap();
        assert!(svg.contains("闽D&lt;12345&gt;"), "text is escaped");
    }

    /// The largest QR code a credential may need (version 40) still prints at 0.35 mm: the card
    /// relies on credentials staying small (the static code is at most version 10, 57 modules).
    #[test]
    fn module_size_by_version() {
        assert!(module_mm(57) >= 0.9);
        assert!(module_mm(177) < MIN_MODULE_MM);
        let claims = claims(LicenceKind::Driver);
        let huge = format!("https://x.example/v#{}", "7".repeat(5000));
        let refused = card_svg(&CardInput {
            claims: &claims,
            url: &huge,
            authority: None,
        });
        assert!(matches!(refused, Err(QrError::TooBigForQr(_))));
    }
}
