//! The printable in-car card: made from a real ledger by `licreg card` and by the service, drawn
//! by a renderer nobody here wrote (librsvg's `rsvg-convert`, with Debian's CJK fonts), and its
//! QR code read back by ZBar's `zbarimg` at the print size. `.ci/run` installs both.

mod harness;

use std::path::Path;
use std::process::{Command, Output};

use axum::http::Method;

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (.ci/run installs it)"))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Renders the card at 300 dpi, as a print shop would, and reads its QR code.
fn scan_printed(svg: &Path) -> String {
    let png = svg.with_extension("png");
    let render = run(
        "rsvg-convert",
        &[
            "--dpi-x",
            "300",
            "--dpi-y",
            "300",
            "-o",
            png.to_str().unwrap(),
            svg.to_str().unwrap(),
        ],
    );
    assert!(render.status.success(), "{}", text(&render));
    let scan = zbar_qr(&png);
    assert!(scan.status.success(), "{}", text(&scan));
    String::from_utf8(scan.stdout).unwrap().trim().to_string()
}

/// ZBar's reading of the QR code in `png`, QR symbols only: a rendered page can hold digit runs
/// zbar would also read as a linear barcode.
fn zbar_qr(png: &Path) -> Output {
    run(
        "zbarimg",
        &[
            "--quiet",
            "--raw",
            "-Sdisable",
            "-Sqrcode.enable",
            png.to_str().unwrap(),
        ],
    )
}

#[test]
fn licreg_card_prints_an_a6_card_whose_qr_code_scans_to_the_licence() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let licreg = env!("CARGO_BIN_EXE_licreg");
    let made = run(licreg, &["demo", "--out", demo.to_str().unwrap()]);
    assert!(made.status.success(), "{}", text(&made));
    for kind in ["driver", "vehicle", "platform"] {
        let number = text(&made)
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{kind} licence ")))
            .unwrap()
            .trim()
            .to_string();
        let svg = dir.path().join(format!("{kind}.svg"));
        let card = run(
            licreg,
            &[
                "card",
                "--data",
                demo.join("data").to_str().unwrap(),
                "--out",
                svg.to_str().unwrap(),
                &number,
            ],
        );
        assert!(card.status.success(), "{}", text(&card));
        let drawn = std::fs::read_to_string(&svg).unwrap();
        assert!(drawn.contains("width=\"105mm\" height=\"148mm\""));
        assert!(drawn.contains(licreg::card::title(kind.parse().unwrap()).0));
        let url = std::fs::read_to_string(demo.join(kind).join("url.txt")).unwrap();
        assert_eq!(
            scan_printed(&svg),
            url.trim(),
            "{kind}: the printed code is the licence's"
        );
    }
    let bad = run(
        licreg,
        &[
            "card",
            "--data",
            demo.join("data").to_str().unwrap(),
            "--out",
            "x.png",
            "D1",
        ],
    );
    assert!(!bad.status.success());
    assert!(
        text(&bad).contains("SVG") && text(&bad).contains("PDF"),
        "{}",
        text(&bad)
    );
    let unknown = run(
        licreg,
        &[
            "card",
            "--data",
            demo.join("data").to_str().unwrap(),
            "--out",
            dir.path().join("u.svg").to_str().unwrap(),
            "NO-SUCH",
        ],
    );
    assert!(!unknown.status.success());
    assert!(
        text(&unknown).contains("no licence NO-SUCH"),
        "{}",
        text(&unknown)
    );
}

/// The card as PDF: A6 exactly, the CJK font subset embedded, and its code read back from the
/// page as poppler renders it at 300 dpi. `.ci/run` installs fonts-noto-cjk and poppler-utils.
#[test]
fn licreg_card_writes_an_a6_pdf_with_its_font_whose_code_scans() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let licreg = env!("CARGO_BIN_EXE_licreg");
    let made = run(licreg, &["demo", "--out", demo.to_str().unwrap()]);
    assert!(made.status.success(), "{}", text(&made));
    let number = text(&made)
        .lines()
        .find_map(|line| line.strip_prefix("driver licence "))
        .unwrap()
        .trim()
        .to_string();
    let pdf = dir.path().join("driver.pdf");
    let card = run(
        licreg,
        &[
            "card",
            "--data",
            demo.join("data").to_str().unwrap(),
            "--out",
            pdf.to_str().unwrap(),
            &number,
        ],
    );
    assert!(card.status.success(), "{}", text(&card));
    let info = text(&run("pdfinfo", &[pdf.to_str().unwrap()]));
    // A6 is 105 × 148 mm: 297.64 × 419.53 points.
    let size: Vec<f64> = info
        .lines()
        .find_map(|l| l.strip_prefix("Page size:"))
        .expect("a page size")
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(
        (size[0] - 297.64).abs() < 0.1 && (size[1] - 419.53).abs() < 0.1,
        "{info}"
    );
    let fonts = text(&run("pdffonts", &[pdf.to_str().unwrap()]));
    assert!(
        fonts
            .lines()
            .skip(2)
            .any(|l| l.contains("CJK") || l.contains("Fallback") || l.contains("Hei")),
        "a CJK font is used: {fonts}"
    );
    assert!(
        fonts.lines().skip(2).all(|l| l.contains(" yes ")),
        "every font is embedded: {fonts}"
    );
    let page = dir.path().join("page");
    let render = run(
        "pdftoppm",
        &[
            "-r",
            "300",
            "-png",
            "-singlefile",
            pdf.to_str().unwrap(),
            page.to_str().unwrap(),
        ],
    );
    assert!(render.status.success(), "{}", text(&render));
    let png = page.with_extension("png");
    let scan = zbar_qr(&png);
    let url = std::fs::read_to_string(demo.join("driver").join("url.txt")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&scan.stdout).trim(),
        url.trim(),
        "the printed PDF's code is the licence's"
    );
    let words = text(&run("pdftotext", &[pdf.to_str().unwrap(), "-"]));
    assert!(
        words.contains("网络预约出租汽车驾驶员证"),
        "the title is text: {words}"
    );
}

#[tokio::test]
async fn the_portal_gets_the_card_and_the_public_does_not() {
    let h = harness::harness().await;
    let (_, issued) = h
        .apply("vehicle", include_str!("../schemas/examples/vehicle.json"))
        .await;
    let number = issued["licence_number"].as_str().unwrap().to_string();
    let uri = format!("/v1/licences/{number}/card.svg");
    let (status, svg, content_type) = h.text(&uri, Some(harness::PORTAL)).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "image/svg+xml; charset=utf-8");
    assert!(
        svg.contains("网络预约出租汽车运输证") && svg.contains("闽DD12345"),
        "{svg}"
    );
    assert!(svg.contains("厦门市交通运输局"), "the authority by name");
    let (status, _) = h.call(Method::GET, &uri, None, None).await;
    assert_eq!(status, 401);
    let (status, _) = h
        .call(
            Method::GET,
            "/v1/licences/D0/card.svg",
            Some(harness::PORTAL),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("card.svg");
    std::fs::write(&file, svg).unwrap();
    let scanned = scan_printed(&file);
    assert!(scanned.starts_with("https://licreg.test/v#"), "{scanned}");
}
