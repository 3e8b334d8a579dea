//! The licensing authorities by area code, so the public sees who issued a licence (厦门市交通运输局)
//! rather than the `iss` claim's GB/T 2260 code.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::reasons::ReasonLabel;

/// Most authorities one policy may name.
pub const MAX_AUTHORITIES: usize = 512;

/// `[authorities]`: area code → the authority's name in Chinese and English.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Authorities(BTreeMap<String, ReasonLabel>);

impl Authorities {
    pub fn name(&self, area_code: &str) -> Option<&ReasonLabel> {
        self.0.get(area_code)
    }

    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.0.len() > MAX_AUTHORITIES {
            out.push(format!("authorities: at most {MAX_AUTHORITIES}"));
        }
        for (code, label) in &self.0 {
            if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
                out.push(format!("authorities.{code}: keys are six-digit area codes"));
            }
            if label.zh.trim().is_empty() || label.en.trim().is_empty() {
                out.push(format!("authorities.{code}: zh and en names are required"));
            }
        }
        out
    }
}
