//! Where a cold start's time goes: reading and splitting the voice, then building each part's
//! ONNX Runtime session, fully optimized and from its already-optimized graph (what the
//! compiled-graph cache loads), each timed on its own (median of 3); and the prior again as the
//! chain of small graphs the library builds.
//!
//! ```text
//! cargo run --release --example load_anatomy
//! ```
//!
//! What it shows on en_US-joe-medium: the whole prior's session takes ~0.65 s to build, and a
//! pre-optimized graph only brings that to ~0.5 s. ONNX Runtime's verbose log puts ~0.47 s of it
//! in the allocation planner's memory-reuse plan (between `CreateGraphPartitioner` and
//! `SaveInitializedTensors`), which grows faster than linearly with a graph's nodes (548 of the
//! prior's 2,192 nodes: 44 ms; 1,096: 153 ms; all: 471 ms). Python's `enable_mem_reuse = False`
//! removes it, but ONNX Runtime 1.31's C API, which `ort` binds, has no such switch (nor a
//! session config key), so the library cuts the prior into pieces of at most
//! `CHAIN_PIECE_NODES` nodes instead: each is planned quickly and still reuses memory within
//! itself. (Memory pattern off, and the ORT format instead of ONNX, made no difference.)

use std::path::PathBuf;
use std::time::Instant;

use indextts::model::onnx::ModelProto;
use indextts::model::split::{split_chain, split_flow, split_vits, CHAIN_PIECE_NODES};
use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use prost::Message;

/// Median seconds of three calls of `f`.
fn timed(f: impl Fn() -> Result<Session, ort::Error>) -> Result<f64, ort::Error> {
    let mut times = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        drop(f()?);
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[1])
}

/// A session of `bytes` on 2 threads at optimization `level`.
fn session(
    env: &Environment,
    level: GraphOptimizationLevel,
    bytes: &[u8],
) -> Result<Session, ort::Error> {
    Session::builder(env)?
        .with_optimization_level(level)?
        .with_intra_threads(2)?
        .commit_from_memory(bytes)
}

/// (seconds fully optimized, seconds from the optimized graph) for one part.
fn part(
    env: &Environment,
    bytes: &[u8],
    scratch: &std::path::Path,
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let optimized_path = scratch.join("optimized.onnx");
    Session::builder(env)?
        .with_optimization_level(GraphOptimizationLevel::All)?
        .with_optimized_model_path(&optimized_path)?
        .commit_from_memory(bytes)?;
    let optimized = std::fs::read(&optimized_path)?;
    Ok((
        timed(|| session(env, GraphOptimizationLevel::All, bytes))?,
        timed(|| session(env, GraphOptimizationLevel::Disable, &optimized))?,
    ))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let assets = indextts::assets_dir();
    let env = ort::init_from(assets.join("onnxruntime/libonnxruntime.so.1.31.1"))?
        .with_telemetry(false)
        .build()?;
    let model_path: PathBuf = assets.join("voices/en_US-joe-medium/en_US-joe-medium.onnx");
    let started = Instant::now();
    let bytes = std::fs::read(&model_path)?;
    let read = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let model = ModelProto::decode(bytes.as_slice())?;
    let parts = split_vits(&model).map_err(|e| format!("{e:?}"))?;
    let flow = split_flow(&parts.acoustic).map_err(|e| format!("{e:?}"))?;
    let split = started.elapsed().as_secs_f64();
    println!(
        "read {:.0} ms, decode + split {:.0} ms",
        read * 1e3,
        split * 1e3
    );
    let scratch =
        std::env::temp_dir().join(format!("indextts-load-anatomy-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    println!("| part | nodes | fully optimized | from its optimized graph |");
    println!("| --- | --- | --- | --- |");
    let whole_parts = [
        ("prior (one graph)", &flow.prior),
        ("flow", &flow.flow),
        ("vocoder", &parts.vocoder),
    ];
    for (name, part_model) in whole_parts {
        let nodes = part_model.graph.as_ref().map_or(0, |g| g.node.len());
        let (all, cached) = part(&env, &part_model.encode_to_vec(), &scratch)?;
        println!(
            "| {name} | {nodes} | {:.0} ms | {:.0} ms |",
            all * 1e3,
            cached * 1e3
        );
    }
    let chain = split_chain(&flow.prior, CHAIN_PIECE_NODES).map_err(|e| format!("{e:?}"))?;
    let (mut all, mut cached) = (0.0, 0.0);
    for piece in &chain {
        let (a, c) = part(&env, &piece.encode_to_vec(), &scratch)?;
        all += a;
        cached += c;
    }
    println!(
        "| prior as {} pieces of <= {CHAIN_PIECE_NODES} nodes (sum, one thread) | {} | {:.0} ms | {:.0} ms |",
        chain.len(),
        flow.prior.graph.as_ref().map_or(0, |g| g.node.len()),
        all * 1e3,
        cached * 1e3
    );
    mandarin(&env, &assets, &scratch)?;
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// The Mandarin voice's two graphs (FastSpeech2, MB-MelGAN), each whole and as chains of
/// pieces of several sizes: the time to build their sessions from optimized graphs (what a
/// cached load does), summed over the pieces.
fn mandarin(
    env: &Environment,
    assets: &std::path::Path,
    scratch: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let voice = assets.join("voices").join(indextts::MANDARIN_VOICE);
    if !voice.is_dir() {
        println!(
            "(no {} voice: scripts/fetch_assets.py --zh)",
            indextts::MANDARIN_VOICE
        );
        return Ok(());
    }
    println!();
    println!(
        "| Mandarin graph | nodes | pieces of at most | pieces | from optimized graphs (sum) |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for file in ["fastspeech2.onnx", "mb_melgan.onnx"] {
        let model = ModelProto::decode(std::fs::read(voice.join(file))?.as_slice())?;
        let nodes = model.graph.as_ref().map_or(0, |g| g.node.len());
        for max_nodes in [usize::MAX, 600, 300, 150] {
            let chain = split_chain(&model, max_nodes).map_err(|e| format!("{e:?}"))?;
            let mut cached = 0.0;
            for piece in &chain {
                cached += part(env, &piece.encode_to_vec(), scratch)?.1;
            }
            let most = if max_nodes == usize::MAX {
                "whole".to_owned()
            } else {
                max_nodes.to_string()
            };
            println!(
                "| {file} | {nodes} | {most} | {} | {:.0} ms |",
                chain.len(),
                cached * 1e3
            );
        }
    }
    Ok(())
}
