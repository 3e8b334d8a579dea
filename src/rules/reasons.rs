//! The public reason categories: what a passenger or platform is told about why a licence is
//! not valid.
//!
//! An officer's reason or an agency's alert often names people, records and phone numbers; the
//! public needs only to know that a licence is suspended and, broadly, why. So every status
//! change carries one category key from this catalogue, shown in Chinese and English, and the
//! free text stays with officers and the agency concerned.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Most categories a catalogue may hold.
pub const MAX_REASON_CATEGORIES: usize = 32;
/// Longest category label, in characters.
const MAX_LABEL_CHARS: usize = 64;

/// A category's public labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonLabel {
    pub zh: String,
    pub en: String,
}

/// `[reasons]`: category key → labels. A policy without the table gets [`Reasons::standard`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Reasons(BTreeMap<String, ReasonLabel>);

impl Default for Reasons {
    fn default() -> Self {
        Reasons::standard()
    }
}

impl Reasons {
    /// The category every expiry carries.
    pub const EXPIRED: &'static str = "expired";

    /// The catalogue used when a policy declares none.
    pub fn standard() -> Self {
        let entries = [
            ("safety", "安全原因", "safety"),
            (
                "qualification",
                "资格条件不再具备",
                "qualification no longer met",
            ),
            ("administrative", "行政管理措施", "administrative measure"),
            ("holder_request", "持证人申请", "at the holder's request"),
            ("credit", "信用记录", "credit record"),
            (Self::EXPIRED, "有效期届满", "validity period ended"),
        ];
        Reasons(
            entries
                .into_iter()
                .map(|(key, zh, en)| {
                    let label = ReasonLabel {
                        zh: zh.into(),
                        en: en.into(),
                    };
                    (key.to_string(), label)
                })
                .collect(),
        )
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    pub fn label(&self, key: &str) -> Option<&ReasonLabel> {
        self.0.get(key)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.0.len() > MAX_REASON_CATEGORIES {
            out.push(format!(
                "reasons: at most {MAX_REASON_CATEGORIES} categories"
            ));
        }
        for (key, label) in &self.0 {
            let key_ok = !key.is_empty()
                && key.len() <= 32
                && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            if !key_ok {
                out.push(format!("reasons.{key}: keys are 1-32 of a-z and '_'"));
            }
            for (lang, text) in [("zh", &label.zh), ("en", &label.en)] {
                let chars = text.chars().count();
                if chars == 0 || chars > MAX_LABEL_CHARS {
                    out.push(format!(
                        "reasons.{key}.{lang}: 1-{MAX_LABEL_CHARS} characters"
                    ));
                }
            }
        }
        if !self.contains(Self::EXPIRED) {
            out.push(format!("reasons: must declare {:?}", Self::EXPIRED));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_catalogue_is_valid_and_bilingual() {
        let reasons = Reasons::standard();
        assert!(reasons.problems().is_empty());
        assert_eq!(
            reasons.label("safety").map(|l| l.zh.as_str()),
            Some("安全原因")
        );
        assert!(reasons.contains("holder_request"));
    }

    #[test]
    fn bad_keys_and_empty_labels_are_problems() {
        let reasons: Reasons = toml::from_str("[\"Bad Key\"]\nzh = \"\"\nen = \"x\"\n").unwrap();
        let problems = reasons.problems();
        assert_eq!(problems.len(), 3, "{problems:?}");
    }
}
