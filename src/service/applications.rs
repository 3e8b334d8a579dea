//! Applications: formal review, parallel agency checks, the automatic decision, and issuance.
//!
//! Formal review runs first and returns every problem at once. An accepted application is checked
//! with every agency the policy names, all at the same time; each answer is logged as evidence.
//! When every answer is in, the rules engine decides, and an approval issues the licence in the
//! same atomic append as the decision. An agency that does not answer leaves the application
//! visibly waiting until its deadline; it may answer later through `/v1/agency-answers`.

use super::extract::{ApiPath, ApiQuery};
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth::Caller;
use super::error::{json_rejection, ApiError};
use super::registry::{ApplicationStatus, ApplicationView};
use super::AppState;
use crate::agency::CheckRequest;
use crate::ids::LicenceKind;
use crate::model::{FieldError, LicenceRecord};
use crate::qr;
use crate::registry::commands::{
    self, Activation, AgencyAnswer, AnswerOutcome, AnswerVia, Submitted,
};
use crate::registry::CommandError;
use crate::rules::{Light, Stage};

pub use crate::registry::commands::MAX_APPLICATION_ID_BYTES;
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
    /// For a driver licence issued while the caller waited: the holder's one-time wallet
    /// activation code (shown once; the registry keeps only its hash).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wallet_activation: Option<Value>,
}

/// `POST /v1/applications`.
pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<SubmitQuery>,
    body: Result<Json<Submission>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(mut submission) = body.map_err(json_rejection)?;
    let kind: LicenceKind = submission.kind.parse().map_err(|_| {
        ApiError::bad(
            "enum",
            "kind must be driver, vehicle or platform",
            Some("kind"),
        )
    })?;
    if kind == LicenceKind::Driver {
        // The image is kept beside the ledger; the logged record carries its hash.
        super::portraits::take_portrait(&state, &mut submission.record)?;
    }
    let submitted = state
        .registry
        .submit(
            &caller.actor(),
            commands::Submission {
                kind,
                record: submission.record,
                renewal_of: submission.renewal_of,
            },
        )
        .await?;
    respond_submitted(&state, &caller.actor(), submitted, query.wait).await
}

/// Answers a logged application: 422 with every problem, or 201 with the application while its
/// agency checks run (waiting for them when asked to).
pub async fn respond_submitted(
    state: &AppState,
    actor: &str,
    submitted: Submitted,
    wait: bool,
) -> Result<Response, ApiError> {
    let id = submitted.id;
    let record = match submitted.review {
        Ok(record) => record,
        Err(problems) => return Ok(not_accepted(&id, problems)),
    };
    let task_state = state.clone();
    let task_id = id.clone();
    // Whoever waits gets the holder's first wallet activation code from the decision's own
    // append. A wait that times out leaves that code unseen: only its hash is logged, it
    // expires, and the holder asks for another.
    let activation_for = wait.then(|| actor.to_string());
    let task = tokio::spawn(async move {
        let agencies = commands::required_agencies(&task_state.policy, record.kind());
        let result = run_checks(
            task_state,
            task_id.clone(),
            record,
            agencies,
            activation_for,
        )
        .await;
        if let Err(e) = &result {
            tracing::error!(application = %task_id, error = %e, "agency checks failed");
        }
        result
    });
    let mut activation = None;
    if wait {
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(MAX_WAIT_MS), task).await;
        match waited {
            Ok(Ok(Err(e))) => return Err(e.into()),
            Ok(Ok(Ok(made))) => activation = made,
            _ => {}
        }
    }
    let mut response = respond(state, &id)?;
    let issued_driver = response.view.status == ApplicationStatus::Issued
        && response.view.kind == LicenceKind::Driver.as_str();
    if let (true, Some(number)) = (issued_driver, &response.view.licence_number) {
        // Decided by another path meanwhile (an agency's late answer): a code of its own.
        let activation = match activation {
            Some(made) if &made.number == number => made,
            _ => state.registry.wallet_activation(actor, number).await?,
        };
        response.wallet_activation = Some(super::wallet::activation_json(state, &activation)?);
    }
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

/// Asks `agencies` in parallel (the I/O edge), then hands the answers to the registry, which
/// logs them and decides if all are in (with a wallet activation code for `activation_for`
/// when that issues a driver licence).
pub async fn run_checks(
    state: AppState,
    id: String,
    record: LicenceRecord,
    agencies: Vec<String>,
    activation_for: Option<String>,
) -> Result<Option<Activation>, CommandError> {
    let request = CheckRequest {
        application_id: id.clone(),
        kind: record.kind().as_str().to_string(),
        subject: subject_of(&record),
    };
    let calls = agencies.iter().map(|agency| {
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
    let mut answers = Vec::with_capacity(results.len());
    for (agency, result) in results {
        let (outcome, facts, detail, metric) = match result {
            Ok(answer) => match commands::check_facts(&agency, &answer.facts) {
                Ok(()) => (AnswerOutcome::Answered, answer.facts, None, "answered"),
                Err(e) => (
                    AnswerOutcome::Failed,
                    answer.facts,
                    Some(e),
                    "invalid_facts",
                ),
            },
            // "No record" is an answer; the policy decides what it means.
            Err(crate::agency::AgencyError::NoRecord) => {
                (AnswerOutcome::NoRecord, Value::Null, None, "no_record")
            }
            Err(e) => (
                AnswerOutcome::Failed,
                Value::Null,
                Some(e.to_string()),
                "failed",
            ),
        };
        state.metrics.agency_call(&agency, metric);
        answers.push(AgencyAnswer {
            agency,
            outcome,
            facts,
            via: AnswerVia::Call,
            detail,
        });
    }
    state
        .registry
        .conclude_checks(&id, answers, activation_for.as_deref())
        .await
}

/// Starts the agency checks of every application the service was still checking when it last
/// stopped (or died): only agencies with no logged answer are asked, so each answer is logged
/// once. Returns how many applications were resumed.
pub async fn resume_checks(state: &AppState) -> Result<usize, ApiError> {
    let open = state.read_view().open_applications()?;
    let mut resumed = 0;
    for app in open {
        if app.status != crate::registry::ApplicationStatus::Checking {
            continue;
        }
        let Some(kind) = app.kind.parse::<LicenceKind>().ok() else {
            continue;
        };
        let unanswered: Vec<String> = commands::required_agencies(&state.policy, kind)
            .into_iter()
            .filter(|agency| !app.answers.contains_key(agency))
            .collect();
        let record = match state.registry.submitted_record(&app, kind) {
            Ok(record) => record,
            Err(e) => {
                tracing::warn!(application = %app.id, error = %e, "not resumed");
                continue;
            }
        };
        let (task_state, id) = (state.clone(), app.id.clone());
        resumed += 1;
        tokio::spawn(async move {
            let result = if unanswered.is_empty() {
                // Every answer is in, but the decision was not logged before the stop.
                task_state.registry.decide_if_ready(&id).await
            } else {
                run_checks(task_state, id.clone(), record, unanswered, None)
                    .await
                    .map(|_| ())
            };
            if let Err(e) = result {
                tracing::error!(application = %id, error = %e, "resumed checks failed");
            }
        });
    }
    Ok(resumed)
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
            commands::required_agencies(&state.policy, kind)
                .into_iter()
                .filter(|a| app.answers.get(a).is_none_or(|ans| !ans.is_answer()))
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
        wallet_activation: None,
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
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ApplicationResponse>, ApiError> {
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
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
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
    let super::Role::Agency(agency) = caller.role.clone() else {
        return Err(ApiError::Forbidden("agency"));
    };
    let Json(pushed) = body.map_err(json_rejection)?;
    if pushed.application_id.len() > MAX_APPLICATION_ID_BYTES {
        return Err(ApiError::NotFound("application".into()));
    }
    state
        .registry
        .push_answer(&agency, &pushed.application_id, pushed.facts)
        .await?;
    respond(&state, &pushed.application_id).map(Json)
}
