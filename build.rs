//! Which optional test tools this machine has, so `cargo test` reports a test that cannot run
//! here as `ignored` with the reason (libtest decides that at compile time), instead of a
//! quiet `ok`. Under CI (`CI` set) nothing is ignored: a missing tool fails its test.
//!
//! Reruns when PATH, LARKUP_SDK_PYTHON or CI change, or when a PATH directory changes (a
//! package installed), so the answer follows the machine.

use std::path::{Path, PathBuf};

/// (cfg set when missing, programs needed)
const TOOLS: &[(&str, &[&str])] = &[
    (
        "larkup_no_keyring_daemons",
        &["dbus-daemon", "gnome-keyring-daemon", "dbus-send"],
    ),
    ("larkup_no_groff", &["groff"]),
];

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// LARKUP_SDK_PYTHON, else the venv `tests/sdk/venv.sh` builds.
fn sdk_python(manifest_dir: &Path) -> Option<PathBuf> {
    std::env::var_os("LARKUP_SDK_PYTHON")
        .map(PathBuf::from)
        .or_else(|| Some(manifest_dir.join("target/sdk-venv/bin/python")))
        .filter(|python| python.is_file())
}

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    for var in ["PATH", "LARKUP_SDK_PYTHON", "CI"] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths).filter(|dir| dir.is_dir()) {
            println!("cargo::rerun-if-changed={}", dir.display());
        }
    }
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let venv = manifest_dir.join("target/sdk-venv/bin");
    if venv.is_dir() {
        println!("cargo::rerun-if-changed={}", venv.display());
    }

    let ci = std::env::var_os("CI").is_some_and(|value| !value.is_empty());
    let mut missing: Vec<&str> = TOOLS
        .iter()
        .filter(|(_, programs)| !programs.iter().all(|program| on_path(program)))
        .map(|(cfg, _)| *cfg)
        .collect();
    if sdk_python(&manifest_dir).is_none() {
        missing.push("larkup_no_sdk");
    }
    for cfg in TOOLS.iter().map(|(cfg, _)| *cfg).chain(["larkup_no_sdk"]) {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }
    if !ci {
        for cfg in missing {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
