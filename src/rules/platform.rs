//! Operating permit rules (第五条-第六条 of the 2016 interim measures): a real company, known to
//! the market regulator under the name it applied with, holding the province's certificate of
//! online-service capability.

use super::facts::{AgencyName, MarketRegulatorFacts, ProvincialTransportFacts};
use super::policy::PlatformPolicy;
use super::Reason;
use crate::model::PlatformLicence;

/// Runs every platform rule; each agency's rules wait for that agency's answer.
pub(super) fn check(
    p: &PlatformPolicy,
    record: &PlatformLicence,
    market: Option<&MarketRegulatorFacts>,
    transport: Option<&ProvincialTransportFacts>,
    out: &mut Vec<Reason>,
) {
    if let Some(m) = market {
        let agency = Some(AgencyName::MarketRegulator);
        if p.require_valid_credit_code && !m.credit_code_valid {
            let code = record.credit_code.as_str();
            out.push(Reason::new(
                "platform.credit_code_invalid",
                agency,
                format!("统一社会信用代码 {code} 无效或未登记"),
                format!("credit code {code} is not valid or not registered"),
            ));
        }
        // Registered names are compared exactly (after trimming): a company is its legal name.
        // With no registered name (no record of the company) there is nothing to compare.
        let (stated, found) = (record.company_name.trim(), m.company_name.trim());
        if !found.is_empty() && stated != found {
            out.push(Reason::new(
                "platform.company_name_mismatch",
                agency,
                format!("申报企业名称 {stated} 与登记名称 {found} 不符"),
                format!("stated company name {stated} differs from the registered {found}"),
            ));
        }
    }
    if let Some(t) = transport {
        if p.require_online_capability_certificate && !t.online_capability_certificate {
            out.push(Reason::new(
                "platform.online_capability_certificate",
                Some(AgencyName::ProvincialTransport),
                "未取得网络服务能力认定",
                "no certificate of online-service capability",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::LicenceKind;
    use crate::model::LicenceRecord;
    use crate::rules::Policy;

    fn policy() -> PlatformPolicy {
        let text = include_str!("../../policies/national.toml");
        Policy::parse(text).unwrap().platform().clone()
    }

    fn licence() -> PlatformLicence {
        let text = include_str!("../../schemas/examples/platform.json");
        match LicenceRecord::parse_json(LicenceKind::Platform, text.as_bytes()).unwrap() {
            LicenceRecord::Platform(p) => p,
            other => panic!("not a platform: {other:?}"),
        }
    }

    fn market(valid: bool, name: &str) -> MarketRegulatorFacts {
        MarketRegulatorFacts {
            credit_code_valid: valid,
            company_name: name.into(),
        }
    }

    fn rules(out: &[Reason]) -> Vec<&'static str> {
        out.iter().map(|r| r.rule).collect()
    }

    #[test]
    fn a_registered_company_with_a_certificate_passes() {
        let m = market(true, " 厦门示例出行科技有限公司 ");
        let t = ProvincialTransportFacts {
            online_capability_certificate: true,
        };
        let mut out = Vec::new();
        check(&policy(), &licence(), Some(&m), Some(&t), &mut out);
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn every_platform_failure_is_reported() {
        let m = market(false, "另一家公司");
        let t = ProvincialTransportFacts {
            online_capability_certificate: false,
        };
        let mut out = Vec::new();
        check(&policy(), &licence(), Some(&m), Some(&t), &mut out);
        assert_eq!(
            rules(&out),
            [
                "platform.credit_code_invalid",
                "platform.company_name_mismatch",
                "platform.online_capability_certificate"
            ]
        );
    }

    #[test]
    fn disabled_rules_and_missing_answers_do_not_refuse() {
        let mut p = policy();
        p.require_valid_credit_code = false;
        p.require_online_capability_certificate = false;
        let m = market(false, "厦门示例出行科技有限公司");
        let t = ProvincialTransportFacts {
            online_capability_certificate: false,
        };
        let mut out = Vec::new();
        check(&p, &licence(), Some(&m), Some(&t), &mut out);
        check(&policy(), &licence(), None, None, &mut out);
        assert!(out.is_empty(), "{out:?}");
    }
}
