//! The voice config loader (`.onnx.json`) on arbitrary bytes. Must never panic.
#![no_main]

use indextts::VoiceConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(config) = VoiceConfig::from_json(data, std::path::Path::new("fuzz.onnx.json")) {
        let _ = config.speaker_id("0");
    }
});
