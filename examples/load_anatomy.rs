//! Where a cold start's time goes: reading and splitting the voice, then building each half's
//! ONNX Runtime session under different settings, each timed on its own (median of 3).
//!
//! What it shows on en_US-joe-medium: the prior's session takes ~0.65 s to build and a
//! pre-optimized graph only brings that to ~0.5 s. ONNX Runtime's verbose log puts ~0.47 s of it
//! in the allocation planner's memory-reuse plan (between `CreateGraphPartitioner` and
//! `SaveInitializedTensors`); Python's `enable_mem_reuse = False` removes it (0.2 s, or 0.05 s
//! from the pre-optimized graph), but ONNX Runtime 1.31's C API, which `ort` binds, has no such
//! switch (no session config key either), so it cannot be turned off from here.
//!
//! ```text
//! cargo run --release --example load_anatomy
//! ```

use std::path::PathBuf;
use std::time::Instant;

use indextts::model::onnx::ModelProto;
use indextts::model::split::{split_flow, split_vits};
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use prost::Message;

/// Builds one session.
type Build<'a> = Box<dyn Fn() -> Result<Session, ort::Error> + 'a>;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
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
    let halves = [
        ("prior", flow.prior.encode_to_vec()),
        ("flow", flow.flow.encode_to_vec()),
        ("vocoder", parts.vocoder.encode_to_vec()),
    ];
    let split = started.elapsed().as_secs_f64();
    println!(
        "read {:.0} ms, decode + split + encode {:.0} ms",
        read * 1e3,
        split * 1e3
    );
    let dir = std::env::temp_dir().join("indextts-load-anatomy");
    std::fs::create_dir_all(&dir)?;
    for (name, bytes) in &halves {
        std::fs::write(dir.join(format!("{name}.onnx")), bytes)?;
        let optimized = dir.join(format!("{name}.optimized.onnx"));
        let ort_format = dir.join(format!("{name}.ort"));
        // Save the optimized graph once, in both formats.
        Session::builder(&env)?
            .with_optimization_level(GraphOptimizationLevel::All)?
            .with_optimized_model_path(&optimized)?
            .commit_from_memory(bytes)?;
        Session::builder(&env)?
            .with_optimization_level(GraphOptimizationLevel::All)?
            .with_optimized_model_path(&ort_format)?
            .commit_from_memory(bytes)?;
        let optimized_bytes = std::fs::read(&optimized)?;
        let variants: Vec<(&str, Build<'_>)> = vec![
            (
                "all optimizations",
                Box::new(|| {
                    Session::builder(&env)?
                        .with_optimization_level(GraphOptimizationLevel::All)?
                        .with_intra_threads(2)?
                        .commit_from_memory(bytes)
                }),
            ),
            (
                "all, memory pattern off",
                Box::new(|| {
                    Session::builder(&env)?
                        .with_optimization_level(GraphOptimizationLevel::All)?
                        .with_memory_pattern(false)?
                        .with_intra_threads(2)?
                        .commit_from_memory(bytes)
                }),
            ),
            (
                "no optimizations",
                Box::new(|| {
                    Session::builder(&env)?
                        .with_optimization_level(GraphOptimizationLevel::Disable)?
                        .with_intra_threads(2)?
                        .commit_from_memory(bytes)
                }),
            ),
            (
                "pre-optimized .onnx, optimizations off",
                Box::new(|| {
                    Session::builder(&env)?
                        .with_optimization_level(GraphOptimizationLevel::Disable)?
                        .with_intra_threads(2)?
                        .commit_from_memory(&optimized_bytes)
                }),
            ),
            (
                "pre-optimized .ort, optimizations off",
                Box::new(|| {
                    Session::builder(&env)?
                        .with_optimization_level(GraphOptimizationLevel::Disable)?
                        .with_intra_threads(2)?
                        .commit_from_file(&ort_format)
                }),
            ),
        ];
        for (label, build) in &variants {
            let times: Vec<f64> = (0..3)
                .map(|_| {
                    let started = Instant::now();
                    let session = build().expect("session");
                    drop(session);
                    started.elapsed().as_secs_f64()
                })
                .collect();
            println!("{name:8} {label:42} {:6.0} ms", median(times) * 1e3);
        }
    }
    Ok(())
}
