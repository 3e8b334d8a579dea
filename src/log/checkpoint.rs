//! C2SP tlog-checkpoint: the signed tree head (origin, size, root hash, extension lines).
//!
//! A checkpoint is what the log commits to and what witnesses cosign, so its text form must be
//! canonical: one encoding per value, strict decimal and base64, every line bounded. Fields are
//! public for convenience, so everything that turns a checkpoint into signed bytes re-validates
//! it first; no field value can smuggle extra lines into what the log key signs.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use thiserror::Error;

use super::merkle::Hash;
use super::note::{NoteError, NoteSigner, SignedNote, VerifierKey, MAX_TEXT_BYTES};

/// Longest origin line accepted.
pub const MAX_ORIGIN_BYTES: usize = 255;
/// Most extension lines accepted (the spec discourages them; we never write any).
pub const MAX_EXTENSION_LINES: usize = 16;
/// Longest extension line accepted.
pub const MAX_EXTENSION_LINE_BYTES: usize = 512;
/// Length of a base64-encoded 32-byte hash.
const HASH_B64_LEN: usize = 44;
/// Longest decimal u64.
const MAX_DECIMAL_DIGITS: usize = 20;

/// Why a checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CheckpointError {
    #[error("checkpoint text is larger than {MAX_TEXT_BYTES} bytes")]
    TooLarge,
    #[error("checkpoint text does not end with a newline")]
    MissingFinalNewline,
    #[error("checkpoint has fewer than three lines")]
    TooFewLines,
    #[error("origin is empty, too long or contains control characters")]
    BadOrigin,
    #[error("tree size is not a canonical decimal u64")]
    BadSize,
    #[error("root hash is not base64 of 32 bytes")]
    BadRoot,
    #[error("more than {MAX_EXTENSION_LINES} extension lines")]
    TooManyExtensions,
    #[error("extension line is empty, too long or contains control characters")]
    BadExtension,
    #[error("checkpoint origin {found:?} is not the expected {expected:?}")]
    WrongOrigin { expected: String, found: String },
    #[error(transparent)]
    Note(#[from] NoteError),
}

/// Parses an ASCII decimal u64 with no sign, no spaces and no leading zeros (except "0").
pub(crate) fn parse_decimal(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let canonical = !b.is_empty()
        && b.len() <= MAX_DECIMAL_DIGITS
        && b.iter().all(u8::is_ascii_digit)
        && (b.len() == 1 || b.first() != Some(&b'0'));
    if !canonical {
        return None;
    }
    s.parse().ok()
}

/// Decodes a canonical standard-base64 32-byte hash.
pub(crate) fn decode_hash(s: &str) -> Option<Hash> {
    if s.len() != HASH_B64_LEN {
        return None;
    }
    STANDARD.decode(s).ok()?.try_into().ok()
}

/// A line is acceptable if it is non-empty, within `max` bytes and has no control characters
/// (which also rules out newlines).
fn line_ok(line: &str, max: usize) -> bool {
    !line.is_empty() && line.len() <= max && !line.bytes().any(|b| b < 0x20)
}

/// A log's signed tree head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines, validated.
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self, CheckpointError> {
        let cp = Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
        };
        cp.validate()?;
        Ok(cp)
    }

    /// Checks the fields against the limits and line rules.
    pub fn validate(&self) -> Result<(), CheckpointError> {
        if !line_ok(&self.origin, MAX_ORIGIN_BYTES) {
            return Err(CheckpointError::BadOrigin);
        }
        if self.extensions.len() > MAX_EXTENSION_LINES {
            return Err(CheckpointError::TooManyExtensions);
        }
        if !self
            .extensions
            .iter()
            .all(|e| line_ok(e, MAX_EXTENSION_LINE_BYTES))
        {
            return Err(CheckpointError::BadExtension);
        }
        Ok(())
    }

    /// The note text: origin, size, root, extension lines, each newline-terminated.
    pub fn to_note_text(&self) -> Result<String, CheckpointError> {
        self.validate()?;
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        for ext in &self.extensions {
            text.push_str(ext);
            text.push('\n');
        }
        Ok(text)
    }

    /// Parses a checkpoint body (note text) strictly.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        if text.len() > MAX_TEXT_BYTES {
            return Err(CheckpointError::TooLarge);
        }
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::MissingFinalNewline)?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(CheckpointError::TooFewLines);
        };
        if !line_ok(origin, MAX_ORIGIN_BYTES) {
            return Err(CheckpointError::BadOrigin);
        }
        let size = parse_decimal(size).ok_or(CheckpointError::BadSize)?;
        let root = decode_hash(root).ok_or(CheckpointError::BadRoot)?;
        let mut extensions = Vec::new();
        for ext in lines {
            if extensions.len() >= MAX_EXTENSION_LINES {
                return Err(CheckpointError::TooManyExtensions);
            }
            if !line_ok(ext, MAX_EXTENSION_LINE_BYTES) {
                return Err(CheckpointError::BadExtension);
            }
            extensions.push(ext.to_owned());
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// Signs the checkpoint with the log key and returns the signed note.
    pub fn sign(&self, signer: &NoteSigner) -> Result<String, CheckpointError> {
        Ok(signer.sign_note(&self.to_note_text()?)?)
    }

    /// Opens a signed checkpoint: the note must carry a valid signature by `log_key` (other
    /// signature lines, such as cosignatures, are kept but not checked) and its origin must be
    /// `expected_origin`.
    pub fn open_signed(
        note_text: &str,
        log_key: &VerifierKey,
        expected_origin: &str,
    ) -> Result<(Checkpoint, SignedNote), CheckpointError> {
        let note = SignedNote::parse(note_text)?;
        note.verify(std::slice::from_ref(log_key))?;
        let checkpoint = Self::parse(note.text())?;
        if checkpoint.origin != expected_origin {
            return Err(CheckpointError::WrongOrigin {
                expected: expected_origin.to_owned(),
                found: checkpoint.origin,
            });
        }
        Ok((checkpoint, note))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use proptest::prelude::*;

    const SPEC_BODY: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    fn signer() -> NoteSigner {
        NoteSigner::new("example.com/log", SigningKey::from_bytes(&[5; 32])).unwrap()
    }

    #[test]
    fn spec_example_body_round_trips() {
        let cp = Checkpoint::parse(SPEC_BODY).unwrap();
        assert_eq!(cp.origin, "example.com/behind-the-sofa");
        assert_eq!(cp.size, 20852163);
        assert!(cp.extensions.is_empty());
        assert_eq!(cp.to_note_text().unwrap(), SPEC_BODY);
    }

    #[test]
    fn strict_parsing() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        let bad = [
            String::new(),
            format!("o\n1\n{root}"),
            "o\n1\n".to_owned(),
            format!("\n1\n{root}\n"),
            format!("o\n01\n{root}\n"),
            format!("o\n+1\n{root}\n"),
            format!("o\n 1\n{root}\n"),
            format!("o\n-0\n{root}\n"),
            format!("o\n18446744073709551616\n{root}\n"),
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n".to_owned(),
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n".to_owned(),
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=A\n".to_owned(),
            format!("o\n1\n{root}\n\n"),
            format!("o\n1\n{root}\next\n\n"),
            format!("o\r\n1\n{root}\n"),
            format!("o\n1\n{root}\n{}", "e\n".repeat(MAX_EXTENSION_LINES + 1)),
        ];
        for b in bad {
            assert!(Checkpoint::parse(&b).is_err(), "{b:?}");
        }
        assert_eq!(
            Checkpoint::parse(&format!("o\n0\n{root}\n")).unwrap().size,
            0
        );
        assert_eq!(
            Checkpoint::parse(&format!("o\n18446744073709551615\n{root}\na b\n"))
                .unwrap()
                .extensions,
            vec!["a b".to_owned()]
        );
    }

    #[test]
    fn injected_lines_are_never_signed() {
        let mut cp = Checkpoint::new("example.com/log", 1, [0; 32]).unwrap();
        cp.origin = "example.com/log\n5\nAAAA".to_owned();
        assert_eq!(cp.sign(&signer()), Err(CheckpointError::BadOrigin));
        cp.origin = "example.com/log".to_owned();
        cp.extensions = vec!["x\ny".to_owned()];
        assert_eq!(cp.sign(&signer()), Err(CheckpointError::BadExtension));
        cp.extensions = vec![String::new()];
        assert_eq!(cp.sign(&signer()), Err(CheckpointError::BadExtension));
        assert!(Checkpoint::new("", 0, [0; 32]).is_err());
    }

    #[test]
    fn open_signed_checks_key_and_origin() {
        let s = signer();
        let other = NoteSigner::new("example.com/log", SigningKey::from_bytes(&[6; 32])).unwrap();
        let cp = Checkpoint::new("example.com/log", 42, [3; 32]).unwrap();
        let note = cp.sign(&s).unwrap();
        let (opened, signed) =
            Checkpoint::open_signed(&note, &s.verifier_key(), "example.com/log").unwrap();
        assert_eq!(opened, cp);
        assert_eq!(signed.encode(), note);
        assert!(matches!(
            Checkpoint::open_signed(&note, &s.verifier_key(), "example.com/other"),
            Err(CheckpointError::WrongOrigin { .. })
        ));
        assert!(matches!(
            Checkpoint::open_signed(&note, &other.verifier_key(), "example.com/log"),
            Err(CheckpointError::Note(NoteError::NoVerifiedSignature))
        ));
        // A validly signed note that is not a checkpoint is still refused.
        let not_cp = s.sign_note("hello\n").unwrap();
        assert!(Checkpoint::open_signed(&not_cp, &s.verifier_key(), "hello").is_err());
    }

    proptest! {
        #[test]
        fn round_trip(origin in "[!-~][ -~]{0,40}", size in any::<u64>(), root in any::<[u8; 32]>(),
                      exts in prop::collection::vec("[ -~]{1,20}", 0..4)) {
            let cp = Checkpoint { origin, size, root, extensions: exts };
            let text = cp.to_note_text().unwrap();
            prop_assert_eq!(Checkpoint::parse(&text).unwrap(), cp.clone());
            let note = cp.sign(&signer()).unwrap();
            let (opened, _) = Checkpoint::open_signed(&note, &signer().verifier_key(), &cp.origin).unwrap();
            prop_assert_eq!(opened, cp);
        }

        #[test]
        fn any_changed_bit_fails(size in any::<u64>(), root in any::<[u8; 32]>(), bit in any::<prop::sample::Index>()) {
            let cp = Checkpoint::new("example.com/log", size, root).unwrap();
            let mut bytes = cp.sign(&signer()).unwrap().into_bytes();
            let bit = bit.index(bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
            let opened = std::str::from_utf8(&bytes).ok().map(|n| {
                Checkpoint::open_signed(n, &signer().verifier_key(), "example.com/log")
            });
            prop_assert!(!matches!(opened, Some(Ok(_))));
        }
    }
}
