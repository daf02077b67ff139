//! Model files come from anywhere: each kind of broken or hostile model is a clear error before
//! any ONNX Runtime session is created, and nothing is allocated from a size the file declares.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use common::scratch;
use indextts::model::onnx::{ModelProto, OperatorSetIdProto};
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
