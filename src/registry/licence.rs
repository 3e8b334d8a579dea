//! The licence state machine, as a pure function.
//!
//! Every change to a licence's status goes through [`next`], in the ledger writer (so it is
//! decided in log order against the state at that sequence number) and in replay (so a restart
//! reaches exactly the state the live service had). Revoked and superseded are terminal;
//! reinstatement is only from suspended; a suspension of a revoked licence is refused, not
//! applied.

use serde::{Deserialize, Serialize};

/// What verifiers see of a licence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LicenceStatus {
    Valid,
    Suspended,
    Revoked,
    Expired,
    Superseded,
}

impl LicenceStatus {
    pub const ALL: [LicenceStatus; 5] = [
        LicenceStatus::Valid,
        LicenceStatus::Suspended,
        LicenceStatus::Revoked,
        LicenceStatus::Expired,
        LicenceStatus::Superseded,
    ];

    /// The name verifiers see, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            LicenceStatus::Valid => "valid",
            LicenceStatus::Suspended => "suspended",
            LicenceStatus::Revoked => "revoked",
            LicenceStatus::Expired => "expired",
            LicenceStatus::Superseded => "superseded",
        }
    }

    /// The one-byte code persisted in the view.
    pub fn code(self) -> u8 {
        match self {
            LicenceStatus::Valid => 0,
            LicenceStatus::Suspended => 1,
            LicenceStatus::Revoked => 2,
            LicenceStatus::Expired => 3,
            LicenceStatus::Superseded => 4,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// Whether the licence still holds its place (one valid licence per plate, VIN, holder).
    pub fn holds(self) -> bool {
        matches!(self, LicenceStatus::Valid | LicenceStatus::Suspended)
    }

    /// No event leaves a terminal state.
    pub fn is_terminal(self) -> bool {
        matches!(self, LicenceStatus::Revoked | LicenceStatus::Superseded)
    }
}

/// What can happen to an existing licence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenceEvent {
    Suspend,
    Reinstate,
    Revoke,
    /// Cancellation at the holder's request; verifiers see it as revoked.
    Cancel,
    Expire,
    /// A reissue replaces the credential of a valid licence.
    SupersedeByReissue,
    /// A renewal replaces a valid or expired licence.
    SupersedeByRenewal,
    /// A vehicle moves to another platform.
    Rebind,
}

impl LicenceEvent {
    pub const ALL: [LicenceEvent; 8] = [
        LicenceEvent::Suspend,
        LicenceEvent::Reinstate,
        LicenceEvent::Revoke,
        LicenceEvent::Cancel,
        LicenceEvent::Expire,
        LicenceEvent::SupersedeByReissue,
        LicenceEvent::SupersedeByRenewal,
        LicenceEvent::Rebind,
    ];

    /// The verb in refusals: "cannot suspend a licence that is revoked".
    pub fn verb(self) -> &'static str {
        match self {
            LicenceEvent::Suspend => "suspend",
            LicenceEvent::Reinstate => "reinstate",
            LicenceEvent::Revoke => "revoke",
            LicenceEvent::Cancel => "cancel",
            LicenceEvent::Expire => "expire",
            LicenceEvent::SupersedeByReissue => "reissue",
            LicenceEvent::SupersedeByRenewal => "renew",
            LicenceEvent::Rebind => "rebind",
        }
    }
}

/// Why a licence event was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot {} a licence that is {}", .event.verb(), .from.as_str())]
pub struct TransitionRefused {
    pub from: LicenceStatus,
    pub event: LicenceEvent,
}

/// The status after `event`, or why it cannot happen. `from` is the effective status at the
/// event's time (a valid licence past its end is expired even before the sweep logs it).
pub fn next(from: LicenceStatus, event: LicenceEvent) -> Result<LicenceStatus, TransitionRefused> {
    use LicenceEvent as E;
    use LicenceStatus as S;
    let to = match (from, event) {
        (S::Valid, E::Suspend) => S::Suspended,
        (S::Suspended, E::Reinstate) => S::Valid,
        (S::Valid | S::Suspended, E::Revoke | E::Cancel) => S::Revoked,
        (S::Valid | S::Suspended, E::Expire) => S::Expired,
        (S::Valid, E::SupersedeByReissue) => S::Superseded,
        (S::Valid | S::Expired, E::SupersedeByRenewal) => S::Superseded,
        (S::Valid, E::Rebind) => S::Valid,
        _ => return Err(TransitionRefused { from, event }),
    };
    Ok(to)
}

/// The status at `at` seconds: valid or suspended past the end of validity is expired.
pub fn effective(status: LicenceStatus, expires: i64, at: i64) -> LicenceStatus {
    if status.holds() && at > expires {
        LicenceStatus::Expired
    } else {
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LicenceEvent as E;
    use LicenceStatus as S;

    /// Every (state, event) pair and its outcome; `None` is a refusal.
    const TABLE: [(S, E, Option<S>); 40] = [
        (S::Valid, E::Suspend, Some(S::Suspended)),
        (S::Valid, E::Reinstate, None),
        (S::Valid, E::Revoke, Some(S::Revoked)),
        (S::Valid, E::Cancel, Some(S::Revoked)),
        (S::Valid, E::Expire, Some(S::Expired)),
        (S::Valid, E::SupersedeByReissue, Some(S::Superseded)),
        (S::Valid, E::SupersedeByRenewal, Some(S::Superseded)),
        (S::Valid, E::Rebind, Some(S::Valid)),
        (S::Suspended, E::Suspend, None),
        (S::Suspended, E::Reinstate, Some(S::Valid)),
        (S::Suspended, E::Revoke, Some(S::Revoked)),
        (S::Suspended, E::Cancel, Some(S::Revoked)),
        (S::Suspended, E::Expire, Some(S::Expired)),
        (S::Suspended, E::SupersedeByReissue, None),
        (S::Suspended, E::SupersedeByRenewal, None),
        (S::Suspended, E::Rebind, None),
        (S::Revoked, E::Suspend, None),
        (S::Revoked, E::Reinstate, None),
        (S::Revoked, E::Revoke, None),
        (S::Revoked, E::Cancel, None),
        (S::Revoked, E::Expire, None),
        (S::Revoked, E::SupersedeByReissue, None),
        (S::Revoked, E::SupersedeByRenewal, None),
        (S::Revoked, E::Rebind, None),
        (S::Expired, E::Suspend, None),
        (S::Expired, E::Reinstate, None),
        (S::Expired, E::Revoke, None),
        (S::Expired, E::Cancel, None),
        (S::Expired, E::Expire, None),
        (S::Expired, E::SupersedeByReissue, None),
        (S::Expired, E::SupersedeByRenewal, Some(S::Superseded)),
        (S::Expired, E::Rebind, None),
        (S::Superseded, E::Suspend, None),
        (S::Superseded, E::Reinstate, None),
        (S::Superseded, E::Revoke, None),
        (S::Superseded, E::Cancel, None),
        (S::Superseded, E::Expire, None),
        (S::Superseded, E::SupersedeByReissue, None),
        (S::Superseded, E::SupersedeByRenewal, None),
        (S::Superseded, E::Rebind, None),
    ];

    #[test]
    fn every_state_and_event_pair_is_in_the_table() {
        for from in S::ALL {
            for event in E::ALL {
                let row = TABLE
                    .iter()
                    .find(|(s, e, _)| *s == from && *e == event)
                    .unwrap_or_else(|| panic!("({from:?}, {event:?}) missing from the table"));
                assert_eq!(next(from, event).ok(), row.2, "({from:?}, {event:?})");
                if let Err(refused) = next(from, event) {
                    assert_eq!(refused, TransitionRefused { from, event });
                }
            }
        }
    }

    #[test]
    fn terminal_states_stay_terminal() {
        for from in S::ALL.into_iter().filter(|s| s.is_terminal()) {
            for event in E::ALL {
                assert!(next(from, event).is_err(), "{from:?} left by {event:?}");
            }
        }
    }

    #[test]
    fn refusals_name_the_action_and_the_state() {
        let refused = next(S::Revoked, E::Suspend).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "cannot suspend a licence that is revoked"
        );
    }

    #[test]
    fn codes_round_trip_and_expiry_is_effective() {
        for s in S::ALL {
            assert_eq!(S::from_code(s.code()), Some(s));
        }
        assert_eq!(effective(S::Valid, 100, 101), S::Expired);
        assert_eq!(effective(S::Suspended, 100, 100), S::Suspended);
        assert_eq!(effective(S::Revoked, 100, 101), S::Revoked);
    }
}
