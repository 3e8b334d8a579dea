//! The one form in which anyone outside the registry learns why a licence is not valid: a
//! category of the policy's `[reasons]` catalogue with its Chinese and English label.
//!
//! Officers' reasons and agencies' alerts name people, records, phone numbers and alert ids;
//! the public status, the passenger page, platforms' feed, verification and compliance answers
//! carry only this.

use serde::Serialize;

use crate::registry::{LicenceStatus, LicenceView};
use crate::rules::Reasons;

/// A public reason: the category key and its labels (fields in key order, as the `json!` maps
/// that carry it elsewhere write them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicReason {
    pub category: String,
    pub en: String,
    pub zh: String,
}

/// The public reason for `category`, if it is one of the catalogue's.
pub fn of_category(reasons: &Reasons, category: Option<&str>) -> Option<PublicReason> {
    let key = category?;
    let label = reasons.label(key)?;
    Some(PublicReason {
        category: key.to_string(),
        zh: label.zh.clone(),
        en: label.en.clone(),
    })
}

/// The public reason of `licence` in its effective `status`: none while valid; `expired` for a
/// licence past its end that the sweep has not logged yet.
pub fn of_licence(
    reasons: &Reasons,
    licence: &LicenceView,
    status: LicenceStatus,
) -> Option<PublicReason> {
    match status {
        LicenceStatus::Valid => None,
        LicenceStatus::Expired if licence.status != LicenceStatus::Expired => {
            of_category(reasons, Some(Reasons::EXPIRED))
        }
        _ => of_category(reasons, licence.category.as_deref()),
    }
}
