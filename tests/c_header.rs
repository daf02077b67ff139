//! `include/indextts.h` is generated from `src/ffi/` by cbindgen and committed; this test
//! regenerates it and fails on any difference. `INDEXTTS_BLESS=1 cargo test --test c_header`
//! writes the new header instead.

use std::path::Path;

#[test]
fn committed_header_matches_the_abi() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).unwrap();
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/ffi/mod.rs"))
        .with_src(root.join("src/ffi/synthesizer.rs"))
        .with_src(root.join("src/ffi/audio.rs"))
        .with_src(root.join("src/ffi/stream.rs"))
        .generate()
        .expect("cbindgen could not read src/ffi/");
    let mut fresh = Vec::new();
    bindings.write(&mut fresh);
    let fresh = String::from_utf8(fresh).unwrap();
    let path = root.join("include/indextts.h");
    if std::env::var_os("INDEXTTS_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != fresh {
        let line = committed
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(fresh.lines().count()));
        panic!(
            "include/indextts.h is stale (first difference at line {}); regenerate it with \
             INDEXTTS_BLESS=1 cargo test --test c_header and commit it",
            line + 1
        );
    }
}
