//! Licence lookup for officers: by full number, short serial, citizen ID or credit code, or plate,
//! each licence with its whole history read back from the ledger (every step with its time,
//! actor and what it says), the holder's alerts and credit records, and the forms that suspend,
//! reinstate or revoke.

use std::fmt::Write as _;

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::html::{self, escape, time, url_encode};
use super::pages::{caller_of, flash, kind_zh};
use super::Officer;
use crate::ids::Plate;
use crate::ledger::{Entry, EventType, Seq, SubjectKind};
use crate::service::licences::{effective_status, transition, ActionBody};
use crate::service::registry::{LicenceStatus, LicenceView};
use crate::service::reports;
use crate::service::AppState;

/// Most history rows shown for one lookup.
pub const MAX_HISTORY_ROWS: usize = 500;
/// Longest lookup query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 128;

fn event_zh(event: EventType) -> &'static str {
    match event {
        EventType::Application => "申请",
        EventType::AgencyAnswer => "部门答复",
        EventType::Decision => "决定",
        EventType::Issue => "发证",
        EventType::Suspension => "暂停",
        EventType::Reinstatement => "恢复",
        EventType::Revocation => "吊销",
        EventType::Renewal => "延续",
        EventType::Reissue => "补证",
        EventType::Rebind => "变更平台",
        EventType::Cancellation => "注销",
        EventType::Expiry => "到期",
        EventType::Access => "调阅",
        EventType::Alert => "部门预警",
        EventType::AlertRefused => "越权预警（已拒绝）",
        EventType::Report => "乘客举报",
        EventType::CreditRecord => "失信记录",
        EventType::KeyChange => "密钥变更",
        EventType::ReportReview => "举报处理",
        EventType::Import => "存量导入",
        EventType::WalletActivation => "电子证激活码",
        EventType::WalletBinding => "绑定手机",
        EventType::WalletUnbinding => "解除手机绑定",
    }
}

#[derive(Deserialize)]
pub struct LookupQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// Licence numbers a query names: a full number or short serial, a holder id, or a plate.
fn matches(state: &AppState, query: &str) -> Result<Vec<LicenceView>, crate::service::ApiError> {
    let view = state.read_view();
    let mut licences: Vec<LicenceView> = Vec::new();
    if let Some(licence) = view.licence(query)? {
        licences.push(licence);
    }
    licences.extend(view.licences_of_holder(&query.to_ascii_uppercase())?);
    if let Ok(plate) = query.parse::<Plate>() {
        licences.extend(view.licences_of_plate(plate.as_str())?);
    }
    licences.sort_by_key(|l| std::cmp::Reverse(l.issue_seq));
    licences.dedup_by(|a, b| a.number == b.number);
    Ok(licences)
}

/// `GET /officer/lookup?q=`: licences by number, credit code or plate, each with its ledger
/// history. A citizen id is refused here: it goes in the POST form, never in a URL.
pub async fn lookup(
    State(state): State<AppState>,
    officer: Officer,
    Query(query): Query<LookupQuery>,
) -> Result<Html<String>, crate::service::ApiError> {
    let q = query.q.trim();
    if q.parse::<crate::ids::CitizenId>().is_ok() {
        let refused = "身份证号请用查询表单提交，不放入网址。Search by citizen ID with the form: it must not be in a URL.";
        return render(&state, &officer, "", None, Some(refused));
    }
    render(
        &state,
        &officer,
        q,
        query.done.as_deref(),
        query.error.as_deref(),
    )
}

#[derive(Deserialize)]
pub struct LookupForm {
    csrf: String,
    #[serde(default)]
    q: String,
}

/// `POST /officer/lookup` (form: csrf, q): the same search with the query in the body, for
/// citizen ids.
pub async fn lookup_form(
    State(state): State<AppState>,
    officer: Officer,
    form: Result<Form<LookupForm>, FormRejection>,
) -> Result<Response, crate::service::ApiError> {
    let Ok(Form(form)) = form else {
        return Ok(Redirect::to("/officer/lookup").into_response());
    };
    if !officer.csrf_ok(&form.csrf) {
        return Ok(officer.csrf_refused());
    }
    Ok(render(&state, &officer, form.q.trim(), None, None)?.into_response())
}

fn render(
    state: &AppState,
    officer: &Officer,
    q: &str,
    done: Option<&str>,
    error: Option<&str>,
) -> Result<Html<String>, crate::service::ApiError> {
    let mut body = format!(
        "<h1>证照查询 Licence lookup</h1><form method=\"post\" action=\"/officer/lookup\" id=\"lookup\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input name=\"q\" value=\"{q}\" placeholder=\"证号 / 身份证号 / 统一社会信用代码 / 车牌\" size=\"50\" maxlength=\"{MAX_QUERY_BYTES}\"> \
         <button>查询 Search</button></form>",
        csrf = escape(&officer.csrf),
        q = escape(q)
    );
    if let Some(done) = done {
        body.push_str(&flash(&format!("已{done}. Done."), false));
    }
    if let Some(error) = error {
        body.push_str(&flash(error, true));
    }
    let page = |body: &str| Html(html::page("证照查询", "lookup", Some(&officer.csrf), body));
    if q.is_empty() || q.len() > MAX_QUERY_BYTES {
        return Ok(page(&body));
    }
    let licences = matches(state, q)?;
    if licences.is_empty() {
        body.push_str(&flash(&format!("未找到 {q}. Nothing found."), true));
    }
    let now = state.clock.now_unix();
    for licence in &licences {
        licence_section(state, officer, licence, now, &mut body);
    }
    if let Some(holder) = licences.first().map(|l| l.holder_id.clone()) {
        holder_section(state, &holder, &mut body)?;
    }
    Ok(page(&body))
}

fn licence_section(
    state: &AppState,
    officer: &Officer,
    licence: &LicenceView,
    now: i64,
    body: &mut String,
) {
    let status = effective_status(licence, now);
    let status_text = status.as_str();
    let status_zh = match status {
        LicenceStatus::Valid => "有效",
        LicenceStatus::Suspended => "暂停",
        LicenceStatus::Revoked => "吊销或注销",
        LicenceStatus::Expired => "过期",
        LicenceStatus::Superseded => "已换发",
    };
    let _ = write!(
        body,
        "<section class=\"card licence\" data-number=\"{number}\" data-status=\"{status_text}\"><h2>{kind} {short}</h2>\
         <p>证号 <code>{number}</code><br>状态 <strong>{status_zh} {status_text}</strong> {reason}<br>持证人 {holder} · 车牌 {plate} · 平台 {platform}<br>有效期 {from} 至 {until}</p>",
        number = escape(&licence.number),
        kind = kind_zh(&licence.kind),
        short = escape(&licence.short_serial),
        reason = escape(licence.reason.as_deref().unwrap_or("")),
        holder = escape(&licence.holder_id),
        plate = escape(licence.plate.as_deref().unwrap_or("—")),
        platform = escape(licence.platform.as_deref().unwrap_or("—")),
        from = day(licence.not_before),
        until = day(licence.expires),
    );
    use crate::service::registry::LicenceStatus::{Suspended, Valid};
    let actions: &[(&str, &str, bool)] = match status {
        Valid => &[
            ("suspend", "暂停 Suspend", true),
            ("revoke", "吊销 Revoke", true),
        ],
        Suspended => &[
            ("reinstate", "恢复 Reinstate", false),
            ("revoke", "吊销 Revoke", true),
        ],
        _ => &[],
    };
    // The public sees only the category; the reason stays with officers.
    let mut categories = String::new();
    for key in state.policy.reasons().keys() {
        if let Some(label) = state.policy.reasons().label(key) {
            let selected = if key == "administrative" {
                " selected"
            } else {
                ""
            };
            let _ = write!(
                categories,
                "<option value=\"{key}\"{selected}>{zh} {en}</option>",
                key = escape(key),
                zh = escape(&label.zh),
                en = escape(&label.en),
            );
        }
    }
    for (action, label, needs_reason) in actions {
        let required = if *needs_reason { " required" } else { "" };
        let category = if *needs_reason {
            format!("<select name=\"category\" title=\"公开类别 public category\">{categories}</select> ")
        } else {
            String::new()
        };
        let _ = write!(
            body,
            "<form class=\"inline\" method=\"post\" action=\"/officer/licences/{number}/{action}\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input name=\"reason\" placeholder=\"理由 reason\" maxlength=\"200\"{required}> \
             {category}<button>{label}</button></form> ",
            number = escape(&licence.number),
            csrf = escape(&officer.csrf),
        );
    }
    let mut seqs: Vec<Seq> = state
        .ledger
        .history(SubjectKind::Licence, &licence.short_serial)
        .unwrap_or_default();
    if let Some(app) = &licence.application_id {
        seqs.extend(
            state
                .ledger
                .history(SubjectKind::Application, app)
                .unwrap_or_default(),
        );
    }
    history_table(state, seqs, body);
    body.push_str("</section>");
}

fn holder_section(
    state: &AppState,
    holder: &str,
    body: &mut String,
) -> Result<(), crate::service::ApiError> {
    let seqs: Vec<Seq> = state
        .ledger
        .history(SubjectKind::Holder, holder)
        .unwrap_or_default();
    let today = crate::registry::commands::today(state.clock.as_ref());
    let barred = reports::barred_until(state.read_view(), holder, today)?;
    let _ = write!(
        body,
        "<section class=\"card\"><h2>持证人记录 Holder {}</h2><p>{}</p>",
        escape(holder),
        barred.map_or(
            "无有效失信记录 No active credit record".to_string(),
            |d| format!("失信惩戒期至 {} barred until", reports::iso(d))
        )
    );
    history_table(state, seqs, body);
    body.push_str("</section>");
    Ok(())
}

fn day(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| reports::iso(t.date()))
        .unwrap_or_default()
}

/// One row per ledger entry, newest last: time, event, actor and what it says.
fn history_table(state: &AppState, mut seqs: Vec<Seq>, body: &mut String) {
    seqs.sort_unstable();
    seqs.dedup();
    let skip = seqs.len().saturating_sub(MAX_HISTORY_ROWS);
    body.push_str("<table class=\"history\"><tr><th>#</th><th>时间</th><th>事项</th><th>操作方</th><th>说明</th></tr>");
    for seq in seqs.into_iter().skip(skip) {
        let Ok(entry) = state.ledger.entry(seq) else {
            continue;
        };
        let _ = write!(
            body,
            "<tr data-event=\"{event}\"><td>{seq}</td><td>{at}</td><td>{zh}</td><td>{actor}</td><td>{detail}</td></tr>",
            event = entry.event.as_str(),
            seq = entry.seq.0,
            at = time(entry.timestamp_ms),
            zh = event_zh(entry.event),
            actor = escape(&entry.actor),
            detail = escape(&describe(&entry)),
        );
    }
    body.push_str("</table>");
}

/// What an entry says, in one line.
fn describe(entry: &Entry) -> String {
    use crate::registry::Event;
    let Ok(event) = Event::decode(entry.event, &entry.body) else {
        return String::new();
    };
    if let Some(issued) = event.issued() {
        return issued.number.clone();
    }
    if let Some((status, _)) = event.status_change() {
        return status.reason.clone();
    }
    match event {
        Event::Application(b) if b.accepted => "受理 accepted".into(),
        Event::Application(b) => format!("不予受理：{} 项问题", b.problems.len()),
        Event::AgencyAnswer(b) => format!("{}: {} ({})", b.agency, b.outcome, b.via),
        Event::Decision(b) => {
            let reasons: Vec<&str> = b.reasons.iter().map(|r| r.message.as_str()).collect();
            format!("{} ({}) {}", b.outcome, b.policy, reasons.join("；"))
        }
        Event::Alert(b) => format!("{} {} → {}", b.agency, b.alert_type, b.action),
        Event::AlertRefused(b) => format!("{} {} refused: {}", b.agency, b.alert_type, b.message),
        Event::CreditRecord(b) => format!(
            "{}（{}）至 {}",
            b.behaviour_zh,
            b.against,
            b.barred_until.as_deref().unwrap_or("—")
        ),
        Event::Report(b) => b.reason,
        Event::ReportReview(b) => format!("#{} {}：{}", b.report_id, b.outcome, b.note),
        Event::Access(b) => b.reason,
        _ => String::new(),
    }
}

#[derive(Deserialize)]
pub struct ActionForm {
    csrf: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    category: String,
}

/// `POST /officer/licences/{number}/{action}`: suspend, reinstate or revoke.
pub async fn action(
    State(state): State<AppState>,
    officer: Officer,
    Path((number, action)): Path<(String, String)>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return Redirect::to("/officer/lookup").into_response();
    };
    if !officer.csrf_ok(&form.csrf) {
        return officer.csrf_refused();
    }
    let back = |extra: String| {
        let q: String = url_encode(&number);
        Redirect::to(&format!("/officer/lookup?q={q}&{extra}")).into_response()
    };
    if !matches!(action.as_str(), "suspend" | "reinstate" | "revoke") {
        return back(format!("error={}", url_encode("unknown action")));
    }
    let full = match state.read_view().licence(&number) {
        Ok(found) => found.map(|l| l.number),
        Err(e) => return crate::service::ApiError::from(e).into_response(),
    };
    let Some(full) = full else {
        return back(format!("error={}", url_encode("no such licence")));
    };
    let reason = Some(form.reason.trim().to_string()).filter(|r| !r.is_empty());
    let category = Some(form.category.trim().to_string()).filter(|c| !c.is_empty());
    let body = ActionBody {
        reason,
        category,
        platform_credit_code: None,
    };
    match transition(&state, &caller_of(&officer), &full, &action, body).await {
        Ok(_) => back(format!("done={action}")),
        Err(e) => back(format!("error={}", url_encode(&e.public_message()))),
    }
}
