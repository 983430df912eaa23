//! The sweep as an SVG chart: achieved throughput and p99 publish latency against offered load,
//! side by side, drawn by hand so that no plotting library joins the build.

use super::report::{SweepPoint, number};

const PANEL_W: f64 = 420.0;
const PANEL_H: f64 = 280.0;
const MARGIN: f64 = 60.0;

/// One panel: a polyline of (x, y) points with axes, ticks and a title.
struct Panel<'a> {
    title: &'a str,
    y_label: &'a str,
    points: Vec<(f64, f64)>,
    /// Draw y = x (what a system that keeps up would achieve).
    diagonal: bool,
}

fn nice_max(value: f64) -> f64 {
    if value <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * magnitude >= value {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn panel(out: &mut String, left: f64, panel: &Panel<'_>, x_max: f64) {
    let y_max = nice_max(panel.points.iter().map(|p| p.1).fold(0.0, f64::max) * 1.05);
    let x = |v: f64| left + MARGIN + v / x_max * PANEL_W;
    let y = |v: f64| 30.0 + PANEL_H - v / y_max * PANEL_H;
    out.push_str(&format!(
        "<text x=\"{}\" y=\"20\" font-size=\"14\" text-anchor=\"middle\">{}</text>\n",
        left + MARGIN + PANEL_W / 2.0,
        panel.title
    ));
    for i in 0..=4 {
        let fraction = f64::from(i) / 4.0;
        let (xv, yv) = (x_max * fraction, y_max * fraction);
        out.push_str(&format!(
            "<line x1=\"{0}\" y1=\"30\" x2=\"{0}\" y2=\"{1}\" stroke=\"#eee\"/>\
             <text x=\"{0}\" y=\"{2}\" font-size=\"11\" text-anchor=\"middle\">{3}</text>\n",
            x(xv),
            30.0 + PANEL_H,
            30.0 + PANEL_H + 15.0,
            number(xv)
        ));
        out.push_str(&format!(
            "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#eee\"/>\
             <text x=\"{3}\" y=\"{4}\" font-size=\"11\" text-anchor=\"end\">{5}</text>\n",
            x(0.0),
            y(yv),
            x(x_max),
            x(0.0) - 5.0,
            y(yv) + 4.0,
            number(yv)
        ));
    }
    out.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\">offered load, events/s</text>\n\
         <text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 {} {})\">{}</text>\n",
        left + MARGIN + PANEL_W / 2.0,
        30.0 + PANEL_H + 35.0,
        left + 14.0,
        30.0 + PANEL_H / 2.0,
        left + 14.0,
        30.0 + PANEL_H / 2.0,
        panel.y_label
    ));
    if panel.diagonal {
        out.push_str(&format!(
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#bbb\" stroke-dasharray=\"4 4\"/>\n",
            x(0.0),
            y(0.0),
            x(x_max.min(y_max)),
            y(x_max.min(y_max))
        ));
    }
    let line: Vec<String> = panel
        .points
        .iter()
        .map(|(px, py)| format!("{:.1},{:.1}", x(*px), y(*py)))
        .collect();
    out.push_str(&format!(
        "<polyline fill=\"none\" stroke=\"#1f5fa8\" stroke-width=\"2\" points=\"{}\"/>\n",
        line.join(" ")
    ));
    for (px, py) in &panel.points {
        out.push_str(&format!(
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#1f5fa8\"/>\n",
            x(*px),
            y(*py)
        ));
    }
}

/// The chart for `points`, titled `title`.
pub fn svg(title: &str, points: &[SweepPoint]) -> String {
    let x_max = nice_max(points.iter().map(|p| p.offered).fold(0.0, f64::max));
    let width = 2.0 * (PANEL_W + MARGIN + 30.0);
    let height = PANEL_H + 110.0;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    panel(
        &mut out,
        0.0,
        &Panel {
            title: "throughput",
            y_label: "acknowledged, events/s",
            points: points.iter().map(|p| (p.offered, p.achieved)).collect(),
            diagonal: true,
        },
        x_max,
    );
    panel(
        &mut out,
        PANEL_W + MARGIN + 30.0,
        &Panel {
            title: "publish latency p99",
            y_label: "ms",
            points: points.iter().map(|p| (p.offered, p.p99_ms)).collect(),
            diagonal: false,
        },
        x_max,
    );
    out.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#555\">{}</text>\n</svg>\n",
        width / 2.0,
        height - 8.0,
        title
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_plots_every_point_in_both_panels() {
        let points: Vec<SweepPoint> = (1..=4)
            .map(|i| SweepPoint {
                offered: f64::from(i) * 1000.0,
                achieved: f64::from(i) * 900.0,
                p50_ms: 1.0,
                p99_ms: f64::from(i),
            })
            .collect();
        let svg = svg("embedded, unary", &points);
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<circle").count(), 8);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("embedded, unary"));
    }

    #[test]
    fn axis_maxima_are_round() {
        assert_eq!(nice_max(7_300.0), 10_000.0);
        assert_eq!(nice_max(1_900.0), 2_000.0);
        assert_eq!(nice_max(2_100.0), 2_500.0);
        assert_eq!(nice_max(0.0), 1.0);
    }
}
