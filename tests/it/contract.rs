//! The API is a contract between dozens of agencies: `buf lint` with the rules in
//! `proto/buf.yaml`, and `buf breaking` against the release recorded in `proto/BASELINE` (wire
//! and JSON compatibility). And the check itself is checked: a renumbered field in a scratch copy
//! must be caught. Never skipped: without buf (npm `@bufbuild/buf`, which ./test.sh installs in
//! tests/contract) the test fails and says so.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cli::{run_async, text};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn buf() -> PathBuf {
    let buf = root().join("tests/contract/node_modules/.bin/buf");
    assert!(
        buf.exists(),
        "{} not found: run ./test.sh, or `npm ci` in tests/contract (npm package @bufbuild/buf)",
        buf.display()
    );
    buf
}

async fn run(args: &[&str], dir: &Path) -> (bool, String) {
    let mut command = Command::new(buf());
    command.args(args).current_dir(dir);
    let out = run_async(command).await;
    (
        out.status.success(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

#[tokio::test]
async fn the_proto_passes_buf_lint_and_breaking_against_the_last_release() {
    let (ok, out) = run(&["lint", "proto"], root()).await;
    assert!(ok, "buf lint:\n{out}");
    let baseline = std::fs::read_to_string(root().join("proto/BASELINE")).unwrap();
    let against = format!(".git#ref={},subdir=proto", baseline.trim());
    let (ok, out) = run(&["breaking", "proto", "--against", &against], root()).await;
    assert!(
        ok,
        "buf breaking against {} (a shallow clone needs `git fetch --unshallow`):\n{out}",
        baseline.trim()
    );
}

#[tokio::test]
async fn a_renumbered_field_is_caught_as_breaking() {
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("proto");
    let status = Command::new("cp")
        .arg("-r")
        .arg(root().join("proto"))
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    let events = copy.join("xiezhi/v1/events.proto");
    let text = std::fs::read_to_string(&events).unwrap();
    let broken = text.replacen("string offence_code = 4;", "string offence_code = 40;", 1);
    assert_ne!(text, broken, "the field to renumber is in events.proto");
    std::fs::write(&events, broken).unwrap();
    let proto = root().join("proto");
    let (ok, out) = run(
        &[
            "breaking",
            copy.to_str().unwrap(),
            "--against",
            proto.to_str().unwrap(),
        ],
        scratch.path(),
    )
    .await;
    assert!(!ok, "a renumbered field passed buf breaking:\n{out}");
    assert!(out.contains("offence_code"), "{out}");
}
