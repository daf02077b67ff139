//! Checks of an untrusted model file before any ONNX Runtime session sees it: the model files
//! users load come from anywhere, so a malformed graph, an initializer whose declared size does
//! not match its data, external data, or an opset ONNX Runtime does not implement is a clear
//! error here. Nothing is allocated from a length the file declares; only the bytes that were
//! actually read (and decoded by prost, which checks every length against them) are used.

use std::collections::HashSet;

use super::onnx::{ModelProto, TensorProto};

/// Default-domain opsets accepted: 7 (the oldest ONNX Runtime runs) to 25 (the newest ONNX had
/// defined by ONNX Runtime 1.31). Piper voices use 15. A number outside is not a real opset.
pub const OPSETS: std::ops::RangeInclusive<i64> = 7..=25;

/// Most elements one initializer may declare (2^31: 8 GiB of f32, far above any voice).
pub const MAX_INITIALIZER_ELEMENTS: u64 = 1 << 31;

/// Bytes per element of the ONNX data types a voice can hold; `None` for strings and types
/// this crate does not accept in initializers.
fn element_size(data_type: i32) -> Option<u64> {
    Some(match data_type {
        2 | 3 | 9 => 1,       // uint8, int8, bool
        4 | 5 | 10 | 16 => 2, // uint16, int16, float16, bfloat16
        1 | 6 | 12 => 4,      // float, int32, uint32
        7 | 11 | 13 => 8,     // int64, double, uint64
        _ => return None,
    })
}

/// Elements the typed (non-raw) fields of `t` hold.
fn typed_len(t: &TensorProto) -> usize {
    t.float_data.len()
        + t.int32_data.len()
        + t.int64_data.len()
        + t.double_data.len()
        + t.uint64_data.len()
}

/// Why `model` cannot be loaded, or `Ok(())`.
pub fn check_model(model: &ModelProto) -> Result<(), String> {
    let graph = model.graph.as_ref().ok_or("the model has no graph")?;
    let opset = model
        .opset_import
        .iter()
        .find(|o| matches!(o.domain.as_deref(), None | Some("") | Some("ai.onnx")))
        .and_then(|o| o.version)
        .ok_or("the model imports no default-domain opset")?;
    if !OPSETS.contains(&opset) {
        return Err(format!(
            "opset {opset} is not supported (indextts accepts {}..={})",
            OPSETS.start(),
            OPSETS.end()
        ));
    }
    if graph.node.is_empty() {
        return Err("the graph has no nodes".into());
    }

    let mut defined: HashSet<&str> = HashSet::new();
    for input in &graph.input {
        defined.insert(input.name());
    }
    for t in &graph.initializer {
        check_initializer(t)?;
        defined.insert(t.name());
    }
    for (i, node) in graph.node.iter().enumerate() {
        for input in &node.input {
            // An empty name is an optional input left out.
            if !input.is_empty() && !defined.contains(input.as_str()) {
                return Err(format!(
                    "node {i} ({} {:?}) reads {input:?}, which no earlier node, input or \
                     initializer defines",
                    node.op_type(),
                    node.name()
                ));
            }
        }
        for output in &node.output {
            if !output.is_empty() && !defined.insert(output.as_str()) {
                return Err(format!(
                    "tensor {output:?} is defined twice (node {i}, {} {:?})",
                    node.op_type(),
                    node.name()
                ));
            }
        }
    }
    for output in &graph.output {
        if !defined.contains(output.name()) {
            return Err(format!(
                "graph output {:?} is produced by no node",
                output.name()
            ));
        }
    }
    Ok(())
}

fn check_initializer(t: &TensorProto) -> Result<(), String> {
    let name = t.name();
    if !t.external_data.is_empty() || t.data_location == Some(1) {
        return Err(format!(
            "initializer {name:?} keeps its data in an external file, which indextts does not \
             read (a voice is one self-contained .onnx)"
        ));
    }
    let data_type = t.data_type.unwrap_or(0);
    let size = element_size(data_type).ok_or_else(|| {
        format!("initializer {name:?} has data type {data_type}, not a number type")
    })?;
    let mut elements: u64 = 1;
    for &d in &t.dims {
        let d = u64::try_from(d)
            .map_err(|_| format!("initializer {name:?} has a negative dimension {d}"))?;
        elements = elements
            .checked_mul(d)
            .filter(|&n| n <= MAX_INITIALIZER_ELEMENTS)
            .ok_or_else(|| {
                format!(
                    "initializer {name:?} declares dimensions {:?}: more than {MAX_INITIALIZER_ELEMENTS} elements",
                    t.dims
                )
            })?;
    }
    let found = match &t.raw_data {
        Some(raw) => {
            let expected = elements * size;
            if raw.len() as u64 != expected {
                return Err(format!(
                    "initializer {name:?} declares {:?} ({expected} bytes) but holds {} bytes: \
                     truncated or corrupt",
                    t.dims,
                    raw.len()
                ));
            }
            return Ok(());
        }
        None => typed_len(t) as u64,
    };
    if found != elements {
        return Err(format!(
            "initializer {name:?} declares {:?} ({elements} elements) but holds {found}: \
             truncated or corrupt",
            t.dims
        ));
    }
    Ok(())
}
