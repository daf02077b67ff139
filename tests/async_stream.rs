//! `Synthesizer::stream_async`: the same chunks as `stream`, in any tokio runtime, cancelled
//! when dropped.
#![cfg(feature = "async")]

mod common;

use common::real_voice;
use futures_util::StreamExt;
use indextts::SynthesisOptions;

#[test]
fn async_chunks_equal_the_blocking_stream_on_a_current_thread_runtime() {
    let synth = real_voice();
    let text = "Battery low. Please connect the charger. Thank you.";
    let options = SynthesisOptions {
        seed: Some(5),
        ..Default::default()
    };
    let blocking: Vec<f32> = synth
        .stream(text, &options)
        .unwrap()
        .flat_map(|c| c.unwrap().samples)
        .collect();
    // One thread: the synthesis must never block it, or the stream would never be polled.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let chunks: Vec<_> = runtime.block_on(async {
        let stream = synth.stream_async(text, &options).unwrap();
        stream.map(|c| c.unwrap()).collect().await
    });
    // The second time comes from the sentence cache, a sentence per chunk: the same samples.
    assert!(chunks.len() > 1);
    let samples: Vec<f32> = chunks.into_iter().flat_map(|c| c.samples).collect();
    assert_eq!(samples, blocking);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_at_once_and_a_dropped_stream_stops() {
    let synth = real_voice();
    assert!(matches!(
        synth.stream_async("  ", &SynthesisOptions::default()),
        Err(indextts::Error::EmptyText { .. })
    ));
    let story = common::corpus_text("en_long.txt");
    let mut stream = synth
        .stream_async(&story, &SynthesisOptions::default())
        .unwrap();
    assert!(stream.next().await.unwrap().is_ok());
    drop(stream);
    // The synthesis threads are gone: a new stream gets the model's sessions at once.
    let mut again = synth
        .stream_async("Still here.", &SynthesisOptions::default())
        .unwrap();
    assert!(again.next().await.unwrap().is_ok());
}

#[test]
fn outside_a_tokio_runtime_it_is_an_error_not_a_panic() {
    let synth = real_voice();
    let result = synth.stream_async("Hello.", &SynthesisOptions::default());
    assert!(
        matches!(result, Err(indextts::Error::NoAsyncRuntime { .. })),
        "{result:?}"
    );
}
