//! Checks of an untrusted model file before any ONNX Runtime session sees it: the model files
//! users load come from anywhere, so a malformed graph, an initializer whose declared size does
//! not match its data, external data, or an opset ONNX Runtime does not implement is a clear
//! error here, wherever in the file the tensor sits (initializers, sparse initializers, node
//! attributes such as `Constant`'s, subgraphs, functions). Nothing is allocated from a length the
//! file declares; only the bytes that were actually read (and decoded by prost, which checks
//! every length against them) are used.

use std::collections::HashSet;

use prost::Message as _;

use super::onnx::{
    FunctionProto, GraphProto, ModelProto, NodeProto, SparseTensorProto, TensorProto,
};

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

/// Deepest nesting of subgraphs (`If`, `Loop`, `Scan` bodies) checked; a voice has at most a few.
pub const MAX_GRAPH_DEPTH: usize = 16;

/// The model in `bytes` (read from `path`), decoded and checked: every family's graphs pass
/// here before ONNX Runtime sees them.
pub(crate) fn decode_checked(
    bytes: impl bytes::Buf,
    path: &std::path::Path,
) -> crate::Result<ModelProto> {
    let format = |reason: String| crate::Error::ModelFormat {
        path: path.to_path_buf(),
        reason,
    };
    let model = ModelProto::decode(bytes).map_err(|e| format(e.to_string()))?;
    check_model(&model).map_err(format)?;
    Ok(model)
}

/// Why `model` cannot be loaded, or `Ok(())`. Every tensor the file holds is checked, wherever
/// it sits: the graph's initializers and sparse initializers, tensors in node attributes
/// (`Constant`'s `value` among them), the same inside subgraphs, and inside model-local
/// functions.
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
    check_graph(graph, &HashSet::new(), 0)?;
    for (i, bytes) in model.functions.iter().enumerate() {
        let function = FunctionProto::decode(bytes.as_slice())
            .map_err(|e| format!("function {i} is not a valid FunctionProto: {e}"))?;
        let at = format!("function {:?}", function.name());
        for node in &function.node {
            check_attributes(node, &at, &HashSet::new(), 0)?;
        }
    }
    Ok(())
}

/// Check `graph`'s tensors and that each name it reads is defined before it is read (by the
/// graph, or by an enclosing graph in `outer`).
fn check_graph(graph: &GraphProto, outer: &HashSet<&str>, depth: usize) -> Result<(), String> {
    if depth > MAX_GRAPH_DEPTH {
        return Err(format!(
            "subgraphs are nested more than {MAX_GRAPH_DEPTH} deep"
        ));
    }
    let sparse: Vec<SparseTensorProto> = graph
        .sparse_initializer
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            SparseTensorProto::decode(bytes.as_slice()).map_err(|e| {
                format!("sparse initializer {i} is not a valid SparseTensorProto: {e}")
            })
        })
        .collect::<Result<_, _>>()?;
    let mut defined: HashSet<&str> = outer.clone();
    for input in &graph.input {
        defined.insert(input.name());
    }
    for t in &graph.initializer {
        check_tensor(t, &format!("initializer {:?}", t.name()))?;
        defined.insert(t.name());
    }
    for t in &sparse {
        let name = t.values.as_ref().map_or("", |v| v.name());
        check_sparse(t, &format!("sparse initializer {name:?}"))?;
        defined.insert(name);
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
        let at = format!("node {i} ({} {:?})", node.op_type(), node.name());
        check_attributes(node, &at, &defined, depth)?;
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

/// Check the tensors a node's attributes hold, and its subgraphs (which may read what
/// `scope` defines).
fn check_attributes(
    node: &NodeProto,
    at: &str,
    scope: &HashSet<&str>,
    depth: usize,
) -> Result<(), String> {
    for attribute in &node.attribute {
        let at = format!(
            "{at}, attribute {:?}",
            attribute.name.as_deref().unwrap_or("")
        );
        for t in attribute.t.iter().chain(&attribute.tensors) {
            check_tensor(t, &at)?;
        }
        for bytes in attribute
            .sparse_tensor
            .iter()
            .chain(&attribute.sparse_tensors)
        {
            let sparse = SparseTensorProto::decode(bytes.as_slice())
                .map_err(|e| format!("{at} is not a valid SparseTensorProto: {e}"))?;
            check_sparse(&sparse, &at)?;
        }
        for graph in attribute.g.iter().chain(&attribute.graphs) {
            check_graph(graph, scope, depth + 1).map_err(|why| format!("{at}: {why}"))?;
        }
    }
    Ok(())
}

/// A sparse tensor: its values and indices are tensors like any other, and its dense shape (what
/// ONNX Runtime allocates when it densifies it) is bounded like an initializer's.
fn check_sparse(sparse: &SparseTensorProto, at: &str) -> Result<(), String> {
    let values = sparse
        .values
        .as_ref()
        .ok_or_else(|| format!("{at} has no values"))?;
    check_tensor(values, &format!("{at}, values"))?;
    if let Some(indices) = &sparse.indices {
        check_tensor(indices, &format!("{at}, indices"))?;
    }
    elements(&sparse.dims, at)?;
    Ok(())
}

/// Elements a tensor of `dims` holds, within [`MAX_INITIALIZER_ELEMENTS`].
fn elements(dims: &[i64], at: &str) -> Result<u64, String> {
    let mut elements: u64 = 1;
    for &d in dims {
        let d = u64::try_from(d).map_err(|_| format!("{at} has a negative dimension {d}"))?;
        elements = elements
            .checked_mul(d)
            .filter(|&n| n <= MAX_INITIALIZER_ELEMENTS)
            .ok_or_else(|| {
                format!(
                    "{at} declares dimensions {dims:?}: more than {MAX_INITIALIZER_ELEMENTS} elements"
                )
            })?;
    }
    Ok(elements)
}

/// A tensor held in the file (`at` says where): its data inside the file, of a number type, and
/// as many elements as its dimensions declare.
fn check_tensor(t: &TensorProto, at: &str) -> Result<(), String> {
    if !t.external_data.is_empty() || t.data_location == Some(1) {
        return Err(format!(
            "{at} keeps its data in an external file, which indextts does not read (a voice is \
             one self-contained .onnx)"
        ));
    }
    let data_type = t.data_type.unwrap_or(0);
    let size = element_size(data_type)
        .ok_or_else(|| format!("{at} has data type {data_type}, not a number type"))?;
    let elements = elements(&t.dims, at)?;
    let found = match &t.raw_data {
        Some(raw) => {
            let expected = elements * size;
            if raw.len() as u64 != expected {
                return Err(format!(
                    "{at} declares {:?} ({expected} bytes) but holds {} bytes: truncated or \
                     corrupt",
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
            "{at} declares {:?} ({elements} elements) but holds {found}: truncated or corrupt",
            t.dims
        ));
    }
    Ok(())
}
