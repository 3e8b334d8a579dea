//! The registry's commands called directly, as background work, the demo and the officer pages
//! call them: typed results and typed refusals, no HTTP in between.

mod harness;

use harness::*;
use licreg::ids::CreditCode;
use licreg::registry::commands::{
    AlertCommand, PassengerReport, ReviewCommand, ReviewOutcome, ReviewResult, StatusCommand,
};
use licreg::registry::licence::{LicenceEvent, TransitionRefused};
use licreg::registry::{CommandError, LicenceStatus, Refusal};

async fn issued_driver(h: &Harness) -> String {
    let (_, driver) = h.apply("driver", DRIVER).await;
    driver["licence_number"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn status_commands_follow_the_state_machine_and_name_each_refusal() {
    let h = harness().await;
    let registry = &h.state.registry;
    let number = issued_driver(&h).await;

    let missing_reason = registry
        .change_status("officer", &number, StatusCommand::Suspend, Some("  "), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            missing_reason,
            CommandError::Invalid {
                field: "reason",
                rule: "required",
                ..
            }
        ),
        "{missing_reason:?}"
    );

    let reinstate_valid = registry
        .change_status("officer", &number, StatusCommand::Reinstate, None, None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            reinstate_valid,
            CommandError::Refused(Refusal::Transition {
                refused: TransitionRefused {
                    from: LicenceStatus::Valid,
                    event: LicenceEvent::Reinstate
                },
                ..
            })
        ),
        "{reinstate_valid:?}"
    );

    // The example vehicle's platform: a valid code; the refusal is about the licence's kind.
    let vehicle: serde_json::Value = serde_json::from_str(VEHICLE).unwrap();
    let platform: CreditCode = vehicle["platform_credit_code"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let rebind_driver = registry
        .change_status(
            "portal",
            &number,
            StatusCommand::Rebind { platform },
            None,
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            rebind_driver,
            CommandError::Refused(Refusal::NotBindable(_))
        ),
        "{rebind_driver:?}"
    );

    let revoked = registry
        .change_status(
            "officer",
            &number,
            StatusCommand::Revoke,
            Some("fraud"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(revoked.status, LicenceStatus::Revoked);
    assert_eq!(revoked.reason.as_deref(), Some("fraud"));

    for command in [
        StatusCommand::Suspend,
        StatusCommand::Reinstate,
        StatusCommand::Cancel,
    ] {
        let refused = registry
            .change_status("officer", &number, command.clone(), Some("again"), None)
            .await
            .unwrap_err();
        assert!(
            matches!(
                refused,
                CommandError::Refused(Refusal::Transition {
                    refused: TransitionRefused {
                        from: LicenceStatus::Revoked,
                        ..
                    },
                    ..
                })
            ),
            "{command:?}: {refused:?}"
        );
    }
    let reissue = registry.reissue("portal", &number).await.unwrap_err();
    assert!(
        matches!(reissue, CommandError::Refused(Refusal::Transition { .. })),
        "{reissue:?}"
    );
    let unknown = registry
        .change_status(
            "officer",
            "no-such-licence",
            StatusCommand::Revoke,
            Some("x"),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(unknown, CommandError::Refused(Refusal::NoSuchLicence(_))),
        "{unknown:?}"
    );
}

#[tokio::test]
async fn a_licence_is_found_by_its_number_or_short_serial_and_by_nothing_else() {
    let h = harness().await;
    let number = issued_driver(&h).await;
    let parsed: licreg::ids::LicenceNumber = number.parse().unwrap();
    let view = h.state.registry.view();

    let by_number = view.licence(&number).unwrap().unwrap();
    let short = parsed.short_serial();
    let by_serial = view.licence(short.as_str()).unwrap().unwrap();
    assert_eq!(by_number, by_serial);
    assert_eq!(by_number.short_serial, short.as_str());

    // The view keys licences by serial and version; a number with the same serial and version
    // under another issuer, or a short serial of another kind, is a different licence.
    let other_issuer = CreditCode::with_check("91110000MA0000000").unwrap();
    let forged = licreg::ids::LicenceNumber::new(
        parsed.kind(),
        &other_issuer,
        parsed.serial(),
        parsed.version(),
    )
    .unwrap();
    assert!(view.licence(forged.as_str()).unwrap().is_none());
    let other_kind = licreg::ids::ShortSerial::new(
        licreg::ids::LicenceKind::Vehicle,
        parsed.serial(),
        parsed.version(),
    )
    .unwrap();
    assert!(view.licence(other_kind.as_str()).unwrap().is_none());
    let next_version = parsed.with_version(parsed.version() + 1).unwrap();
    assert!(view.licence(next_version.as_str()).unwrap().is_none());
    assert!(view.licence("").unwrap().is_none());
    assert_eq!(
        view.state_at(&by_number, u64::MAX).unwrap().unwrap().status,
        LicenceStatus::Valid
    );
    assert!(view.state_at(&by_number, 0).unwrap().is_none());
}

#[tokio::test]
async fn a_reissue_supersedes_and_an_alert_applies_once() {
    let h = harness().await;
    let registry = &h.state.registry;
    let number = issued_driver(&h).await;

    let reissued = registry.reissue("portal", &number).await.unwrap();
    assert_eq!(reissued.supersedes, number);
    assert_ne!(reissued.number.as_str(), number);
    let view = registry.view();
    assert_eq!(
        view.licence(&number).unwrap().unwrap().status,
        LicenceStatus::Superseded
    );

    let alert = AlertCommand {
        alert_id: "PS-1".into(),
        alert_type: "drink_driving".into(),
        subject: licreg::registry::bodies::AlertSubject {
            citizen_id: Some("35020319900101123X".into()),
            ..Default::default()
        },
        detail: None,
    };
    let first = registry
        .apply_alert("agency:public_security", "public_security", alert.clone())
        .await
        .unwrap();
    assert!(!first.duplicate);
    assert_eq!(first.affected, vec![reissued.number.as_str().to_string()]);
    let again = registry
        .apply_alert("agency:public_security", "public_security", alert)
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(again.affected, first.affected);
    assert_eq!(
        view.licence(reissued.number.as_str())
            .unwrap()
            .unwrap()
            .status,
        LicenceStatus::Suspended
    );
}

#[tokio::test]
async fn a_report_is_reviewed_once() {
    let h = harness().await;
    let registry = &h.state.registry;
    let _vehicle = h.apply("vehicle", VEHICLE).await;
    let id = registry
        .report(PassengerReport {
            plate: "闽DD12345".parse().unwrap(),
            reason: "绕路".into(),
            contact: None,
        })
        .await
        .unwrap();
    let review = || ReviewCommand {
        report_id: id,
        outcome: ReviewOutcome::Dismiss,
        note: "未查实".into(),
    };
    let reviewed = registry.review_report("officer", review()).await.unwrap();
    assert_eq!(reviewed.outcome, ReviewResult::Dismissed);
    assert!(reviewed.credit_record.is_none());
    let twice = registry
        .review_report("officer", review())
        .await
        .unwrap_err();
    assert!(
        matches!(twice, CommandError::Refused(Refusal::ReportReviewed(n)) if n == id),
        "{twice:?}"
    );
    let no_such = registry
        .review_report(
            "officer",
            ReviewCommand {
                report_id: id + 1000,
                ..review()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(no_such, CommandError::Refused(Refusal::NoSuchReport(_))),
        "{no_such:?}"
    );
}
