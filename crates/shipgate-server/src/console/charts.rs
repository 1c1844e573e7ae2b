//! The deployment page's charts: inline SVG line charts, rendered on the server from the
//! analysis reports the executor records during a hold (a `progress` event with
//! `{"analysis": Evidence}` every two seconds and when the verdict falls, and the step's
//! `step_done` with the final one).
//!
//! Each report holds every check's tallies over the hold so far: for `errors_vs_*` the new
//! version's errors among its requests and the same for the stable version (or the previous
//! release's baseline); for `latency_vs_*` the requests slower than the stable version's p95.
//! A chart plots those shares against the seconds since the hold began, one line per version,
//! so it grows as the reports arrive and the page re-renders its live part. Drawn by hand: a
//! few polylines need no chart library, and the console has no JavaScript build.

use std::fmt::Write as _;

use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use serde_json::Value;

/// The drawing's size in SVG units (it scales to the page's width).
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
/// Room for the axis labels: left, right, top, bottom.
const MARGIN: (f64, f64, f64, f64) = (56.0, 16.0, 12.0, 30.0);

/// One line: a version's share (0–1) at each second of the hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    /// `new` or `reference`: the CSS class that gives its colour and dash.
    pub class: &'static str,
    pub points: Vec<(f64, f64)>,
    /// Requests and events behind each point, for the text alternative.
    pub tallies: Vec<(u64, u64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// The element id (`chart-errors`, `chart-latency`).
    pub id: &'static str,
    pub title: String,
    /// What the lines measure, in words; the SVG's `desc`.
    pub description: String,
    /// The hold's length in seconds: the x axis spans it, so the lines grow to the right.
    pub x_max: f64,
    pub series: Vec<Series>,
}

/// A report: the step it belongs to and its evidence.
struct Report<'a> {
    step: Option<u64>,
    evidence: &'a Value,
}

/// Every analysis report among `events`, in order.
fn reports(events: &Value) -> Vec<Report<'_>> {
    events
        .as_array()
        .into_iter()
        .flatten()
        .filter(|event| matches!(event["kind"].as_str(), Some("progress" | "step_done")))
        .filter(|event| event["data"]["analysis"].is_object())
        .map(|event| Report { step: event["step_index"].as_u64(), evidence: &event["data"]["analysis"] })
        .collect()
}

/// The latest analysis report among `events` (the verdict, its summary and each check).
pub fn latest_analysis(events: &Value) -> Option<&Value> {
    reports(events).last().map(|report| report.evidence)
}

fn seconds_between(from: &Value, to: &Value) -> Option<f64> {
    let from: jiff::Timestamp = from.as_str()?.parse().ok()?;
    let to: jiff::Timestamp = to.as_str()?.parse().ok()?;
    Some(to.duration_since(from).as_secs_f64())
}

/// The error rate and latency charts of the hold with the latest report: `new` is the
/// deployed version, `stable` the one it is compared with. Empty without analysis.
pub fn analysis_charts(events: &Value, new: &str, stable: &str) -> Vec<Chart> {
    let all = reports(events);
    let Some(last) = all.last() else { return Vec::new() };
    let hold = &last.evidence["hold"];
    let mine: Vec<&Report<'_>> = all.iter().filter(|report| report.step == last.step).collect();
    let x_max = seconds_between(&hold["start"], &hold["end"]).unwrap_or(0.0).max(1.0);
    let kinds = [
        (
            "chart-errors",
            "Error rate",
            &["errors_vs_stable", "errors_vs_baseline", "error_rate_max"][..],
            "errors among requests",
        ),
        (
            "chart-latency",
            "Slow requests (latency)",
            &["latency_vs_stable", "latency_vs_baseline", "p50_max", "p95_max", "p99_max"][..],
            "requests slower than the check's bound",
        ),
    ];
    let mut charts = Vec::new();
    for (id, title, names, measure) in kinds {
        let check_of = |evidence: &'_ Value| -> Option<Value> {
            let checks = evidence["checks"].as_array()?;
            names.iter().find_map(|name| checks.iter().find(|check| check["name"] == *name).cloned())
        };
        let Some(check) = check_of(last.evidence) else { continue };
        let name = check["name"].as_str().unwrap_or_default().to_owned();
        let reference = if name.ends_with("_vs_baseline") {
            format!("{stable} before the deployment (baseline)")
        } else {
            format!("{stable} (stable)")
        };
        let mut series = vec![
            Series { label: format!("{new} (new)"), class: "new", points: Vec::new(), tallies: Vec::new() },
            Series { label: reference, class: "reference", points: Vec::new(), tallies: Vec::new() },
        ];
        for report in &mine {
            let Some(check) = check_of(report.evidence) else { continue };
            let Some(at) = seconds_between(&report.evidence["hold"]["start"], &report.evidence["window_end"]) else {
                continue;
            };
            for (line, tally) in series.iter_mut().zip([&check["canary"], &check["reference"]]) {
                let (events, trials) = (tally["events"].as_u64(), tally["trials"].as_u64());
                if let (Some(events), Some(trials)) = (events, trials)
                    && trials > 0
                {
                    line.points.push((at.clamp(0.0, x_max), events as f64 / trials as f64));
                    line.tallies.push((trials, events));
                }
            }
        }
        series.retain(|line| !line.points.is_empty() || line.class == "new");
        let description = format!(
            "The share of {measure} over the hold so far (check `{name}`: it fails if {}), against the seconds since the hold began.",
            check["fails_if"].as_str().unwrap_or("its bound is crossed")
        );
        charts.push(Chart { id, title: title.to_owned(), description, x_max, series });
    }
    charts
}

/// The top of the y axis: the largest share with a little headroom, rounded up to a step of a
/// round size, and at least 1%.
pub fn y_max(series: &[Series]) -> f64 {
    let largest = series.iter().flat_map(|line| line.points.iter().map(|(_, y)| *y)).fold(0.0_f64, f64::max);
    let wanted = (largest * 1.1).max(0.01);
    let steps = [0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 0.75, 1.0];
    steps.into_iter().find(|step| *step >= wanted).unwrap_or(1.0)
}

/// The polyline's `points` attribute: each (x, y) mapped into the plot area, with y growing
/// upwards; values outside the axes are clamped to them.
pub fn polyline_points(points: &[(f64, f64)], x_max: f64, y_max: f64) -> String {
    let (left, right, top, bottom) = MARGIN;
    let (width, height) = (WIDTH - left - right, HEIGHT - top - bottom);
    points
        .iter()
        .map(|(x, y)| {
            let x = left + (x / x_max.max(f64::MIN_POSITIVE)).clamp(0.0, 1.0) * width;
            let y = top + height - (y / y_max.max(f64::MIN_POSITIVE)).clamp(0.0, 1.0) * height;
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn percent(share: f64) -> String {
    let points = share * 100.0;
    if points != 0.0 && points.abs() < 0.1 { format!("{points:.2}%") } else { format!("{points:.1}%") }
}

/// The chart as a `figure`: the SVG (`role="img"`, named by its `title` and `desc`), a legend in
/// words, and the figures behind every point in a table for those who cannot see the lines.
pub fn figure(chart: &Chart) -> String {
    let (left, right, top, bottom) = MARGIN;
    let y_max = y_max(&chart.series);
    let id = chart.id;
    let mut svg = format!(
        r#"<svg id="{id}" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{id}-title {id}-desc" preserveAspectRatio="xMinYMin meet"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        text(&chart.title),
        text(&chart.description)
    );
    // Axes, a middle grid line, and their labels.
    let (x0, x1, y0, y1) = (left, WIDTH - right, top, HEIGHT - bottom);
    let middle = (y0 + y1) / 2.0;
    let _ = write!(
        svg,
        r#"<g class="axes" aria-hidden="true"><line x1="{x0}" y1="{y1}" x2="{x1}" y2="{y1}"/><line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}"/><line class="grid" x1="{x0}" y1="{middle}" x2="{x1}" y2="{middle}"/><line class="grid" x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}"/>"#
    );
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="end">{}</text><text x="{}" y="{}" text-anchor="end">{}</text><text x="{}" y="{}" text-anchor="end">0%</text>"#,
        x0 - 6.0,
        y0 + 4.0,
        percent(y_max),
        x0 - 6.0,
        middle + 4.0,
        percent(y_max / 2.0),
        x0 - 6.0,
        y1 + 4.0
    );
    let _ = write!(
        svg,
        r#"<text x="{x0}" y="{}">0 s</text><text x="{x1}" y="{}" text-anchor="end">{:.0} s</text></g>"#,
        HEIGHT - 8.0,
        HEIGHT - 8.0,
        chart.x_max
    );
    // The reference first, so that the new version's line stays on top where they meet.
    for line in chart.series.iter().rev() {
        let points = polyline_points(&line.points, chart.x_max, y_max);
        let _ = write!(
            svg,
            r#"<polyline class="series {}" data-series="{}" points="{}"/>"#,
            line.class,
            attr(&line.label),
            points
        );
        // A lone point draws no line: mark it.
        if let [(x, y)] = line.points.as_slice() {
            let mark = polyline_points(&[(*x, *y)], chart.x_max, y_max);
            if let Some((cx, cy)) = mark.split_once(',') {
                let _ = write!(svg, r#"<circle class="series {}" cx="{cx}" cy="{cy}" r="3"/>"#, line.class);
            }
        }
    }
    svg.push_str("</svg>");
    let legend: String = chart
        .series
        .iter()
        .map(|line| {
            let last = line.points.last().map(|(_, y)| percent(*y)).unwrap_or_else(|| "no requests yet".to_owned());
            format!(
                r#"<li><span class="swatch {}" aria-hidden="true"></span>{}: {last}</li>"#,
                line.class,
                text(&line.label)
            )
        })
        .collect();
    format!(
        r#"<figure class="chart" aria-labelledby="{id}-caption"><figcaption id="{id}-caption"><strong>{}</strong></figcaption>{svg}<ul class="legend">{legend}</ul>{}</figure>"#,
        text(&chart.title),
        figures_table(chart)
    )
}

/// The text alternative: every point of every line, with its requests.
fn figures_table(chart: &Chart) -> String {
    let mut rows = String::new();
    for line in &chart.series {
        for ((x, y), (trials, events)) in line.points.iter().zip(&line.tallies) {
            let _ = write!(
                rows,
                r#"<tr><td data-label="Version">{}</td><td data-label="Second">{x:.0}</td><td data-label="Requests">{trials}</td><td data-label="Counted">{events}</td><td data-label="Share">{}</td></tr>"#,
                text(&line.label),
                percent(*y)
            );
        }
    }
    if rows.is_empty() {
        return "<p class=\"hint\">No requests counted yet.</p>".to_owned();
    }
    format!(
        r#"<details id="{}-figures"><summary>Figures of “{}”</summary><div class="table-wrap"><table class="stack"><thead><tr><th scope="col">Version</th><th scope="col">Second of the hold</th><th scope="col">Requests</th><th scope="col">Counted</th><th scope="col">Share</th></tr></thead><tbody>{rows}</tbody></table></div></details>"#,
        chart.id,
        text(&chart.title)
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn line(points: &[(f64, f64)]) -> Series {
        Series {
            label: "v2 (new)".to_owned(),
            class: "new",
            points: points.to_vec(),
            tallies: points.iter().map(|_| (10, 1)).collect(),
        }
    }

    #[test]
    fn points_map_into_the_plot_area_with_y_upwards() {
        // The plot spans x 56..624 and y 12..190.
        type Case<'a> = (&'a [(f64, f64)], f64, f64, &'a str);
        let cases: [Case<'_>; 5] = [
            (&[], 10.0, 1.0, ""),
            (&[(0.0, 0.0)], 10.0, 1.0, "56.0,190.0"),
            (&[(10.0, 1.0)], 10.0, 1.0, "624.0,12.0"),
            (&[(5.0, 0.25), (10.0, 0.5)], 10.0, 0.5, "340.0,101.0 624.0,12.0"),
            // Outside the axes: clamped to them.
            (&[(-1.0, 2.0), (20.0, -1.0)], 10.0, 1.0, "56.0,12.0 624.0,190.0"),
        ];
        for (points, x_max, y_max, expected) in cases {
            assert_eq!(polyline_points(points, x_max, y_max), expected, "{points:?}");
        }
    }

    #[test]
    fn the_y_axis_is_round_and_leaves_headroom() {
        let cases = [(&[][..], 0.01), (&[(0.0, 0.001)][..], 0.01), (&[(0.0, 0.3)][..], 0.5), (&[(0.0, 0.95)][..], 1.0)];
        for (points, expected) in cases {
            assert_eq!(y_max(&[line(points)]), expected, "{points:?}");
        }
    }

    fn report(kind: &str, step: u64, second: u64, canary: (u64, u64), stable: (u64, u64), verdict: &str) -> Value {
        let check = |name: &str| {
            json!({"name": name, "status": "pending", "fails_if": "the new version's error rate is <higher>",
                   "canary": {"events": canary.0, "trials": canary.1}, "reference": {"events": stable.0, "trials": stable.1}})
        };
        json!({"kind": kind, "step_index": step, "data": {"analysis": {
            "verdict": verdict, "summary": "s", "hold": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:01:00Z"},
            "window_end": format!("2026-01-01T00:00:{second:02}Z"), "looks": 1, "false_positive_rate": 0.05,
            "checks": [check("errors_vs_stable"), check("latency_vs_stable")]}}})
    }

    #[test]
    fn the_charts_follow_the_latest_holds_reports() {
        let events = json!([
            {"kind": "progress", "step_index": 1, "data": {"weights": []}},
            report("progress", 2, 0, (0, 0), (0, 0), "pending"),
            report("progress", 2, 2, (3, 10), (0, 20), "pending"),
            report("progress", 2, 4, (9, 30), (1, 50), "fail"),
        ]);
        let charts = analysis_charts(&events, "v3", "v1");
        assert_eq!(charts.iter().map(|chart| chart.id).collect::<Vec<_>>(), ["chart-errors", "chart-latency"]);
        let errors = &charts[0];
        assert_eq!(errors.x_max, 60.0);
        // The first report had no requests: no point.
        assert_eq!(errors.series[0].points, [(2.0, 0.3), (4.0, 0.3)]);
        assert_eq!(errors.series[1].points, [(2.0, 0.0), (4.0, 0.02)]);
        assert_eq!(errors.series[1].label, "v1 (stable)");
        assert_eq!(latest_analysis(&events).unwrap()["verdict"], "fail");
        // A later hold starts its own chart.
        let mut later = events.as_array().unwrap().clone();
        later.push(report("progress", 5, 1, (1, 100), (0, 0), "pending"));
        let charts = analysis_charts(&Value::Array(later), "v3", "v1");
        assert_eq!(charts[0].series[0].points, [(1.0, 0.01)]);
        assert_eq!(charts[0].series.len(), 1, "a reference without requests draws no line");
        // Without analysis, no chart.
        assert!(analysis_charts(&json!([{"kind": "progress", "data": {}}]), "v3", "v1").is_empty());
        assert!(analysis_charts(&Value::Null, "v3", "v1").is_empty());
    }

    #[test]
    fn a_figure_is_named_described_and_escaped() {
        let events = json!([report("progress", 2, 2, (3, 10), (0, 20), "pending")]);
        let charts = analysis_charts(&events, "<v3>", "v1\"");
        let html = figure(&charts[0]);
        assert!(html.contains(r#"role="img" aria-labelledby="chart-errors-title chart-errors-desc""#), "{html}");
        assert!(html.contains(r#"<title id="chart-errors-title">Error rate</title>"#), "{html}");
        assert!(html.contains("is &lt;higher&gt;"), "{html}");
        assert!(html.contains(r#"data-series="&lt;v3&gt; (new)""#), "{html}");
        assert!(html.contains(r#"data-series="v1&quot; (stable)""#), "{html}");
        assert!(!html.contains("<v3>") && !html.contains("data-series=\"v1\" "), "{html}");
        // The table gives every point's figures; a lone point gets a mark.
        assert!(html.contains(r#"<td data-label="Requests">10</td><td data-label="Counted">3</td>"#), "{html}");
        assert!(html.contains("<circle class=\"series new\""), "{html}");
        let empty = figure(&Chart {
            id: "chart-errors",
            title: "Error rate".to_owned(),
            description: String::new(),
            x_max: 60.0,
            series: vec![line(&[])],
        });
        assert!(empty.contains("No requests counted yet") && empty.contains(r#"points="""#), "{empty}");
        assert!(empty.contains("v2 (new): no requests yet"), "{empty}");
    }
}
