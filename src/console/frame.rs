//! The frame every console page shares: the document head with the stylesheet, the navigation
//! (keeping the viewer's `?as=` in development mode), the viewer's name, and the chart scripts
//! on pages that draw charts. Built with maud: escaped by default, checked at compile time.

use maud::{DOCTYPE, Markup, html};

use super::assets::{ECHARTS, SCRIPT, STYLE};
use crate::domain::Agency;

/// The console's sections: address and label.
const NAV: [(&str, &str); 9] = [
    ("/", "总览"),
    ("/stats", "统计分析"),
    ("/leads", "线索"),
    ("/referrals", "移送"),
    ("/alerts", "预警"),
    ("/penalties", "处罚一致性"),
    ("/inspections", "涉企检查"),
    ("/procedure", "执法监督"),
    ("/public/penalties", "公示"),
];

/// `?as=<viewer>` in development mode, for links that keep the viewer.
pub(super) fn as_query(viewer: Option<&Agency>) -> String {
    viewer.map_or(String::new(), |v| format!("?as={}", v.id))
}

/// A page: the frame around `body`. The section whose label the title contains is marked
/// current; the chart scripts load only where the body has a chart.
pub(super) fn frame(title: &str, body: Markup, viewer: Option<&Agency>) -> String {
    let q = as_query(viewer);
    let charts = body.0.contains("data-chart=");
    let current = NAV
        .iter()
        .rev()
        .find(|(_, label)| title.contains(label))
        .map(|(href, _)| *href);
    let markup = html! {
        (DOCTYPE)
        html lang="zh-CN" {
            (head(&format!("{title} · 獬豸 执法协同")))
            body {
                header.top {
                    span.brand { "獬豸 · 行政执法与刑事司法衔接" }
                    nav aria-label="栏目" {
                        @for (href, label) in NAV {
                            @let link = if href.starts_with("/public") { href.to_owned() } else { format!("{href}{q}") };
                            a href=(link) aria-current=[(current == Some(href)).then_some("page")] { (label) }
                        }
                    }
                    span.viewer {
                        @match viewer {
                            Some(v) => { (v.name) "（" (v.id) "）" }
                            None => { "运维（全部辖区）" }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
                @if charts {
                    script src=(ECHARTS.href()) {}
                    script src=(SCRIPT.href()) {}
                }
            }
        }
    };
    let mut out = markup.into_string();
    out.push('\n');
    out
}

/// A public page (the 双公示 feed, the verification pages): the stylesheet, no navigation and no
/// viewer; `narrow` for pages read on a phone at the enterprise's door.
pub(super) fn public(title: &str, body: Markup, narrow: bool) -> String {
    let markup = html! {
        (DOCTYPE)
        html lang="zh-CN" {
            (head(title))
            body { main style=[narrow.then_some("max-width:40em")] { h1 { (title) } (body) } }
        }
    };
    let mut out = markup.into_string();
    out.push('\n');
    out
}

/// The `<head>` every page shares: charset, viewport, title and the stylesheet.
fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) }
            link rel="stylesheet" href=(STYLE.href());
        }
    }
}
