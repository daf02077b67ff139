//! Which ONNX Runtime library is loaded, and what happens when it is wrong. A process holds one
//! ONNX Runtime, so this file is its own test binary and one test runs the steps in order.

use indextts::testkit::TinyVoice;
use indextts::{assets_dir, Error, Synthesizer};

#[test]
fn wrong_runtime_library_is_a_clear_error_then_the_right_one_loads() {
    let dir = std::env::temp_dir().join(format!("indextts-ort-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    TinyVoice::default().write(&dir, "tiny").unwrap();
    let builder = || Synthesizer::builder().voice(&dir).threads(1);

    // A path that does not exist.
    match builder()
        .ort_library(dir.join("libonnxruntime.so.404"))
        .build()
    {
        Err(Error::RuntimeLoad { path, reason }) => {
            println!("missing: {} ({reason})", path.display());
            assert!(path.ends_with("libonnxruntime.so.404"));
        }
        other => panic!("expected RuntimeLoad, got {other:?}"),
    }
    // A file that is not a shared library.
    let junk = dir.join("libonnxruntime.so.junk");
    std::fs::write(&junk, b"not an ELF file").unwrap();
    assert!(matches!(
        builder().ort_library(&junk).build(),
        Err(Error::RuntimeLoad { .. })
    ));
    // A shared library that is not ONNX Runtime.
    let espeak = assets_dir().join("espeak-ng/libespeak-ng.so.1.52.0");
    match builder().ort_library(&espeak).build() {
        Err(Error::RuntimeLoad { reason, .. }) => {
            assert!(reason.contains("OrtGetApiBase"), "{reason}")
        }
        other => panic!("expected RuntimeLoad, got {other:?}"),
    }

    // The fetched ONNX Runtime loads after those failures.
    let good = assets_dir().join("onnxruntime/libonnxruntime.so.1.31.1");
    let synth = builder().ort_library(&good).build().unwrap();
    assert!(synth.is_split());

    // Asking for another copy now is a conflict, not a silent reuse.
    let copy = dir.join("libonnxruntime.so.1.31.1");
    std::fs::copy(&good, &copy).unwrap();
    match builder().ort_library(&copy).build() {
        Err(Error::RuntimeConflict { loaded, requested }) => {
            assert_eq!(loaded, std::fs::canonicalize(&good).unwrap());
            assert_eq!(requested, std::fs::canonicalize(&copy).unwrap());
        }
        other => panic!("expected RuntimeConflict, got {other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
