//! Validation of submitted records against the JSON Schemas in `schemas/`.
//!
//! The same schema files are published for applicants' software; the service compiles the
//! embedded copies once (for the service and `licreg import` alike) and reports every schema violation with the field it concerns.

use std::sync::OnceLock;

use serde_json::Value;

use crate::ids::LicenceKind;
use crate::model::FieldError;

const DRIVER: &str = include_str!("../schemas/driver.schema.json");
const VEHICLE: &str = include_str!("../schemas/vehicle.schema.json");
const PLATFORM: &str = include_str!("../schemas/platform.schema.json");

type Validators = [Option<jsonschema::Validator>; 3];

fn validators() -> &'static Validators {
    static VALIDATORS: OnceLock<Validators> = OnceLock::new();
    VALIDATORS.get_or_init(|| {
        [DRIVER, VEHICLE, PLATFORM].map(|text| {
            serde_json::from_str::<Value>(text)
                .ok()
                .and_then(|schema| jsonschema::validator_for(&schema).ok())
        })
    })
}

/// Longest schema message kept, in characters: the validator quotes the offending value.
pub const MAX_SCHEMA_MESSAGE_CHARS: usize = 160;

/// Every schema violation of `record` as a field error.
pub fn validate(kind: LicenceKind, record: &Value) -> Vec<FieldError> {
    let slot = match kind {
        LicenceKind::Driver => 0,
        LicenceKind::Vehicle => 1,
        LicenceKind::Platform => 2,
    };
    let Some(Some(validator)) = validators().get(slot) else {
        return vec![FieldError {
            field: String::new(),
            rule: "schema",
            message: "the schema for this kind is unavailable".into(),
        }];
    };
    validator
        .iter_errors(record)
        .map(|error| {
            let pointer = error.instance_path.to_string();
            let field = pointer.trim_start_matches('/').replace('/', ".");
            FieldError {
                field,
                rule: "schema",
                message: cut(&error.to_string()),
            }
        })
        .collect()
}

fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_SCHEMA_MESSAGE_CHARS) {
        None => text.to_string(),
        Some((at, _)) => format!("{}…", &text[..at]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_schemas_compile_and_name_fields() {
        assert!(validators().iter().all(Option::is_some));
        let mut record: Value =
            serde_json::from_str(include_str!("../schemas/examples/vehicle.json")).unwrap();
        assert!(validate(LicenceKind::Vehicle, &record).is_empty());
        record["seats"] = Value::from(40);
        let errors = validate(LicenceKind::Vehicle, &record);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "seats");
    }
}
