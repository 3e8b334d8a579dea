//! An agency's "no record" (HTTP 404 from its check endpoint) is an answer the policy decides
//! on, logged as `no_record`, never an agency failure that leaves the application incomplete.

mod harness;

use std::collections::HashMap;

use harness::*;
use licreg::agency::sim::{self, Records};

async fn empty_agency(name: &str) -> String {
    let records = Records {
        agency: name.to_string(),
        records: HashMap::new(),
        default: None,
    };
    format!("http://{}", sim::spawn_local(records).await.unwrap())
}

#[tokio::test]
async fn no_criminal_record_is_clean_and_no_exam_result_is_not_passed() {
    let mut agencies = licreg::service::boot::start_demo_agencies().await.unwrap();
    agencies.insert(
        "public_security".into(),
        empty_agency("public_security").await,
    );
    let h = harness_with(agencies.clone()).await;
    let (status, body) = h.apply("driver", DRIVER).await;
    assert_eq!(status.as_u16(), 201, "{body}");
    assert_eq!(
        body["status"], "issued",
        "no criminal record is a clean record: {body}"
    );
    assert_eq!(
        body["answers"]["public_security"]["outcome"], "no_record",
        "{body}"
    );

    agencies.insert("exam_centre".into(), empty_agency("exam_centre").await);
    let h = harness_with(agencies).await;
    let (_, body) = h.apply("driver", DRIVER).await;
    assert_eq!(body["status"], "refused", "{body}");
    let rules: Vec<&str> = body["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["rule"].as_str())
        .collect();
    assert!(rules.contains(&"driver.national_exam"), "{rules:?}");
    assert!(
        !rules.contains(&"agency.failed"),
        "no record is not a failure: {rules:?}"
    );
}
