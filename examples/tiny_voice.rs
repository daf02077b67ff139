//! Write the tiny test voice (a Piper-shaped graph of a few kB with random weights: it makes
//! sound, not speech) into DIR as DIR/NAME.onnx and DIR/NAME.onnx.json, NAME being DIR's own
//! name. For the C ABI's runs under valgrind (scripts/test_hosts.sh), where the real voice's
//! 63 MB graph made one run of the bad-input test take 11 minutes.
//!
//!   cargo run --example tiny_voice -- target/tiny

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/tiny".into()),
    );
    let name = dir
        .file_name()
        .map_or_else(|| "tiny".into(), |n| n.to_string_lossy().into_owned());
    let model = indextts::testkit::TinyVoice::default().write(&dir, &name)?;
    println!("wrote {}", model.display());
    Ok(())
}
