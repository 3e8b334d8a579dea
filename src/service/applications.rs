//! Applications: formal review, parallel agency checks, the automatic decision, and issuance.
//!
//! Formal review runs first and returns every problem at once. An accepted application is checked
//! with every agency the policy names, all at the same time; each answer is logged as evidence.
//! When every answer is in, the rules engine decides, and an approval issues the licence in the
//! same atomic append as the decision. An agency that does not answer leaves the application
//! visibly waiting until its deadline; it may answer later through `/v1/agency-answers`.

use std::collections::BTreeMap;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth::{Caller, RoleKind};
use super::error::{json_rejection, ApiError};
use super::events::{self, AgencyAnswerBody, ApplicationBody, DecisionBody, Problem};
use super::registry::{ApplicationStatus, ApplicationView, LicenceStatus};
use super::{rules_glue, AppState};
use crate::agency::CheckRequest;
use crate::ids::LicenceKind;
use crate::issuance::{self, IssueContext};
use crate::ledger::{EventType, NewEntry, Subject, SubjectKind};
use crate::model::{FieldError, LicenceRecord};
use crate::qr;
use crate::rules::{Light, Stage};

/// Longest an application id may be.
pub const MAX_APPLICATION_ID_BYTES: usize = 64;
/// Most applications one listing returns.
pub const MAX_LISTED: usize = 500;
/// Longest a submitter waits with `?wait=true`, in milliseconds.
pub const MAX_WAIT_MS: u64 = 30_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    pub kind: String,
    pub record: Value,
    #[serde(default)]
    pub renewal_of: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SubmitQuery {
    #[serde(default)]
    pub wait: bool,
}

/// An application as the API shows it.
#[derive(Debug, Serialize)]
pub struct ApplicationResponse {
    #[serde(flatten)]
    pub view: ApplicationView,
    /// Agencies the policy requires that have not answered yet.
    pub waiting_for: Vec<String>,
    /// Deadline light: green, yellow (within 20% of the limit) or red (late).
    pub light: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// `POST /v1/applications`.
pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<SubmitQuery>,
    body: Result<Json<Submission>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[RoleKind::Portal])?;
    let Json(submission) = body.map_err(json_rejection)?;
    let kind: LicenceKind = submission.kind.parse().map_err(|_| {
        ApiError::bad(
            "enum",
            "kind must be driver, vehicle or platform",
            Some("kind"),
        )
    })?;
    let id = new_application_id(&state)?;
    let review = formal_review(
        &state,
        kind,
        submission.record.clone(),
        submission.renewal_of.as_deref(),
    );
    let (record, problems) = match review {
        Ok(record) => (Some(record), Vec::new()),
        Err(problems) => (None, problems),
    };
    let body = ApplicationBody {
        application_id: id.clone(),
        kind: kind.as_str().to_string(),
        record: submission.record,
        accepted: record.is_some(),
        problems: problems.iter().map(Problem::from).collect(),
        renewal_of: submission.renewal_of.clone(),
    };
    let mut subjects = vec![events::application_subject(&id)];
    if let Some(record) = &record {
        subjects.push(Subject::new(SubjectKind::Holder, record.holder_id()));
    }
    let entry = events::entry(EventType::Application, &caller.actor(), subjects, &body)
        .map_err(ApiError::internal)?;
    state.record(vec![entry]).await?;
    let Some(record) = record else {
        return Ok(not_accepted(&id, problems));
    };
    let task_state = state.clone();
    let task_id = id.clone();
    let task = tokio::spawn(async move {
        let result = run_checks(task_state, task_id.clone(), record).await;
        if let Err(e) = &result {
            tracing::error!(application = %task_id, error = ?e, "agency checks failed");
        }
        result
    });
    if query.wait {
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(MAX_WAIT_MS), task).await;
        if let Ok(Ok(Err(e))) = waited {
            return Err(e);
        }
    }
    let response = respond(&state, &id)?;
    Ok((StatusCode::CREATED, Json(response)).into_response())
}

fn not_accepted(id: &str, problems: Vec<FieldError>) -> Response {
    let body = serde_json::json!({
        "error": "not_accepted",
        "detail": format!("{} problem(s) found in formal review", problems.len()),
        "field": problems.first().map(|p| p.field.clone()),
        "application_id": id,
        "problems": problems,
    });
    (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
}

fn new_application_id(state: &AppState) -> Result<String, ApiError> {
    Ok(state
        .ids
        .next_application_id(state.clock.now().date().year()))
}

/// Schema, field rules and registry checks, all at once.
fn formal_review(
    state: &AppState,
    kind: LicenceKind,
    mut record: Value,
    renewal_of: Option<&str>,
) -> Result<LicenceRecord, Vec<FieldError>> {
    let today = rules_glue::today(state.clock.as_ref());
    if let Some(obj) = record.as_object_mut() {
        // Validity comes from the policy; a placeholder lets the record parse until then.
        for field in ["valid_from", "valid_until"] {
            obj.entry(field)
                .or_insert_with(|| Value::String(today.to_string()));
        }
    }
    let mut problems = super::schemas::validate(kind, &record);
    let parsed = match LicenceRecord::parse(kind, &record) {
        Ok(parsed) => Some(parsed),
        Err(errors) => {
            for error in errors.0 {
                if !problems.iter().any(|p| p.field == error.field) {
                    problems.push(error);
                }
            }
            None
        }
    };
    if let Some(parsed) = &parsed {
        problems.extend(rules_glue::formal(state, parsed, renewal_of, today));
        if let Some(old) = renewal_of {
            problems.extend(check_renewal_of(state, parsed, old));
        }
    }
    match parsed {
        Some(parsed) if problems.is_empty() => Ok(parsed),
        _ => Err(problems),
    }
}

/// A renewal must name a licence of the same kind and holder that is open for renewal.
fn check_renewal_of(state: &AppState, record: &LicenceRecord, old: &str) -> Option<FieldError> {
    let problem = |message: String| FieldError {
        field: "renewal_of".into(),
        rule: "renewal",
        message,
    };
    let licence = match state.read_view().licence(old) {
        Ok(Some(licence)) => licence,
        Ok(None) => return Some(problem(format!("no licence {old}"))),
        Err(e) => return Some(problem(format!("the registry could not read {old}: {e}"))),
    };
    if licence.kind != record.kind().as_str() || licence.holder_id != record.holder_id() {
        return Some(problem(
            "the licence belongs to another holder or kind".into(),
        ));
    }
    super::licences::renewal_open(&licence, state.clock.now_unix())
        .err()
        .map(problem)
}

/// The subject identifiers an agency is asked about.
fn subject_of(record: &LicenceRecord) -> serde_json::Map<String, Value> {
    let mut subject = serde_json::Map::new();
    match record {
        LicenceRecord::Driver(d) => {
            subject.insert("citizen_id".into(), d.citizen_id.as_str().into());
        }
        LicenceRecord::Vehicle(v) => {
            subject.insert("plate".into(), v.plate.as_str().into());
            subject.insert("vin".into(), v.vin.as_str().into());
            subject.insert(
                "platform_credit_code".into(),
                v.platform_credit_code.as_str().into(),
            );
        }
        LicenceRecord::Platform(p) => {
            subject.insert("credit_code".into(), p.credit_code.as_str().into());
        }
    }
    subject
}

/// Asks every required agency in parallel, logs each answer, then decides if all are in.
pub async fn run_checks(
    state: AppState,
    id: String,
    record: LicenceRecord,
) -> Result<(), ApiError> {
    let request = CheckRequest {
        application_id: id.clone(),
        kind: record.kind().as_str().to_string(),
        subject: subject_of(&record),
    };
    let required = rules_glue::required_agencies(&state.policy, record.kind());
    let calls = required.iter().map(|agency| {
        let state = state.clone();
        let request = request.clone();
        let agency = agency.clone();
        async move {
            let result = match state.agencies.get(&agency) {
                None => Err(crate::agency::AgencyError::NotConfigured(agency.clone())),
                Some(url) => state.agency_client.check(url, &request).await,
            };
            (agency, result)
        }
    });
    let results = futures::future::join_all(calls).await;
    let mut entries = Vec::with_capacity(results.len());
    for (agency, result) in results {
        let (outcome, facts, detail, metric) = match result {
            Ok(answer) => match rules_glue::check_facts(&agency, &answer.facts) {
                Ok(()) => ("answered", answer.facts, None, "answered"),
                Err(e) => ("failed", answer.facts, Some(e), "invalid_facts"),
            },
            Err(crate::agency::AgencyError::NoRecord) => (
                "answered",
                Value::Null,
                Some("no record".into()),
                "no_record",
            ),
            Err(e) => ("failed", Value::Null, Some(e.to_string()), "failed"),
        };
        state.metrics.agency_call(&agency, metric);
        entries.push(answer_entry(&id, &agency, outcome, facts, "call", detail)?);
    }
    state.record(entries).await?;
    decide_if_ready(&state, &id).await
}

fn answer_entry(
    id: &str,
    agency: &str,
    outcome: &str,
    facts: Value,
    via: &str,
    detail: Option<String>,
) -> Result<NewEntry, ApiError> {
    let body = AgencyAnswerBody {
        application_id: id.to_string(),
        agency: agency.to_string(),
        outcome: outcome.to_string(),
        facts,
        via: via.to_string(),
        detail,
    };
    events::entry(
        EventType::AgencyAnswer,
        &format!("agency:{agency}"),
        vec![events::application_subject(id)],
        &body,
    )
    .map_err(ApiError::internal)
}

/// Decides once every required agency has answered; issues on approval in the same append.
pub async fn decide_if_ready(state: &AppState, id: &str) -> Result<(), ApiError> {
    let _guard = state.lock(id).await;
    let app = state.read_view().application(id)?;
    let Some(app) = app else {
        return Err(ApiError::NotFound(format!("application {id}")));
    };
    if app.status != ApplicationStatus::Checking {
        return Ok(());
    }
    let kind: LicenceKind = app
        .kind
        .parse()
        .map_err(|_| ApiError::internal("stored kind"))?;
    let required = rules_glue::required_agencies(&state.policy, kind);
    let all_answered = required.iter().all(|a| {
        app.answers
            .get(a)
            .is_some_and(|ans| ans.outcome == "answered")
    });
    if !all_answered {
        return Ok(());
    }
    let today = rules_glue::today(state.clock.as_ref());
    let submitted = state.read_view().application_record(&app)?;
    let record = LicenceRecord::parse(kind, &with_today(&submitted, today))
        .map_err(|e| ApiError::internal(format!("stored record no longer parses: {e}")))?;
    let decided = rules_glue::evaluate(state, &record, &app, today)?;
    let body = DecisionBody {
        application_id: id.to_string(),
        outcome: decided.outcome.clone(),
        reasons: decided.reasons.clone(),
        policy: decided.policy.clone(),
    };
    let mut entries = vec![events::entry(
        EventType::Decision,
        "rules",
        vec![events::application_subject(id)],
        &body,
    )
    .map_err(ApiError::internal)?];
    if let Some((from, until)) = decided.validity {
        entries.push(issue_entry(state, &app, &submitted, kind, from, until)?);
    }
    match state.try_record(entries).await {
        Ok(_) => Ok(()),
        // Approved, but the registry changed meanwhile (the plate was licensed, the licence
        // being renewed was revoked): the application is refused with that reason.
        Err(super::Recorded::Refused(refusal)) if decided.validity.is_some() => {
            refuse_for(state, id, &decided.policy, &refusal).await
        }
        Err(super::Recorded::Refused(refusal)) => Err(ApiError::from(refusal)),
        Err(super::Recorded::Failed(e)) => Err(ApiError::internal(e)),
    }
}

/// Logs a refusal of an approved application whose issuance the registry refused.
async fn refuse_for(
    state: &AppState,
    id: &str,
    policy: &str,
    refusal: &crate::registry::Refusal,
) -> Result<(), ApiError> {
    let body = DecisionBody {
        application_id: id.to_string(),
        outcome: "refused".into(),
        reasons: vec![super::events::ReasonBody {
            rule: format!("registry_{}", refusal.code()),
            agency: None,
            message: refusal.to_string(),
        }],
        policy: policy.to_string(),
    };
    let entry = events::entry(
        EventType::Decision,
        "rules",
        vec![events::application_subject(id)],
        &body,
    )
    .map_err(ApiError::internal)?;
    state.record(vec![entry]).await.map(|_| ())
}

fn with_today(record: &Value, today: time::Date) -> Value {
    let mut record = record.clone();
    if let Some(obj) = record.as_object_mut() {
        for field in ["valid_from", "valid_until"] {
            obj.entry(field)
                .or_insert_with(|| Value::String(today.to_string()));
        }
    }
    record
}

fn issue_entry(
    state: &AppState,
    app: &ApplicationView,
    submitted: &Value,
    kind: LicenceKind,
    from: time::Date,
    until: time::Date,
) -> Result<NewEntry, ApiError> {
    let mut record = submitted.clone();
    if let Some(obj) = record.as_object_mut() {
        obj.insert("valid_from".into(), Value::String(from.to_string()));
        obj.insert("valid_until".into(), Value::String(until.to_string()));
    }
    let record = LicenceRecord::parse(kind, &record)
        .map_err(|e| ApiError::internal(format!("decided record does not parse: {e}")))?;
    let mut context = IssueContext {
        application_id: Some(app.id.clone()),
        status_index: Some(state.next_status_index(kind)),
        ..IssueContext::default()
    };
    if let Some(old) = &app.renewal_of {
        if let Some(licence) = state.read_view().licence(old)? {
            let number: crate::ids::LicenceNumber =
                licence.number.parse().map_err(ApiError::internal)?;
            context.supersedes = Some(licence.number.clone());
            context.serial = Some(number.serial());
            context.version = Some(super::licences::next_version(&number)?);
            context.event = Some(EventType::Renewal);
        }
    }
    let serial = state
        .ids
        .next_serial()
        .ok_or_else(|| ApiError::internal("licence serials exhausted"))?;
    let now = state.clock.now_unix();
    let prepared = issuance::prepare(serial, &state.signer, &record, "rules", now, &context)
        .map_err(ApiError::internal)?;
    Ok(prepared.entry)
}

/// The API view of an application, with the credential once issued.
pub fn respond(state: &AppState, id: &str) -> Result<ApplicationResponse, ApiError> {
    let view = state.read_view();
    let app = view
        .application(id)?
        .ok_or_else(|| ApiError::NotFound(format!("application {id}")))?;
    let kind: Option<LicenceKind> = app.kind.parse().ok();
    let waiting_for = match (app.status, kind) {
        (ApplicationStatus::Checking, Some(kind)) => {
            rules_glue::required_agencies(&state.policy, kind)
                .into_iter()
                .filter(|a| {
                    app.answers
                        .get(a)
                        .is_none_or(|ans| ans.outcome != "answered")
                })
                .collect()
        }
        _ => Vec::new(),
    };
    let credential = match app.licence_number.as_ref() {
        Some(number) => match view.licence(number)? {
            Some(licence) => Some(view.issued(&licence)?.credential.into_vec()),
            None => None,
        },
        None => None,
    };
    let light = light_for(state, &app);
    Ok(ApplicationResponse {
        waiting_for,
        light,
        verification_url: credential
            .as_ref()
            .map(|c| qr::verification_url(&state.public_base_url, c)),
        credential: credential.map(|c| URL_SAFE_NO_PAD.encode(c)),
        view: app,
    })
}

/// Green, yellow (within 20% of the limit) or red (late); finished applications are green.
pub fn light_for(state: &AppState, app: &ApplicationView) -> &'static str {
    let finished = matches!(
        app.status,
        ApplicationStatus::Issued | ApplicationStatus::Refused | ApplicationStatus::NotAccepted
    );
    if finished {
        return "green";
    }
    let now_ms = u64::try_from(state.clock.now_unix_ms()).unwrap_or(0);
    let minutes =
        |since_ms: u64| u32::try_from(now_ms.saturating_sub(since_ms) / 60_000).unwrap_or(u32::MAX);
    // The stage in progress has its own limit; the whole application has one too.
    let stage = match app.status {
        ApplicationStatus::Checking => Stage::AgencyAnswer,
        _ => Stage::Decision,
    };
    let stage_started = app.steps.last().map_or(app.created_ms, |s| s.at_ms);
    let deadlines = state.policy.deadlines();
    let worst = deadlines
        .light(stage, minutes(stage_started))
        .max(deadlines.light(Stage::Application, minutes(app.created_ms)));
    match worst {
        Light::Green => "green",
        Light::Yellow => "yellow",
        Light::Red => "red",
    }
}

/// `GET /v1/applications/{id}`.
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ApplicationResponse>, ApiError> {
    caller.require(&[RoleKind::Portal, RoleKind::Officer])?;
    if id.len() > MAX_APPLICATION_ID_BYTES {
        return Err(ApiError::NotFound("application".into()));
    }
    respond(&state, &id).map(Json)
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub overdue: bool,
}

/// `GET /v1/applications[?overdue=true]`.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&[RoleKind::Officer])?;
    // Open applications, oldest first, then the latest finished ones: the whole history is
    // never walked.
    let ids: Vec<String> = {
        let view = state.read_view();
        let mut apps = view.open_applications()?;
        if !query.overdue {
            apps.extend(view.recently_finished(MAX_LISTED)?);
        }
        apps.into_iter().map(|a| a.id).collect()
    };
    let mut items = Vec::new();
    for id in ids {
        let response = respond(&state, &id)?;
        if query.overdue && response.light == "green" {
            continue;
        }
        items.push(response);
        if items.len() >= MAX_LISTED {
            break;
        }
    }
    Ok(Json(serde_json::json!({ "applications": items })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushedAnswer {
    pub application_id: String,
    pub facts: Value,
}

/// `POST /v1/agency-answers`: an agency answers after its call failed or timed out.
pub async fn agency_answer(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<PushedAnswer>, JsonRejection>,
) -> Result<Json<ApplicationResponse>, ApiError> {
    caller.require(&[RoleKind::Agency])?;
    let super::Role::Agency(agency) = caller.role.clone() else {
        return Err(ApiError::Forbidden("agency"));
    };
    let Json(pushed) = body.map_err(json_rejection)?;
    let status = state
        .read_view()
        .application(&pushed.application_id)?
        .map(|a| a.status);
    match status {
        None => {
            return Err(ApiError::NotFound(format!(
                "application {}",
                pushed.application_id
            )))
        }
        Some(ApplicationStatus::Checking) => {}
        Some(_) => {
            return Err(ApiError::Conflict(
                "the application is no longer waiting for answers".into(),
            ))
        }
    }
    rules_glue::check_facts(&agency, &pushed.facts)
        .map_err(|e| ApiError::bad("invalid_facts", e, Some("facts")))?;
    let entry = answer_entry(
        &pushed.application_id,
        &agency,
        "answered",
        pushed.facts,
        "push",
        None,
    )?;
    state.record(vec![entry]).await?;
    decide_if_ready(&state, &pushed.application_id).await?;
    respond(&state, &pushed.application_id).map(Json)
}

/// Whether a holder already has a licence of `kind` that counts (valid or suspended).
pub fn holds_licence(
    state: &AppState,
    holder_id: &str,
    kind: LicenceKind,
) -> Result<bool, ApiError> {
    Ok(state
        .read_view()
        .licences_of_holder(holder_id)?
        .iter()
        .any(|l| l.kind == kind.as_str() && l.status.holds()))
}

/// Revocation dates of a holder's licences, for the look-back rule.
pub fn revocations(state: &AppState, holder_id: &str) -> Result<BTreeMap<String, u64>, ApiError> {
    Ok(state
        .read_view()
        .licences_of_holder(holder_id)?
        .into_iter()
        .filter(|l| l.status == LicenceStatus::Revoked)
        .map(|l| (l.number, l.since_ms))
        .collect())
}
