//! The few HTML pieces every officer page shares: escaping, the page frame, times and lights.
//!
//! Pages are plain server-rendered HTML with no scripts, so they work on locked-down office
//! machines and every value that reaches them passes through [`escape`] first.

use std::fmt::Write as _;

/// Escapes text for HTML element content and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `YYYY-MM-DD HH:MM` in China Standard Time.
pub fn time(at_ms: u64) -> String {
    let seconds = i64::try_from(at_ms / 1000).unwrap_or(0);
    let t = crate::clock::china_time(seconds);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// A duration in minutes as `2天3小时` / `45分钟`.
pub fn elapsed(ms: u64) -> String {
    let minutes = ms / 60_000;
    match (minutes / 1440, (minutes % 1440) / 60, minutes % 60) {
        (0, 0, m) => format!("{m}分钟"),
        (0, h, m) => format!("{h}小时{m}分"),
        (d, h, _) => format!("{d}天{h}小时"),
    }
}

/// A traffic light: a coloured dot with its name, readable without colour too.
pub fn light(name: &str) -> String {
    let label = match name {
        "red" => "红灯 逾期",
        "yellow" => "黄灯 临期",
        _ => "绿灯 正常",
    };
    format!(
        "<span class=\"light {name}\" data-light=\"{name}\"><i></i>{label}</span>",
        name = escape(name)
    )
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass through).
pub fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A link to the lookup for `query`. A citizen id never goes into a URL (it would end up in
/// logs and browser history), so for one the link is a small POST form instead.
pub fn lookup_link(query: &str, csrf: &str) -> String {
    if query.parse::<crate::ids::CitizenId>().is_ok() {
        format!(
            "<form class=\"inline\" method=\"post\" action=\"/officer/lookup\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"q\" value=\"{q}\">\
             <button class=\"link\">{q}</button></form>",
            csrf = escape(csrf),
            q = escape(query)
        )
    } else {
        format!(
            "<a href=\"/officer/lookup?q={}\">{}</a>",
            url_encode(query),
            escape(query)
        )
    }
}

const STYLE: &str = "body{font-family:system-ui,'PingFang SC','Noto Sans CJK SC',sans-serif;margin:0;color:#1d2129;background:#f5f6f7}\
header{background:#0b4f9c;color:#fff;padding:.6em 1.2em;display:flex;gap:1.2em;align-items:center;flex-wrap:wrap}\
header a{color:#fff;text-decoration:none}header a.on{font-weight:bold;border-bottom:2px solid #fff}\
header form{margin-left:auto}main{padding:1em 1.2em;max-width:1200px}\
table{border-collapse:collapse;width:100%;background:#fff;margin:.6em 0}\
th,td{border:1px solid #dde1e6;padding:.35em .5em;text-align:left;font-size:14px;vertical-align:top}\
th{background:#eef1f5}.light{white-space:nowrap}.light i{display:inline-block;width:.9em;height:.9em;border-radius:50%;margin-right:.3em;vertical-align:-.1em}\
.light.green i{background:rgb(0, 168, 84)}.light.yellow i{background:rgb(245, 166, 35)}.light.red i{background:rgb(220, 38, 38)}\
.flash{padding:.6em;background:#fff3cd;border:1px solid #f0c36d}.error{background:#fde2e1;border-color:#e99}\
form.inline{display:inline}input,select,button{font:inherit;padding:.2em .4em}\
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{background:#fff;border:1px solid #dde1e6;padding:.8em;flex:1 1 340px}\
.muted{color:#6b7280;font-size:13px}button.link{border:0;background:none;color:#0b4f9c;text-decoration:underline;padding:0;cursor:pointer}";

/// The page frame with navigation; `csrf` is present once the officer is signed in.
pub fn page(title: &str, active: &str, csrf: Option<&str>, body: &str) -> String {
    let mut nav = String::new();
    if let Some(csrf) = csrf {
        for (href, key, label) in [
            ("/officer", "queue", "申请队列 Queue"),
            ("/officer/reports", "reports", "举报 Reports"),
            ("/officer/lookup", "lookup", "证照查询 Lookup"),
            ("/officer/dashboard", "dashboard", "统计 Dashboard"),
        ] {
            let class = if key == active { " class=\"on\"" } else { "" };
            let _ = write!(nav, "<a href=\"{href}\"{class}>{label}</a>");
        }
        let _ = write!(
            nav,
            "<form method=\"post\" action=\"/officer/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button>退出 Sign out</button></form>",
            escape(csrf)
        );
    }
    format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title} · 网约车许可监管</title><style>{STYLE}</style></head>\
         <body><header><strong>网约车许可监管 licreg</strong>{nav}</header><main>{body}</main></body></html>",
        title = escape(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn times_are_china_standard_time() {
        assert_eq!(time(1_795_406_400_000), "2026-11-23 12:00");
        assert_eq!(elapsed(25 * 3_600_000), "1天1小时");
        assert_eq!(elapsed(50 * 60_000), "50分钟");
    }
}
