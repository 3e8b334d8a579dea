//! Tests of record parsing: every problem reported at once, with its field and rule.

use super::*;

fn example(kind: &str) -> Value {
    let path = format!(
        "{}/schemas/examples/{kind}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn schema_examples_parse() {
    for kind in [
        LicenceKind::Driver,
        LicenceKind::Vehicle,
        LicenceKind::Platform,
    ] {
        let record = LicenceRecord::parse(kind, &example(kind.as_str())).unwrap();
        assert_eq!(record.kind(), kind);
    }
}

#[test]
fn public_fields_refuse_citizen_ids_and_phone_numbers() {
    let mut vehicle = example("vehicle");
    let obj = vehicle.as_object_mut().unwrap();
    obj.insert("make".into(), "比亚迪 联系13800138000".into());
    obj.insert("colour".into(), "白 35020319900101123X".into());
    let errors = LicenceRecord::parse(LicenceKind::Vehicle, &vehicle)
        .unwrap_err()
        .0;
    let found: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.rule)).collect();
    assert_eq!(
        found,
        [
            ("make", "contains_phone_number"),
            ("colour", "contains_citizen_id")
        ]
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let mut driver = example("driver");
    let obj = driver.as_object_mut().unwrap();
    obj.insert("citizen_id".into(), "350203199001011235".into());
    obj.insert("licence_class".into(), "Z9".into());
    obj.remove("holder_name");
    obj.insert("nickname".into(), "x".into());
    obj.insert("valid_until".into(), "2001-02-30".into());
    let errors = LicenceRecord::parse(LicenceKind::Driver, &driver)
        .unwrap_err()
        .0;
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    for wanted in [
        "citizen_id",
        "licence_class",
        "holder_name",
        "nickname",
        "valid_until",
    ] {
        assert!(fields.contains(&wanted), "{wanted} missing from {errors:?}");
    }
    let rules: Vec<&str> = errors.iter().map(|e| e.rule).collect();
    assert!(rules.contains(&"required") && rules.contains(&"unknown_field"));
}

#[test]
fn nested_fields_are_named_with_their_path() {
    let mut vehicle = example("vehicle");
    vehicle["owner"]["id"] = "not-an-id".into();
    let errors = LicenceRecord::parse(LicenceKind::Vehicle, &vehicle)
        .unwrap_err()
        .0;
    assert_eq!(errors[0].field, "owner.id");
}

#[test]
fn records_serialise_back_to_their_schema_shape() {
    for kind in [
        LicenceKind::Driver,
        LicenceKind::Vehicle,
        LicenceKind::Platform,
    ] {
        let example = example(kind.as_str());
        let record = LicenceRecord::parse(kind, &example).unwrap();
        assert_eq!(record.to_json(), example, "{kind}");
    }
}

#[test]
fn names_are_masked_keeping_first_and_last() {
    assert_eq!(mask_name("张三"), "张*");
    assert_eq!(mask_name("王小明"), "王*明");
    assert_eq!(mask_name("欧阳娜娜"), "欧**娜");
    assert_eq!(mask_name("李"), "李");
}
