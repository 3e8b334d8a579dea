//! The three licence kinds and the fields a real certificate carries.
//!
//! Records are parsed from JSON (the shapes in `schemas/`) into types that cannot hold an invalid
//! value. Parsing never stops at the first problem: it returns every field that is wrong, with the
//! rule it broke, because the applicant must hear every reason at once.

use serde::Serialize;
use serde_json::{Map, Value};
use time::Date;

use crate::ids::{CitizenId, CreditCode, IdError, LicenceKind, Plate, Vin};

/// Longest name, make, model or authority text, in characters.
pub const MAX_TEXT_CHARS: usize = 64;
/// Most areas a platform permit may list.
pub const MAX_AREAS: usize = 64;
/// Largest JSON record accepted, in bytes.
pub const MAX_RECORD_BYTES: usize = 16 * 1024;

time::serde::format_description!(iso_date, Date, "[year]-[month]-[day]");

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub rule: &'static str,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({})", self.field, self.message, self.rule)
    }
}

/// Every problem found in a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} problem(s): {}", .0.len(), .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
pub struct RecordErrors(pub Vec<FieldError>);

/// A six-digit administrative division code (GB/T 2260), e.g. 350200 for Xiamen.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct AreaCode(String);

impl AreaCode {
    pub fn parse(text: &str) -> Option<Self> {
        let ok =
            text.len() == 6 && text.bytes().all(|b| b.is_ascii_digit()) && !text.starts_with('0');
        ok.then(|| AreaCode(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The authority that issues a licence: its name and unified social credit code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Authority {
    pub name: String,
    pub credit_code: CreditCode,
}

/// Driving licence classes under which ride-hailing is allowed (GA/T 16.10 classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DrivingClass {
    A1,
    A2,
    A3,
    B1,
    B2,
    C1,
    C2,
}

impl DrivingClass {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "A1" => Self::A1,
            "A2" => Self::A2,
            "A3" => Self::A3,
            "B1" => Self::B1,
            "B2" => Self::B2,
            "C1" => Self::C1,
            "C2" => Self::C2,
            _ => return None,
        })
    }
}

/// How a vehicle is powered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Powertrain {
    Petrol,
    Diesel,
    Hybrid,
    PlugInHybrid,
    BatteryElectric,
    FuelCell,
}

impl Powertrain {
    pub const NAMES: [&'static str; 6] = [
        "petrol",
        "diesel",
        "hybrid",
        "plug_in_hybrid",
        "battery_electric",
        "fuel_cell",
    ];

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "petrol" => Self::Petrol,
            "diesel" => Self::Diesel,
            "hybrid" => Self::Hybrid,
            "plug_in_hybrid" => Self::PlugInHybrid,
            "battery_electric" => Self::BatteryElectric,
            "fuel_cell" => Self::FuelCell,
            _ => return None,
        })
    }
}

/// The owner of a vehicle: a person (citizen ID) or an organisation (credit code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum OwnerId {
    Person(CitizenId),
    Organisation(CreditCode),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Owner {
    pub name: String,
    pub id: OwnerId,
}

/// The period a licence is valid, inclusive of both days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Validity {
    #[serde(with = "iso_date")]
    pub valid_from: Date,
    #[serde(with = "iso_date")]
    pub valid_until: Date,
}

/// 网络预约出租汽车驾驶员证.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriverLicence {
    pub holder_name: String,
    pub citizen_id: CitizenId,
    pub licence_class: DrivingClass,
    #[serde(with = "iso_date")]
    pub first_licensed: Date,
    pub issuing_authority: Authority,
    pub area_code: AreaCode,
    #[serde(flatten)]
    pub validity: Validity,
    /// SHA-256 (lowercase hex) of the holder's portrait, kept beside the ledger: the image
    /// itself is never logged (an application's `portrait_jpeg` is replaced by this).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub portrait_sha256: Option<String>,
}

/// 网络预约出租汽车运输证.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VehicleLicence {
    pub plate: Plate,
    pub vin: Vin,
    pub make: String,
    pub model: String,
    pub colour: String,
    pub seats: u8,
    pub powertrain: Powertrain,
    pub owner: Owner,
    pub platform_credit_code: CreditCode,
    #[serde(with = "iso_date")]
    pub registration_date: Date,
    pub issuing_authority: Authority,
    pub area_code: AreaCode,
    #[serde(flatten)]
    pub validity: Validity,
}

/// 网络预约出租汽车经营许可证.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlatformLicence {
    pub company_name: String,
    pub credit_code: CreditCode,
    pub area_of_operation: Vec<AreaCode>,
    pub issuing_authority: Authority,
    pub area_code: AreaCode,
    #[serde(flatten)]
    pub validity: Validity,
}

/// A licence record of any kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LicenceRecord {
    Driver(DriverLicence),
    Vehicle(VehicleLicence),
    Platform(PlatformLicence),
}

impl LicenceRecord {
    /// Parses a record of `kind` from JSON, returning every problem at once.
    pub fn parse(kind: LicenceKind, json: &Value) -> Result<Self, RecordErrors> {
        let Some(obj) = json.as_object() else {
            return Err(RecordErrors(vec![FieldError {
                field: String::new(),
                rule: "type",
                message: "the record must be a JSON object".into(),
            }]));
        };
        let mut reader = Reader::new(obj);
        let record = match kind {
            LicenceKind::Driver => parse_driver(&mut reader).map(LicenceRecord::Driver),
            LicenceKind::Vehicle => parse_vehicle(&mut reader).map(LicenceRecord::Vehicle),
            LicenceKind::Platform => parse_platform(&mut reader).map(LicenceRecord::Platform),
        };
        let validity = record.as_ref().map(|r| *r.validity());
        if let Some(v) = validity {
            if v.valid_until < v.valid_from {
                reader.error("valid_until", "order", "must not be before valid_from");
            }
        }
        match (record, reader.errors.is_empty()) {
            (Some(record), true) => Ok(record),
            _ => Err(RecordErrors(reader.errors)),
        }
    }

    /// Parses JSON text, with the size limit checked first.
    pub fn parse_json(kind: LicenceKind, text: &[u8]) -> Result<Self, RecordErrors> {
        let one = |rule, message: String| {
            RecordErrors(vec![FieldError {
                field: String::new(),
                rule,
                message,
            }])
        };
        if text.len() > MAX_RECORD_BYTES {
            return Err(one(
                "size",
                format!("over the {MAX_RECORD_BYTES}-byte limit"),
            ));
        }
        let value: Value = serde_json::from_slice(text).map_err(|e| one("json", e.to_string()))?;
        Self::parse(kind, &value)
    }

    /// The record as JSON in the shape of its schema (without the `kind` tag).
    pub fn to_json(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(obj) = value.as_object_mut() {
            obj.remove("kind");
        }
        value
    }

    pub fn kind(&self) -> LicenceKind {
        match self {
            LicenceRecord::Driver(_) => LicenceKind::Driver,
            LicenceRecord::Vehicle(_) => LicenceKind::Vehicle,
            LicenceRecord::Platform(_) => LicenceKind::Platform,
        }
    }

    pub fn validity(&self) -> &Validity {
        match self {
            LicenceRecord::Driver(d) => &d.validity,
            LicenceRecord::Vehicle(v) => &v.validity,
            LicenceRecord::Platform(p) => &p.validity,
        }
    }

    pub fn issuing_authority(&self) -> &Authority {
        match self {
            LicenceRecord::Driver(d) => &d.issuing_authority,
            LicenceRecord::Vehicle(v) => &v.issuing_authority,
            LicenceRecord::Platform(p) => &p.issuing_authority,
        }
    }

    pub fn area_code(&self) -> &AreaCode {
        match self {
            LicenceRecord::Driver(d) => &d.area_code,
            LicenceRecord::Vehicle(v) => &v.area_code,
            LicenceRecord::Platform(p) => &p.area_code,
        }
    }

    /// The holder's identifier: citizen ID for a driver, owner ID for a vehicle, credit code for
    /// a platform. It keys the holder index.
    pub fn holder_id(&self) -> String {
        match self {
            LicenceRecord::Driver(d) => d.citizen_id.as_str().to_string(),
            LicenceRecord::Vehicle(v) => match &v.owner.id {
                OwnerId::Person(id) => id.as_str().to_string(),
                OwnerId::Organisation(code) => code.as_str().to_string(),
            },
            LicenceRecord::Platform(p) => p.credit_code.as_str().to_string(),
        }
    }

    pub fn plate(&self) -> Option<&Plate> {
        match self {
            LicenceRecord::Vehicle(v) => Some(&v.plate),
            _ => None,
        }
    }
}

/// A name with all but its first and last characters hidden ("王*明"; "张*" for two).
pub fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    match chars.as_slice() {
        [] => String::new(),
        [only] => only.to_string(),
        [first, _] => format!("{first}*"),
        [first, middle @ .., last] => {
            let stars = "*".repeat(middle.len());
            format!("{first}{stars}{last}")
        }
    }
}

fn parse_driver(r: &mut Reader) -> Option<DriverLicence> {
    r.only(&[
        "holder_name",
        "citizen_id",
        "licence_class",
        "first_licensed",
        "issuing_authority",
        "area_code",
        "valid_from",
        "valid_until",
        "portrait_sha256",
    ]);
    let holder_name = r.text("holder_name");
    let citizen_id = r.id("citizen_id", |t| t.parse::<CitizenId>());
    let licence_class = r.choice(
        "licence_class",
        DrivingClass::parse,
        "A1, A2, A3, B1, B2, C1 or C2",
    );
    let first_licensed = r.date("first_licensed");
    let issuing_authority = r.authority("issuing_authority");
    let area_code = r.area("area_code");
    let validity = r.validity();
    let portrait = r.portrait("portrait_sha256");
    Some(DriverLicence {
        portrait_sha256: portrait?,
        holder_name: holder_name?,
        citizen_id: citizen_id?,
        licence_class: licence_class?,
        first_licensed: first_licensed?,
        issuing_authority: issuing_authority?,
        area_code: area_code?,
        validity: validity?,
    })
}

fn parse_vehicle(r: &mut Reader) -> Option<VehicleLicence> {
    r.only(&[
        "plate",
        "vin",
        "make",
        "model",
        "colour",
        "seats",
        "powertrain",
        "owner",
        "platform_credit_code",
        "registration_date",
        "issuing_authority",
        "area_code",
        "valid_from",
        "valid_until",
    ]);
    let plate = r.id("plate", |t| t.parse::<Plate>());
    let vin = r.id("vin", |t| t.parse::<Vin>());
    let make = r.public_text("make");
    let model = r.public_text("model");
    let colour = r.public_text("colour");
    let seats = r.int("seats", 2, 9);
    let powertrain = r.choice(
        "powertrain",
        Powertrain::parse,
        "one of the powertrain names",
    );
    let owner = r.owner("owner");
    let platform = r.id("platform_credit_code", |t| t.parse::<CreditCode>());
    let registration_date = r.date("registration_date");
    let issuing_authority = r.authority("issuing_authority");
    let area_code = r.area("area_code");
    let validity = r.validity();
    Some(VehicleLicence {
        plate: plate?,
        vin: vin?,
        make: make?,
        model: model?,
        colour: colour?,
        seats: seats?,
        powertrain: powertrain?,
        owner: owner?,
        platform_credit_code: platform?,
        registration_date: registration_date?,
        issuing_authority: issuing_authority?,
        area_code: area_code?,
        validity: validity?,
    })
}

fn parse_platform(r: &mut Reader) -> Option<PlatformLicence> {
    r.only(&[
        "company_name",
        "credit_code",
        "area_of_operation",
        "issuing_authority",
        "area_code",
        "valid_from",
        "valid_until",
    ]);
    let company_name = r.text("company_name");
    let credit_code = r.id("credit_code", |t| t.parse::<CreditCode>());
    let areas = r.areas("area_of_operation");
    let issuing_authority = r.authority("issuing_authority");
    let area_code = r.area("area_code");
    let validity = r.validity();
    Some(PlatformLicence {
        company_name: company_name?,
        credit_code: credit_code?,
        area_of_operation: areas?,
        issuing_authority: issuing_authority?,
        area_code: area_code?,
        validity: validity?,
    })
}

/// Reads fields from a JSON object, collecting every error instead of stopping.
struct Reader<'a> {
    obj: &'a Map<String, Value>,
    prefix: String,
    errors: Vec<FieldError>,
}

impl<'a> Reader<'a> {
    fn new(obj: &'a Map<String, Value>) -> Self {
        Reader {
            obj,
            prefix: String::new(),
            errors: Vec::new(),
        }
    }

    fn path(&self, field: &str) -> String {
        format!("{}{field}", self.prefix)
    }

    fn error(&mut self, field: &str, rule: &'static str, message: impl Into<String>) {
        let field = self.path(field);
        self.errors.push(FieldError {
            field,
            rule,
            message: message.into(),
        });
    }

    fn only(&mut self, allowed: &[&str]) {
        let unknown: Vec<String> = self
            .obj
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .cloned()
            .collect();
        for key in unknown {
            self.error(&key, "unknown_field", "is not a field of this record");
        }
    }

    fn string(&mut self, field: &str) -> Option<&'a str> {
        match self.obj.get(field) {
            None | Some(Value::Null) => {
                self.error(field, "required", "is required");
                None
            }
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                self.error(field, "type", "must be a string");
                None
            }
        }
    }

    fn text(&mut self, field: &str) -> Option<String> {
        let text = self.string(field)?.trim();
        let chars = text.chars().count();
        if chars == 0 || chars > MAX_TEXT_CHARS {
            self.error(
                field,
                "length",
                format!("must be 1 to {MAX_TEXT_CHARS} characters"),
            );
            return None;
        }
        if text.chars().any(char::is_control) {
            self.error(field, "charset", "must not contain control characters");
            return None;
        }
        Some(text.to_string())
    }

    /// Text the public sees (on the credential, the QR page, the in-car card): also refused if it
    /// holds a citizen ID or a phone number.
    fn public_text(&mut self, field: &str) -> Option<String> {
        let text = self.text(field)?;
        if let Some(found) = crate::ids::personal_data::find(&text) {
            self.error(field, found.rule(), found.describe());
            return None;
        }
        Some(text)
    }

    /// An optional portrait hash: absent, or 64 lowercase hex digits. `Some(None)` when absent.
    fn portrait(&mut self, field: &str) -> Option<Option<String>> {
        match self.obj.get(field) {
            None => Some(None),
            Some(Value::String(hex))
                if hex.len() == 64
                    && hex
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
            {
                Some(Some(hex.clone()))
            }
            Some(_) => {
                self.error(field, "sha256_hex", "must be 64 lowercase hex digits");
                None
            }
        }
    }

    fn id<T>(&mut self, field: &str, parse: impl FnOnce(&str) -> Result<T, IdError>) -> Option<T> {
        let text = self.string(field)?;
        match parse(text) {
            Ok(value) => Some(value),
            Err(e) => {
                self.error(field, e.rule(), e.to_string());
                None
            }
        }
    }

    fn choice<T>(
        &mut self,
        field: &str,
        parse: fn(&str) -> Option<T>,
        expected: &str,
    ) -> Option<T> {
        let text = self.string(field)?;
        let value = parse(text);
        if value.is_none() {
            self.error(field, "enum", format!("must be {expected}"));
        }
        value
    }

    fn date(&mut self, field: &str) -> Option<Date> {
        let text = self.string(field)?;
        let format = time::macros::format_description!("[year]-[month]-[day]");
        match Date::parse(text, &format) {
            Ok(date) => Some(date),
            Err(_) => {
                self.error(field, "date", "must be a date YYYY-MM-DD");
                None
            }
        }
    }

    fn int(&mut self, field: &str, min: u8, max: u8) -> Option<u8> {
        let value = match self.obj.get(field) {
            None | Some(Value::Null) => {
                self.error(field, "required", "is required");
                return None;
            }
            Some(value) => value,
        };
        match value.as_u64().and_then(|n| u8::try_from(n).ok()) {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.error(
                    field,
                    "range",
                    format!("must be an integer from {min} to {max}"),
                );
                None
            }
        }
    }

    fn area(&mut self, field: &str) -> Option<AreaCode> {
        let text = self.string(field)?;
        let area = AreaCode::parse(text);
        if area.is_none() {
            self.error(
                field,
                "area_code",
                "must be a six-digit GB/T 2260 division code",
            );
        }
        area
    }

    fn areas(&mut self, field: &str) -> Option<Vec<AreaCode>> {
        let items = match self.obj.get(field) {
            Some(Value::Array(items)) => items,
            None | Some(Value::Null) => {
                self.error(field, "required", "is required");
                return None;
            }
            Some(_) => {
                self.error(field, "type", "must be an array of area codes");
                return None;
            }
        };
        if items.is_empty() || items.len() > MAX_AREAS {
            self.error(field, "length", format!("must list 1 to {MAX_AREAS} areas"));
            return None;
        }
        let parsed: Vec<Option<AreaCode>> = items
            .iter()
            .map(|v| v.as_str().and_then(AreaCode::parse))
            .collect();
        if parsed.iter().any(Option::is_none) {
            self.error(
                field,
                "area_code",
                "every item must be a six-digit division code",
            );
            return None;
        }
        Some(parsed.into_iter().flatten().collect())
    }

    fn nested<T>(
        &mut self,
        field: &str,
        read: impl FnOnce(&mut Reader<'a>) -> Option<T>,
    ) -> Option<T> {
        let obj = match self.obj.get(field) {
            Some(Value::Object(obj)) => obj,
            None | Some(Value::Null) => {
                self.error(field, "required", "is required");
                return None;
            }
            Some(_) => {
                self.error(field, "type", "must be an object");
                return None;
            }
        };
        let mut inner = Reader {
            obj,
            prefix: format!("{}{field}.", self.prefix),
            errors: Vec::new(),
        };
        let value = read(&mut inner);
        self.errors.append(&mut inner.errors);
        value
    }

    fn authority(&mut self, field: &str) -> Option<Authority> {
        self.nested(field, |r| {
            r.only(&["name", "credit_code"]);
            let name = r.text("name");
            let credit_code = r.id("credit_code", |t| t.parse::<CreditCode>());
            Some(Authority {
                name: name?,
                credit_code: credit_code?,
            })
        })
    }

    fn owner(&mut self, field: &str) -> Option<Owner> {
        self.nested(field, |r| {
            r.only(&["name", "id"]);
            let name = r.text("name");
            let id = r.id("id", |t| {
                if t.len() == 18 && t.chars().take(17).all(|c| c.is_ascii_digit()) {
                    t.parse::<CitizenId>().map(OwnerId::Person)
                } else {
                    t.parse::<CreditCode>().map(OwnerId::Organisation)
                }
            });
            Some(Owner {
                name: name?,
                id: id?,
            })
        })
    }

    fn validity(&mut self) -> Option<Validity> {
        let valid_from = self.date("valid_from");
        let valid_until = self.date("valid_until");
        Some(Validity {
            valid_from: valid_from?,
            valid_until: valid_until?,
        })
    }
}

#[cfg(test)]
mod tests;
