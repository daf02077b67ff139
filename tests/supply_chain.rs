//! The supply chain, checked offline on every CI run (in place of `cargo deny`, whose advisory
//! database cannot be fetched here): every crate in the lock file, with all features, comes
//! from crates.io or this repository, carries a license we can ship under, and no crate is in
//! the build in two versions unless tests/data/duplicate_crates.txt already lists it (adding a
//! duplicate is a decision, made by editing that file in the same commit).

use std::collections::{BTreeMap, BTreeSet};

/// Licenses compatible with shipping indextts under MIT OR Apache-2.0.
const ALLOWED: &[&str] = &[
    "MIT",
    "MIT-0",
    "Apache-2.0",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "ISC",
    "Zlib",
    "Unicode-3.0",
    "BSL-1.0",
    "CC0-1.0",
    "Unlicense",
    // cbindgen, a dev-dependency that only generates the header; file-level copyleft.
    "MPL-2.0",
];

/// Whether an SPDX expression (OR, AND, WITH, parentheses; "/" as the old OR) is satisfied
/// by the allowed licenses.
fn allowed(expr: &str) -> bool {
    let spaced = expr
        .replace('/', " OR ")
        .replace('(', " ( ")
        .replace(')', " ) ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    let mut pos = 0;
    let value = or(&tokens, &mut pos);
    value && pos == tokens.len()
}

fn or(t: &[&str], pos: &mut usize) -> bool {
    let mut value = and(t, pos);
    while t.get(*pos) == Some(&"OR") {
        *pos += 1;
        value |= and(t, pos);
    }
    value
}

fn and(t: &[&str], pos: &mut usize) -> bool {
    let mut value = atom(t, pos);
    while t.get(*pos) == Some(&"AND") {
        *pos += 1;
        value &= atom(t, pos);
    }
    value
}

fn atom(t: &[&str], pos: &mut usize) -> bool {
    let Some(&token) = t.get(*pos) else {
        return false;
    };
    *pos += 1;
    let value = if token == "(" {
        let inner = or(t, pos);
        if t.get(*pos) == Some(&")") {
            *pos += 1;
        }
        inner
    } else {
        ALLOWED.contains(&token)
    };
    // An exception (WITH LLVM-exception) only adds permissions.
    if t.get(*pos) == Some(&"WITH") {
        *pos += 2;
    }
    value
}

#[test]
fn license_expressions_are_read_as_spdx() {
    assert!(allowed("MIT OR Apache-2.0"));
    assert!(allowed("(MIT OR Apache-2.0) AND Unicode-3.0"));
    assert!(allowed(
        "Apache-2.0 WITH LLVM-exception OR Apache-2.0 OR MIT"
    ));
    assert!(allowed("MIT/Apache-2.0"));
    assert!(!allowed("GPL-3.0-only"));
    assert!(!allowed("MIT AND GPL-3.0-only"));
    assert!(allowed("GPL-3.0-only OR MIT"));
    assert!(!allowed(""));
}

#[test]
fn every_crate_is_from_crates_io_with_a_shippable_license_and_no_new_duplicates() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--all-features",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut versions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for package in metadata["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap();
        let version = package["version"].as_str().unwrap();
        versions
            .entry(name.to_owned())
            .or_default()
            .insert(version.to_owned());
        let source = package["source"].as_str();
        if let Some(source) = source {
            if !source.starts_with("registry+https://github.com/rust-lang/crates.io-index")
                && !source.starts_with("sparse+https://index.crates.io/")
            {
                problems.push(format!("{name} {version} comes from {source}"));
            }
        }
        match package["license"].as_str() {
            Some(license) if allowed(license) => {}
            Some(license) => problems.push(format!("{name} {version}: license {license}")),
            None if source.is_none() => {} // our own crates
            None => problems.push(format!("{name} {version}: no license")),
        }
    }
    let known: BTreeSet<String> = include_str!("data/duplicate_crates.txt")
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    let duplicates: Vec<String> = versions
        .iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(name, v)| format!("{name} {}", v.iter().cloned().collect::<Vec<_>>().join(" ")))
        .collect();
    println!(
        "{} crates; {} in two or more versions: {}",
        versions.len(),
        duplicates.len(),
        duplicates.join(", ")
    );
    for duplicate in &duplicates {
        let name = duplicate.split(' ').next().unwrap_or_default();
        if !known.contains(name) {
            problems.push(format!(
                "new duplicate {duplicate} (list it in tests/data/duplicate_crates.txt if meant)"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "supply chain:\n{}",
        problems.join("\n")
    );
}

/// A Rust app that depends on indextts with default features builds no application crate: the
/// CLI's and the server's dependencies are behind their features, the test kit behind
/// `unstable-internals`.
#[test]
fn a_dependent_app_builds_no_app_crates() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let tree = |features: &[&str]| -> BTreeSet<String> {
        let mut command = std::process::Command::new(&cargo);
        command
            .args([
                "tree",
                "--locked",
                "--offline",
                "-e",
                "normal",
                "--prefix",
                "none",
            ])
            .args(["--format", "{p}", "-p", "indextts"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        for feature in features {
            command.args(["--features", feature]);
        }
        let output = command.output().expect("run cargo tree");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect()
    };
    const APP_CRATES: [&str; 6] = [
        "clap",
        "tracing-subscriber",
        "axum",
        "tower_governor",
        "tokio",
        "criterion",
    ];
    let default = tree(&[]);
    assert!(default.contains("ort"), "{default:?}");
    for name in APP_CRATES {
        assert!(
            !default.contains(name),
            "{name} is built for a dependent app"
        );
    }
    // The check can fail: the server feature brings them in.
    let server = tree(&["server"]);
    assert!(
        server.contains("axum") && server.contains("clap"),
        "{server:?}"
    );
}
