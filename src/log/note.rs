//! C2SP signed notes (c2sp.org/signed-note): parsing, encoding and verification.
//!
//! Checkpoints, cosignatures and receipts are all carried as signed notes, so this is the parser
//! that sees untrusted bytes first. It is strict (every limit is a named constant checked while
//! decoding, base64 must be canonical) and verification follows the spec's trust rule: unknown
//! keys are ignored, any failing known-key signature rejects the note, and at least one known key
//! must have signed.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use thiserror::Error;

pub use super::vkey::{
    KeyError, KeyId, KeyName, NoteSigner, SignatureType, VerifierKey, MAX_KEY_NAME_BYTES,
    MAX_VKEY_BYTES,
};

/// Largest signed note accepted. The spec asks verifiers to accept at least 16 signatures of up
/// to nearly 5 kB (post-quantum); 16 × ~7 kB of base64 plus the text fits in 128 KiB.
pub const MAX_NOTE_BYTES: usize = 128 * 1024;
/// Largest note text accepted. Our texts are checkpoints, which are a few hundred bytes.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;
/// Most signature lines accepted in one note (the spec requires at least 16).
pub const MAX_SIGNATURES: usize = 100;
/// Largest decoded signature (after the 4-byte key ID), sized for post-quantum signatures so
/// that their lines can be skipped as unknown rather than rejecting the note.
pub const MAX_SIGNATURE_BYTES: usize = 5 * 1024;
/// Most verifier keys accepted in one verification call; bounds the ambiguity check.
pub const MAX_VERIFIERS: usize = 256;

/// The em dash and space that start every signature line.
const SIG_PREFIX: &str = "\u{2014} ";
/// Longest base64 text that can decode to at most 4 + [`MAX_SIGNATURE_BYTES`] bytes.
const MAX_SIGNATURE_B64: usize = (4 + MAX_SIGNATURE_BYTES).div_ceil(3) * 4;

/// Why a note was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NoteError {
    #[error("note is {len} bytes, more than the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("note is not valid UTF-8")]
    NotUtf8,
    #[error("note contains an ASCII control character other than newline")]
    ControlCharacter,
    #[error("note text is empty")]
    EmptyText,
    #[error("note text does not end with a newline")]
    MissingFinalNewline,
    #[error("note has no blank line before its signatures")]
    NoSignatureBlock,
    #[error("note has no signatures")]
    NoSignatures,
    #[error("note has more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    #[error("malformed signature line")]
    MalformedSignatureLine,
    #[error("signature is empty or longer than {MAX_SIGNATURE_BYTES} bytes")]
    SignatureLength,
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("more than {MAX_VERIFIERS} verifier keys")]
    TooManyVerifiers,
    #[error("two different verifier keys share a name and key ID")]
    AmbiguousVerifiers,
    #[error("signature by known key {name} ({key_id}) does not verify")]
    InvalidSignature { name: String, key_id: KeyId },
    #[error("no signature by a known key")]
    NoVerifiedSignature,
}

fn check_chars(s: &str) -> Result<(), NoteError> {
    if s.bytes().any(|b| b < 0x20 && b != b'\n') {
        return Err(NoteError::ControlCharacter);
    }
    Ok(())
}

/// Checks that `text` can be the text of a signed note: non-empty, newline-terminated, within
/// [`MAX_TEXT_BYTES`], no control characters other than newline.
pub(crate) fn check_text(text: &str) -> Result<(), NoteError> {
    if text.is_empty() {
        return Err(NoteError::EmptyText);
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(NoteError::TooLarge {
            len: text.len(),
            max: MAX_TEXT_BYTES,
        });
    }
    if !text.ends_with('\n') {
        return Err(NoteError::MissingFinalNewline);
    }
    check_chars(text)
}

/// One signature line: key name, key ID and the signature bytes that follow the ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    name: KeyName,
    key_id: KeyId,
    signature: Vec<u8>,
}

impl NoteSignature {
    pub fn new(name: KeyName, key_id: KeyId, signature: Vec<u8>) -> Result<Self, NoteError> {
        if signature.is_empty() || signature.len() > MAX_SIGNATURE_BYTES {
            return Err(NoteError::SignatureLength);
        }
        Ok(Self {
            name,
            key_id,
            signature,
        })
    }

    /// Parses one line without its newline: `— <name> <base64(key ID ‖ signature)>`.
    pub fn parse_line(line: &str) -> Result<Self, NoteError> {
        let rest = line
            .strip_prefix(SIG_PREFIX)
            .ok_or(NoteError::MalformedSignatureLine)?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or(NoteError::MalformedSignatureLine)?;
        let name = KeyName::new(name)?;
        if b64.is_empty() || b64.len() > MAX_SIGNATURE_B64 {
            return Err(NoteError::SignatureLength);
        }
        let raw = STANDARD
            .decode(b64)
            .map_err(|_| NoteError::MalformedSignatureLine)?;
        let Some((id, signature)) = raw.split_first_chunk::<4>() else {
            return Err(NoteError::SignatureLength);
        };
        Self::new(name, KeyId(*id), signature.to_vec())
    }

    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    pub fn key_name(&self) -> &KeyName {
        &self.name
    }

    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The signature bytes after the key ID.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The signature line, newline included.
    pub fn to_line(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.signature.len());
        raw.extend_from_slice(&self.key_id.0);
        raw.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}\n", self.name, STANDARD.encode(raw))
    }
}

/// A parsed (not yet verified) signed note. Keeps every signature line, known or not, so a note
/// can be re-encoded byte for byte and cosignatures can be added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNote {
    text: String,
    signatures: Vec<NoteSignature>,
    encoded_len: usize,
}

impl SignedNote {
    /// A note with `text` and no signatures yet.
    pub fn new(text: &str) -> Result<Self, NoteError> {
        check_text(text)?;
        Ok(Self {
            text: text.to_owned(),
            signatures: Vec::new(),
            encoded_len: text.len() + 1,
        })
    }

    pub fn parse_bytes(note: &[u8]) -> Result<Self, NoteError> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge {
                len: note.len(),
                max: MAX_NOTE_BYTES,
            });
        }
        Self::parse(std::str::from_utf8(note).map_err(|_| NoteError::NotUtf8)?)
    }

    pub fn parse(note: &str) -> Result<Self, NoteError> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge {
                len: note.len(),
                max: MAX_NOTE_BYTES,
            });
        }
        check_chars(note)?;
        // The text ends at the last blank line; signature lines are never empty.
        let split = note.rfind("\n\n").ok_or(NoteError::NoSignatureBlock)?;
        let text = note.get(..=split).ok_or(NoteError::NoSignatureBlock)?;
        let sigs = note.get(split + 2..).ok_or(NoteError::NoSignatureBlock)?;
        let sigs = sigs.strip_suffix('\n').ok_or(if sigs.is_empty() {
            NoteError::NoSignatures
        } else {
            NoteError::MissingFinalNewline
        })?;
        let mut parsed = Self::new(text)?;
        for line in sigs.split('\n') {
            parsed.add_signature(NoteSignature::parse_line(line)?)?;
        }
        Ok(parsed)
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Appends a signature line, keeping the note within [`MAX_SIGNATURES`] and
    /// [`MAX_NOTE_BYTES`] so that whatever is encoded can be parsed again.
    pub fn add_signature(&mut self, sig: NoteSignature) -> Result<(), NoteError> {
        if self.signatures.len() >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        let len = self.encoded_len + sig.to_line().len();
        if len > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge {
                len,
                max: MAX_NOTE_BYTES,
            });
        }
        self.encoded_len = len;
        self.signatures.push(sig);
        Ok(())
    }

    /// Text, blank line, signature lines. Only a note with at least one signature parses back.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(self.encoded_len);
        out.push_str(&self.text);
        out.push('\n');
        for sig in &self.signatures {
            out.push_str(&sig.to_line());
        }
        out
    }

    /// Verifies every signature by a key in `verifiers`, ignoring the rest. Any failing
    /// known-key signature rejects the note; at least one known-key signature must verify.
    pub fn verify(&self, verifiers: &[VerifierKey]) -> Result<VerifiedNote, NoteError> {
        check_verifiers(verifiers)?;
        let mut verified: Vec<VerifiedSignature> = Vec::new();
        for sig in &self.signatures {
            let Some(key) = verifiers.iter().find(|v| v.matches(sig)) else {
                continue;
            };
            let timestamp = key.verify(&self.text, sig.signature()).map_err(|_| {
                NoteError::InvalidSignature {
                    name: sig.name().to_owned(),
                    key_id: sig.key_id(),
                }
            })?;
            // A key that signed twice still counts once.
            if !verified
                .iter()
                .any(|v| v.name == *sig.key_name() && v.key_id == sig.key_id())
            {
                verified.push(VerifiedSignature {
                    name: sig.key_name().clone(),
                    key_id: sig.key_id(),
                    signature_type: key.signature_type(),
                    timestamp,
                });
            }
        }
        if verified.is_empty() {
            return Err(NoteError::NoVerifiedSignature);
        }
        Ok(VerifiedNote {
            note: self.clone(),
            verified,
        })
    }
}

fn check_verifiers(verifiers: &[VerifierKey]) -> Result<(), NoteError> {
    if verifiers.len() > MAX_VERIFIERS {
        return Err(NoteError::TooManyVerifiers);
    }
    for (i, a) in verifiers.iter().enumerate() {
        let clash = verifiers
            .iter()
            .skip(i + 1)
            .any(|b| a.key_name() == b.key_name() && a.key_id() == b.key_id() && a != b);
        if clash {
            return Err(NoteError::AmbiguousVerifiers);
        }
    }
    Ok(())
}

/// A signature that verified against a trusted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    pub name: KeyName,
    pub key_id: KeyId,
    pub signature_type: SignatureType,
    /// The cosignature timestamp for [`SignatureType::CosignatureV1`] keys.
    pub timestamp: Option<u64>,
}

/// A note with at least one verified known-key signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedNote {
    note: SignedNote,
    verified: Vec<VerifiedSignature>,
}

impl VerifiedNote {
    pub fn text(&self) -> &str {
        self.note.text()
    }

    pub fn note(&self) -> &SignedNote {
        &self.note
    }

    pub fn into_note(self) -> SignedNote {
        self.note
    }

    /// One entry per distinct known key whose signature verified.
    pub fn verified(&self) -> &[VerifiedSignature] {
        &self.verified
    }

    pub fn is_signed_by(&self, key: &VerifierKey) -> bool {
        self.verified
            .iter()
            .any(|v| v.name == *key.key_name() && v.key_id == key.key_id())
    }
}

/// Parses `note` and verifies it against `verifiers` (see [`SignedNote::verify`]).
pub fn verify_note(note: &str, verifiers: &[VerifierKey]) -> Result<VerifiedNote, NoteError> {
    SignedNote::parse(note)?.verify(verifiers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use proptest::prelude::*;

    fn signer(seed: u8, name: &str) -> NoteSigner {
        NoteSigner::new(name, SigningKey::from_bytes(&[seed; 32])).unwrap()
    }

    #[test]
    fn sign_and_verify_round_trip() {
        let s = signer(1, "example.com/log");
        let note = s.sign_note("hello\nworld\n").unwrap();
        let v = verify_note(&note, &[s.verifier_key()]).unwrap();
        assert_eq!(v.text(), "hello\nworld\n");
        assert!(v.is_signed_by(&s.verifier_key()));
        assert_eq!(v.note().encode(), note);
    }

    #[test]
    fn unknown_keys_are_ignored_but_a_known_key_is_required() {
        let known = signer(1, "example.com/log");
        let other = signer(2, "example.com/other");
        let same_name = signer(3, "example.com/log");
        let mut note = SignedNote::new("text\n").unwrap();
        note.add_signature(other.sign("text\n").unwrap()).unwrap();
        note.add_signature(same_name.sign("text\n").unwrap())
            .unwrap();
        assert_eq!(
            note.verify(&[known.verifier_key()]),
            Err(NoteError::NoVerifiedSignature)
        );
        note.add_signature(known.sign("text\n").unwrap()).unwrap();
        let v = note.verify(&[known.verifier_key()]).unwrap();
        assert_eq!(v.verified().len(), 1);
        let parsed = SignedNote::parse(&note.encode()).unwrap();
        assert_eq!(parsed, note);
    }

    #[test]
    fn a_bad_known_signature_rejects_the_note() {
        let known = signer(1, "example.com/log");
        let mut note = SignedNote::new("text\n").unwrap();
        note.add_signature(known.sign("text\n").unwrap()).unwrap();
        note.add_signature(known.sign("other\n").unwrap()).unwrap();
        assert!(matches!(
            note.verify(&[known.verifier_key()]),
            Err(NoteError::InvalidSignature { .. })
        ));
    }

    #[test]
    fn malformed_notes_are_refused() {
        let s = signer(1, "a");
        let good = s.sign_note("t\n").unwrap();
        let line = good.strip_prefix("t\n\n").unwrap();
        let cases = [
            String::new(),
            "t\n".to_owned(),
            "t\n\n".to_owned(),
            format!("t\n{line}"),
            format!("t\n\n{}", line.trim_end()),
            format!("t\x01\n\n{line}"),
            format!("t\r\n\n{line}"),
            format!("t\n\n{line}\n"),
            format!("t\n\n{}", line.replace('\u{2014}', "-")),
            format!("t\n\n{}", line.replace(' ', "  ")),
            "t\n\n\u{2014} a\n".to_owned(),
            "t\n\n\u{2014} a \n".to_owned(),
            "t\n\n\u{2014} a AAAA\n".to_owned(),
            "t\n\n\u{2014} a AAAAAA=\n".to_owned(),
            "t\n\n\u{2014} a AAAAAB==\n".to_owned(),
            "t\n\n\u{2014} a b AAAAAA==\n".to_owned(),
        ];
        for c in cases {
            assert!(verify_note(&c, &[s.verifier_key()]).is_err(), "{c:?}");
        }
        assert_eq!(
            SignedNote::parse_bytes(b"t\xff\n\n"),
            Err(NoteError::NotUtf8)
        );
    }

    #[test]
    fn limits_are_enforced() {
        let s = signer(1, "a");
        let mut note = SignedNote::new("t\n").unwrap();
        for _ in 0..MAX_SIGNATURES {
            note.add_signature(s.sign("t\n").unwrap()).unwrap();
        }
        let extra = s.sign("t\n").unwrap();
        assert_eq!(
            note.add_signature(extra.clone()),
            Err(NoteError::TooManySignatures)
        );
        let too_many = format!("{}{}", note.encode(), extra.to_line());
        assert_eq!(
            SignedNote::parse(&too_many),
            Err(NoteError::TooManySignatures)
        );
        let big_text = "x".repeat(MAX_TEXT_BYTES) + "\n";
        assert!(s.sign(&big_text).is_err());
        let huge = "y".repeat(MAX_NOTE_BYTES + 1);
        assert!(matches!(
            SignedNote::parse(&huge),
            Err(NoteError::TooLarge { .. })
        ));
        let long_sig = NoteSignature::new(
            KeyName::new("a").unwrap(),
            KeyId([0; 4]),
            vec![0; MAX_SIGNATURE_BYTES + 1],
        );
        assert_eq!(long_sig, Err(NoteError::SignatureLength));
    }

    #[test]
    fn ambiguous_verifiers_are_refused() {
        let a = signer(1, "a").verifier_key();
        // Same name, different key: IDs differ, so both may be configured.
        let b = signer(2, "a").verifier_key();
        let note = signer(1, "a").sign_note("t\n").unwrap();
        assert!(verify_note(&note, &[a.clone(), b, a.clone()]).is_ok());
        let too_many = vec![a; MAX_VERIFIERS + 1];
        assert_eq!(
            verify_note(&note, &too_many),
            Err(NoteError::TooManyVerifiers)
        );
    }

    fn text_strategy() -> impl Strategy<Value = String> {
        prop::collection::vec("[ -~\u{e9}\u{2014}]{0,24}", 1..6)
            .prop_map(|lines| lines.join("\n") + "\n")
    }

    proptest! {
        #[test]
        fn encode_parse_round_trip(text in text_strategy(), seeds in prop::collection::vec(any::<u8>(), 1..5)) {
            let mut note = SignedNote::new(&text).unwrap();
            for (i, seed) in seeds.iter().enumerate() {
                let s = signer(*seed, &format!("k{i}.example"));
                note.add_signature(s.sign(&text).unwrap()).unwrap();
            }
            let encoded = note.encode();
            let parsed = SignedNote::parse(&encoded).unwrap();
            prop_assert_eq!(&parsed, &note);
            prop_assert_eq!(parsed.encode(), encoded);
        }

        #[test]
        fn any_changed_bit_fails(text in text_strategy(), seed in any::<u8>(), bit in any::<prop::sample::Index>()) {
            let s = signer(seed, "example.com/log");
            let note = s.sign_note(&text).unwrap();
            let mut bytes = note.into_bytes();
            let bit = bit.index(bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
            let result = SignedNote::parse_bytes(&bytes).and_then(|n| n.verify(&[s.verifier_key()]));
            prop_assert!(result.is_err());
        }
    }
}
