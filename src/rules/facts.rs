//! What the engine decides on besides the record: the facts each outside agency reports, and the
//! facts the registry itself knows about the applicant.
//!
//! Agency answers arrive as JSON from systems we do not control, so each agency's facts are a
//! strict serde struct (`deny_unknown_fields`, dates as `YYYY-MM-DD`): a renamed or misspelled
//! field is an error the service can report, never a silently missing `false`. [`Answers`] keeps
//! one typed slot per agency, so a driver's exam result can never be filed as a vehicle's.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use time::Date;

use super::dates::{iso_date, iso_date_list};
use crate::ids::LicenceKind;
use crate::model::Powertrain;

/// Most offence records one public security answer may list.
pub const MAX_OFFENCE_RECORDS: usize = 256;
/// Longest free-text field an agency may send (licence class, use nature, company name).
pub const MAX_FACT_CHARS: usize = 128;

/// Why an agency's answer could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FactsError {
    #[error("{agency} answer does not match its schema: {detail}")]
    Schema { agency: AgencyName, detail: String },
    #[error("{agency} answer field {field} is over its limit of {max}")]
    TooLong {
        agency: AgencyName,
        field: &'static str,
        max: usize,
    },
}

/// An outside agency the registry asks before deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgencyName {
    /// 公安机关: criminal and drug records.
    PublicSecurity,
    /// 公安交管部门: driving licence, drink driving, penalty points.
    TrafficPolice,
    /// 车辆管理所: vehicle registration.
    VehicleRegistration,
    /// 考试机构: the national and regional ride-hailing driver exams.
    ExamCentre,
    /// 市场监督管理部门: the company's unified social credit code.
    MarketRegulator,
    /// 省级交通运输主管部门: the online-service capability certificate.
    ProvincialTransport,
}

impl AgencyName {
    pub const ALL: [AgencyName; 6] = [
        AgencyName::PublicSecurity,
        AgencyName::TrafficPolice,
        AgencyName::VehicleRegistration,
        AgencyName::ExamCentre,
        AgencyName::MarketRegulator,
        AgencyName::ProvincialTransport,
    ];

    /// The API and policy-file word, e.g. `public_security`.
    pub fn as_str(self) -> &'static str {
        match self {
            AgencyName::PublicSecurity => "public_security",
            AgencyName::TrafficPolice => "traffic_police",
            AgencyName::VehicleRegistration => "vehicle_registration",
            AgencyName::ExamCentre => "exam_centre",
            AgencyName::MarketRegulator => "market_regulator",
            AgencyName::ProvincialTransport => "provincial_transport",
        }
    }

    /// Parses the API word exactly (agency names are machine-written, so no case folding).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            AgencyName::PublicSecurity => "公安机关",
            AgencyName::TrafficPolice => "公安交管部门",
            AgencyName::VehicleRegistration => "车辆管理所",
            AgencyName::ExamCentre => "考试机构",
            AgencyName::MarketRegulator => "市场监督管理部门",
            AgencyName::ProvincialTransport => "省级交通运输主管部门",
        }
    }

    /// The one licence kind whose rules use this agency's facts.
    pub fn kind(self) -> LicenceKind {
        match self {
            AgencyName::PublicSecurity | AgencyName::TrafficPolice | AgencyName::ExamCentre => {
                LicenceKind::Driver
            }
            AgencyName::VehicleRegistration => LicenceKind::Vehicle,
            AgencyName::MarketRegulator | AgencyName::ProvincialTransport => LicenceKind::Platform,
        }
    }
}

impl std::fmt::Display for AgencyName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind of record that can bar a driver (policy `driver.forbidden_records`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// 交通肇事犯罪.
    TrafficCrime,
    /// 危险驾驶犯罪.
    DangerousDriving,
    /// 吸毒记录.
    DrugUse,
    /// 饮酒后驾驶记录.
    DrinkDriving,
    /// 暴力犯罪.
    ViolentCrime,
}

impl RecordKind {
    /// Every kind, in the fixed order reasons are reported in.
    pub const ALL: [RecordKind; 5] = [
        RecordKind::TrafficCrime,
        RecordKind::DangerousDriving,
        RecordKind::DrugUse,
        RecordKind::DrinkDriving,
        RecordKind::ViolentCrime,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::TrafficCrime => "traffic_crime",
            RecordKind::DangerousDriving => "dangerous_driving",
            RecordKind::DrugUse => "drug_use",
            RecordKind::DrinkDriving => "drink_driving",
            RecordKind::ViolentCrime => "violent_crime",
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            RecordKind::TrafficCrime => "交通肇事犯罪记录",
            RecordKind::DangerousDriving => "危险驾驶犯罪记录",
            RecordKind::DrugUse => "吸毒记录",
            RecordKind::DrinkDriving => "饮酒后驾驶记录",
            RecordKind::ViolentCrime => "暴力犯罪记录",
        }
    }

    /// The reason code a record of this kind produces.
    pub fn rule(self) -> &'static str {
        match self {
            RecordKind::TrafficCrime => "driver.record.traffic_crime",
            RecordKind::DangerousDriving => "driver.record.dangerous_driving",
            RecordKind::DrugUse => "driver.record.drug_use",
            RecordKind::DrinkDriving => "driver.record.drink_driving",
            RecordKind::ViolentCrime => "driver.record.violent_crime",
        }
    }
}

/// One entry on a person's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffenceRecord {
    pub kind: RecordKind,
    #[serde(with = "iso_date")]
    pub date: Date,
}

/// `public_security`: the applicant's criminal and drug records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicSecurityFacts {
    pub records: Vec<OffenceRecord>,
    /// Drug use known outside the criminal record (e.g. compulsory rehabilitation).
    pub drug_use: bool,
}

/// `traffic_police`: the applicant's driving licence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficPoliceFacts {
    /// Class as printed on the licence, e.g. `C1`.
    pub licence_class: String,
    #[serde(with = "iso_date")]
    pub first_licensed: Date,
    pub drink_driving: bool,
    /// Scoring cycles, of the last three, in which all 12 points were lost.
    pub full_deductions_last_3_cycles: u32,
    pub licence_valid: bool,
}

/// `vehicle_registration`: the vehicle as registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VehicleRegistrationFacts {
    pub registered: bool,
    /// 使用性质 on the registration certificate, e.g. 预约出租客运.
    pub use_nature: String,
    #[serde(with = "iso_date")]
    pub registration_date: Date,
    pub seats: u8,
    #[serde(with = "powertrain_name")]
    pub powertrain: Powertrain,
    #[serde(with = "iso_date")]
    pub inspection_valid_until: Date,
    #[serde(with = "iso_date")]
    pub insurance_valid_until: Date,
    pub gps_fitted: bool,
    pub emergency_alarm_fitted: bool,
    pub scrapped: bool,
}

/// `exam_centre`: the ride-hailing driver exams.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExamCentreFacts {
    pub national_exam_passed: bool,
    pub regional_exam_passed: bool,
}

/// `market_regulator`: the company behind a platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketRegulatorFacts {
    pub credit_code_valid: bool,
    pub company_name: String,
}

/// `provincial_transport`: the platform's online-service capability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvincialTransportFacts {
    pub online_capability_certificate: bool,
}

/// One agency's facts, tagged with the agency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AgencyFacts {
    PublicSecurity(PublicSecurityFacts),
    TrafficPolice(TrafficPoliceFacts),
    VehicleRegistration(VehicleRegistrationFacts),
    ExamCentre(ExamCentreFacts),
    MarketRegulator(MarketRegulatorFacts),
    ProvincialTransport(ProvincialTransportFacts),
}

impl AgencyFacts {
    /// Reads `agency`'s JSON answer body. The HTTP layer knows which agency called back, so the
    /// schema is chosen by `agency`, never guessed from the body.
    pub fn parse(agency: AgencyName, json: &Value) -> Result<Self, FactsError> {
        let schema = |e: serde_json::Error| FactsError::Schema {
            agency,
            detail: e.to_string(),
        };
        let facts = match agency {
            AgencyName::PublicSecurity => {
                Self::PublicSecurity(PublicSecurityFacts::deserialize(json).map_err(schema)?)
            }
            AgencyName::TrafficPolice => {
                Self::TrafficPolice(TrafficPoliceFacts::deserialize(json).map_err(schema)?)
            }
            AgencyName::VehicleRegistration => Self::VehicleRegistration(
                VehicleRegistrationFacts::deserialize(json).map_err(schema)?,
            ),
            AgencyName::ExamCentre => {
                Self::ExamCentre(ExamCentreFacts::deserialize(json).map_err(schema)?)
            }
            AgencyName::MarketRegulator => {
                Self::MarketRegulator(MarketRegulatorFacts::deserialize(json).map_err(schema)?)
            }
            AgencyName::ProvincialTransport => Self::ProvincialTransport(
                ProvincialTransportFacts::deserialize(json).map_err(schema)?,
            ),
        };
        facts.check_limits()?;
        Ok(facts)
    }

    pub fn agency(&self) -> AgencyName {
        match self {
            Self::PublicSecurity(_) => AgencyName::PublicSecurity,
            Self::TrafficPolice(_) => AgencyName::TrafficPolice,
            Self::VehicleRegistration(_) => AgencyName::VehicleRegistration,
            Self::ExamCentre(_) => AgencyName::ExamCentre,
            Self::MarketRegulator(_) => AgencyName::MarketRegulator,
            Self::ProvincialTransport(_) => AgencyName::ProvincialTransport,
        }
    }

    /// Bounds what an agency can make us store and echo back in reasons.
    fn check_limits(&self) -> Result<(), FactsError> {
        let agency = self.agency();
        let too_long = |field, max| Err(FactsError::TooLong { agency, field, max });
        let long = |text: &str| text.chars().count() > MAX_FACT_CHARS;
        match self {
            Self::PublicSecurity(f) if f.records.len() > MAX_OFFENCE_RECORDS => {
                too_long("records", MAX_OFFENCE_RECORDS)
            }
            Self::TrafficPolice(f) if long(&f.licence_class) => {
                too_long("licence_class", MAX_FACT_CHARS)
            }
            Self::VehicleRegistration(f) if long(&f.use_nature) => {
                too_long("use_nature", MAX_FACT_CHARS)
            }
            Self::MarketRegulator(f) if long(&f.company_name) => {
                too_long("company_name", MAX_FACT_CHARS)
            }
            _ => Ok(()),
        }
    }
}

/// Where one agency's answer stands when the engine runs; `Missing` until it arrives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", content = "detail", rename_all = "snake_case")]
pub enum Answer<T> {
    /// The agency answered with these facts.
    Answered(T),
    /// No answer yet (or none by the deadline).
    #[default]
    Missing,
    /// The agency reported an error, or its answer could not be read.
    Failed(String),
    /// The agency answered that it holds no record of the subject: an answer, whose meaning
    /// the rules decide per agency (no criminal record is clean; no exam result is not passed).
    NoRecord,
}

impl<T> Answer<T> {
    /// The facts, if the agency answered.
    pub fn facts(&self) -> Option<&T> {
        match self {
            Answer::Answered(facts) => Some(facts),
            Answer::Missing | Answer::Failed(_) | Answer::NoRecord => None,
        }
    }

    fn status(&self) -> AnswerStatus<'_> {
        match self {
            Answer::Answered(_) => AnswerStatus::Answered,
            Answer::Missing => AnswerStatus::Missing,
            Answer::Failed(error) => AnswerStatus::Failed(error),
            Answer::NoRecord => AnswerStatus::NoRecord,
        }
    }
}

/// An answer's state without its facts, for code that only needs to know whether to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerStatus<'a> {
    Answered,
    Missing,
    Failed(&'a str),
    NoRecord,
}

/// Every agency's answer for one application; agencies not asked stay `Missing`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Answers {
    pub public_security: Answer<PublicSecurityFacts>,
    pub traffic_police: Answer<TrafficPoliceFacts>,
    pub vehicle_registration: Answer<VehicleRegistrationFacts>,
    pub exam_centre: Answer<ExamCentreFacts>,
    pub market_regulator: Answer<MarketRegulatorFacts>,
    pub provincial_transport: Answer<ProvincialTransportFacts>,
}

impl Answers {
    /// Files `facts` in its agency's slot, replacing whatever was there.
    pub fn insert(&mut self, facts: AgencyFacts) {
        match facts {
            AgencyFacts::PublicSecurity(f) => self.public_security = Answer::Answered(f),
            AgencyFacts::TrafficPolice(f) => self.traffic_police = Answer::Answered(f),
            AgencyFacts::VehicleRegistration(f) => self.vehicle_registration = Answer::Answered(f),
            AgencyFacts::ExamCentre(f) => self.exam_centre = Answer::Answered(f),
            AgencyFacts::MarketRegulator(f) => self.market_regulator = Answer::Answered(f),
            AgencyFacts::ProvincialTransport(f) => self.provincial_transport = Answer::Answered(f),
        }
    }

    /// Records that `agency` failed with `error`.
    pub fn fail(&mut self, agency: AgencyName, error: impl Into<String>) {
        let error = error.into();
        match agency {
            AgencyName::PublicSecurity => self.public_security = Answer::Failed(error),
            AgencyName::TrafficPolice => self.traffic_police = Answer::Failed(error),
            AgencyName::VehicleRegistration => self.vehicle_registration = Answer::Failed(error),
            AgencyName::ExamCentre => self.exam_centre = Answer::Failed(error),
            AgencyName::MarketRegulator => self.market_regulator = Answer::Failed(error),
            AgencyName::ProvincialTransport => self.provincial_transport = Answer::Failed(error),
        }
    }

    /// Records that `agency` answered it holds no record of the subject.
    pub fn no_record(&mut self, agency: AgencyName) {
        match agency {
            AgencyName::PublicSecurity => self.public_security = Answer::NoRecord,
            AgencyName::TrafficPolice => self.traffic_police = Answer::NoRecord,
            AgencyName::VehicleRegistration => self.vehicle_registration = Answer::NoRecord,
            AgencyName::ExamCentre => self.exam_centre = Answer::NoRecord,
            AgencyName::MarketRegulator => self.market_regulator = Answer::NoRecord,
            AgencyName::ProvincialTransport => self.provincial_transport = Answer::NoRecord,
        }
    }

    /// The answers with each "no record" read as the facts it means, where it means facts: no
    /// criminal or drug record is a clean record; no exam result is no exam passed; no company
    /// on the register is an invalid credit code; no certificate is none. The traffic police
    /// and vehicle registration have no such reading (no driving licence, no registered
    /// vehicle): they stay `NoRecord` and the engine gives their reason.
    pub fn with_no_record_read(&self) -> Answers {
        let mut out = self.clone();
        if out.public_security == Answer::NoRecord {
            out.public_security = Answer::Answered(PublicSecurityFacts {
                records: Vec::new(),
                drug_use: false,
            });
        }
        if out.exam_centre == Answer::NoRecord {
            out.exam_centre = Answer::Answered(ExamCentreFacts {
                national_exam_passed: false,
                regional_exam_passed: false,
            });
        }
        if out.market_regulator == Answer::NoRecord {
            out.market_regulator = Answer::Answered(MarketRegulatorFacts {
                credit_code_valid: false,
                company_name: String::new(),
            });
        }
        if out.provincial_transport == Answer::NoRecord {
            out.provincial_transport = Answer::Answered(ProvincialTransportFacts {
                online_capability_certificate: false,
            });
        }
        out
    }

    /// Marks `agency` as not (or no longer) answered.
    pub fn clear(&mut self, agency: AgencyName) {
        match agency {
            AgencyName::PublicSecurity => self.public_security = Answer::Missing,
            AgencyName::TrafficPolice => self.traffic_police = Answer::Missing,
            AgencyName::VehicleRegistration => self.vehicle_registration = Answer::Missing,
            AgencyName::ExamCentre => self.exam_centre = Answer::Missing,
            AgencyName::MarketRegulator => self.market_regulator = Answer::Missing,
            AgencyName::ProvincialTransport => self.provincial_transport = Answer::Missing,
        }
    }

    pub fn status(&self, agency: AgencyName) -> AnswerStatus<'_> {
        match agency {
            AgencyName::PublicSecurity => self.public_security.status(),
            AgencyName::TrafficPolice => self.traffic_police.status(),
            AgencyName::VehicleRegistration => self.vehicle_registration.status(),
            AgencyName::ExamCentre => self.exam_centre.status(),
            AgencyName::MarketRegulator => self.market_regulator.status(),
            AgencyName::ProvincialTransport => self.provincial_transport.status(),
        }
    }
}

/// What the registry's own records say about this applicant, supplied by the service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryFacts {
    /// The holder already has a licence of the kind applied for that is valid today. For a
    /// vehicle the service should answer for this vehicle (plate/VIN), not for its owner.
    pub holder_has_valid_licence_of_kind: bool,
    /// Dates on which this holder's ride-hailing certificates were revoked.
    #[serde(default, with = "iso_date_list")]
    pub revoked_certificates: Vec<Date>,
    /// Credit code of another platform this vehicle is currently bound to.
    #[serde(default)]
    pub vehicle_bound_to_other_platform: Option<String>,
    /// Last day of a credit-record (blacklist) entry against the holder, if any.
    #[serde(default, with = "iso_date::option")]
    pub credit_record_until: Option<Date>,
}

/// Powertrains by their record and policy names (`battery_electric`, ...). The model keeps its
/// parser private, so the mapping lives here; the exhaustive `match` in [`powertrain_str`] makes
/// a new model variant a compile error rather than a silently unknown name.
pub(crate) const POWERTRAINS: [Powertrain; 6] = [
    Powertrain::Petrol,
    Powertrain::Diesel,
    Powertrain::Hybrid,
    Powertrain::PlugInHybrid,
    Powertrain::BatteryElectric,
    Powertrain::FuelCell,
];

pub(crate) fn powertrain_str(p: Powertrain) -> &'static str {
    match p {
        Powertrain::Petrol => "petrol",
        Powertrain::Diesel => "diesel",
        Powertrain::Hybrid => "hybrid",
        Powertrain::PlugInHybrid => "plug_in_hybrid",
        Powertrain::BatteryElectric => "battery_electric",
        Powertrain::FuelCell => "fuel_cell",
    }
}

pub(crate) fn parse_powertrain(text: &str) -> Option<Powertrain> {
    POWERTRAINS.into_iter().find(|p| powertrain_str(*p) == text)
}

/// Serde for one powertrain by name.
pub(crate) mod powertrain_name {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(p: &Powertrain, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(powertrain_str(*p))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Powertrain, D::Error> {
        let text = String::deserialize(d)?;
        parse_powertrain(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown powertrain `{text}`, expected one of {}",
                Powertrain::NAMES.join(", ")
            ))
        })
    }
}

/// Serde for a list of powertrains by name.
pub(crate) mod powertrain_list {
    use super::*;

    #[derive(Serialize, Deserialize)]
    #[serde(transparent)]
    struct Item(#[serde(with = "powertrain_name")] Powertrain);

    pub(crate) fn serialize<S: Serializer>(list: &[Powertrain], s: S) -> Result<S::Ok, S::Error> {
        let items: Vec<Item> = list.iter().copied().map(Item).collect();
        items.serialize(s)
    }

    pub(crate) fn deserialize<'de, D>(d: D) -> Result<Vec<Powertrain>, D::Error>
    where
        D: Deserializer<'de>,
    {
        let items = Vec::<Item>::deserialize(d)?;
        Ok(items.into_iter().map(|Item(p)| p).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::date;

    #[test]
    fn agency_names_round_trip_through_serde_and_parse() {
        for agency in AgencyName::ALL {
            let json = serde_json::to_value(agency).unwrap();
            assert_eq!(json, Value::String(agency.as_str().into()));
            assert_eq!(AgencyName::parse(agency.as_str()), Some(agency));
        }
        assert_eq!(AgencyName::parse("Public_Security"), None);
    }

    #[test]
    fn every_model_powertrain_name_is_known() {
        for name in Powertrain::NAMES {
            let p = parse_powertrain(name).unwrap();
            assert_eq!(powertrain_str(p), name);
        }
    }

    #[test]
    fn traffic_police_answer_parses_with_dates() {
        let body = json!({
            "licence_class": "C1", "first_licensed": "2015-06-01", "drink_driving": false,
            "full_deductions_last_3_cycles": 0, "licence_valid": true
        });
        let facts = AgencyFacts::parse(AgencyName::TrafficPolice, &body).unwrap();
        let AgencyFacts::TrafficPolice(f) = &facts else {
            panic!("wrong variant {facts:?}");
        };
        assert_eq!(f.first_licensed, date!(2015 - 06 - 01));
        assert_eq!(facts.agency(), AgencyName::TrafficPolice);
    }

    #[test]
    fn unknown_fields_bad_dates_and_bad_powertrains_are_refused() {
        let extra = json!({"national_exam_passed": true, "regional_exam_passed": true, "x": 1});
        let bad_date = json!({"records": [{"kind": "drug_use", "date": "2020-13-01"}],
                              "drug_use": false});
        let bad_kind = json!({"records": [{"kind": "jaywalking", "date": "2020-01-01"}],
                              "drug_use": false});
        for (agency, body) in [
            (AgencyName::ExamCentre, extra),
            (AgencyName::PublicSecurity, bad_date),
            (AgencyName::PublicSecurity, bad_kind),
        ] {
            let err = AgencyFacts::parse(agency, &body).unwrap_err();
            assert!(matches!(err, FactsError::Schema { .. }), "{err}");
        }
        let mut vehicle = vehicle_body();
        vehicle["powertrain"] = json!("steam");
        let err = AgencyFacts::parse(AgencyName::VehicleRegistration, &vehicle).unwrap_err();
        assert!(err.to_string().contains("steam"), "{err}");
    }

    #[test]
    fn the_body_is_read_with_the_named_agency_schema() {
        let body = json!({"online_capability_certificate": true});
        assert!(AgencyFacts::parse(AgencyName::MarketRegulator, &body).is_err());
        assert!(AgencyFacts::parse(AgencyName::ProvincialTransport, &body).is_ok());
    }

    #[test]
    fn oversized_answers_are_refused() {
        let body = json!({"credit_code_valid": true, "company_name": "公".repeat(200)});
        let err = AgencyFacts::parse(AgencyName::MarketRegulator, &body).unwrap_err();
        assert!(matches!(
            err,
            FactsError::TooLong {
                field: "company_name",
                ..
            }
        ));
    }

    #[test]
    fn answers_file_facts_in_their_own_slot() {
        let mut answers = Answers::default();
        assert_eq!(
            answers.status(AgencyName::ExamCentre),
            AnswerStatus::Missing
        );
        answers.insert(AgencyFacts::ExamCentre(ExamCentreFacts {
            national_exam_passed: true,
            regional_exam_passed: false,
        }));
        assert_eq!(
            answers.status(AgencyName::ExamCentre),
            AnswerStatus::Answered
        );
        answers.fail(AgencyName::ExamCentre, "timeout");
        assert_eq!(
            answers.status(AgencyName::ExamCentre),
            AnswerStatus::Failed("timeout")
        );
        answers.clear(AgencyName::ExamCentre);
        assert_eq!(
            answers.status(AgencyName::ExamCentre),
            AnswerStatus::Missing
        );
        assert!(AgencyName::ALL.iter().all(
            |a| a.kind() == LicenceKind::Driver || answers.status(*a) == AnswerStatus::Missing
        ));
    }

    #[test]
    fn answers_and_registry_facts_round_trip_as_json() {
        let mut answers = Answers::default();
        let body = vehicle_body();
        answers.insert(AgencyFacts::parse(AgencyName::VehicleRegistration, &body).unwrap());
        answers.fail(AgencyName::MarketRegulator, "503");
        let json = serde_json::to_value(&answers).unwrap();
        assert_eq!(
            json["vehicle_registration"]["detail"]["powertrain"],
            "battery_electric"
        );
        assert_eq!(serde_json::from_value::<Answers>(json).unwrap(), answers);

        let registry = RegistryFacts {
            revoked_certificates: vec![date!(2022 - 05 - 01)],
            credit_record_until: Some(date!(2027 - 01 - 01)),
            ..RegistryFacts::default()
        };
        let json = serde_json::to_value(&registry).unwrap();
        assert_eq!(json["revoked_certificates"][0], "2022-05-01");
        assert_eq!(
            serde_json::from_value::<RegistryFacts>(json).unwrap(),
            registry
        );
    }

    fn vehicle_body() -> Value {
        json!({
            "registered": true, "use_nature": "预约出租客运", "registration_date": "2024-03-15",
            "seats": 5, "powertrain": "battery_electric", "inspection_valid_until": "2027-03-31",
            "insurance_valid_until": "2027-03-14", "gps_fitted": true,
            "emergency_alarm_fitted": true, "scrapped": false
        })
    }
}
