//! The JSON Schemas in schemas/ and the Rust parser agree: the examples pass both, and every
//! field the schema knows is one the parser requires.

use licreg::ids::LicenceKind;
use licreg::model::LicenceRecord;
use serde_json::Value;

const KINDS: [LicenceKind; 3] = [
    LicenceKind::Driver,
    LicenceKind::Vehicle,
    LicenceKind::Platform,
];

fn read(path: &str) -> Value {
    let full = format!("{}/schemas/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&full).expect(&full)).expect("json")
}

#[test]
fn examples_pass_the_schemas_and_the_parser() {
    for kind in KINDS {
        let schema = read(&format!("{kind}.schema.json"));
        let validator = jsonschema::validator_for(&schema).expect("schema compiles");
        let example = read(&format!("examples/{kind}.json"));
        let errors: Vec<String> = validator
            .iter_errors(&example)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{kind}: {errors:?}");
        LicenceRecord::parse(kind, &example).expect("parser accepts the example");
    }
}

#[test]
fn schema_fields_and_parser_fields_are_the_same() {
    for kind in KINDS {
        let schema = read(&format!("{kind}.schema.json"));
        let example = read(&format!("examples/{kind}.json"));
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let properties = schema["properties"].as_object().unwrap();
        // Every field is required but the driver's portrait, which an application may carry.
        let optional: Vec<&str> = properties
            .keys()
            .map(String::as_str)
            .filter(|f| !required.contains(f))
            .collect();
        let expected: &[&str] = if kind == LicenceKind::Driver {
            &["portrait_jpeg", "portrait_sha256"]
        } else {
            &[]
        };
        assert_eq!(optional, expected, "{kind}: optional fields");
        for field in required.iter().map(|f| f.to_string()) {
            let field = &field;
            let mut missing = example.clone();
            missing.as_object_mut().unwrap().remove(field);
            let errors = LicenceRecord::parse(kind, &missing).unwrap_err().0;
            assert!(
                errors
                    .iter()
                    .any(|e| &e.field == field && e.rule == "required"),
                "{kind}: parser does not require {field}: {errors:?}"
            );
        }
        let mut extra = example.clone();
        extra
            .as_object_mut()
            .unwrap()
            .insert("surprise".into(), Value::from(1));
        let validator = jsonschema::validator_for(&schema).unwrap();
        assert!(
            !validator.is_valid(&extra),
            "{kind}: schema allows unknown fields"
        );
        assert!(
            LicenceRecord::parse(kind, &extra).is_err(),
            "{kind}: parser allows unknown fields"
        );
    }
}

#[test]
fn malformed_identifiers_fail_the_schema_patterns() {
    let schema = read("driver.schema.json");
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut example = read("examples/driver.json");
    example["citizen_id"] = Value::from("12345");
    example["licence_class"] = Value::from("Z");
    assert_eq!(validator.iter_errors(&example).count(), 2);
}
