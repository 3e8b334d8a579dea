//! The in-car card as PDF, for print shops and offices that print PDFs only.
//!
//! The card's SVG ([`crate::card`]) is converted by svg2pdf: text stays text, drawn with glyphs
//! from a CJK font installed on the machine (Debian's fonts-noto-cjk, fonts-wqy-microhei or
//! fonts-droid-fallback) and subset into the file, so nothing is embedded that the font's own
//! licence does not allow (all three may be redistributed, subsets included). The QR code stays
//! vector, so it prints sharp at any size. This is the I/O edge of the card: it reads the
//! machine's fonts.

use svg2pdf::usvg;

/// The families the card asks for, one of which must be installed for its Chinese text.
pub const CJK_FAMILIES: [&str; 3] = [
    "Noto Sans CJK SC",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
];
/// The card's SVG is in millimetres; usvg reads them at CSS's 96 pixels an inch, so the PDF
/// page is laid out at the same resolution to come out exactly A6.
const SVG_DPI: f32 = 96.0;

/// Why a card could not be written as PDF.
#[derive(Debug, thiserror::Error)]
pub enum CardPdfError {
    #[error("no CJK font is installed ({}); install fonts-noto-cjk", CJK_FAMILIES.join(", "))]
    NoCjkFont,
    #[error("the card's SVG does not parse: {0}")]
    Svg(String),
    #[error("the PDF could not be written: {0}")]
    Pdf(String),
}

/// Converts a card's SVG to a one-page PDF.
pub fn to_pdf(svg: &str) -> Result<Vec<u8>, CardPdfError> {
    let mut options = usvg::Options::default();
    options.fontdb_mut().load_system_fonts();
    let has_cjk = options.fontdb.faces().any(|face| {
        face.families
            .iter()
            .any(|(name, _)| CJK_FAMILIES.contains(&name.as_str()))
    });
    if !has_cjk {
        return Err(CardPdfError::NoCjkFont);
    }
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| CardPdfError::Svg(e.to_string()))?;
    let page = svg2pdf::PageOptions { dpi: SVG_DPI };
    svg2pdf::to_pdf(&tree, svg2pdf::ConversionOptions::default(), page)
        .map_err(|e| CardPdfError::Pdf(e.to_string()))
}
