//! The e-government report as one self-contained HTML page, in Vietnamese with English
//! subtitles, for the province's annual report: key figures, the table by level, bar charts
//! of the signed share per level and per agency with the targets marked, and the table by
//! agency. Inline CSS and inline SVG only: no script, font, image or link to fetch, so the
//! file can be mailed, archived and printed as it is. Numbers follow Vietnamese usage
//! (`8.312`, `97,5%`).
//!
//! Every text that comes from the directory (agency names and codes) passes through
//! [`escape`].

use std::collections::HashMap;
use std::fmt::Write as _;

use congvu::directory::{
    AgencyLevel, EgovAgency, EgovCounts, EgovLevel, EgovReport, SignedShareTarget, UtcDay,
};

/// Width of every chart, in SVG units (the page scales it to the paper).
const CHART_WIDTH: u32 = 810;
/// Where bars start; the agency names end just left of it.
const PLOT_X: u32 = 250;
/// Width of a 100% bar: one percent is five units.
const PLOT_WIDTH: u32 = 500;
/// Where the value column ends (right-aligned), clear of the bars and the target lines.
const VALUE_X: u32 = CHART_WIDTH - 2;
/// Room above the plot for the axis tick labels, and below it for the axis line.
const AXIS_TOP: u32 = 22;
const AXIS_BOTTOM: u32 = 8;
/// Longest agency name shown in full beside a bar; longer ones are cut (the full name is
/// in the bar's tooltip and in the table).
const LABEL_CHARS: usize = 40;
/// Most bars in one chart panel, so a panel fits on one printed A4 page.
const PANEL_ROWS: usize = 40;

/// Escapes `text` for HTML text and double- or single-quoted attribute values.
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

/// A count as Vietnamese print writes it: `8.312`.
fn number(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('.');
        }
        out.push(d);
    }
    out
}

/// The signed share with a decimal comma, rounded down: `97,5%`; `–` without mail.
fn share(c: &EgovCounts) -> String {
    match c.signed_share() {
        Some(s) => {
            let tenths = s.tenths_of_percent();
            format!("{},{}%", tenths / 10, tenths % 10)
        }
        None => "–".to_string(),
    }
}

/// A day as Vietnamese documents write it: `31/12/2026`.
fn vietnamese_day(day: UtcDay) -> String {
    let iso = day.to_string();
    format!("{}/{}/{}", &iso[8..10], &iso[5..7], &iso[0..4])
}

/// The level's name in Vietnamese and English.
fn level_names(level: AgencyLevel) -> (&'static str, &'static str) {
    match level {
        AgencyLevel::Province => ("Cấp tỉnh", "Province"),
        AgencyLevel::Department => ("Sở, ban, ngành", "Departments"),
        AgencyLevel::District => ("Cấp huyện", "Districts and cities"),
        AgencyLevel::Commune => ("Cấp xã", "Communes and wards"),
    }
}

fn target_text(target: Option<SignedShareTarget>) -> String {
    target.map_or_else(|| "–".to_string(), |t| format!("{}%", t.0))
}

/// `Đạt` / `Chưa đạt` / `–`, with the class the page colours it by.
fn verdict(met: Option<bool>) -> (&'static str, &'static str) {
    match met {
        Some(true) => ("Đạt", "met"),
        Some(false) => ("Chưa đạt", "unmet"),
        None => ("–", "none"),
    }
}

const STYLE: &str = r#"
:root { --met: #17703a; --unmet: #b8430b; --plain: #24508f; --target: #7a1020; --rule: #8a8f98; }
* { box-sizing: border-box; }
html { background: #eceff3; }
body {
  margin: 24px auto; padding: 28px 36px; max-width: 1160px; background: #fff; color: #1a1d21;
  font-family: "Segoe UI", "Noto Sans", "DejaVu Sans", "Liberation Sans", Roboto, Arial, sans-serif;
  font-size: 14px; line-height: 1.4;
}
header { border-bottom: 3px solid #1a1d21; padding-bottom: 10px; margin-bottom: 16px; }
.issuer { margin: 0; font-weight: 600; text-transform: uppercase; letter-spacing: .03em; }
h1 { margin: 6px 0 2px; font-size: 24px; line-height: 1.25; }
h2 { margin: 26px 0 8px; font-size: 18px; border-bottom: 1px solid var(--rule); padding-bottom: 3px; break-after: avoid; }
h3 { margin: 16px 0 4px; font-size: 15px; break-after: avoid; }
.en { color: #555b63; font-weight: normal; font-size: .86em; }
p { margin: 4px 0; }
.figures { display: flex; gap: 12px; margin: 14px 0 4px; }
.figure { flex: 1; border: 1px solid var(--rule); border-left: 5px solid var(--plain); padding: 8px 12px; break-inside: avoid; }
.figure .value { font-size: 24px; font-weight: 700; }
.figure .label { font-size: 13px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; font-size: 12.5px; }
thead { display: table-header-group; }
tr { break-inside: avoid; }
th, td { border: 1px solid #b9bec6; padding: 3px 6px; vertical-align: top; }
th { background: #eef1f5; font-weight: 600; text-align: center; font-size: 12px; }
th .en { display: block; font-size: 10.5px; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.name { min-width: 180px; }
td.name .code { color: #555b63; font-size: 11px; }
td.met, td.unmet, td.none { white-space: nowrap; }
td.scope { white-space: nowrap; }
td.scope .en { display: block; }
tr.total td, tr.group td { font-weight: 700; }
tr.total td { border-top: 2px solid #1a1d21; }
tr.group td { border-top: 2px solid #1a1d21; background: #f6f7f9; }
tr.parent td { font-style: italic; color: #3a3f46; }
tbody tr.agency:nth-child(even) td { background: #fafbfc; }
.met { color: var(--met); font-weight: 700; }
.unmet { color: var(--unmet); font-weight: 700; }
.panel { break-inside: avoid; margin: 8px 0 14px; }
.panel h3 { font-size: 14px; }
svg.chart { display: block; width: 100%; height: auto; }
svg.chart text { font-family: inherit; fill: #1a1d21; }
svg.chart .tick { font-size: 12px; fill: #3a3f46; }
svg.chart .label { font-size: 12px; }
svg.chart .value { font-size: 12px; font-weight: 600; }
svg.chart .nodata { font-size: 12px; fill: #555b63; font-style: italic; }
svg.chart .grid { stroke: #d5d9df; stroke-width: 1; }
svg.chart .axis { stroke: #1a1d21; stroke-width: 1; }
svg.chart rect.bar.met { fill: var(--met); }
svg.chart rect.bar.unmet { fill: var(--unmet); }
svg.chart rect.bar.none { fill: var(--plain); }
svg.chart line.target { stroke: var(--target); stroke-width: 2; stroke-dasharray: 5 3; }
svg.chart .target-label { font-size: 11px; fill: var(--target); font-weight: 600; }
.legend { display: flex; flex-wrap: wrap; gap: 18px; font-size: 12px; margin: 2px 0 8px; }
.legend svg { vertical-align: middle; margin-right: 4px; }
.notes { font-size: 12.5px; }
.notes li { margin: 2px 0; }
footer { margin-top: 18px; border-top: 1px solid var(--rule); padding-top: 6px; font-size: 11.5px; color: #3a3f46; }
@page { size: A4; margin: 12mm; }
@media print {
  html, body { background: #fff; }
  body { margin: 0; padding: 0; max-width: none; color: #000; font-size: 10.5pt; }
  .en, .issuer, footer, tr.parent td, td.name .code { color: #000; }
  table { font-size: 8.5pt; }
  th { font-size: 8pt; background: none; border-bottom: 2px solid #000; }
  th .en { font-size: 7pt; }
  th, td { border-color: #000; padding: 2px 3px; }
  tr.group td, tbody tr.agency:nth-child(even) td { background: none; }
  td.name { min-width: 0; }
  .figure .value { font-size: 16pt; }
  svg.chart text, svg.chart .tick, svg.chart .nodata { fill: #000; }
  * { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
}
"#;

/// The whole page.
pub fn page(report: &EgovReport) -> String {
    let from = vietnamese_day(report.period.from());
    let to = vietnamese_day(report.period.to());
    let issuer = report
        .levels
        .iter()
        .find(|l| l.level == AgencyLevel::Province)
        .and_then(|l| l.agencies.first())
        .map(|a| a.agency.name.clone());
    let mut html = String::with_capacity(64 * 1024);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"vi\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Báo cáo thư điện tử công vụ và chữ ký số, {from} – {to}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n<header>\n"
    );
    if let Some(issuer) = issuer {
        let _ = writeln!(html, "<p class=\"issuer\">{}</p>", escape(&issuer));
    }
    let _ = write!(
        html,
        "<h1>Báo cáo ứng dụng thư điện tử công vụ và chữ ký số</h1>\n\
         <p class=\"en\">E-government report: official mail and digital signatures</p>\n\
         <p class=\"period\">Kỳ báo cáo: <strong>{from} – {to}</strong> \
         <span class=\"en\">(period {} to {}, UTC days, both included)</span></p>\n</header>\n",
        report.period.from(),
        report.period.to(),
    );
    key_figures(&mut html, &report.total);

    html.push_str(
        "<section>\n<h2>1. Theo cấp hành chính <span class=\"en\">By level</span></h2>\n",
    );
    level_table(&mut html, report);
    html.push_str(
        "<h3>Tỷ lệ thư gửi đi có chữ ký số hợp lệ theo cấp \
         <span class=\"en\">Signed share by level</span></h3>\n",
    );
    level_chart(&mut html, report);
    legend(&mut html);
    html.push_str("</section>\n");

    html.push_str(
        "<section>\n<h2>2. Theo cơ quan <span class=\"en\">By agency</span></h2>\n\
         <p>Mỗi cơ quan chỉ tính cán bộ của chính cơ quan đó, không gồm cơ quan cấp dưới. \
         <span class=\"en\">Each agency counts its own officials only.</span></p>\n",
    );
    agency_charts(&mut html, report);
    legend(&mut html);
    agency_table(&mut html, report);
    html.push_str("</section>\n");
    notes(&mut html);
    let made = congvu::directory::UtcDay::of(report.made_at);
    let _ = write!(
        html,
        "<footer>Lập bằng <code>congvu-admin report egov</code> ngày {} (UTC). \
         Số hộp thư tính tại thời điểm lập báo cáo; các số khác tính trong kỳ báo cáo.</footer>\n\
         </body>\n</html>\n",
        vietnamese_day(made)
    );
    html
}

fn key_figures(html: &mut String, total: &EgovCounts) {
    let figures = [
        (
            number(total.mailboxes),
            "Hộp thư đã cấp",
            "Mailboxes issued",
        ),
        (
            format!(
                "{}/{}",
                number(total.agencies_with_mailboxes),
                number(total.agencies)
            ),
            "Cơ quan có hộp thư",
            "Agencies with mailboxes",
        ),
        (
            number(total.valid_certificate_holders),
            "Cán bộ có chứng thư số còn hiệu lực",
            "Officials holding a valid certificate",
        ),
        (
            share(total),
            "Thư gửi đi có chữ ký số hợp lệ",
            "Sent mail validly signed",
        ),
    ];
    html.push_str("<div class=\"figures\">\n");
    for (value, vi, en) in figures {
        let _ = writeln!(
            html,
            "<div class=\"figure\"><div class=\"value\">{value}</div>\
             <div class=\"label\">{vi}<br><span class=\"en\">{en}</span></div></div>"
        );
    }
    html.push_str("</div>\n");
}

/// The count columns both tables share, after the first (level or agency) column.
const COUNT_HEADINGS: [(&str, &str); 9] = [
    ("Hộp thư đã cấp", "Mailboxes issued"),
    ("Người dùng hoạt động", "Active in period"),
    (
        "Cán bộ có chứng thư số hiệu lực",
        "Valid certificate holders",
    ),
    ("Chứng thư số cấp trong kỳ", "Certificates issued"),
    ("Chứng thư số lũy kế", "Certificates cumulative"),
    ("Thư gửi đi", "Sent"),
    ("Có ký số", "Signed"),
    ("Ký số hợp lệ", "Verified"),
    ("Tỷ lệ ký số hợp lệ", "Signed share"),
];

fn heading_cells(html: &mut String, headings: &[(&str, &str)]) {
    for (vi, en) in headings {
        let _ = write!(html, "<th>{vi}<span class=\"en\">{en}</span></th>");
    }
}

fn count_cells(html: &mut String, c: &EgovCounts) {
    for n in [
        c.mailboxes,
        c.active,
        c.valid_certificate_holders,
        c.certificates_issued,
        c.certificates_cumulative,
        c.sent,
        c.signed,
        c.verified,
    ] {
        let _ = write!(html, "<td class=\"n\">{}</td>", number(n));
    }
    let _ = write!(html, "<td class=\"n\">{}</td>", share(c));
}

fn verdict_cell(html: &mut String, met: Option<bool>) {
    let (text, class) = verdict(met);
    let _ = write!(html, "<td class=\"{class}\">{text}</td>");
}

fn level_table(html: &mut String, report: &EgovReport) {
    html.push_str("<table class=\"levels\">\n<thead><tr>");
    heading_cells(
        html,
        &[
            ("Cấp", "Level"),
            ("Cơ quan có hộp thư", "Agencies with mailboxes"),
        ],
    );
    heading_cells(html, &COUNT_HEADINGS);
    heading_cells(html, &[("Chỉ tiêu", "Target"), ("Đánh giá", "Met")]);
    html.push_str("</tr></thead>\n<tbody>\n");
    for l in &report.levels {
        let (vi, en) = level_names(l.level);
        let _ = write!(
            html,
            "<tr class=\"level\" data-level=\"{}\"><td class=\"scope\">{vi} <span class=\"en\">{en}</span></td>\
             <td class=\"n\">{}/{}</td>",
            l.level.as_str(),
            number(l.counts.agencies_with_mailboxes),
            number(l.counts.agencies)
        );
        count_cells(html, &l.counts);
        let _ = write!(html, "<td class=\"n\">{}</td>", target_text(l.target));
        verdict_cell(html, l.counts.meets(l.target));
        html.push_str("</tr>\n");
    }
    let t = &report.total;
    let _ = write!(
        html,
        "<tr class=\"total\"><td class=\"scope\">Toàn tỉnh <span class=\"en\">Total</span></td>\
         <td class=\"n\">{}/{}</td>",
        number(t.agencies_with_mailboxes),
        number(t.agencies)
    );
    count_cells(html, t);
    html.push_str("<td class=\"n\">–</td><td class=\"none\">–</td></tr>\n</tbody>\n</table>\n");
}

fn agency_table(html: &mut String, report: &EgovReport) {
    let names = parent_names(report);
    html.push_str(
        "<h3>Bảng số liệu theo cơ quan <span class=\"en\">Figures by agency</span></h3>\n\
         <table class=\"agencies\">\n<thead><tr>",
    );
    heading_cells(
        html,
        &[("Cơ quan", "Agency"), ("Có hộp thư", "Has mailboxes")],
    );
    heading_cells(html, &COUNT_HEADINGS);
    heading_cells(html, &[("Đánh giá", "Met")]);
    html.push_str("</tr></thead>\n");
    for l in &report.levels {
        let (vi, en) = level_names(l.level);
        let target = match l.target {
            Some(t) => format!(" · chỉ tiêu {}%", t.0),
            None => String::new(),
        };
        let _ = write!(
            html,
            "<tbody>\n<tr class=\"group\" data-level=\"{}\"><td>{vi}{target}\
             <span class=\"en\"> · {en}</span></td><td class=\"n\">{}/{}</td>",
            l.level.as_str(),
            number(l.counts.agencies_with_mailboxes),
            number(l.counts.agencies)
        );
        count_cells(html, &l.counts);
        verdict_cell(html, l.counts.meets(l.target));
        html.push_str("</tr>\n");
        if l.agencies.is_empty() {
            html.push_str(
                "<tr class=\"parent\"><td colspan=\"12\">Chưa có cơ quan \
                 <span class=\"en\">No agency at this level</span></td></tr>\n",
            );
        }
        let mut parent: Option<&str> = None;
        for a in &l.agencies {
            if l.level == AgencyLevel::Commune && parent != a.parent_code.as_deref() {
                parent = a.parent_code.as_deref();
                let name = parent
                    .and_then(|code| names.get(code).copied())
                    .unwrap_or("");
                let _ = writeln!(
                    html,
                    "<tr class=\"parent\"><td colspan=\"12\">{}</td></tr>",
                    escape(name)
                );
            }
            agency_row(html, l, a);
        }
        html.push_str("</tbody>\n");
    }
    html.push_str("</table>\n");
}

fn agency_row(html: &mut String, level: &EgovLevel, a: &EgovAgency) {
    // Sub-units (a department's chi cục) sit one step in from their parent.
    let indent = a.depth.saturating_sub(indent_base(level.level));
    let _ = write!(
        html,
        "<tr class=\"agency\" data-code=\"{code}\"><td class=\"name\" style=\"padding-left:{}px\">\
         {name} <span class=\"code\">({code})</span></td><td>{}</td>",
        6 + 14 * indent,
        if a.has_mailboxes() { "Có" } else { "Không" },
        code = escape(&a.agency.code),
        name = escape(&a.agency.name),
    );
    count_cells(html, &a.counts);
    verdict_cell(html, a.counts.meets(level.target));
    html.push_str("</tr>\n");
}

/// The depth of a level's ordinary agencies in a province-rooted tree.
fn indent_base(level: AgencyLevel) -> usize {
    match level {
        AgencyLevel::Province => 0,
        AgencyLevel::Department | AgencyLevel::District => 1,
        AgencyLevel::Commune => 2,
    }
}

/// Every agency's name by code: for the district heading over its communes.
fn parent_names(report: &EgovReport) -> HashMap<&str, &str> {
    report
        .levels
        .iter()
        .flat_map(|l| &l.agencies)
        .map(|a| (a.agency.code.as_str(), a.agency.name.as_str()))
        .collect()
}

/// One bar of a chart.
struct Bar<'a> {
    /// The scope the bar stands for (`level` or `agency`), and its key.
    scope: &'a str,
    key: &'a str,
    label: String,
    counts: &'a EgovCounts,
    target: Option<SignedShareTarget>,
}

/// Row geometry of a chart: how tall each row is and its bar.
#[derive(Clone, Copy)]
struct Rows {
    height: u32,
    bar: u32,
    /// Draw the target as one line down the whole chart (all bars share it) instead of one
    /// per row.
    shared_target: Option<SignedShareTarget>,
}

fn level_chart(html: &mut String, report: &EgovReport) {
    let bars: Vec<Bar> = report
        .levels
        .iter()
        .map(|l| Bar {
            scope: "level",
            key: l.level.as_str(),
            label: format!("{} ({})", level_names(l.level).0, number(l.counts.agencies)),
            counts: &l.counts,
            target: l.target,
        })
        .collect();
    chart(
        html,
        "Tỷ lệ ký số hợp lệ theo cấp",
        &bars,
        Rows {
            height: 28,
            bar: 18,
            shared_target: None,
        },
    );
}

fn agency_charts(html: &mut String, report: &EgovReport) {
    let names = parent_names(report);
    for l in &report.levels {
        let (vi, en) = level_names(l.level);
        let target = match l.target {
            Some(t) => format!(" · chỉ tiêu {}%", t.0),
            None => String::new(),
        };
        if l.agencies.is_empty() {
            let _ = writeln!(
                html,
                "<div class=\"panel\"><h3>{vi}{target} <span class=\"en\">{en}</span></h3>\
                 <p>Chưa có cơ quan <span class=\"en\">No agency at this level</span></p></div>"
            );
            continue;
        }
        for group in panels(l) {
            let title = match (l.level, group[0].parent_code.as_deref()) {
                (AgencyLevel::Commune, Some(parent)) => format!(
                    "{vi} · {}{target}",
                    escape(names.get(parent).copied().unwrap_or(parent))
                ),
                _ => format!("{vi}{target}"),
            };
            let _ = writeln!(
                html,
                "<div class=\"panel\" data-level=\"{}\"><h3>{title} <span class=\"en\">{en}</span></h3>",
                l.level.as_str()
            );
            let bars: Vec<Bar> = group
                .iter()
                .map(|a| Bar {
                    scope: "agency",
                    key: &a.agency.code,
                    label: a.agency.name.clone(),
                    counts: &a.counts,
                    target: l.target,
                })
                .collect();
            chart(
                html,
                &format!("Tỷ lệ ký số hợp lệ: {title}"),
                &bars,
                Rows {
                    height: 17,
                    bar: 11,
                    shared_target: l.target,
                },
            );
            html.push_str("</div>\n");
        }
    }
}

/// A level's agencies cut into chart panels: communes by district, and no panel longer than
/// [`PANEL_ROWS`], so each prints on one page.
fn panels(level: &EgovLevel) -> Vec<&[EgovAgency]> {
    let mut out = Vec::new();
    let by_parent = level.level == AgencyLevel::Commune;
    let mut start = 0;
    for i in 1..=level.agencies.len() {
        let end_of_group = i == level.agencies.len()
            || i - start == PANEL_ROWS
            || (by_parent && level.agencies[i].parent_code != level.agencies[start].parent_code);
        if end_of_group {
            out.push(&level.agencies[start..i]);
            start = i;
        }
    }
    out
}

/// The x of `tenths` tenths of a percent on the plot.
fn x_of(tenths: i64) -> f64 {
    f64::from(PLOT_X) + tenths as f64 * f64::from(PLOT_WIDTH) / 1000.0
}

/// A horizontal bar chart of the signed share, one bar per entry, ticks every 20%; `title`
/// (its accessible name) is HTML already.
fn chart(html: &mut String, title: &str, bars: &[Bar], rows: Rows) {
    let plot_height = rows.height * bars.len() as u32;
    let height = AXIS_TOP + plot_height + AXIS_BOTTOM;
    let bottom = AXIS_TOP + plot_height;
    let _ = writeln!(
        html,
        "<svg class=\"chart\" viewBox=\"0 0 {CHART_WIDTH} {height}\" role=\"img\" \
         aria-label=\"{title}\" preserveAspectRatio=\"xMinYMin meet\">"
    );
    for percent in (0..=100).step_by(20) {
        let x = x_of(percent * 10);
        let _ = writeln!(
            html,
            "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{bottom}\"/>\
             <text class=\"tick\" x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{percent}%</text>",
            AXIS_TOP - 4,
            AXIS_TOP - 8,
        );
    }
    let _ = writeln!(
        html,
        "<line class=\"axis\" x1=\"{PLOT_X}\" y1=\"{}\" x2=\"{PLOT_X}\" y2=\"{bottom}\"/>\
         <line class=\"axis\" x1=\"{PLOT_X}\" y1=\"{bottom}\" x2=\"{}\" y2=\"{bottom}\"/>",
        AXIS_TOP - 4,
        PLOT_X + PLOT_WIDTH,
    );
    for (i, bar) in bars.iter().enumerate() {
        chart_bar(html, bar, i as u32, rows);
    }
    if let Some(target) = rows.shared_target {
        let x = x_of(i64::from(target.0) * 10);
        let _ = writeln!(
            html,
            "<line class=\"target\" x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{bottom}\"/>",
            AXIS_TOP - 2,
        );
    }
    html.push_str("</svg>\n");
}

/// One bar of [`chart`], the `i`th from the top: its label, the bar or "no mail sent", and
/// its own target line when the rows do not share one.
fn chart_bar(html: &mut String, bar: &Bar, i: u32, rows: Rows) {
    let top = AXIS_TOP + rows.height * i;
    let bar_y = top + (rows.height - rows.bar) / 2;
    let mid = top + rows.height / 2;
    let label = if bar.label.chars().count() > LABEL_CHARS {
        let cut: String = bar.label.chars().take(LABEL_CHARS - 1).collect();
        format!("{}…", cut.trim_end())
    } else {
        bar.label.clone()
    };
    let _ = writeln!(
        html,
        "<text class=\"label\" x=\"{}\" y=\"{mid}\" dy=\"0.35em\" text-anchor=\"end\">{}</text>",
        PLOT_X - 6,
        escape(&label)
    );
    let met = bar.counts.meets(bar.target);
    let class = verdict(met).1;
    match bar.counts.signed_share() {
        Some(s) => {
            let tenths = s.tenths_of_percent().min(1000);
            let width = x_of(tenths) - f64::from(PLOT_X);
            let _ = writeln!(
                html,
                "<rect class=\"bar {class}\" data-scope=\"{}\" data-key=\"{}\" \
                 data-share=\"{}.{}\" x=\"{PLOT_X}\" y=\"{bar_y}\" width=\"{width:.1}\" \
                 height=\"{}\"><title>{}: {} ({}/{})</title></rect>\
                 <text class=\"value\" x=\"{VALUE_X}\" y=\"{mid}\" dy=\"0.35em\" \
                 text-anchor=\"end\">{}</text>",
                bar.scope,
                escape(bar.key),
                tenths / 10,
                tenths % 10,
                rows.bar,
                escape(&bar.label),
                share(bar.counts),
                number(bar.counts.verified),
                number(bar.counts.sent),
                share(bar.counts),
            );
        }
        None => {
            let _ = writeln!(
                html,
                "<rect class=\"bar none\" data-scope=\"{}\" data-key=\"{}\" data-share=\"\" \
                 x=\"{PLOT_X}\" y=\"{bar_y}\" width=\"0\" height=\"{}\">\
                 <title>{}: không có thư gửi đi</title></rect>\
                 <text class=\"nodata\" x=\"{}\" y=\"{mid}\" dy=\"0.35em\">không có thư gửi đi</text>",
                bar.scope,
                escape(bar.key),
                rows.bar,
                escape(&bar.label),
                PLOT_X + 6,
            );
        }
    }
    if let (Some(target), None) = (bar.target, rows.shared_target) {
        let x = x_of(i64::from(target.0) * 10);
        let _ = writeln!(
            html,
            "<line class=\"target\" x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{}\"/>",
            top + 1,
            top + rows.height - 1
        );
    }
}

fn legend(html: &mut String) {
    let swatch = |class: &str| {
        format!(
            "<svg width=\"14\" height=\"12\" aria-hidden=\"true\"><rect width=\"14\" height=\"12\" \
             style=\"fill:var(--{class})\"/></svg>"
        )
    };
    let _ = writeln!(
        html,
        "<div class=\"legend\"><span>{}Đạt chỉ tiêu <span class=\"en\">meets the target</span></span>\
         <span>{}Chưa đạt <span class=\"en\">below the target</span></span>\
         <span>{}Không đặt chỉ tiêu <span class=\"en\">no target</span></span>\
         <span><svg width=\"14\" height=\"14\" aria-hidden=\"true\"><line x1=\"7\" y1=\"0\" x2=\"7\" \
         y2=\"14\" style=\"stroke:var(--target);stroke-width:2;stroke-dasharray:4 2\"/></svg>\
         Chỉ tiêu của cấp <span class=\"en\">the level's target</span></span></div>",
        swatch("met"),
        swatch("unmet"),
        swatch("plain"),
    );
}

fn notes(html: &mut String) {
    html.push_str(
        "<section class=\"notes\">\n<h2>Cách tính <span class=\"en\">How the figures are counted</span></h2>\n<ul>\n\
         <li><b>Hộp thư đã cấp</b>: số cán bộ, công chức không bị khóa tài khoản đang có hộp thư, tại thời điểm lập báo cáo.</li>\n\
         <li><b>Cơ quan có hộp thư</b>: cơ quan có ít nhất một cán bộ như trên.</li>\n\
         <li><b>Người dùng hoạt động</b>: số cán bộ đăng nhập hoặc gửi thư ít nhất một ngày trong kỳ.</li>\n\
         <li><b>Cán bộ có chứng thư số hiệu lực</b>: số cán bộ có ít nhất một chứng thư số còn hiệu lực và chưa bị thu hồi vào cuối kỳ.</li>\n\
         <li><b>Chứng thư số cấp trong kỳ / lũy kế</b>: số chứng thư số bắt đầu có hiệu lực trong kỳ / đến hết kỳ, kể cả chứng thư đã thu hồi.</li>\n\
         <li><b>Tỷ lệ ký số hợp lệ</b> = thư có chữ ký số xác thực được với chứng thư số của người gửi / tổng số thư gửi đi trong kỳ, làm tròn xuống một chữ số thập phân; “–” khi không có thư gửi đi.</li>\n\
         <li><b>Chỉ tiêu</b>: sở, ban, ngành 99%; cấp huyện 95%; cấp xã 70%.</li>\n\
         <li>Ngày tính theo giờ UTC; kỳ báo cáo gồm cả ngày đầu và ngày cuối.</li>\n\
         </ul>\n</section>\n",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_text_and_both_quotes() {
        assert_eq!(
            escape(r#"<b>"Sở" & 'Ban'</b>"#),
            "&lt;b&gt;&quot;Sở&quot; &amp; &#39;Ban&#39;&lt;/b&gt;"
        );
        assert_eq!(escape("Xã Đạo Trù"), "Xã Đạo Trù");
        assert_eq!(
            escape("&amp;"),
            "&amp;amp;",
            "escaped once more, not trusted"
        );
        assert_eq!(escape(""), "");
    }

    #[test]
    fn numbers_use_vietnamese_separators() {
        assert_eq!(number(0), "0");
        assert_eq!(number(999), "999");
        assert_eq!(number(1000), "1.000");
        assert_eq!(number(8312), "8.312");
        assert_eq!(number(1_234_567), "1.234.567");
        assert_eq!(number(-4500), "-4.500");
        let counts = EgovCounts {
            sent: 3,
            verified: 2,
            ..EgovCounts::default()
        };
        assert_eq!(share(&counts), "66,6%");
        assert_eq!(share(&EgovCounts::default()), "–");
    }

    #[test]
    fn days_are_written_day_first() {
        let day: UtcDay = "2026-01-31".parse().unwrap();
        assert_eq!(vietnamese_day(day), "31/01/2026");
    }

    #[test]
    fn bars_span_five_units_per_percent() {
        assert_eq!(x_of(0), f64::from(PLOT_X));
        assert_eq!(x_of(1000), f64::from(PLOT_X + PLOT_WIDTH));
        assert_eq!(x_of(975) - f64::from(PLOT_X), 487.5);
    }
}
