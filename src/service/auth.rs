//! Clients, roles and bearer tokens.
//!
//! Each client holds one token. The registry keeps only SHA-256 hashes of tokens and compares a
//! presented token's hash against every stored hash in constant time, so neither a stolen
//! configuration nor response timing gives a token away. Every endpoint names the roles it
//! accepts through [`Caller::require`].

use std::fmt;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::AppState;

/// Longest Authorization header value looked at.
pub const MAX_TOKEN_BYTES: usize = 256;
/// Bytes of randomness in a generated token.
const TOKEN_RANDOM_BYTES: usize = 32;

/// What a client may do.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Role {
    /// The government app that verified the applicant and submits for them.
    Portal,
    /// A licensing officer on a shared officer token.
    Officer,
    /// A licensing officer with their own token (`officer:<id>`), so the ledger names who acted.
    NamedOfficer(String),
    /// A ride-hailing platform, by its credit code or short id.
    Platform(String),
    /// An agency answering checks and pushing alerts, by agency name.
    Agency(String),
}

impl Role {
    /// Parses `portal`, `officer`, `officer:<id>`, `platform:<id>` or `agency:<name>`.
    pub fn parse(text: &str) -> Option<Role> {
        let valid_id = |id: &str| {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        match text.split_once(':') {
            None if text == "portal" => Some(Role::Portal),
            None if text == "officer" => Some(Role::Officer),
            Some(("officer", id)) if valid_id(id) => Some(Role::NamedOfficer(id.to_string())),
            Some(("platform", id)) if valid_id(id) => Some(Role::Platform(id.to_string())),
            Some(("agency", name)) if valid_id(name) => Some(Role::Agency(name.to_string())),
            _ => None,
        }
    }
}

impl Role {
    /// Whether this is an officer, named or not.
    pub fn is_officer(&self) -> bool {
        matches!(self, Role::Officer | Role::NamedOfficer(_))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Portal => f.write_str("portal"),
            Role::Officer => f.write_str("officer"),
            Role::NamedOfficer(id) => write!(f, "officer:{id}"),
            Role::Platform(id) => write!(f, "platform:{id}"),
            Role::Agency(name) => write!(f, "agency:{name}"),
        }
    }
}

/// The SHA-256 of a token, which is all the registry stores.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    pub fn of(token: &str) -> Self {
        TokenHash(Sha256::digest(token.as_bytes()).into())
    }

    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(TokenHash(out))
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

/// A new random token.
pub fn generate_token() -> String {
    let mut bytes = [0u8; TOKEN_RANDOM_BYTES];
    OsRng.fill_bytes(&mut bytes);
    format!("lr_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The registered clients.
#[derive(Debug, Clone, Default)]
pub struct Clients {
    entries: Vec<(Role, TokenHash)>,
}

impl Clients {
    pub fn add(&mut self, role: Role, hash: TokenHash) {
        self.entries.push((role, hash));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The role whose token this is. Every stored hash is compared, in constant time each.
    pub fn authenticate(&self, token: &str) -> Option<Role> {
        let presented = TokenHash::of(token);
        let mut found = None;
        for (role, hash) in &self.entries {
            if bool::from(hash.0.ct_eq(&presented.0)) {
                found = Some(role.clone());
            }
        }
        found
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub role: Role,
}

impl Caller {
    /// Allows the call only for the listed kinds of role.
    pub fn require(&self, allowed: &[RoleKind]) -> Result<(), ApiError> {
        let kind = match self.role {
            Role::Portal => RoleKind::Portal,
            Role::Officer | Role::NamedOfficer(_) => RoleKind::Officer,
            Role::Platform(_) => RoleKind::Platform,
            Role::Agency(_) => RoleKind::Agency,
        };
        if allowed.contains(&kind) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(RoleKind::describe(allowed)))
        }
    }

    /// The name the ledger records as the actor.
    pub fn actor(&self) -> String {
        self.role.to_string()
    }
}

/// Role kinds as endpoints declare them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleKind {
    Portal,
    Officer,
    Platform,
    Agency,
}

impl RoleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RoleKind::Portal => "portal",
            RoleKind::Officer => "officer",
            RoleKind::Platform => "platform",
            RoleKind::Agency => "agency",
        }
    }

    fn describe(allowed: &[RoleKind]) -> &'static str {
        match allowed {
            [RoleKind::Portal] => "portal",
            [RoleKind::Officer] => "officer",
            [RoleKind::Platform] => "platform",
            [RoleKind::Agency] => "agency",
            [RoleKind::Officer, RoleKind::Agency] | [RoleKind::Agency, RoleKind::Officer] => {
                "officer, agency"
            }
            _ => "the listed roles",
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Already authenticated by the route table's role check.
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let role = bearer_role(state, &parts.headers).ok_or(ApiError::Unauthenticated)?;
        Ok(Caller { role })
    }
}

/// The role of the request's bearer token, if it carries one the registry issued.
pub fn bearer_role(state: &AppState, headers: &axum::http::HeaderMap) -> Option<Role> {
    let header = headers.get(axum::http::header::AUTHORIZATION)?;
    if header.len() > MAX_TOKEN_BYTES {
        return None;
    }
    let token = header.to_str().ok()?.strip_prefix("Bearer ")?.trim();
    state.clients.authenticate(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_authenticate_by_hash_only() {
        let token = generate_token();
        let mut clients = Clients::default();
        clients.add(Role::Officer, TokenHash::of(&token));
        clients.add(Role::Portal, TokenHash::of("other"));
        assert_eq!(clients.authenticate(&token), Some(Role::Officer));
        assert_eq!(clients.authenticate("other"), Some(Role::Portal));
        assert_eq!(clients.authenticate("guess"), None);
        let hex = TokenHash::of(&token).to_hex();
        assert_eq!(TokenHash::from_hex(&hex), Some(TokenHash::of(&token)));
        assert!(!format!("{:?}", TokenHash::of(&token)).contains(&hex[..8]));
    }

    #[test]
    fn roles_parse_and_print() {
        for text in [
            "portal",
            "officer",
            "officer:zhang_wei",
            "platform:didi",
            "agency:public_security",
        ] {
            assert_eq!(Role::parse(text).unwrap().to_string(), text);
        }
        for bad in [
            "",
            "admin",
            "platform:",
            "agency:bad name",
            "portal:x",
            "officer:",
        ] {
            assert_eq!(Role::parse(bad), None, "{bad}");
        }
    }
}
