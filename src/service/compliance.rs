//! Double compliance (双合规) for orders: at the order's time, was the driver's certificate valid,
//! was the vehicle's transport certificate valid, and was the vehicle bound to the platform that
//! dispatched it? Status at a past moment comes from the view's status-history index (one
//! ordered lookup per licence, whatever its history), so a suspension that has since been lifted
//! still counts against orders taken during it.

use std::collections::BTreeMap;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::{Caller, Role};
use super::error::{json_rejection, ApiError};
use super::registry::LicenceStatus;
use super::AppState;
use crate::clock::parse_rfc3339;

/// Most orders one request may check.
pub const MAX_ORDERS_PER_CHECK: usize = 1000;
/// Longest order id or licence reference, in bytes.
pub const MAX_REFERENCE_BYTES: usize = 128;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    pub order_id: String,
    /// Driver certificate number (full or short serial).
    pub driver: String,
    /// Vehicle transport certificate number (full or short serial).
    pub vehicle: String,
    /// The dispatching platform's unified social credit code.
    pub platform: String,
    /// When the order was taken, RFC 3339.
    pub at: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    pub orders: Vec<Order>,
}

#[derive(Debug, Serialize)]
pub struct OrderResult {
    pub order_id: String,
    pub compliant: bool,
    pub reasons: Vec<String>,
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Rate {
    pub orders: u64,
    pub compliant: u64,
    pub rate: f64,
}

impl Rate {
    fn add(&mut self, compliant: bool) {
        self.orders += 1;
        self.compliant += u64::from(compliant);
        self.rate = self.compliant as f64 / self.orders as f64;
    }
}

/// A licence's state at one moment, from the view's status-history index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateAt {
    pub kind: String,
    pub status: LicenceStatus,
    pub platform: Option<String>,
    /// The public reason category of the state (platforms never see the free text).
    pub category: Option<String>,
}

/// The state of `number` at `at_ms` (an O(log n) index lookup); `None` if it was not yet issued.
pub fn state_at(state: &AppState, number: &str, at_ms: u64) -> Result<Option<StateAt>, ApiError> {
    let Some(licence) = state.read_view().licence(number)? else {
        return Ok(None);
    };
    Ok(state
        .read_view()
        .state_at(&licence, at_ms)?
        .map(|row| StateAt {
            kind: licence.kind,
            status: row.status,
            platform: row.platform,
            category: row.category,
        }))
}

/// Checks one licence for an order; pushes a reason for each failure.
fn check_licence(
    state: &AppState,
    role: &str,
    reference: &str,
    want_kind: &str,
    at: i64,
    reasons: &mut Vec<String>,
) -> Result<Option<StateAt>, ApiError> {
    let found = state
        .read_view()
        .licence(reference)?
        .map(|l| (l.number, l.not_before, l.expires));
    let Some((number, not_before, expires)) = found else {
        reasons.push(format!("{role}: no licence {reference}"));
        return Ok(None);
    };
    let at_ms = u64::try_from(at.saturating_mul(1000)).unwrap_or(0);
    let Some(held) = state_at(state, &number, at_ms)? else {
        reasons.push(format!(
            "{role}: licence {reference} was not yet issued at that time"
        ));
        return Ok(None);
    };
    if held.kind != want_kind {
        reasons.push(format!("{role}: {reference} is a {} licence", held.kind));
    } else if held.status != LicenceStatus::Valid {
        let why = held.category.as_deref().unwrap_or("no category");
        reasons.push(format!(
            "{role}: licence was {} at that time ({why})",
            held.status.as_str()
        ));
    } else if at < not_before || at > expires {
        reasons.push(format!("{role}: licence was outside its validity period"));
    }
    Ok(Some(held))
}

fn check_order(state: &AppState, order: &Order) -> Result<OrderResult, ApiError> {
    let mut reasons = Vec::new();
    let at = parse_rfc3339(&order.at);
    if let Some(at) = at {
        check_licence(state, "driver", &order.driver, "driver", at, &mut reasons)?;
        let vehicle = check_licence(
            state,
            "vehicle",
            &order.vehicle,
            "vehicle",
            at,
            &mut reasons,
        )?;
        if let Some(vehicle) = vehicle {
            if vehicle.platform.as_deref() != Some(order.platform.as_str()) {
                reasons.push(format!(
                    "vehicle: bound to platform {} at that time, not {}",
                    vehicle.platform.as_deref().unwrap_or("none"),
                    order.platform
                ));
            }
        }
    } else {
        reasons.push("at: not an RFC 3339 time".into());
    }
    Ok(OrderResult {
        order_id: order.order_id.clone(),
        compliant: reasons.is_empty(),
        reasons,
    })
}

/// `POST /v1/compliance/check`: each order's double compliance, and rates per platform for
/// this request and since the service started.
pub async fn check(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<CheckRequest>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(request) = body.map_err(json_rejection)?;
    if request.orders.len() > MAX_ORDERS_PER_CHECK {
        return Err(ApiError::bad(
            "too_many",
            format!("at most {MAX_ORDERS_PER_CHECK} orders per request"),
            Some("orders"),
        ));
    }
    for (i, order) in request.orders.iter().enumerate() {
        let fields = [
            &order.order_id,
            &order.driver,
            &order.vehicle,
            &order.platform,
            &order.at,
        ];
        if fields
            .iter()
            .any(|f| f.is_empty() || f.len() > MAX_REFERENCE_BYTES)
        {
            return Err(ApiError::bad(
                "length",
                format!("fields must be 1 to {MAX_REFERENCE_BYTES} bytes"),
                Some(&format!("orders[{i}]")),
            ));
        }
        if let Role::Platform(id) = &caller.role {
            if &order.platform != id {
                return Err(ApiError::Forbidden("a platform checks only its own orders"));
            }
        }
    }
    // A time that does not parse is the caller's mistake, not a non-compliant order: refused
    // before anything is counted.
    let bad_times: Vec<crate::model::FieldError> = request
        .orders
        .iter()
        .enumerate()
        .filter(|(_, order)| parse_rfc3339(&order.at).is_none())
        .map(|(i, _)| crate::model::FieldError {
            field: format!("orders[{i}].at"),
            rule: "rfc3339",
            message: "not an RFC 3339 time such as 2026-11-23T12:00:00+08:00".into(),
        })
        .collect();
    if !bad_times.is_empty() {
        return Err(ApiError::Invalid(bad_times));
    }
    let worker = state.clone();
    let checked = tokio::task::spawn_blocking(move || {
        request
            .orders
            .iter()
            .map(|o| check_order(&worker, o).map(|r| (o.platform.clone(), r)))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(ApiError::internal)??;
    let mut this_request: BTreeMap<String, Rate> = BTreeMap::new();
    let since_start = {
        let mut totals = state.compliance.lock().unwrap_or_else(|p| p.into_inner());
        for (platform, result) in &checked {
            this_request
                .entry(platform.clone())
                .or_default()
                .add(result.compliant);
            totals
                .entry(platform.clone())
                .or_default()
                .add(result.compliant);
        }
        this_request
            .keys()
            .filter_map(|p| totals.get(p).map(|rate| (p.clone(), *rate)))
            .collect::<BTreeMap<_, _>>()
    };
    let results: Vec<OrderResult> = checked.into_iter().map(|(_, r)| r).collect();
    Ok(Json(serde_json::json!({
        "results": results,
        "rates": this_request,
        "rates_since_start": since_start,
    })))
}
