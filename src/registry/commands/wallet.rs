//! Wallet commands: issue an activation code, bind a phone's key with it, and rebind (a lost
//! phone). The writer checks each again in log order (`registry::wallet`).

use super::{entry, CommandError, Registry};
use crate::credential::{self, Claims, DeviceKey};
use crate::ledger::EventType;
use crate::registry::bodies::{licence_subject, ActivationBody, BindingBody, UnbindingBody};
use crate::registry::wallet::{ActivationCode, ACTIVATION_TTL_SECONDS};
use crate::registry::Refusal;

/// Longest reason for a rebind, in characters.
pub const MAX_REBIND_REASON_CHARS: usize = 200;

/// A one-time activation code, to be handed to the holder. Shown once: the registry keeps only
/// its hash.
#[derive(Debug, Clone)]
pub struct Activation {
    pub number: String,
    pub code: ActivationCode,
    /// Unix seconds after which the code no longer binds.
    pub expires: i64,
    pub seq: u64,
}

/// A phone bound to a licence, and the holder-bound credential it keeps.
#[derive(Debug, Clone)]
pub struct Bound {
    pub number: String,
    pub short_serial: String,
    pub credential: Vec<u8>,
    /// The device key's thumbprint, as the live status names the bound device.
    pub device: String,
    pub seq: u64,
}

impl Registry {
    /// A new activation code for a valid driver licence (on issuance, renewal, reissue, or when
    /// the holder asks again). Earlier unused codes stay usable until they expire.
    pub async fn wallet_activation(
        &self,
        actor: &str,
        number: &str,
    ) -> Result<Activation, CommandError> {
        let licence = self.existing(number)?;
        self.activation_entries(actor, &licence.number, Vec::new())
            .await
    }

    /// A lost or replaced phone: the binding (if any) is revoked and a new activation code made,
    /// in one append.
    pub async fn rebind_wallet(
        &self,
        actor: &str,
        number: &str,
        reason: &str,
    ) -> Result<Activation, CommandError> {
        super::check_text("reason", reason, MAX_REBIND_REASON_CHARS)?;
        let licence = self.existing(number)?;
        let mut first = Vec::new();
        if self.view.binding(&licence)?.is_some() {
            let body = UnbindingBody {
                number: licence.number.clone(),
                reason: reason.to_string(),
            };
            first.push(entry(
                EventType::WalletUnbinding,
                actor,
                vec![licence_subject(&licence.number)],
                &body,
            )?);
        }
        self.activation_entries(actor, &licence.number, first).await
    }

    pub(super) async fn activation_entries(
        &self,
        actor: &str,
        number: &str,
        mut entries: Vec<crate::ledger::NewEntry>,
    ) -> Result<Activation, CommandError> {
        let code = ActivationCode::generate();
        let expires = self.clock.now_unix().saturating_add(ACTIVATION_TTL_SECONDS);
        let body = ActivationBody {
            number: number.to_string(),
            code_sha256: serde_bytes::ByteBuf::from(code.sha256().to_vec()),
            expires,
        };
        entries.push(entry(
            EventType::WalletActivation,
            actor,
            vec![licence_subject(number)],
            &body,
        )?);
        let appended = self.append(entries).await?;
        Ok(Activation {
            number: number.to_string(),
            code,
            expires,
            seq: appended.last().map_or(0, |a| a.seq.0),
        })
    }

    /// Binds a phone's Ed25519 key to the licence an activation code was made for, and signs
    /// the holder-bound credential. The code is used up in the same entry.
    pub async fn bind_wallet(
        &self,
        code_text: &str,
        device_key: &[u8],
    ) -> Result<Bound, CommandError> {
        let code = ActivationCode::parse(code_text)
            .map_err(|e| CommandError::invalid("code", "activation_code", e.to_string()))?;
        let device = DeviceKey::from_bytes(device_key).map_err(|e| {
            CommandError::invalid("device_key", "ed25519_public_key", e.to_string())
        })?;
        let hash = code.sha256();
        let activation = self
            .view
            .activation(&hash)?
            .ok_or(Refusal::ActivationUnknown)?;
        let licence = self.existing(&activation.number)?;
        let issued = self.view.issued(&licence)?;
        let sign1 = crate::cose::decode(&issued.credential).map_err(CommandError::storage)?;
        let mut claims = Claims::decode(&sign1.payload).map_err(CommandError::storage)?;
        claims.device_key = Some(device);
        claims.issued_at = self.clock.now_unix();
        // No status-list index: a holder-bound credential is accepted only with its live status
        // (which also names the bound phone), so the index would add nothing but bytes, and the
        // dynamic code must fit QR version 12-M (docs/qr-payload.md).
        claims.status_index = None;
        let credential = credential::issue(&*self.keys.signer()?, &claims);
        let body = BindingBody {
            number: licence.number.clone(),
            code_sha256: serde_bytes::ByteBuf::from(hash.to_vec()),
            device_key: serde_bytes::ByteBuf::from(device.as_bytes().to_vec()),
            credential: serde_bytes::ByteBuf::from(credential.clone()),
        };
        // The holder binds; the code, not a token, is the authority, so the actor says so.
        let logged = entry(
            EventType::WalletBinding,
            "holder:activation",
            vec![licence_subject(&licence.number)],
            &body,
        )?;
        let appended = self.append(vec![logged]).await?;
        Ok(Bound {
            number: licence.number,
            short_serial: licence.short_serial,
            credential,
            device: device.thumbprint(),
            seq: appended.first().map_or(0, |a| a.seq.0),
        })
    }
}
