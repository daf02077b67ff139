//! Load time (in a process whose ONNX Runtime is already loaded; the compiled-graph cache as
//! configured, `INDEXTTS_GRAPH_CACHE=off` for none), synthesis time and audio duration for a
//! text, medians of N runs, the sentence cache off: the figures the README quotes.
//!
//! ```text
//! scripts/setup.sh && cargo run --release --example paragraph_timing -- ../shared/corpus/en_paragraph.txt 5
//! ```

use std::time::Instant;

use indextts::{SynthesisOptions, Synthesizer};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> indextts::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "../shared/corpus/en_paragraph.txt".into());
    let runs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(5);
    let text = std::fs::read_to_string(&path).map_err(|e| indextts::Error::Io {
        path: path.clone().into(),
        source: e,
    })?;

    let mut loads = Vec::new();
    let mut synth = None;
    for _ in 0..runs {
        let started = Instant::now();
        // The sentence cache off: with it, every run after the first would time look-ups.
        synth = Some(Synthesizer::builder().threads(2).cache_bytes(0).build()?);
        loads.push(started.elapsed().as_secs_f64());
    }
    let synth = synth.expect("at least one run");
    let mut times = Vec::new();
    let mut seconds = 0.0;
    for _ in 0..runs {
        let started = Instant::now();
        let audio = synth.synthesize(&text, &SynthesisOptions::default())?;
        times.push(started.elapsed().as_secs_f64());
        seconds = audio.duration_seconds();
    }
    let (load, synthesis) = (median(loads), median(times));
    println!(
        "text: {path} ({} bytes), {runs} runs, 2 threads",
        text.len()
    );
    println!("voice load (median):      {:.3} s", load);
    println!("synthesis (median):       {:.3} s", synthesis);
    println!("audio duration:           {seconds:.2} s");
    println!("real-time factor:         {:.3}", synthesis / seconds);
    Ok(())
}
