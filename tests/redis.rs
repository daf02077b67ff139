//! The Redis level, against a real `redis-server` (Debian's, installed by scripts/setup.sh)
//! that each test starts on a loopback port of its own and stops.
#![cfg(feature = "redis")]

mod common;

use std::time::Instant;

use indextts::testkit::RedisServer;
use indextts::{SynthesisOptions, Synthesizer};

fn server() -> RedisServer {
    RedisServer::start().expect("redis-server: run scripts/setup.sh --reference")
}

/// A synthesizer whose only cache level is Redis.
fn voice(url: &str) -> Synthesizer {
    Synthesizer::builder()
        .threads(2)
        .cache_bytes(0)
        .redis_url(url)
        .build()
        .unwrap()
}

fn speak(synth: &Synthesizer, text: &str) -> Vec<f32> {
    synth
        .synthesize(text, &SynthesisOptions::default())
        .unwrap()
        .samples
}

#[test]
fn two_synthesizers_share_entries_through_redis() {
    let server = server();
    let text = "Please hold while I connect you to the next available agent.";
    let fresh = Synthesizer::builder()
        .threads(2)
        .cache_bytes(0)
        .build()
        .unwrap();
    let reference = speak(&fresh, text);
    let a = voice(&server.url());
    a.prewarm([text], &SynthesisOptions::default()).unwrap();
    let b = voice(&server.url());
    assert_eq!(speak(&b, text), reference);
    let stats = b.cache_stats().redis;
    assert_eq!((stats.hits, stats.errors), (1, 0), "{stats:?}");

    // A value of the wrong length under the entry's key is a miss, and is replaced.
    let client = redis::Client::open(server.url()).unwrap();
    let mut c = client.get_connection().unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg("indextts:*").query(&mut c).unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let _: () = redis::cmd("SET")
        .arg(&keys[0])
        .arg(vec![1u8, 2, 3])
        .query(&mut c)
        .unwrap();
    let c2 = voice(&server.url());
    assert_eq!(speak(&c2, text), reference);
    let stats = c2.cache_stats().redis;
    assert_eq!((stats.hits, stats.rejected), (0, 1), "{stats:?}");
}

#[test]
fn a_dead_redis_costs_no_request() {
    let mut server = server();
    let synth = voice(&server.url());
    let texts = ["Battery low.", "Welcome back!", "Turn left.", "Thank you."];
    synth
        .prewarm(&texts[..2], &SynthesisOptions::default())
        .unwrap();
    server.stop();
    let fresh = Synthesizer::builder()
        .threads(2)
        .cache_bytes(0)
        .build()
        .unwrap();
    let started = Instant::now();
    for text in texts.iter().cycle().take(12) {
        assert_eq!(speak(&synth, text), speak(&fresh, text), "{text}");
    }
    let stats = synth.cache_stats().redis;
    println!(
        "after Redis died: {stats:?}, 12 requests + 12 references in {:?}",
        started.elapsed()
    );
    // The breaker: the first failure opens it, and the following requests skip Redis. It backs
    // off 1, 2, 4, 8 s..., so within T seconds Redis is tried at most 1 + log2(T + 1) times
    // (3 on a fast machine, where the 12 requests take under 7 s), whatever the machine's speed.
    let tries = 1 + (started.elapsed().as_secs_f64() + 1.0).log2().floor() as u64;
    assert!(
        stats.errors >= 1 && stats.errors <= tries && stats.errors < 12,
        "{stats:?}: at most {tries} tries in {:?}",
        started.elapsed()
    );
    assert_eq!(stats.hits, 0);
}

#[test]
fn an_unreachable_redis_at_start_is_no_error() {
    // Nothing listens there: every look-up is a miss, the synthesis is fine.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let synth = voice(&format!("redis://127.0.0.1:{port}/"));
    assert!(!speak(&synth, "Hello.").is_empty());
    assert!(synth.cache_stats().redis.errors >= 1);
    // A malformed URL is refused at build time.
    assert!(Synthesizer::builder()
        .redis_url("not a url")
        .build()
        .is_err());
}

/// `clear_cache` empties this voice's entries and no other's, in Redis and in a shared disk
/// directory (it ran `KEYS indextts:*` and deleted every voice's, and every node's, entries).
#[test]
fn clearing_one_voice_leaves_the_others_entries() {
    let server = server();
    let dir = common::scratch("redis-clear");
    let with_levels = |voice: &str| {
        Synthesizer::builder()
            .voice(voice)
            .threads(2)
            .cache_bytes(0)
            .cache_dir(&dir)
            .redis_url(server.url())
            .build()
            .unwrap()
    };
    let joe = with_levels("en_US-joe-medium");
    let baker = with_levels("zh_CN-baker-fastspeech2");
    let english = ["Good morning.", "See you tomorrow."];
    joe.prewarm(english, &SynthesisOptions::default()).unwrap();
    baker
        .prewarm(["早上好。", "明天见。"], &SynthesisOptions::default())
        .unwrap();
    let client = redis::Client::open(server.url()).unwrap();
    let mut c = client.get_connection().unwrap();
    let mut keys = || -> Vec<String> {
        let mut keys: Vec<String> = redis::cmd("KEYS").arg("indextts:*").query(&mut c).unwrap();
        keys.sort();
        keys
    };
    let files = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.ends_with(".pcm"))
            .collect();
        names.sort();
        names
    };
    let (all_keys, all_files) = (keys(), files());
    assert_eq!(
        (all_keys.len(), all_files.len()),
        (4, 4),
        "{all_keys:?} {all_files:?}"
    );
    baker.clear_cache();
    let (kept_keys, kept_files) = (keys(), files());
    assert_eq!(
        (kept_keys.len(), kept_files.len()),
        (2, 2),
        "{kept_keys:?} {kept_files:?}"
    );
    assert_eq!(baker.cache_stats().disk.entries, 2);
    // What is left is joe's: both sentences are still hits for it.
    for text in english {
        joe.synthesize(text, &SynthesisOptions::default()).unwrap();
    }
    let stats = joe.cache_stats();
    assert_eq!(stats.disk.hits, 2, "{stats:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
