//! The console's static files, inside the binary: its stylesheet, its chart script, and Apache
//! ECharts 6.1.0 (`assets/echarts-6.1.0.min.js`, from the npm package `echarts@6.1.0`, Apache
//! License 2.0 — `assets/echarts-LICENSE` and `-NOTICE`, served beside it). No CDN: agency
//! networks are often closed. Each is served under a name carrying a hash of its content, so a
//! browser may keep it for a year and a new release is fetched at once.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// One static file.
pub(super) struct Asset {
    stem: &'static str,
    ext: &'static str,
    mime: &'static str,
    body: &'static [u8],
}

pub(super) static STYLE: Asset = Asset {
    stem: "console",
    ext: "css",
    mime: "text/css; charset=utf-8",
    body: include_bytes!("../../assets/console.css"),
};
pub(super) static SCRIPT: Asset = Asset {
    stem: "console",
    ext: "js",
    mime: "text/javascript; charset=utf-8",
    body: include_bytes!("../../assets/console.js"),
};
pub(super) static ECHARTS: Asset = Asset {
    stem: "echarts-6.1.0.min",
    ext: "js",
    mime: "text/javascript; charset=utf-8",
    body: include_bytes!("../../assets/echarts-6.1.0.min.js"),
};
static LICENCE: Asset = Asset {
    stem: "echarts-LICENSE",
    ext: "txt",
    mime: "text/plain; charset=utf-8",
    body: include_bytes!("../../assets/echarts-LICENSE"),
};
static NOTICE: Asset = Asset {
    stem: "echarts-NOTICE",
    ext: "txt",
    mime: "text/plain; charset=utf-8",
    body: include_bytes!("../../assets/echarts-NOTICE"),
};

static ALL: [&Asset; 5] = [&STYLE, &SCRIPT, &ECHARTS, &LICENCE, &NOTICE];

/// Each asset's served name: `stem.hash.ext` (licences keep their plain names).
static NAMES: LazyLock<Vec<String>> = LazyLock::new(|| {
    ALL.iter()
        .map(|a| {
            if a.ext == "txt" {
                format!("{}.{}", a.stem, a.ext)
            } else {
                let hash = hex::encode(&Sha256::digest(a.body)[..6]);
                format!("{}.{hash}.{}", a.stem, a.ext)
            }
        })
        .collect()
});

impl Asset {
    /// The address pages link to.
    pub(super) fn href(&'static self) -> String {
        let index = ALL
            .iter()
            .position(|a| std::ptr::eq(*a, self))
            .unwrap_or_default();
        format!("/assets/{}", NAMES[index])
    }
}

/// `GET /assets/{name}`.
pub(super) async fn serve(Path(name): Path<String>) -> Response {
    let Some(index) = NAMES.iter().position(|n| *n == name) else {
        return (StatusCode::NOT_FOUND, "no such asset\n").into_response();
    };
    let asset = ALL[index];
    let cache = if asset.ext == "txt" {
        "public, max-age=3600"
    } else {
        "public, max-age=31536000, immutable"
    };
    (
        [
            (header::CONTENT_TYPE, asset.mime),
            (header::CACHE_CONTROL, cache),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        asset.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_content_hash_and_licences_keep_theirs() {
        assert!(ECHARTS.href().starts_with("/assets/echarts-6.1.0.min."));
        assert!(ECHARTS.href().ends_with(".js"));
        assert_eq!(LICENCE.href(), "/assets/echarts-LICENSE.txt");
        // The vendored file is the release (its licence header names it).
        let head = String::from_utf8_lossy(&ECHARTS.body[..600]);
        assert!(head.contains("Apache"), "{head}");
    }
}
