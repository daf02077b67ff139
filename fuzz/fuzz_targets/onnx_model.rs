//! The ONNX protobuf reader, the model checks and the graph splits on arbitrary and mutated
//! model bytes (seeded with the tiny test voices). Must never panic or allocate from a
//! declared size.
#![no_main]

use indextts::model::check::check_model;
use indextts::model::onnx::ModelProto;
use indextts::model::split::{split_flow, split_vits};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(model) = ModelProto::decode(data) else {
        return;
    };
    if check_model(&model).is_err() {
        return;
    }
    if let Ok(parts) = split_vits(&model) {
        let _ = split_flow(&parts.acoustic);
        let _ = parts.vocoder.encode_to_vec();
    }
});
