//! Audit reports for people and for monitoring: terminal table, JSON, CSV, Markdown, and
//! one self-contained HTML page with a coverage timeline per component (inline SVG).
//! Pure functions of the report, so every format has a golden file.

use crate::domain::audit::{human_bytes, Change, Finding, FleetReport, Report, Status};
use chrono::{DateTime, Duration, Utc};
use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
    Markdown,
    Html,
}

pub fn render(report: &Report, format: Format, width: Option<u16>) -> String {
    match format {
        Format::Table => table(report, width),
        Format::Json => json(report),
        Format::Csv => csv(report),
        Format::Markdown => markdown(report),
        Format::Html => html(report),
    }
}

/// Every site's audit in one document: a summary per site (worst first), then each site's
/// report as it would be on its own.
pub fn render_fleet(fleet: &FleetReport, format: Format, width: Option<u16>) -> String {
    match format {
        Format::Table => fleet_table(fleet, width),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(fleet).expect("reports serialise");
            s.push('\n');
            s
        }
        Format::Csv => csv_of(&fleet.reports),
        Format::Markdown => fleet_markdown(fleet),
        Format::Html => fleet_html(fleet),
    }
}

fn fleet_headline(f: &FleetReport) -> String {
    format!(
        "{} — {} site(s) as of {}: {} fail, {} warn, {} pass",
        label(f.status),
        f.reports.len(),
        when(f.as_of),
        f.sites_by_status.fail,
        f.sites_by_status.warn,
        f.sites_by_status.pass
    )
}

/// The controls a site fails and warns on, for the summary.
fn controls_text(s: &crate::domain::audit::SiteSummary) -> String {
    let mut parts = Vec::new();
    if !s.failing.is_empty() {
        parts.push(format!("fail: {}", s.failing.join(", ")));
    }
    if !s.warning.is_empty() {
        parts.push(format!("warn: {}", s.warning.join(", ")));
    }
    parts.join("; ")
}

fn fleet_table(f: &FleetReport, width: Option<u16>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", fleet_headline(f));
    let mut t = super::render::table(&[
        "SITE",
        "STATUS",
        "FAIL",
        "WARN",
        "PASS",
        "CONTROLS NOT PASSING",
    ]);
    if let Some(w) = width {
        t.set_width(w);
    }
    for s in &f.summary {
        t.add_row(vec![
            s.site.clone(),
            label(s.status).to_string(),
            s.counts.fail.to_string(),
            s.counts.warn.to_string(),
            s.counts.pass.to_string(),
            controls_text(s),
        ]);
    }
    let _ = writeln!(out, "{t}");
    for r in &f.reports {
        let _ = write!(out, "\n{}", table(r, width));
    }
    out
}

fn fleet_markdown(f: &FleetReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Backup audit: {} site(s) — {}\n",
        f.reports.len(),
        label(f.status)
    );
    let _ = writeln!(out, "{}\n", md_cell(&fleet_headline(f)));
    let _ = writeln!(
        out,
        "| Site | Status | Fail | Warn | Pass | Controls not passing |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for s in &f.summary {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            md_cell(&s.site),
            label(s.status),
            s.counts.fail,
            s.counts.warn,
            s.counts.pass,
            md_cell(&controls_text(s))
        );
    }
    // Each site's report one heading level down.
    for r in &f.reports {
        out.push('\n');
        for line in markdown(r).lines() {
            if line.starts_with('#') {
                out.push('#');
            }
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn fleet_html(f: &FleetReport) -> String {
    let mut o = String::new();
    page_head(
        &mut o,
        &format!(
            "Backup audit: {} site(s) — {}",
            f.reports.len(),
            label(f.status)
        ),
    );
    let _ = writeln!(
        o,
        "<h1>Backup audit: {} site(s) <span class=\"verdict {}\">{}</span></h1>",
        f.reports.len(),
        f.status.as_str(),
        label(f.status)
    );
    let _ = writeln!(
        o,
        "<p class=\"muted\">as of {} · {} site(s) fail · {} warn · {} pass</p>",
        when(f.as_of),
        f.sites_by_status.fail,
        f.sites_by_status.warn,
        f.sites_by_status.pass
    );
    let _ = writeln!(
        o,
        "<table><thead><tr><th>Status</th><th>Site</th><th>Fail</th><th>Warn</th><th>Pass</th><th>Controls not passing</th></tr></thead><tbody>"
    );
    for s in &f.summary {
        let _ = writeln!(
            o,
            "<tr class=\"{}\"><td class=\"s\">{}</td><td><a href=\"#site-{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            s.status.as_str(),
            label(s.status),
            esc(&s.site),
            esc(&s.site),
            s.counts.fail,
            s.counts.warn,
            s.counts.pass,
            esc(&controls_text(s))
        );
    }
    let _ = writeln!(o, "</tbody></table>");
    for r in &f.reports {
        let _ = writeln!(o, "<section id=\"site-{}\">", esc(&r.site));
        site_html(&mut o, r, 2);
        let _ = writeln!(o, "</section>");
    }
    page_foot(&mut o, f.audit_version, f.created_at);
    o
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

fn label(s: Status) -> &'static str {
    match s {
        Status::Pass => "PASS",
        Status::Warn => "WARN",
        Status::Fail => "FAIL",
    }
}

fn component(f: &Finding) -> &str {
    f.component.as_deref().unwrap_or("(site)")
}

fn change_text(c: &Change) -> String {
    let s = |x: Option<Status>| x.map_or("—", label);
    format!(
        "{} {}: {} → {}",
        c.control,
        c.component.as_deref().unwrap_or("(site)"),
        s(c.before),
        s(c.after)
    )
}

fn headline(r: &Report) -> String {
    format!(
        "{} — site {} as of {}: {} fail, {} warn, {} pass{}",
        label(r.status),
        r.site,
        when(r.as_of),
        r.counts.fail,
        r.counts.warn,
        r.counts.pass,
        if r.live {
            String::new()
        } else {
            " (catalog only: live settings are not read for a past instant)".into()
        }
    )
}

/// "N resource(s), SIZE" when the audit found anything costing money for nothing.
fn waste(r: &Report) -> Option<String> {
    (r.waste.resources > 0).then(|| {
        format!(
            "{} resource(s), {}",
            r.waste.resources,
            human_bytes(r.waste.size_bytes)
        )
    })
}

/// The terminal view: the verdict first, then findings worst first, then what to do.
pub fn table(r: &Report, width: Option<u16>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", headline(r));
    if let Some(w) = waste(r) {
        let _ = writeln!(out, "waste: {w}");
    }
    if let Some(since) = &r.since {
        let _ = writeln!(
            out,
            "since audit {} ({}, {}): {} change(s)",
            since.previous_id,
            when(since.previous_created_at),
            since.previous_status.as_str(),
            since.changes.len()
        );
        for c in &since.changes {
            let _ = writeln!(out, "  {}", change_text(c));
        }
    }
    let mut t = super::render::table(&["STATUS", "CONTROL", "COMPONENT", "FINDING"]);
    if let Some(w) = width {
        t.set_width(w);
    }
    for f in &r.findings {
        t.add_row(vec![label(f.status), &f.control, component(f), &f.summary]);
    }
    let _ = writeln!(out, "{t}");
    let todo: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| f.status != Status::Pass)
        .collect();
    if !todo.is_empty() {
        let _ = writeln!(out, "what to do:");
        for f in todo {
            let _ = writeln!(
                out,
                "  {} {} {}: {}",
                label(f.status),
                f.control,
                component(f),
                f.remediation.as_deref().unwrap_or("-")
            );
            for e in f.evidence.iter().take(5) {
                let _ = writeln!(out, "      · {e}");
            }
            if f.evidence.len() > 5 {
                let _ = writeln!(out, "      · … {} more", f.evidence.len() - 5);
            }
        }
    }
    out
}

pub fn json(r: &Report) -> String {
    let mut s = serde_json::to_string_pretty(r).expect("reports serialise");
    s.push('\n');
    s
}

/// One row per finding; evidence joined with " | ".
pub fn csv(r: &Report) -> String {
    csv_of(std::slice::from_ref(r))
}

/// The findings of several reports under one header (each row names its site).
fn csv_of(reports: &[Report]) -> String {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let header = [
        "site",
        "as_of",
        "status",
        "control",
        "component",
        "summary",
        "evidence",
        "remediation",
    ];
    w.write_record(header).expect("in-memory csv");
    for r in reports {
        let as_of = r.as_of.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        for f in &r.findings {
            w.write_record([
                r.site.as_str(),
                as_of.as_str(),
                f.status.as_str(),
                f.control.as_str(),
                f.component.as_deref().unwrap_or(""),
                f.summary.as_str(),
                f.evidence.join(" | ").as_str(),
                f.remediation.as_deref().unwrap_or(""),
            ])
            .expect("in-memory csv");
        }
    }
    String::from_utf8(w.into_inner().expect("in-memory csv")).expect("utf-8 csv")
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// For a ticket: verdict, table, then the details of what is not passing.
pub fn markdown(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Backup audit: {} — {}\n", r.site, label(r.status));
    let _ = writeln!(out, "{}\n", md_cell(&headline(r)));
    if let Some(w) = waste(r) {
        let _ = writeln!(out, "Waste: **{w}**\n");
    }
    if let Some(since) = &r.since {
        let _ = writeln!(
            out,
            "## Since audit {} ({})\n",
            since.previous_id,
            when(since.previous_created_at)
        );
        if since.changes.is_empty() {
            let _ = writeln!(out, "No change.\n");
        }
        for c in &since.changes {
            let _ = writeln!(out, "- {}", md_cell(&change_text(c)));
        }
        if !since.changes.is_empty() {
            out.push('\n');
        }
    }
    let _ = writeln!(out, "| Status | Control | Component | Finding |");
    let _ = writeln!(out, "|---|---|---|---|");
    for f in &r.findings {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            label(f.status),
            md_cell(&f.control),
            md_cell(component(f)),
            md_cell(&f.summary)
        );
    }
    let todo: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| f.status != Status::Pass)
        .collect();
    if !todo.is_empty() {
        let _ = writeln!(out, "\n## What to do\n");
        for f in todo {
            let _ = writeln!(
                out,
                "### {} `{}` — {}\n",
                label(f.status),
                f.control,
                md_cell(component(f))
            );
            let _ = writeln!(out, "{}\n", md_cell(&f.summary));
            if let Some(h) = &f.remediation {
                let _ = writeln!(out, "**Remediation:** {}\n", md_cell(h));
            }
            for e in &f.evidence {
                let _ = writeln!(out, "- {}", md_cell(e));
            }
            if !f.evidence.is_empty() {
                out.push('\n');
            }
        }
    }
    out
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const CSS: &str = "body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.verdict{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;font-weight:700}
.verdict.pass{background:#1a7f37}.verdict.warn{background:#bf8700}.verdict.fail{background:#cf222e}
tr.fail{background:#ffebe9}tr.warn{background:#fff8c5}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #d0d7de;vertical-align:top}
th{background:#f6f8fa}td.s{font-weight:700;white-space:nowrap}
tr.fail td.s{color:#cf222e}tr.warn td.s{color:#9a6700}tr.pass td.s{color:#1a7f37}
details{margin:2px 0}summary{cursor:pointer;color:#57606a}ul{margin:4px 0 4px 18px;padding:0}
.muted{color:#57606a}.legend span{margin-right:16px}svg{display:block;max-width:100%}";

/// One self-contained page: verdict, coverage timelines, findings.
pub fn html(r: &Report) -> String {
    let mut o = String::new();
    page_head(
        &mut o,
        &format!("Backup audit: {} — {}", r.site, label(r.status)),
    );
    site_html(&mut o, r, 1);
    page_foot(&mut o, r.audit_version, r.created_at);
    o
}

fn page_head(o: &mut String, title: &str) {
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{CSS}</style></head><body>\n",
        esc(title)
    );
}

fn page_foot(o: &mut String, version: u32, created_at: DateTime<Utc>) {
    let _ = writeln!(
        o,
        "<p class=\"muted\">wpbackup audit, report version {}, made {}</p>\n</body></html>",
        version,
        when(created_at)
    );
}

/// A site's verdict, changes, coverage and findings, its title at heading `level`.
fn site_html(o: &mut String, r: &Report, level: u8) {
    let (h, sub) = (level, level + 1);
    let verdict = r.status.as_str();
    let _ = writeln!(
        o,
        "<h{h}>Backup audit: {} <span class=\"verdict {verdict}\">{}</span></h{h}>",
        esc(&r.site),
        label(r.status)
    );
    let _ = writeln!(
        o,
        "<p class=\"muted\">as of {} · {} fail · {} warn · {} pass{}{}</p>",
        when(r.as_of),
        r.counts.fail,
        r.counts.warn,
        r.counts.pass,
        if r.live {
            ""
        } else {
            " · catalog only (live settings are not read for a past instant)"
        },
        waste(r)
            .map(|w| format!(" · waste: {w}"))
            .unwrap_or_default()
    );
    if let Some(since) = &r.since {
        let _ = writeln!(
            o,
            "<h{sub}>Since audit {} ({})</h{sub}><ul>",
            since.previous_id,
            when(since.previous_created_at)
        );
        if since.changes.is_empty() {
            let _ = writeln!(o, "<li>No change.</li>");
        }
        for c in &since.changes {
            let _ = writeln!(o, "<li>{}</li>", esc(&change_text(c)));
        }
        let _ = writeln!(o, "</ul>");
    }
    let _ = writeln!(o, "<h{sub}>Coverage</h{sub}>");
    o.push_str(&timeline_svg(r));
    let _ = writeln!(
        o,
        "<h{sub}>Findings</h{sub}>\n<table><thead><tr><th>Status</th><th>Control</th><th>Component</th><th>Finding</th></tr></thead><tbody>"
    );
    for f in &r.findings {
        let _ = write!(
            o,
            "<tr class=\"{}\"><td class=\"s\">{}</td><td>{}</td><td>{}</td><td>{}",
            f.status.as_str(),
            label(f.status),
            esc(&f.control),
            esc(component(f)),
            esc(&f.summary)
        );
        if f.remediation.is_some() || !f.evidence.is_empty() {
            let _ = write!(
                o,
                "<details><summary>{}</summary>",
                if f.remediation.is_some() {
                    "evidence and remediation"
                } else {
                    "evidence"
                }
            );
            if let Some(h) = &f.remediation {
                let _ = write!(o, "<p><b>Remediation:</b> {}</p>", esc(h));
            }
            if !f.evidence.is_empty() {
                o.push_str("<ul>");
                for e in &f.evidence {
                    let _ = write!(o, "<li>{}</li>", esc(e));
                }
                o.push_str("</ul>");
            }
            o.push_str("</details>");
        }
        o.push_str("</td></tr>\n");
    }
    let _ = writeln!(o, "</tbody></table>");
}

/// Recovery points over the last days per component: blue ticks for points in the primary
/// region, green for DR copies, red bands where no point covers the RPO.
fn timeline_svg(r: &Report) -> String {
    let (left, right, row, top) = (170.0, 960.0, 34.0, 28.0);
    let width = right + 20.0;
    if r.timelines.is_empty() {
        return "<p class=\"muted\">No component configured.</p>\n".into();
    }
    let (from, to) = (r.timeline_from, r.as_of);
    let days = (to - from).num_days().max(1);
    let span = (to - from).num_seconds().max(1) as f64;
    let x = |t: DateTime<Utc>| {
        let s = (t.max(from).min(to) - from).num_seconds() as f64;
        left + (right - left) * s / span
    };
    let height = top + row * r.timelines.len() as f64 + 30.0;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"recovery points per component over the last {days} days\">"
    );
    let _ = writeln!(
        o,
        "<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>"
    );
    // Day grid.
    for d in 0..=days {
        let t = from + Duration::days(d);
        let gx = x(t);
        let _ = writeln!(
            o,
            "<line x1=\"{gx:.1}\" y1=\"{top}\" x2=\"{gx:.1}\" y2=\"{:.1}\" stroke=\"#eaeef2\"/>",
            height - 30.0
        );
        if d % day_label_every(days) == 0 {
            let _ = writeln!(
                o,
                "<text x=\"{gx:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#57606a\" text-anchor=\"middle\">{}</text>",
                height - 12.0,
                t.format("%m-%d")
            );
        }
    }
    for (i, tl) in r.timelines.iter().enumerate() {
        let y = top + row * i as f64;
        let mid = y + row / 2.0;
        let _ = writeln!(
            o,
            "<text x=\"8\" y=\"{:.1}\" font-size=\"13\" fill=\"#1f2328\">{}</text><text x=\"8\" y=\"{:.1}\" font-size=\"10\" fill=\"#57606a\">RPO {}</text>",
            mid - 2.0,
            esc(&tl.component),
            mid + 11.0,
            esc(&crate::domain::time::format_duration(Duration::seconds(tl.rpo_seconds)))
        );
        let _ = writeln!(
            o,
            "<rect x=\"{left}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#f6f8fa\"/>",
            y + 4.0,
            right - left,
            row - 8.0
        );
        for (a, b) in &tl.gaps {
            let (ga, gb) = (x(*a), x(*b));
            let _ = writeln!(
                o,
                "<rect x=\"{ga:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#cf222e\" fill-opacity=\"0.35\"><title>no point for {} (RPO exceeded)</title></rect>",
                y + 4.0,
                (gb - ga).max(1.5),
                row - 8.0,
                esc(&crate::domain::time::format_duration(*b - *a))
            );
        }
        point_marks(&mut o, &tl.points, &x, y + 6.0, row / 2.0 - 4.0, "#0969da");
        point_marks(
            &mut o,
            &tl.dr_points,
            &x,
            mid + 1.0,
            row / 2.0 - 7.0,
            "#1a7f37",
        );
    }
    let _ = writeln!(
        o,
        "<text x=\"{left}\" y=\"16\" font-size=\"11\" fill=\"#57606a\"><tspan fill=\"#0969da\">▮</tspan> point  <tspan fill=\"#1a7f37\">▮</tspan> DR copy  <tspan fill=\"#cf222e\">▮</tspan> longer than the RPO without a point</text>"
    );
    o.push_str("</svg>\n");
    o
}

fn point_marks(
    o: &mut String,
    points: &[DateTime<Utc>],
    x: &impl Fn(DateTime<Utc>) -> f64,
    y: f64,
    h: f64,
    color: &str,
) {
    if points.is_empty() {
        return;
    }
    // One path per row keeps the page small even with many points.
    let mut d = String::new();
    for t in points {
        let _ = write!(d, "M{:.1} {y:.1}v{h:.1}", x(*t));
    }
    let _ = writeln!(o, "<path d=\"{d}\" stroke=\"{color}\" stroke-width=\"2\"/>");
}

fn day_label_every(days: i64) -> i64 {
    (days / 14).max(1)
}
