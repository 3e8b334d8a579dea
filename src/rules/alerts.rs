//! Agency mandates: which alerts each agency may raise, against whom, and how far each may act.
//!
//! An alert changes licences without an officer in the loop, so its authority has to be as
//! narrow as the agency's legal mandate: the market regulator has no say over a driver's drink
//! driving, and only public security may cause a revocation for drug use. The policy declares
//! every alert type once (the licence kind it concerns, the most it may do, and the public
//! reason category its status changes carry) and, per agency, the types it may raise with the
//! highest action each may cause. Everything else is refused before anything is written. Pure:
//! no I/O, so the mandate table is tested as a table.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::facts::AgencyName;
use crate::ids::LicenceKind;

/// Most alert types one policy may declare.
pub const MAX_ALERT_TYPES: usize = 64;

/// What an agency alert does to the licences it concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertAction {
    /// Only a notice in the officers' queue.
    Notice,
    Suspend,
    Revoke,
}

crate::text_enum::serde_as_text!(AlertAction, AlertAction::ALL);

impl AlertAction {
    pub const ALL: [AlertAction; 3] = [
        AlertAction::Suspend,
        AlertAction::Revoke,
        AlertAction::Notice,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertAction::Suspend => "suspend",
            AlertAction::Revoke => "revoke",
            AlertAction::Notice => "notice",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        AlertAction::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

impl std::fmt::Display for AlertAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an alert names its subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectField {
    CitizenId,
    Plate,
    CreditCode,
}

impl SubjectField {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectField::CitizenId => "citizen_id",
            SubjectField::Plate => "plate",
            SubjectField::CreditCode => "credit_code",
        }
    }

    /// The one way an alert about `kind` names its subject: a driver by citizen id, a vehicle
    /// by plate, a platform by credit code.
    pub fn for_kind(kind: LicenceKind) -> Self {
        match kind {
            LicenceKind::Driver => SubjectField::CitizenId,
            LicenceKind::Vehicle => SubjectField::Plate,
            LicenceKind::Platform => SubjectField::CreditCode,
        }
    }
}

/// One alert type as the policy declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertType {
    /// The licences the alert acts on: a drink-driving record concerns the driver certificate,
    /// not the transport certificates of cars the driver owns.
    pub concerns: LicenceKind,
    /// The most the alert does, from an agency whose mandate allows it.
    pub action: AlertAction,
    /// The public reason category of the status changes it causes (see `[reasons]`).
    pub category: String,
}

/// `[alerts]`: the alert types and each agency's mandate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertPolicy {
    #[serde(default)]
    pub types: BTreeMap<String, AlertType>,
    /// Per agency: the types it may raise, each with the highest action it may cause.
    #[serde(default)]
    pub mandates: BTreeMap<AgencyName, BTreeMap<String, AlertAction>>,
}

/// Why an alert is outside the sending agency's mandate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MandateRule {
    /// The policy declares no such alert type.
    UnknownType,
    /// The agency may not raise this type.
    TypeNotMandated,
    /// The type concerns another kind of subject (a plate for a driver's record).
    WrongSubject,
}

crate::text_enum::serde_as_text!(MandateRule, MandateRule::ALL);

impl MandateRule {
    pub const ALL: [MandateRule; 3] = [
        MandateRule::UnknownType,
        MandateRule::TypeNotMandated,
        MandateRule::WrongSubject,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MandateRule::UnknownType => "unknown_type",
            MandateRule::TypeNotMandated => "type_not_mandated",
            MandateRule::WrongSubject => "wrong_subject",
        }
    }
}

/// An alert refused for its agency's mandate, with the sentence the agency is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MandateRefusal {
    pub rule: MandateRule,
    pub message: String,
}

/// What a mandated alert may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mandated {
    pub concerns: LicenceKind,
    /// The type's action, capped by the agency's mandate.
    pub action: AlertAction,
    pub category: String,
}

impl AlertPolicy {
    /// Decides whether `agency` may raise `alert_type` against a subject named by `subject`,
    /// and what it may do.
    pub fn mandate(
        &self,
        agency: &str,
        alert_type: &str,
        subject: SubjectField,
    ) -> Result<Mandated, MandateRefusal> {
        let refuse = |rule, message: String| MandateRefusal { rule, message };
        let Some(declared) = self.types.get(alert_type) else {
            return Err(refuse(
                MandateRule::UnknownType,
                format!("the policy declares no alert type {alert_type:?}"),
            ));
        };
        let cap = AgencyName::parse(agency)
            .and_then(|a| self.mandates.get(&a))
            .and_then(|types| types.get(alert_type));
        let Some(cap) = cap else {
            return Err(refuse(
                MandateRule::TypeNotMandated,
                format!("agency {agency} may not raise {alert_type} alerts"),
            ));
        };
        let expected = SubjectField::for_kind(declared.concerns);
        if subject != expected {
            return Err(refuse(
                MandateRule::WrongSubject,
                format!(
                    "{alert_type} alerts concern {} licences and name the subject by {}",
                    declared.concerns.as_str(),
                    expected.as_str()
                ),
            ));
        }
        Ok(Mandated {
            concerns: declared.concerns,
            action: declared.action.min(*cap),
            category: declared.category.clone(),
        })
    }

    /// Every problem with the table: unknown types in a mandate, categories outside the
    /// catalogue, too many types.
    pub fn problems(&self, categories: &dyn Fn(&str) -> bool) -> Vec<String> {
        let mut out = Vec::new();
        if self.types.len() > MAX_ALERT_TYPES {
            out.push(format!("alerts.types: at most {MAX_ALERT_TYPES} types"));
        }
        for (name, declared) in &self.types {
            if !categories(&declared.category) {
                out.push(format!(
                    "alerts.types.{name}.category: {:?} is not in [reasons]",
                    declared.category
                ));
            }
        }
        for (agency, types) in &self.mandates {
            for name in types.keys() {
                if !self.types.contains_key(name) {
                    out.push(format!(
                        "alerts.mandates.{}.{name}: not a declared alert type",
                        agency.as_str()
                    ));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> AlertPolicy {
        toml::from_str(
            r#"
            [types]
            drug_use = { concerns = "driver", action = "revoke", category = "safety" }
            drink_driving = { concerns = "driver", action = "suspend", category = "safety" }
            vehicle_scrapped = { concerns = "vehicle", action = "revoke", category = "qualification" }
            [mandates]
            public_security = { drug_use = "revoke", drink_driving = "suspend" }
            traffic_police = { drug_use = "notice", drink_driving = "suspend" }
            vehicle_registration = { vehicle_scrapped = "revoke" }
            "#,
        )
        .unwrap()
    }

    #[test]
    fn the_mandate_table_decides_every_agency_type_and_subject() {
        use AlertAction::*;
        use SubjectField::*;
        let p = policy();
        let table: &[(&str, &str, SubjectField, Result<AlertAction, MandateRule>)] = &[
            ("public_security", "drug_use", CitizenId, Ok(Revoke)),
            ("public_security", "drink_driving", CitizenId, Ok(Suspend)),
            ("traffic_police", "drug_use", CitizenId, Ok(Notice)),
            ("traffic_police", "drink_driving", CitizenId, Ok(Suspend)),
            (
                "vehicle_registration",
                "vehicle_scrapped",
                Plate,
                Ok(Revoke),
            ),
            (
                "market_regulator",
                "drink_driving",
                CitizenId,
                Err(MandateRule::TypeNotMandated),
            ),
            (
                "exam_centre",
                "drug_use",
                CreditCode,
                Err(MandateRule::TypeNotMandated),
            ),
            (
                "public_security",
                "vehicle_scrapped",
                Plate,
                Err(MandateRule::TypeNotMandated),
            ),
            (
                "public_security",
                "drug_use",
                Plate,
                Err(MandateRule::WrongSubject),
            ),
            (
                "public_security",
                "drug_use",
                CreditCode,
                Err(MandateRule::WrongSubject),
            ),
            (
                "vehicle_registration",
                "vehicle_scrapped",
                CitizenId,
                Err(MandateRule::WrongSubject),
            ),
            (
                "public_security",
                "licence_revoked",
                CitizenId,
                Err(MandateRule::UnknownType),
            ),
            (
                "no_such_agency",
                "drug_use",
                CitizenId,
                Err(MandateRule::TypeNotMandated),
            ),
        ];
        for (agency, alert_type, subject, expected) in table {
            let got = p
                .mandate(agency, alert_type, *subject)
                .map(|m| m.action)
                .map_err(|r| r.rule);
            assert_eq!(&got, expected, "{agency} {alert_type} {subject:?}");
        }
    }

    #[test]
    fn a_mandate_naming_an_undeclared_type_or_category_is_a_problem() {
        let mut p = policy();
        p.mandates
            .entry(AgencyName::ExamCentre)
            .or_default()
            .insert("cheating".into(), AlertAction::Notice);
        let problems = p.problems(&|c| c == "safety");
        assert!(problems.iter().any(|m| m.contains("exam_centre.cheating")));
        assert!(problems
            .iter()
            .any(|m| m.contains("vehicle_scrapped.category")));
        assert_eq!(problems.len(), 2, "{problems:?}");
    }
}
