//! `GET /officer/dashboard`: the statistics as SVG charts drawn on the server, so the page needs
//! no JavaScript and no charting library, prints cleanly and shows the same numbers as
//! `/v1/stats`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::State;
use axum::response::Html;

use super::html::{self, escape};
use super::Officer;
use crate::service::stats::{self, Bucket, Counts, Statistics};
use crate::service::AppState;

/// Months and days the charts cover.
const MONTHS_SHOWN: usize = 12;
const DAYS_SHOWN: usize = 30;

const FUNNEL: [(&str, &str, &str); 4] = [
    ("received", "收件 received", "#6b8fd6"),
    ("accepted", "受理 accepted", "#3a6fc4"),
    ("approved", "准予 approved", "#1f9d55"),
    ("issued", "发证 issued", "#0b6e3a"),
];

/// One series of a bar chart: name, colour, one value per category.
type Series<'a> = (&'a str, &'a str, Vec<u64>);

fn stage(counts: &Counts, key: &str) -> u64 {
    match key {
        "received" => counts.received,
        "accepted" => counts.accepted,
        "approved" => counts.approved,
        "issued" => counts.issued,
        _ => counts.refused,
    }
}

/// A grouped bar chart: one group per category, one bar per series. Each bar carries
/// `data-series`, `data-category` and `data-value`, and a `<title>` for hover and screen readers.
pub fn bars(id: &str, title: &str, categories: &[String], series: &[Series<'_>]) -> String {
    let (width, height, left, bottom, top) = (720.0_f64, 260.0_f64, 44.0, 40.0, 28.0);
    let max = series
        .iter()
        .flat_map(|s| s.2.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_h = height - bottom - top;
    let group_w = (width - left - 10.0) / categories.len().max(1) as f64;
    let bar_w = (group_w * 0.8 / series.len().max(1) as f64).clamp(1.0, 48.0);
    let mut svg = format!(
        "<svg id=\"{id}\" class=\"chart\" viewBox=\"0 0 {width} {height}\" width=\"100%\" role=\"img\" aria-label=\"{t}\" xmlns=\"http://www.w3.org/2000/svg\">\
         <text x=\"{left}\" y=\"16\" font-size=\"14\" font-weight=\"bold\">{t}</text>\
         <line x1=\"{left}\" y1=\"{base}\" x2=\"{width}\" y2=\"{base}\" stroke=\"#999\"/>\
         <text x=\"{lx}\" y=\"{ty}\" font-size=\"11\" text-anchor=\"end\">{max}</text><text x=\"{lx}\" y=\"{base}\" font-size=\"11\" text-anchor=\"end\">0</text>",
        id = escape(id),
        t = escape(title),
        base = height - bottom,
        lx = left - 4.0,
        ty = top + 4.0,
    );
    for (c, category) in categories.iter().enumerate() {
        // Centre the group's bars in their slot.
        let gx = left + group_w * c as f64 + (group_w - bar_w * series.len() as f64) / 2.0;
        for (s, (name, colour, values)) in series.iter().enumerate() {
            let value = values.get(c).copied().unwrap_or(0);
            let h = plot_h * value as f64 / max as f64;
            let _ = write!(
                svg,
                "<rect class=\"bar\" data-series=\"{name}\" data-category=\"{cat}\" data-value=\"{value}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar_w:.1}\" height=\"{h:.1}\" fill=\"{colour}\"><title>{cat} {label}: {value}</title></rect>",
                name = escape(name),
                cat = escape(category),
                label = escape(name),
                x = gx + bar_w * s as f64,
                y = height - bottom - h,
            );
            if categories.len() <= 12 {
                let _ = write!(
                    svg,
                    "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{value}</text>",
                    gx + bar_w * (s as f64 + 0.5),
                    height - bottom - h - 3.0,
                );
            }
        }
        if categories.len() <= 12 || c % (categories.len() / 10).max(1) == 0 {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
                gx + bar_w * series.len() as f64 / 2.0,
                height - bottom + 14.0,
                escape(category)
            );
        }
    }
    for (s, (name, colour, _)) in series.iter().enumerate() {
        let x = left + 150.0 * s as f64;
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"{y}\" width=\"10\" height=\"10\" fill=\"{colour}\"/><text x=\"{tx}\" y=\"{ty}\" font-size=\"11\">{}</text>",
            escape(name),
            y = height - 14.0,
            tx = x + 14.0,
            ty = height - 5.0,
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Sums buckets over kinds into one series per funnel stage, for the last `n` periods.
fn funnel_series(buckets: &[Bucket], n: usize) -> (Vec<String>, Vec<Series<'static>>) {
    let mut by_period: BTreeMap<&str, Counts> = BTreeMap::new();
    for bucket in buckets {
        let counts = by_period.entry(&bucket.period).or_default();
        counts.received += bucket.counts.received;
        counts.accepted += bucket.counts.accepted;
        counts.approved += bucket.counts.approved;
        counts.refused += bucket.counts.refused;
        counts.issued += bucket.counts.issued;
    }
    let skip = by_period.len().saturating_sub(n);
    let periods: Vec<(&str, Counts)> = by_period.into_iter().skip(skip).collect();
    let categories = periods.iter().map(|(p, _)| p.to_string()).collect();
    let series = FUNNEL
        .iter()
        .map(|(key, label, colour)| {
            (
                *label,
                *colour,
                periods.iter().map(|(_, c)| stage(c, key)).collect(),
            )
        })
        .collect();
    (categories, series)
}

fn funnel_table(stats: &Statistics) -> String {
    let mut out = String::from("<table id=\"funnel\"><tr><th>月份</th><th>类别</th><th>收件</th><th>受理</th><th>准予</th><th>不予</th><th>发证</th></tr>");
    for b in stats.months.iter().rev().take(36) {
        let c = &b.counts;
        let _ = write!(
            out,
            "<tr data-period=\"{p}\" data-kind=\"{k}\"><td>{p}</td><td>{k}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            c.received, c.accepted, c.approved, c.refused, c.issued,
            p = escape(&b.period),
            k = escape(&b.kind),
        );
    }
    out.push_str("</table>");
    out
}

fn seconds_text(seconds: Option<u64>) -> String {
    seconds.map_or("—".into(), |s| html::elapsed(s * 1000))
}

fn side_tables(stats: &Statistics) -> String {
    let mut out = String::from("<div class=\"cards\"><div class=\"card\"><h2>办理时长 Processing time</h2><table id=\"processing\"><tr><th>类别</th><th>办结</th><th>p50</th><th>p90</th></tr>");
    for (kind, p) in &stats.processing {
        let _ = write!(
            out,
            "<tr data-kind=\"{k}\" data-p50=\"{}\" data-p90=\"{}\"><td>{k}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            p.p50_seconds.unwrap_or(0),
            p.p90_seconds.unwrap_or(0),
            p.decided,
            seconds_text(p.p50_seconds),
            seconds_text(p.p90_seconds),
            k = escape(kind)
        );
    }
    out.push_str("</table><h2>逾期 Overdue</h2><table id=\"overdue\"><tr><th>类别</th><th>黄灯</th><th>红灯</th></tr>");
    for (kind, o) in &stats.overdue {
        let _ = write!(
            out,
            "<tr data-kind=\"{k}\"><td>{k}</td><td>{}</td><td>{}</td></tr>",
            o.yellow,
            o.red,
            k = escape(kind)
        );
    }
    out.push_str("</table></div><div class=\"card\"><h2>双合规率 Double compliance</h2><table id=\"compliance\"><tr><th>平台</th><th>订单</th><th>合规</th><th>比率</th></tr>");
    for (platform, rate) in &stats.compliance {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.1}%</td></tr>",
            escape(platform),
            rate.orders,
            rate.compliant,
            rate.rate * 100.0
        );
    }
    out.push_str(
        "</table><p class=\"muted\">自服务启动以来 since the service started</p></div></div>",
    );
    out
}

/// `GET /officer/dashboard`.
pub async fn page(
    State(state): State<AppState>,
    officer: Officer,
) -> Result<Html<String>, crate::service::ApiError> {
    let stats = stats::compute(&state)?;
    let (months, month_series) = funnel_series(&stats.months, MONTHS_SHOWN);
    let (days, day_series) = funnel_series(&stats.days, DAYS_SHOWN);
    let statuses = ["valid", "suspended", "revoked", "expired", "superseded"];
    let colours = ["#1f9d55", "#f5a623", "#dc2626", "#9ca3af", "#6b7280"];
    let kinds: Vec<String> = stats.licences.keys().cloned().collect();
    let status_series: Vec<Series<'_>> = statuses
        .iter()
        .zip(colours)
        .map(|(status, colour)| {
            let values = kinds
                .iter()
                .map(|k| {
                    stats
                        .licences
                        .get(k)
                        .and_then(|m| m.get(*status))
                        .copied()
                        .unwrap_or(0)
                })
                .collect();
            (*status, colour, values)
        })
        .collect();
    let mut body = format!(
        "<h1>统计 Dashboard</h1><p class=\"muted\">截至 {} · 数据来自账本 from the ledger · JSON: <code>/v1/stats</code></p>",
        html::time(stats.as_of_ms)
    );
    body.push_str(&bars(
        "chart-months",
        "按月办理情况 Monthly funnel",
        &months,
        &month_series,
    ));
    body.push_str(&bars(
        "chart-days",
        "近 30 日 Last 30 days",
        &days,
        &day_series,
    ));
    body.push_str(&bars(
        "chart-licences",
        "证照状态 Licences by status",
        &kinds,
        &status_series,
    ));
    body.push_str(&side_tables(&stats));
    body.push_str(&funnel_table(&stats));
    Ok(Html(html::page(
        "统计",
        "dashboard",
        Some(&officer.csrf),
        &body,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_value_and_escape_labels() {
        let svg = bars(
            "c",
            "t<",
            &["2026-11".into(), "2026-12".into()],
            &[("received", "#000", vec![4, 2])],
        );
        assert!(svg.contains("t&lt;"));
        assert!(svg.contains("data-value=\"4\""));
        // The tallest bar fills the plot (260 - 40 - 28 = 192); half the value, half the height.
        assert!(svg.contains("height=\"192.0\""));
        assert!(svg.contains("height=\"96.0\""));
    }
}
