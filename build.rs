//! Gives `libindextts.so` a soname, so C hosts link against the ABI version, not the file:
//! `libindextts.so.0.MINOR` while the major version is 0 (each minor may break the ABI), then
//! `libindextts.so.MAJOR` (cargo-c's convention).

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_default();
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap_or_default();
    let soname = if major == "0" {
        format!("libindextts.so.0.{minor}")
    } else {
        format!("libindextts.so.{major}")
    };
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
