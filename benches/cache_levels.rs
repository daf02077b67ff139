//! A cached sentence served by each level alone, call to last sample: what the look-up order
//! (memory, disk, Redis) rests on. Starts its own redis-server on a free loopback port.
//!
//! ```text
//! scripts/setup.sh --reference && cargo bench --features redis --bench cache_levels
//! ```

use criterion::{criterion_group, criterion_main, Criterion};
use indextts::testkit::RedisServer;
use indextts::{SynthesisOptions, Synthesizer};

fn levels(c: &mut Criterion) {
    let server = RedisServer::start().expect("redis-server; run scripts/setup.sh --reference");
    let dir = std::env::temp_dir().join(format!("indextts-bench-cache-{}", std::process::id()));
    let text = "Your order has shipped and should arrive on Thursday.";
    let options = SynthesisOptions::default();
    let build = |memory: u64, disk: bool, redis: bool| {
        let mut b = Synthesizer::builder().threads(2).cache_bytes(memory);
        if disk {
            b = b.cache_dir(&dir);
        }
        if redis {
            b = b.redis_url(server.url());
        }
        let synth = b.build().unwrap();
        synth.prewarm([text], &options).unwrap();
        synth
    };
    let memory = build(16 << 20, false, false);
    let disk = build(0, true, false);
    let redis = build(0, false, true);
    for (name, synth) in [("memory", &memory), ("disk", &disk), ("redis", &redis)] {
        c.bench_function(&format!("cache/hit/{name}"), |b| {
            b.iter(|| synth.synthesize(text, &options).unwrap())
        });
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, levels);
criterion_main!(benches);
