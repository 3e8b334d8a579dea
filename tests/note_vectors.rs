//! Checks the signed-note implementation against the C2SP signed-note example (kept in
//! `../shared/vectors/signed-note`): the published vkey must verify the published note, every
//! single-byte change must be refused, and signatures by unknown keys must be ignored.

use std::fs;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use licreg::log::note::{verify_note, NoteError, NoteSigner, SignedNote, VerifierKey};

fn vectors_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors/signed-note");
    assert!(
        dir.is_dir(),
        "signed-note test vectors not found at {} (CI must check out shared/ beside the crate)",
        dir.display()
    );
    dir
}

/// The vkey is the only non-comment line before the `-----` separator in example.txt.
fn example() -> (VerifierKey, Vec<u8>) {
    let dir = vectors_dir();
    let txt = fs::read_to_string(dir.join("example.txt")).unwrap();
    let (head, after) = txt.split_once("-----\n").unwrap();
    let vkeys: Vec<&str> = head
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(vkeys.len(), 1, "expected exactly one vkey in example.txt");
    let note = fs::read(dir.join("example.note")).unwrap();
    if !after.is_empty() {
        assert_eq!(
            after.as_bytes(),
            note,
            "example.txt and example.note disagree"
        );
    }
    (vkeys[0].parse().unwrap(), note)
}

#[test]
fn example_verifies() {
    let (vkey, note) = example();
    assert_eq!(vkey.name(), "example.com/foo");
    assert_eq!(
        vkey.to_string(),
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
    );
    let text = std::str::from_utf8(&note).unwrap();
    let verified = verify_note(text, std::slice::from_ref(&vkey)).unwrap();
    assert_eq!(verified.text(), "This is an example message.\n");
    assert!(verified.is_signed_by(&vkey));
    assert_eq!(verified.note().encode().as_bytes(), note);
}

#[test]
fn every_changed_byte_fails() {
    let (vkey, note) = example();
    let mut cases = 0;
    for i in 0..note.len() {
        for delta in [0x01u8, 0x02, 0x20, 0x40, 0x80, 0xff] {
            let mut changed = note.clone();
            changed[i] ^= delta;
            let result = SignedNote::parse_bytes(&changed)
                .and_then(|n| n.verify(std::slice::from_ref(&vkey)));
            assert!(result.is_err(), "byte {i} ^ {delta:#04x} still verifies");
            cases += 1;
        }
    }
    assert!(cases > 500, "only {cases} mutations ran");
}

#[test]
fn unknown_key_signatures_are_ignored() {
    let (vkey, note) = example();
    let text = std::str::from_utf8(&note).unwrap();
    let mut parsed = SignedNote::parse(text).unwrap();
    // Same name, different key (so a different ID), and a different name altogether.
    for (seed, name) in [(1u8, "example.com/foo"), (2, "example.com/bar")] {
        let other = NoteSigner::new(name, SigningKey::from_bytes(&[seed; 32])).unwrap();
        parsed
            .add_signature(other.sign(parsed.text()).unwrap())
            .unwrap();
    }
    let extended = parsed.encode();
    let verified = verify_note(&extended, &[vkey]).unwrap();
    assert_eq!(verified.verified().len(), 1);
    assert_eq!(verified.note().signatures().len(), 3);

    let stranger = NoteSigner::new("example.com/baz", SigningKey::from_bytes(&[3; 32])).unwrap();
    assert_eq!(
        verify_note(&extended, &[stranger.verifier_key()]),
        Err(NoteError::NoVerifiedSignature)
    );
}
