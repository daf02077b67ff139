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

/// A password and a database number in the URL are honoured (`AUTH`, `SELECT`); a wrong
/// password is a counted error, never a failed synthesis.
#[test]
fn a_password_and_a_database_in_the_url_work() {
    let server = RedisServer::start_with(&["--requirepass", "s3cret"]).expect("redis-server");
    let url = format!("redis://:s3cret@127.0.0.1:{}/3", server.port());
    let text = "Your call is important to us.";
    voice(&url)
        .prewarm([text], &SynthesisOptions::default())
        .unwrap();
    let reader = voice(&url);
    speak(&reader, text);
    let stats = reader.cache_stats().redis;
    assert_eq!((stats.hits, stats.errors), (1, 0), "{stats:?}");
    let mut c = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg("indextts:*").query(&mut c).unwrap();
    assert_eq!(keys.len(), 1, "the entry is in database 3: {keys:?}");

    let wrong = voice(&format!("redis://:wrong@127.0.0.1:{}/3", server.port()));
    assert!(!speak(&wrong, text).is_empty());
    let stats = wrong.cache_stats().redis;
    assert_eq!((stats.hits, stats.errors), (0, 1), "{stats:?}");
}

/// A server that answers a byte every 20 ms (each read well within any read timeout) costs a
/// synthesis at most the level's whole-command deadline (250 ms), not the reply's 20 s; a
/// reply announcing 4 GB is refused at its length.
#[test]
fn a_dripping_or_bloated_server_cannot_hold_a_synthesis() {
    use std::io::{Read, Write};
    let fake = |reply: Vec<u8>| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let reply = reply.clone();
                std::thread::spawn(move || {
                    let mut request = [0u8; 4096];
                    let _ = stream.read(&mut request);
                    for byte in &reply {
                        if stream.write_all(&[*byte]).is_err() {
                            return;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                });
            }
        });
        format!("redis://127.0.0.1:{port}/")
    };
    let text = "Thank you for waiting.";
    let plain = Synthesizer::builder()
        .threads(2)
        .cache_bytes(0)
        .build()
        .unwrap();
    speak(&plain, text);
    let started = Instant::now();
    speak(&plain, text);
    let uncached = started.elapsed();

    let mut dripped = b"$1000\r\n".to_vec();
    dripped.extend(std::iter::repeat_n(b'x', 1000));
    dripped.extend_from_slice(b"\r\n");
    for (what, url) in [
        ("dripping", fake(dripped)),
        ("bloated", fake(b"$4000000000\r\n".to_vec())),
    ] {
        let synth = voice(&url);
        let started = Instant::now();
        assert!(!speak(&synth, text).is_empty());
        let took = started.elapsed();
        let stats = synth.cache_stats().redis;
        println!("{what} server: synthesis {took:?} (uncached alone {uncached:?}), {stats:?}");
        assert!(stats.errors >= 1, "{what}: {stats:?}");
        assert!(
            took < uncached + std::time::Duration::from_secs(1),
            "{what}: the synthesis took {took:?}"
        );
    }
}
