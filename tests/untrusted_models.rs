//! Model files come from anywhere: each kind of broken or hostile model is a clear error before
//! any ONNX Runtime session is created, and nothing is allocated from a size the file declares.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use common::scratch;
use indextts::model::onnx::{
    AttributeProto, FunctionProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    SparseTensorProto, TensorProto, ValueInfoProto,
};
use indextts::testkit::TinyVoice;
use indextts::{Error, Synthesizer};
use prost::Message;

/// Counts live and peak heap bytes, to show no allocation follows a declared size.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: same layout, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Write the tiny voice with its model replaced by `bytes`, and try to load it.
fn load(name: &str, bytes: &[u8], split: bool) -> indextts::Result<Synthesizer> {
    let dir = scratch(name);
    let model = TinyVoice::default().write(&dir, "tiny").unwrap();
    std::fs::write(&model, bytes).unwrap();
    Synthesizer::builder()
        .voice(&dir)
        .threads(1)
        .graph_split(split)
        .build()
}

fn mutated(f: impl FnOnce(&mut ModelProto)) -> Vec<u8> {
    let mut model = TinyVoice::default().model();
    f(&mut model);
    model.encode_to_vec()
}

fn initializer<'a>(
    model: &'a mut ModelProto,
    name: &str,
) -> &'a mut indextts::model::onnx::TensorProto {
    let graph = model.graph.as_mut().unwrap();
    graph
        .initializer
        .iter_mut()
        .find(|t| t.name() == name)
        .unwrap()
}

/// The load fails with `ModelFormat` whose reason mentions every one of `words`.
fn expect_format_error(name: &str, bytes: &[u8], words: &[&str]) {
    match load(name, bytes, true) {
        Err(Error::ModelFormat { reason, .. }) => {
            println!("{name}: {reason}");
            for word in words {
                assert!(reason.contains(word), "{name}: {reason:?} lacks {word:?}");
            }
        }
        Err(other) => panic!("{name}: expected ModelFormat, got {other}"),
        Ok(_) => panic!("{name}: the broken model loaded"),
    }
}

#[test]
fn truncated_and_random_bytes_are_not_models() {
    let bytes = TinyVoice::default().model_bytes();
    expect_format_error("truncated", &bytes[..bytes.len() / 2], &[]);
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    expect_format_error("noise", &noise, &[]);
    expect_format_error("empty", &[], &["graph"]);
}

#[test]
fn initializers_must_hold_what_they_declare() {
    let huge = mutated(|m| initializer(m, "emb.weight").dims = vec![1 << 40, 4]);
    expect_format_error("huge", &huge, &["emb.weight", "more than"]);
    let negative = mutated(|m| initializer(m, "emb.weight").dims = vec![-3, 4]);
    expect_format_error("negative", &negative, &["negative dimension"]);
    let short = mutated(|m| {
        let t = initializer(m, "dec.conv_pre.weight");
        let raw = t.raw_data.take().unwrap();
        t.raw_data = Some(raw.slice(..raw.len() / 2));
    });
    expect_format_error("short", &short, &["dec.conv_pre.weight", "truncated"]);
    let external = mutated(|m| {
        let t = initializer(m, "emb.weight");
        t.raw_data = Some(Bytes::new());
        t.data_location = Some(1);
    });
    expect_format_error("external", &external, &["external file"]);
}

#[test]
fn malformed_graphs_and_unknown_opsets_are_refused() {
    let opset = mutated(|m| {
        m.opset_import = vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(99),
        }]
    });
    expect_format_error("opset", &opset, &["opset 99"]);
    let dangling = mutated(|m| {
        let graph = m.graph.as_mut().unwrap();
        let tanh = graph
            .node
            .iter_mut()
            .find(|n| n.op_type() == "Tanh")
            .unwrap();
        tanh.input = vec!["nowhere".into()];
    });
    expect_format_error("dangling", &dangling, &["\"nowhere\""]);
    let twice = mutated(|m| {
        let graph = m.graph.as_mut().unwrap();
        let again = graph.node[0].clone();
        graph.node.push(again);
    });
    expect_format_error("twice", &twice, &["defined twice"]);
}

#[test]
fn a_graph_without_a_clean_split_is_an_error_unless_run_whole() {
    // No decoder at all: the split point is absent.
    let absent = mutated(|m| {
        for node in &mut m.graph.as_mut().unwrap().node {
            if let Some(name) = node.name.as_mut() {
                *name = name.replace("/dec/", "/gen/");
            }
        }
    });
    expect_format_error("absent", &absent, &["cannot split", "graph_split(false)"]);
    // Run whole, as asked, it speaks.
    let whole = load("absent-whole", &absent, false).unwrap();
    assert!(!whole.is_split());
    let audio = whole
        .synthesize("Hello.", &indextts::SynthesisOptions::default())
        .unwrap();
    assert!(!audio.is_empty());

    // The decoder reads two tensors of the text side: which one carries the frames is
    // ambiguous.
    let ambiguous = mutated(|m| {
        let graph = m.graph.as_mut().unwrap();
        let tanh = graph
            .node
            .iter_mut()
            .find(|n| n.op_type() == "Tanh")
            .unwrap();
        tanh.op_type = Some("Add".into());
        tanh.input = vec!["up".into(), "x".into()];
    });
    expect_format_error("ambiguous", &ambiguous, &["cannot split", "tensors"]);
}

#[test]
fn declared_sizes_allocate_nothing() {
    // A model of a few hundred bytes that declares a 2^60-element initializer.
    let hostile = mutated(|m| initializer(m, "emb.weight").dims = vec![1 << 30, 1 << 30]);
    assert!(hostile.len() < 64 << 10);
    let dir = scratch("hostile");
    TinyVoice::default().write(&dir, "tiny").unwrap();
    std::fs::write(dir.join("tiny.onnx"), &hostile).unwrap();
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let result = Synthesizer::builder().voice(&dir).threads(1).build();
    let peak = PEAK.load(Ordering::Relaxed) - before;
    assert!(matches!(result, Err(Error::ModelFormat { .. })));
    println!("peak heap while refusing it: {} KiB", peak >> 10);
    assert!(
        peak < 16 << 20,
        "refusing the model took {peak} bytes of heap"
    );
}

/// A `Constant` node at the end of the graph holding `value`, an output nothing reads.
fn with_constant(m: &mut ModelProto, value: TensorProto) {
    m.graph.as_mut().unwrap().node.push(NodeProto {
        output: vec!["planted".into()],
        name: Some("/planted/Constant".into()),
        op_type: Some("Constant".into()),
        attribute: vec![AttributeProto {
            name: Some("value".into()),
            r#type: Some(4),
            t: Some(value),
            ..Default::default()
        }],
        ..Default::default()
    });
}

/// A float tensor of `dims` holding `floats` values.
fn floats(dims: Vec<i64>, floats: usize) -> TensorProto {
    TensorProto {
        dims,
        data_type: Some(1),
        float_data: vec![0.5; floats],
        ..Default::default()
    }
}

/// Tensors hide in more places than the initializers: a `Constant`'s value, a subgraph's
/// initializers, sparse initializers and model-local functions are checked the same way.
#[test]
fn tensors_outside_the_initializers_are_checked_too() {
    let external = mutated(|m| {
        let mut t = floats(vec![4], 0);
        t.data_location = Some(1);
        t.raw_data = Some(Bytes::new());
        with_constant(m, t);
    });
    expect_format_error(
        "constant-external",
        &external,
        &["Constant", "external file"],
    );
    let short = mutated(|m| with_constant(m, floats(vec![1 << 20], 3)));
    expect_format_error(
        "constant-short",
        &short,
        &["/planted/Constant", "truncated"],
    );

    // An `If` whose branch carries a huge initializer and reads a tensor of the outer graph.
    let subgraph = mutated(|m| {
        let graph = m.graph.as_mut().unwrap();
        let outer = graph.node[0].output[0].clone();
        let mut huge = floats(vec![1 << 40, 4], 0);
        huge.name = Some("branch.weight".into());
        let branch = GraphProto {
            node: vec![NodeProto {
                input: vec![outer, "branch.weight".into()],
                output: vec!["branch_out".into()],
                op_type: Some("Add".into()),
                ..Default::default()
            }],
            initializer: vec![huge],
            output: vec![ValueInfoProto {
                name: Some("branch_out".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut flag = floats(vec![], 1);
        flag.name = Some("flag".into());
        flag.data_type = Some(9);
        flag.float_data.clear();
        flag.int32_data = vec![1];
        graph.initializer.push(flag);
        graph.node.push(NodeProto {
            input: vec!["flag".into()],
            output: vec!["branched".into()],
            name: Some("/planted/If".into()),
            op_type: Some("If".into()),
            attribute: ["then_branch", "else_branch"]
                .map(|name| AttributeProto {
                    name: Some(name.into()),
                    r#type: Some(5),
                    g: Some(branch.clone()),
                    ..Default::default()
                })
                .to_vec(),
            ..Default::default()
        });
    });
    expect_format_error(
        "subgraph",
        &subgraph,
        &["/planted/If", "branch.weight", "more than"],
    );

    let sparse = mutated(|m| {
        let mut values = floats(vec![1], 1);
        values.name = Some("sparse.weight".into());
        let mut indices = floats(vec![1], 0);
        indices.data_type = Some(7);
        indices.int64_data = vec![0];
        let tensor = SparseTensorProto {
            values: Some(values),
            indices: Some(indices),
            dims: vec![1 << 32, 1 << 32],
        };
        m.graph
            .as_mut()
            .unwrap()
            .sparse_initializer
            .push(tensor.encode_to_vec());
    });
    expect_format_error("sparse", &sparse, &["sparse.weight", "more than"]);

    let function = mutated(|m| {
        let mut planted = ModelProto {
            graph: Some(GraphProto::default()),
            ..Default::default()
        };
        with_constant(&mut planted, floats(vec![8], 2));
        let node = planted.graph.unwrap().node.remove(0);
        m.functions.push(
            FunctionProto {
                name: Some("planted_fn".into()),
                node: vec![node],
            }
            .encode_to_vec(),
        );
    });
    expect_format_error("function", &function, &["planted_fn", "truncated"]);
}

/// What the checks look into is not refused for being there: a well-formed `Constant` loads and
/// speaks, and a well-formed function passes.
#[test]
fn well_formed_constants_and_functions_pass() {
    let constant = mutated(|m| with_constant(m, floats(vec![2], 2)));
    let synth = load("constant-ok", &constant, true).unwrap();
    let audio = synth
        .synthesize("Hello.", &indextts::SynthesisOptions::default())
        .unwrap();
    assert!(!audio.is_empty());
    let mut function = TinyVoice::default().model();
    let mut planted = ModelProto {
        graph: Some(GraphProto::default()),
        ..Default::default()
    };
    with_constant(&mut planted, floats(vec![3], 3));
    function.functions.push(
        FunctionProto {
            name: Some("ok_fn".into()),
            node: planted.graph.unwrap().node,
        }
        .encode_to_vec(),
    );
    indextts::model::check::check_model(&function).unwrap();
}
