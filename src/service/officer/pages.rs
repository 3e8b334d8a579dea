//! The officer pages for work in progress: the application queue with its lights and the agency
//! alerts, one application in full, and the report queue with the credit list.

use std::fmt::Write as _;

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::html::{self, elapsed, escape, light, time, url_encode};
use super::Officer;
use crate::ids::LicenceKind;
use crate::service::applications::{respond, ApplicationResponse};
use crate::service::auth::Caller;
use crate::service::registry::ApplicationStatus;
use crate::service::reports::{self, ReportStatus, ReviewRequest};
use crate::service::AppState;

/// Finished applications shown under the open ones.
const RECENT_FINISHED: usize = 30;

pub(super) fn kind_zh(kind: &str) -> &'static str {
    kind.parse::<LicenceKind>().map_or("未知", |k| k.name_zh())
}

fn status_zh(status: ApplicationStatus) -> &'static str {
    match status {
        ApplicationStatus::NotAccepted => "不予受理",
        ApplicationStatus::Checking => "部门核查中",
        ApplicationStatus::Incomplete => "待补正",
        ApplicationStatus::Refused => "不予许可",
        ApplicationStatus::Issued => "已发证",
    }
}

pub(super) fn flash(message: &str, error: bool) -> String {
    let class = if error { "flash error" } else { "flash" };
    format!("<p class=\"{class}\">{}</p>", escape(message))
}

fn application_row(out: &mut String, app: &ApplicationResponse, now_ms: u64) {
    let view = &app.view;
    let _ = write!(
        out,
        "<tr data-id=\"{id}\"><td>{light}</td><td><a href=\"/officer/applications/{id}\">{id}</a></td>\
         <td>{kind}</td><td>{status}</td><td>{waiting}</td><td>{received}</td><td>{elapsed}</td></tr>",
        id = escape(&view.id),
        light = light(app.light),
        kind = kind_zh(&view.kind),
        status = status_zh(view.status),
        waiting = escape(&app.waiting_for.join(", ")),
        received = time(view.created_ms),
        elapsed = elapsed(now_ms.saturating_sub(view.created_ms)),
    );
}

/// `GET /officer`: open applications, late ones first, then the latest finished ones.
pub async fn queue(
    State(state): State<AppState>,
    officer: Officer,
) -> Result<Html<String>, crate::service::ApiError> {
    let now_ms = u64::try_from(state.clock.now_unix_ms()).unwrap_or(0);
    let (open_ids, finished_ids) = {
        let view = state.read_view();
        let open: Vec<String> = view
            .open_applications()?
            .into_iter()
            .map(|a| a.id)
            .collect();
        let finished: Vec<String> = view
            .recently_finished(RECENT_FINISHED)?
            .into_iter()
            .map(|a| a.id)
            .collect();
        (open, finished)
    };
    let rank = |light: &str| match light {
        "red" => 0,
        "yellow" => 1,
        _ => 2,
    };
    let mut open: Vec<ApplicationResponse> = open_ids
        .iter()
        .filter_map(|id| respond(&state, id).ok())
        .collect();
    open.sort_by_key(|a| (rank(a.light), a.view.created_ms));
    let count = |name: &str| open.iter().filter(|a| a.light == name).count();
    let mut body = format!(
        "<h1>申请队列 Application queue</h1><p id=\"counts\">在办 {} 件：\
         <span data-count=\"red\">红灯 {}</span> · <span data-count=\"yellow\">黄灯 {}</span> · \
         <span data-count=\"green\">绿灯 {}</span></p>",
        open.len(),
        count("red"),
        count("yellow"),
        count("green")
    );
    let header = "<tr><th>时限</th><th>申请号</th><th>类别</th><th>状态</th><th>等待部门</th><th>提交时间</th><th>已用时</th></tr>";
    let _ = write!(body, "<table id=\"open\">{header}");
    for app in &open {
        application_row(&mut body, app, now_ms);
    }
    let _ = write!(
        body,
        "</table><h2>最近办结 Recently finished</h2><table id=\"finished\">{header}"
    );
    for app in finished_ids
        .iter()
        .filter_map(|id| respond(&state, id).ok())
    {
        application_row(&mut body, &app, now_ms);
    }
    body.push_str("</table><p class=\"muted\">黄灯：剩余时限不足 20%；红灯：已超时。Yellow: within 20% of the limit; red: late.</p>");
    alerts_section(&state, &officer.csrf, &mut body)?;
    Ok(Html(html::page(
        "申请队列",
        "queue",
        Some(&officer.csrf),
        &body,
    )))
}

/// Alerts shown under the queue.
const ALERTS_SHOWN: usize = 50;

/// The latest agency alerts; notices are the ones waiting for an officer's judgement.
fn alerts_section(
    state: &AppState,
    csrf: &str,
    body: &mut String,
) -> Result<(), crate::service::ApiError> {
    let alerts = crate::service::alerts::latest(state.read_view(), None, ALERTS_SHOWN)?;
    body.push_str("<h2>部门预警 Agency alerts</h2><table id=\"alerts\"><tr><th>时间</th><th>部门</th><th>类型</th><th>对象</th><th>处置</th><th>涉及证照</th><th>说明</th></tr>");
    for alert in alerts {
        let a = &alert.body;
        let subject = [
            &a.subject.citizen_id,
            &a.subject.plate,
            &a.subject.credit_code,
        ]
        .into_iter()
        .flatten()
        .next()
        .cloned()
        .unwrap_or_default();
        let action = match a.action {
            crate::rules::AlertAction::Suspend => "已暂停",
            crate::rules::AlertAction::Revoke => "已吊销",
            crate::rules::AlertAction::Notice => "<strong>待人工研判 notice</strong>",
        };
        let affected: Vec<String> = a
            .affected
            .iter()
            .map(|n| {
                format!(
                    "<a href=\"/officer/lookup?q={}\">{}</a>",
                    url_encode(n),
                    escape(n)
                )
            })
            .collect();
        let _ = write!(
            body,
            "<tr data-alert=\"{id}\" data-action=\"{act}\"><td>{at}</td><td>{agency}</td><td>{kind}</td>\
             <td>{subject}</td><td>{action}</td><td>{affected}</td><td>{detail}</td></tr>",
            id = escape(&a.alert_id),
            act = a.action,
            at = time(alert.at_ms),
            agency = escape(&a.agency),
            kind = escape(&a.alert_type),
            subject = html::lookup_link(&subject, csrf),
            affected = affected.join(" "),
            detail = escape(a.detail.as_deref().unwrap_or("")),
        );
    }
    body.push_str("</table>");
    refused_alerts_section(state, body)
}

/// Alerts refused as outside their agency's mandate: each is an agency acting beyond its
/// powers, which an officer follows up.
fn refused_alerts_section(
    state: &AppState,
    body: &mut String,
) -> Result<(), crate::service::ApiError> {
    let refused = state.read_view().latest_alert_refusals(ALERTS_SHOWN)?;
    if refused.is_empty() {
        return Ok(());
    }
    body.push_str("<h2>越权预警 Alerts refused (outside mandate)</h2><table id=\"refused-alerts\"><tr><th>时间</th><th>部门</th><th>类型</th><th>规则</th><th>说明</th></tr>");
    for attempt in refused {
        let a = &attempt.body;
        let _ = write!(
            body,
            "<tr data-refused-alert=\"{id}\"><td>{at}</td><td>{agency}</td><td>{kind}</td><td>{rule}</td><td>{message}</td></tr>",
            id = escape(&a.alert_id),
            at = time(attempt.at_ms),
            agency = escape(&a.agency),
            kind = escape(&a.alert_type),
            rule = a.rule.as_str(),
            message = escape(&a.message),
        );
    }
    body.push_str("</table>");
    Ok(())
}

/// `GET /officer/applications/{id}`: every step and reason of one application.
pub async fn application(
    State(state): State<AppState>,
    officer: Officer,
    Path(id): Path<String>,
) -> Response {
    let Ok(app) = respond(&state, &id) else {
        let body = flash(&format!("没有申请 {id}. No such application."), true);
        return (
            StatusCode::NOT_FOUND,
            Html(html::page("申请", "queue", Some(&officer.csrf), &body)),
        )
            .into_response();
    };
    let view = &app.view;
    let mut body = format!(
        "<h1>申请 {}</h1><p>{} · {} · {}</p>",
        escape(&view.id),
        kind_zh(&view.kind),
        status_zh(view.status),
        light(app.light)
    );
    if let Some(number) = &view.licence_number {
        let _ = write!(
            body,
            "<p>证号 <a href=\"/officer/lookup?q={n}\">{n}</a></p>",
            n = escape(number)
        );
    }
    body.push_str("<h2>理由 Reasons</h2><ul id=\"reasons\">");
    for reason in &view.reasons {
        let _ = write!(
            body,
            "<li><code>{}</code> {}</li>",
            escape(&reason.rule),
            escape(&reason.message)
        );
    }
    for problem in &view.problems {
        let _ = write!(
            body,
            "<li><code>{}</code> {}</li>",
            escape(&problem.field),
            escape(&problem.message)
        );
    }
    body.push_str("</ul><h2>过程 Steps</h2><table><tr><th>#</th><th>时间</th><th>事项</th><th>操作方</th><th>说明</th></tr>");
    for step in &view.steps {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            step.seq,
            time(step.at_ms),
            escape(&step.event),
            escape(&step.actor),
            escape(step.detail.as_deref().unwrap_or(""))
        );
    }
    body.push_str("</table>");
    Html(html::page("申请", "queue", Some(&officer.csrf), &body)).into_response()
}

#[derive(Deserialize)]
pub struct Notice {
    #[serde(default)]
    done: Option<String>,
}

/// `GET /officer/reports`: open reports with their review forms, then reviewed ones.
pub async fn reports(
    State(state): State<AppState>,
    officer: Officer,
    Query(notice): Query<Notice>,
) -> Result<Html<String>, crate::service::ApiError> {
    Ok(Html(reports_page(
        &state,
        &officer,
        notice.done.map(|d| (format!("已处理 {d}. Done."), false)),
    )?))
}

fn behaviour_options(state: &AppState) -> String {
    let mut options = String::from("<option value=\"\">— 失信行为 behaviour —</option>");
    for (code, behaviour) in &state.policy.credit().behaviours {
        let against = match behaviour.against {
            crate::rules::credit::CreditSubject::Holder => "持证人",
            crate::rules::credit::CreditSubject::Platform => "平台",
        };
        let _ = write!(
            options,
            "<option value=\"{}\">{}（{against}）</option>",
            escape(code),
            escape(&behaviour.zh)
        );
    }
    options
}

fn reports_page(
    state: &AppState,
    officer: &Officer,
    message: Option<(String, bool)>,
) -> Result<String, crate::service::ApiError> {
    let view = state.read_view();
    let open = reports::listed(view, Some(ReportStatus::Open))?;
    let mut body = String::from("<h1>乘客举报 Passenger reports</h1>");
    if let Some((text, error)) = message {
        body.push_str(&flash(&text, error));
    }
    let options = behaviour_options(state);
    let _ = write!(body, "<h2>待处理 Open ({})</h2><table id=\"open-reports\"><tr><th>#</th><th>时间</th><th>车牌</th><th>内容</th><th>联系方式</th><th>处理</th></tr>", open.len());
    for report in &open {
        let _ = write!(
            body,
            "<tr data-report=\"{id}\"><td>{id}</td><td>{at}</td><td><a href=\"/officer/lookup?q={plate}\">{plate}</a></td><td>{reason}</td><td>{contact}</td>\
             <td><form method=\"post\" action=\"/officer/reports/{id}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <select name=\"behaviour\">{options}</select> <input name=\"note\" placeholder=\"核查意见 note\" required maxlength=\"200\"> \
             <input name=\"citizen_id\" placeholder=\"驾驶员身份证号（可选）\" maxlength=\"18\" size=\"20\"> \
             <button name=\"outcome\" value=\"confirm\">属实 Confirm</button> <button name=\"outcome\" value=\"dismiss\">不属实 Dismiss</button></form></td></tr>",
            id = report.id,
            at = time(report.at_ms),
            plate = escape(&report.plate),
            reason = escape(&report.reason),
            contact = escape(report.contact.as_deref().unwrap_or("")),
            csrf = escape(&officer.csrf),
        );
    }
    body.push_str("</table><h2>已处理 Reviewed</h2><table><tr><th>#</th><th>车牌</th><th>内容</th><th>结果</th><th>行为</th><th>意见</th><th>处理人 · 时间</th></tr>");
    let reviewed = view.reports(None, reports::MAX_LISTED_REPORTS)?;
    for report in reviewed
        .iter()
        .filter(|r| r.status != ReportStatus::Open)
        .take(100)
    {
        let outcome = if report.status == ReportStatus::Confirmed {
            "属实"
        } else {
            "不属实"
        };
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{outcome}</td><td>{}</td><td>{}</td><td>{} · {}</td></tr>",
            report.id,
            escape(&report.plate),
            escape(&report.reason),
            escape(report.behaviour.as_deref().unwrap_or("")),
            escape(report.note.as_deref().unwrap_or("")),
            escape(report.reviewed_by.as_deref().unwrap_or("")),
            report.reviewed_ms.map(time).unwrap_or_default(),
        );
    }
    body.push_str("</table>");
    credit_list(state, view, &officer.csrf, &mut body)?;
    Ok(html::page(
        "乘客举报",
        "reports",
        Some(&officer.csrf),
        &body,
    ))
}

/// Credit records shown on the reports page, newest first.
const CREDIT_RECORDS_SHOWN: usize = 200;

/// The credit list (失信名单): every confirmed record, newest first, with whether it still bars.
fn credit_list(
    state: &AppState,
    view: &crate::service::registry::View,
    csrf: &str,
    body: &mut String,
) -> Result<(), crate::service::ApiError> {
    let today = reports::iso(crate::registry::commands::today(state.clock.as_ref()));
    let mut records = view.all_credit_records()?;
    records.sort_by(|a, b| b.confirmed_on.cmp(&a.confirmed_on));
    let _ = write!(
        body,
        "<h2>失信名单 Credit records ({})</h2><table id=\"credit-records\"><tr><th>对象</th><th>类别</th><th>失信行为</th><th>认定日期</th><th>限制至</th><th>车牌</th><th>举报</th></tr>",
        records.len()
    );
    for record in records.into_iter().take(CREDIT_RECORDS_SHOWN) {
        // ISO dates compare as text.
        let active = record
            .barred_until
            .as_deref()
            .is_some_and(|d| d >= today.as_str());
        let _ = write!(
            body,
            "<tr data-subject=\"{subject}\" data-active=\"{active}\"><td>{link}</td><td>{against}</td><td>{behaviour}</td><td>{on}</td><td>{until}</td><td>{plate}</td><td>{report}</td></tr>",
            subject = escape(&record.subject_id),
            link = html::lookup_link(&record.subject_id, csrf),
            against = match record.against {
                crate::rules::credit::CreditSubject::Platform => "平台",
                crate::rules::credit::CreditSubject::Holder => "持证人",
            },
            behaviour = escape(&record.behaviour_zh),
            on = escape(&record.confirmed_on),
            until = escape(record.barred_until.as_deref().unwrap_or("—")),
            plate = escape(record.plate.as_deref().unwrap_or("")),
            report = record.report_id.map(|r| format!("#{r}")).unwrap_or_default(),
        );
    }
    body.push_str("</table>");
    Ok(())
}

#[derive(Deserialize)]
pub struct ReviewForm {
    csrf: String,
    outcome: String,
    #[serde(default)]
    behaviour: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    citizen_id: String,
}

/// The caller the ledger records for what a signed-in officer does.
pub(super) fn caller_of(officer: &Officer) -> Caller {
    Caller {
        role: officer.role.clone(),
    }
}

/// `POST /officer/reports/{id}`: confirm or dismiss, then back to the queue.
pub async fn review(
    State(state): State<AppState>,
    officer: Officer,
    Path(id): Path<u64>,
    form: Result<Form<ReviewForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return match reports_page(
            &state,
            &officer,
            Some(("表单无效 invalid form".into(), true)),
        ) {
            Ok(page) => Html(page).into_response(),
            Err(e) => e.into_response(),
        };
    };
    if !officer.csrf_ok(&form.csrf) {
        return officer.csrf_refused();
    }
    let non_empty = |s: String| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let request = ReviewRequest {
        outcome: form.outcome,
        note: form.note,
        behaviour: non_empty(form.behaviour),
        citizen_id: non_empty(form.citizen_id),
    };
    match reports::review_report(&state, &caller_of(&officer), id, request).await {
        Ok(_) => Redirect::to(&format!("/officer/reports?done={id}")).into_response(),
        Err(e) => match reports_page(
            &state,
            &officer,
            Some((format!("举报 {id}：{}", e.public_message()), true)),
        ) {
            Ok(page) => (StatusCode::BAD_REQUEST, Html(page)).into_response(),
            Err(e) => e.into_response(),
        },
    }
}
