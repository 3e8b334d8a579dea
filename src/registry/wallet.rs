//! The driver's wallet in the registry: one-time activation codes, device bindings and their
//! revocation, as events applied in log order.
//!
//! A driver licence is bound to the holder's phone in two steps. The portal (or an officer) asks
//! for an activation code and hands it to the holder; the registry logs only the code's SHA-256
//! with its expiry. The phone sends the code with the public half of a key it made and cannot
//! export; the registry logs the binding with a holder-bound credential (the licence with `cnf`).
//! A code binds once, before it expires, and only a valid driver licence. Binding again (a new
//! phone) or unbinding (a lost one) replaces the binding, and the live status names the bound
//! device by its key's thumbprint, so the old phone's codes stop verifying.
//! docs/wallet.md describes the design and its threat model.

use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::apply::{key_of, licence_row};
use super::bodies::{ActivationBody, BindingBody, UnbindingBody};
use super::licence::LicenceStatus;
use super::refusal::Refusal;
use super::rows;
use super::tables as t;
use crate::credential::DeviceKey;
use crate::ids::LicenceKind;
use crate::ledger::{ApplyError, Entry, ViewTx};

/// How long an activation code binds, in seconds.
pub const ACTIVATION_TTL_SECONDS: i64 = 72 * 3600;
/// Characters in an activation code (without its separators): 12 × 5 bits = 60 bits.
pub const ACTIVATION_CODE_CHARS: usize = 12;
/// The code's alphabet: Crockford's base32, without letters people misread (I, L, O, U).
const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// What an access entry says when a passenger's page was shown the holder's portrait.
pub const PORTRAIT_ACCESS: &str = "portrait";
/// Longest activation code text accepted, separators and spaces included.
pub const MAX_ACTIVATION_TEXT: usize = 32;

/// An activation code as the holder types it: `XXXX-XXXX-XXXX`.
#[derive(Clone, PartialEq, Eq)]
pub struct ActivationCode(String);

impl std::fmt::Debug for ActivationCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A secret until used: never in logs.
        f.write_str("ActivationCode(…)")
    }
}

impl ActivationCode {
    /// A fresh code from the operating system's generator.
    pub fn generate() -> Self {
        let mut bytes = [0u8; ACTIVATION_CODE_CHARS];
        OsRng.fill_bytes(&mut bytes);
        let chars: String = bytes
            .iter()
            .map(|b| char::from(CODE_ALPHABET[usize::from(b & 31)]))
            .collect();
        ActivationCode(chars)
    }

    /// Reads what a person typed: case, spaces and dashes do not matter, and the letters people
    /// confuse with digits (O, I, L) read as those digits, as Crockford's base32 does.
    pub fn parse(text: &str) -> Result<Self, CodeError> {
        if text.len() > MAX_ACTIVATION_TEXT {
            return Err(CodeError::Length);
        }
        let mut chars = String::with_capacity(ACTIVATION_CODE_CHARS);
        for c in text.chars().filter(|c| !matches!(c, ' ' | '-')) {
            let c = match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                c if c.is_ascii() && CODE_ALPHABET.contains(&(c as u8)) => c,
                _ => return Err(CodeError::Character),
            };
            chars.push(c);
        }
        if chars.len() != ACTIVATION_CODE_CHARS {
            return Err(CodeError::Length);
        }
        Ok(ActivationCode(chars))
    }

    /// The form shown to people, in groups of four.
    pub fn display(&self) -> String {
        let groups: Vec<&str> = (0..self.0.len())
            .step_by(4)
            .filter_map(|i| self.0.get(i..i + 4))
            .collect();
        groups.join("-")
    }

    /// What the ledger keeps.
    pub fn sha256(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }
}

/// Why typed text is not an activation code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("an activation code has {ACTIVATION_CODE_CHARS} letters and digits")]
    Length,
    #[error("an activation code uses only the digits 0-9 and the letters A-Z")]
    Character,
}

/// An activation code as the view keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivationRow {
    pub number: String,
    pub expires: i64,
    /// The binding entry that used it.
    pub used_seq: Option<u64>,
}

/// A licence's bound device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingRow {
    pub device_key: serde_bytes::ByteBuf,
    pub thumbprint: String,
    pub seq: u64,
    pub at_ms: u64,
}

fn entry_seconds(entry: &Entry) -> i64 {
    i64::try_from(entry.timestamp_ms / 1000).unwrap_or(i64::MAX)
}

fn no_wallet(number: &str, why: impl Into<String>) -> ApplyError {
    Refusal::NoWallet {
        number: number.to_string(),
        why: why.into(),
    }
    .into()
}

/// Only a valid driver licence takes a wallet.
fn walletable(tx: &ViewTx<'_>, entry: &Entry, number: &str) -> Result<(), ApplyError> {
    let licence = licence_row(tx, number)?;
    if licence.kind != LicenceKind::Driver.as_str() {
        return Err(no_wallet(
            number,
            "only driver licences are bound to a phone",
        ));
    }
    let status = licence.status_at(entry_seconds(entry));
    if status != LicenceStatus::Valid {
        return Err(no_wallet(
            number,
            format!("the licence is {}, not valid", status.as_str()),
        ));
    }
    Ok(())
}

pub(crate) fn activation(
    tx: &mut ViewTx<'_>,
    entry: &Entry,
    body: &ActivationBody,
) -> Result<(), ApplyError> {
    walletable(tx, entry, &body.number)?;
    if tx.get(t::WALLET_CODES, &body.code_sha256)?.is_some() {
        return Err(Refusal::Invalid("activation code already issued".into()).into());
    }
    let row = ActivationRow {
        number: body.number.clone(),
        expires: body.expires,
        used_seq: None,
    };
    tx.put(
        t::WALLET_CODES,
        body.code_sha256.to_vec(),
        rows::encode(&row),
    );
    Ok(())
}

pub(crate) fn binding(
    tx: &mut ViewTx<'_>,
    entry: &Entry,
    body: &BindingBody,
) -> Result<(), ApplyError> {
    let mut code: ActivationRow = match tx.get(t::WALLET_CODES, &body.code_sha256)? {
        Some(bytes) => rows::decode(t::NAMES[t::WALLET_CODES], &bytes)?,
        None => return Err(Refusal::ActivationUnknown.into()),
    };
    if code.used_seq.is_some() {
        return Err(Refusal::ActivationUsed.into());
    }
    if entry_seconds(entry) > code.expires {
        return Err(Refusal::ActivationExpired.into());
    }
    if code.number != body.number {
        return Err(Refusal::ActivationUnknown.into());
    }
    walletable(tx, entry, &body.number)?;
    let device =
        DeviceKey::from_bytes(&body.device_key).map_err(|e| Refusal::Invalid(e.to_string()))?;
    code.used_seq = Some(entry.seq.0);
    tx.put(
        t::WALLET_CODES,
        body.code_sha256.to_vec(),
        rows::encode(&code),
    );
    let row = BindingRow {
        device_key: body.device_key.clone(),
        thumbprint: device.thumbprint(),
        seq: entry.seq.0,
        at_ms: entry.timestamp_ms,
    };
    tx.put(
        t::BINDINGS,
        key_of(&body.number)?.to_vec(),
        rows::encode(&row),
    );
    Ok(())
}

pub(crate) fn unbinding(tx: &mut ViewTx<'_>, body: &UnbindingBody) -> Result<(), ApplyError> {
    let key = key_of(&body.number)?;
    if tx.get(t::BINDINGS, key.as_bytes())?.is_none() {
        return Err(Refusal::NotBound(body.number.clone()).into());
    }
    tx.delete(t::BINDINGS, key.to_vec());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_back_however_they_are_typed() {
        let code = ActivationCode::generate();
        let shown = code.display();
        assert_eq!(shown.len(), ACTIVATION_CODE_CHARS + 2);
        assert_eq!(ActivationCode::parse(&shown).unwrap(), code);
        assert_eq!(
            ActivationCode::parse(&shown.to_lowercase().replace('-', " ")).unwrap(),
            code
        );
        assert_eq!(
            ActivationCode::parse("O1IL-ABCD-EFGH").unwrap().display(),
            "0111-ABCD-EFGH"
        );
        assert_eq!(ActivationCode::parse("ABCD-EFGH"), Err(CodeError::Length));
        assert_eq!(
            ActivationCode::parse("ABCD-EFGH-EFG!"),
            Err(CodeError::Character)
        );
        assert_eq!(
            ActivationCode::parse("ABCD-EFGH-EFGU"),
            Err(CodeError::Character)
        );
        assert_eq!(
            ActivationCode::parse(&"A".repeat(40)),
            Err(CodeError::Length)
        );
        assert_ne!(ActivationCode::generate(), ActivationCode::generate());
        assert_eq!(format!("{code:?}"), "ActivationCode(…)");
    }
}
