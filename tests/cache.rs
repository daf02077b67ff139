//! The sentence cache with the real voice: a hit equals a fresh synthesis bit for bit, the disk
//! level survives restarts and rejects bad entries, and nothing the cache does fails a synthesis.

mod common;

use std::path::Path;

use common::{corpus_lines, scratch};
use indextts::{SynthesisOptions, Synthesizer};

fn voice(cache_bytes: u64, dir: Option<&Path>) -> Synthesizer {
    let mut b = Synthesizer::builder().threads(2).cache_bytes(cache_bytes);
    if let Some(dir) = dir {
        b = b.cache_dir(dir);
    }
    b.build().unwrap()
}

fn speak(synth: &Synthesizer, text: &str) -> Vec<f32> {
    synth
        .synthesize(text, &SynthesisOptions::default())
        .unwrap()
        .samples
}

fn streamed(synth: &Synthesizer, text: &str) -> Vec<f32> {
    synth
        .stream(text, &SynthesisOptions::default())
        .unwrap()
        .flat_map(|c| c.unwrap().samples)
        .collect()
}

#[test]
fn a_hit_equals_a_fresh_synthesis() {
    let fresh = voice(0, None);
    let cached = voice(16 << 20, None);
    let text = "Your order has shipped and should arrive on Thursday.";
    let reference = speak(&fresh, text);
    assert_eq!(speak(&cached, text), reference, "the miss");
    let before = cached.cache_stats().memory;
    assert_eq!(speak(&cached, text), reference, "the hit, synthesize()");
    assert_eq!(streamed(&cached, text), reference, "the hit, stream()");
    let after = cached.cache_stats().memory;
    assert_eq!(after.hits - before.hits, 2);
    assert!(after.entries >= 1 && after.bytes >= 4 * reference.len() as u64);
    // A repeated sentence inside a new paragraph hits too, and a paragraph mixing cached and
    // new sentences equals a fresh one.
    let paragraph = format!("Hello there. {text} Goodbye for now.");
    assert_eq!(streamed(&cached, &paragraph), streamed(&fresh, &paragraph));
    assert_eq!(streamed(&cached, &paragraph), streamed(&fresh, &paragraph));
    // A cached first sentence streams at once: the whole sentence in the first chunk.
    let first = cached
        .stream(text, &SynthesisOptions::default())
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(first.samples, reference);
    assert!(first.sentence_end);
    // Another seed is another entry.
    let seeded = SynthesisOptions {
        seed: Some(9),
        ..Default::default()
    };
    assert_ne!(cached.synthesize(text, &seeded).unwrap().samples, reference);
    cached.clear_cache();
    assert_eq!(cached.cache_stats().memory.entries, 0);
}

#[test]
fn the_disk_level_survives_a_restart_and_rejects_bad_entries() {
    let dir = scratch("cache-disk");
    let text = "Turn left in two hundred meters, then keep right at the fork.";
    let reference = speak(&voice(0, None), text);
    {
        let first = voice(0, Some(&dir));
        first.prewarm([text], &SynthesisOptions::default()).unwrap();
        assert_eq!(first.cache_stats().disk.entries, 1);
    }
    // A new synthesizer (as after a restart), no memory level: served from disk.
    let second = voice(0, Some(&dir));
    assert_eq!(streamed(&second, text), reference);
    assert_eq!(second.cache_stats().disk.hits, 1);

    let entry = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "pcm"))
        .unwrap();
    let good = std::fs::read(&entry).unwrap();
    let mut flipped = good.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 0x40;
    let mut foreign_version = good.clone();
    foreign_version[8] = 99;
    for (what, bytes) in [
        ("a flipped byte", flipped),
        ("a truncated file", good[..good.len() - 100].to_vec()),
        ("another format version", foreign_version),
        ("not an entry at all", b"hello".to_vec()),
    ] {
        std::fs::write(&entry, &bytes).unwrap();
        let synth = voice(0, Some(&dir));
        assert_eq!(streamed(&synth, text), reference, "{what}: wrong audio");
        let disk = synth.cache_stats().disk;
        assert_eq!((disk.hits, disk.rejected), (0, 1), "{what}: {disk:?}");
        synth.prewarm([text], &SynthesisOptions::default()).unwrap();
        assert_eq!(std::fs::read(&entry).unwrap(), good, "{what}: rewritten");
    }

    // What another user of a shared directory could plant at the entry's name: a link to a
    // good entry (followed, it would be trusted), a FIFO (opened blocking, it would hang the
    // synthesis), a file too big to be an entry. Each is a miss, removed, the target untouched.
    let planted = dir.join("planted");
    std::fs::write(&planted, &good).unwrap();
    let fifo = |path: &Path| {
        let made = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(made.success());
    };
    let huge = |path: &Path| {
        let file = std::fs::File::create(path).unwrap();
        file.set_len(65 << 20).unwrap();
    };
    let link = |path: &Path| std::os::unix::fs::symlink(&planted, path).unwrap();
    type Plant<'a> = (&'a str, &'a dyn Fn(&Path));
    let plants: [Plant; 3] = [
        ("a symbolic link", &link),
        ("a FIFO", &fifo),
        ("a 65 MiB file", &huge),
    ];
    for (what, plant) in plants {
        std::fs::remove_file(&entry).unwrap();
        plant(&entry);
        let synth = voice(0, Some(&dir));
        assert_eq!(streamed(&synth, text), reference, "{what}: wrong audio");
        let disk = synth.cache_stats().disk;
        assert_eq!((disk.hits, disk.rejected), (0, 1), "{what}: {disk:?}");
        synth.prewarm([text], &SynthesisOptions::default()).unwrap();
        let meta = std::fs::symlink_metadata(&entry).unwrap();
        assert!(meta.is_file(), "{what}: still there");
        assert_eq!(
            std::fs::read(&entry).unwrap(),
            good,
            "{what}: not rewritten"
        );
    }
    assert_eq!(
        std::fs::read(&planted).unwrap(),
        good,
        "the link's target changed"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unusable_cache_directory_costs_nothing() {
    let file = scratch("cache-unusable").join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let synth = voice(0, Some(&file.join("cache")));
    let text = "Battery low. Please connect the charger.";
    assert_eq!(speak(&synth, text), speak(&voice(0, None), text));
    synth.prewarm([text], &SynthesisOptions::default()).unwrap();
    assert!(synth.cache_stats().disk.errors >= 1);
}

#[test]
fn the_disk_level_stays_within_its_budget() {
    let dir = scratch("cache-budget");
    let synth = Synthesizer::builder()
        .threads(2)
        .cache_bytes(0)
        .cache_dir(&dir)
        .cache_dir_bytes(600_000)
        .build()
        .unwrap();
    synth
        .prewarm(
            corpus_lines("en_sentences.txt"),
            &SynthesisOptions::default(),
        )
        .unwrap();
    let disk = synth.cache_stats().disk;
    println!("disk after 10 sentences with a 600 kB budget: {disk:?}");
    assert!(disk.bytes <= 600_000, "{disk:?}");
    assert!(disk.evictions > 0);
    drop(synth); // joins the disk writer: nothing lands in the directory being removed
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn eight_threads_hammering_overlapping_sentences_get_the_right_audio() {
    let fresh = voice(0, None);
    let lines = corpus_lines("en_sentences.txt");
    let texts: Vec<&String> = lines.iter().take(4).collect();
    let reference: Vec<Vec<f32>> = texts.iter().map(|t| speak(&fresh, t)).collect();
    let dir = scratch("cache-threads");
    let cached = Synthesizer::builder()
        .threads(1)
        .sessions(2)
        .cache_bytes(1 << 20)
        .cache_dir(&dir)
        .build()
        .unwrap();
    // Audio depends on the ORT thread count: compare against the same configuration, uncached.
    let fresh1 = Synthesizer::builder()
        .threads(1)
        .cache_bytes(0)
        .build()
        .unwrap();
    let reference1: Vec<Vec<f32>> = texts.iter().map(|t| speak(&fresh1, t)).collect();
    assert_eq!(reference.len(), reference1.len());
    std::thread::scope(|s| {
        for worker in 0..8 {
            let (cached, texts, reference1) = (&cached, &texts, &reference1);
            s.spawn(move || {
                for round in 0..3 {
                    let i = (worker + round) % texts.len();
                    assert_eq!(
                        &speak(cached, texts[i]),
                        &reference1[i],
                        "worker {worker} round {round}"
                    );
                }
            });
        }
    });
    let stats = cached.cache_stats();
    println!("{stats:?}");
    assert!(stats.memory.hits + stats.disk.hits > 0);
    // Dropping the synthesizer joins the cache's disk writer: nothing writes after this.
    drop(cached);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Temporary files a crashed writer left (an hour old) are removed when a synthesizer opens
/// the directory; a live writer's (fresh) are not.
#[test]
fn a_crashed_writers_temporaries_are_removed() {
    let dir = scratch("cache-stale-tmp");
    std::fs::create_dir_all(&dir).unwrap();
    let (stale, fresh) = (dir.join(".a.pcm.1.2.3.tmp"), dir.join(".b.pcm.1.2.3.tmp"));
    for path in [&stale, &fresh] {
        std::fs::write(path, b"half an entry").unwrap();
    }
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .append(true)
        .open(&stale)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    let _synth = voice(0, Some(&dir));
    assert!(!stale.exists(), "a stale temporary was kept");
    assert!(fresh.exists(), "a live writer's temporary was removed");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// With the operator's key file, entries are sealed by a keyed MAC: processes holding the key
/// share them; an entry written without it (a forger with write access to the directory) or
/// moved under another sentence's name is refused, and the sentence is synthesized afresh.
#[test]
fn a_keyed_cache_refuses_entries_written_without_its_key() {
    let dir = scratch("cache-keyed");
    std::fs::create_dir_all(&dir).unwrap();
    let key_dir = scratch("cache-keyed-secret");
    std::fs::create_dir_all(&key_dir).unwrap();
    let key = key_dir.join("cache.key");
    std::fs::write(&key, [0x5a; 32]).unwrap();
    let keyed = || {
        Synthesizer::builder()
            .threads(2)
            .cache_bytes(0)
            .cache_dir(&dir)
            .cache_key_file(&key)
            .build()
            .unwrap()
    };
    let (a, b) = ("Your table is ready.", "Your order has shipped.");
    let (reference_a, reference_b) = (speak(&voice(0, None), a), speak(&voice(0, None), b));
    keyed()
        .prewarm([a, b], &SynthesisOptions::default())
        .unwrap();
    let reader = keyed();
    assert_eq!(speak(&reader, a), reference_a);
    assert_eq!(
        reader.cache_stats().disk.hits,
        1,
        "the key holders do not share"
    );

    let entries = || -> Vec<std::path::PathBuf> {
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "pcm"))
            .collect();
        paths.sort();
        paths
    };
    // Swapped: each sentence's entry under the other's name (valid MACs, wrong names).
    let paths = entries();
    assert_eq!(paths.len(), 2);
    let (first, second) = (
        std::fs::read(&paths[0]).unwrap(),
        std::fs::read(&paths[1]).unwrap(),
    );
    std::fs::write(&paths[0], &second).unwrap();
    std::fs::write(&paths[1], &first).unwrap();
    let reader = keyed();
    assert_eq!(speak(&reader, a), reference_a, "a swapped entry was served");
    assert_eq!(speak(&reader, b), reference_b, "a swapped entry was served");
    assert_eq!(reader.cache_stats().disk.rejected, 2);

    // Forged: a process without the key writes the entries (a checksum, no MAC).
    drop(reader); // its background writes land first
    for path in entries() {
        std::fs::remove_file(path).unwrap();
    }
    voice(0, Some(&dir))
        .prewarm([a], &SynthesisOptions::default())
        .unwrap();
    assert_eq!(entries().len(), 1);
    let reader = keyed();
    assert_eq!(speak(&reader, a), reference_a);
    let disk = reader.cache_stats().disk;
    assert_eq!((disk.hits, disk.rejected), (0, 1), "{disk:?}");

    // A key file too short to be a secret is refused.
    std::fs::write(&key, b"password").unwrap();
    let error = Synthesizer::builder()
        .cache_dir(&dir)
        .cache_key_file(&key)
        .build()
        .expect_err("an 8-byte key was accepted");
    assert!(error.to_string().contains("32 bytes"), "{error}");
    // The reader re-synthesized the refused entry and writes it back in the background:
    // dropping it waits for that write, so nothing lands in the directory being removed.
    drop(reader);
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&key_dir).unwrap();
}

/// Set in the children of `two_processes_sharing_a_directory_keep_one_budget`: `DIR BUDGET N`.
const WRITER_ENV: &str = "INDEXTTS_TEST_CACHE_WRITER";

/// Two processes open one directory at once and each writes about two thirds of its budget:
/// together they must keep it within the one budget (each used to count only its own writes,
/// so N processes grew the directory to N budgets).
#[test]
fn two_processes_sharing_a_directory_keep_one_budget() {
    const TEST: &str = "two_processes_sharing_a_directory_keep_one_budget";
    if let Ok(spec) = std::env::var(WRITER_ENV) {
        return cache_writer(&spec);
    }
    let dir = scratch("cache-two-processes");
    let budget: u64 = 1_000_000;
    let children: Vec<_> = (0..2)
        .map(|n| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
                .env(WRITER_ENV, format!("{} {budget} {n}", dir.display()))
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success(), "a writer failed");
    }
    let total: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "pcm"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    let evictions: u64 = (0..2)
        .map(|n| {
            std::fs::read_to_string(dir.join(format!("evictions-{n}")))
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    println!("two writers, budget {budget}: directory holds {total} bytes, {evictions} evictions");
    assert!(
        total <= budget,
        "{total} bytes in a {budget}-byte directory"
    );
    assert!(
        evictions > 0,
        "together the writers exceeded the budget; nothing was evicted"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One writer of the test above: open the directory, wait for the other to have opened it
/// too, then write three sentences (~0.7 MB) of its own.
fn cache_writer(spec: &str) {
    let mut parts = spec.rsplitn(3, ' ');
    let n: usize = parts.next().unwrap().parse().unwrap();
    let budget: u64 = parts.next().unwrap().parse().unwrap();
    let dir = std::path::PathBuf::from(parts.next().unwrap());
    let synth = Synthesizer::builder()
        .threads(1)
        .cache_bytes(0)
        .cache_dir(&dir)
        .cache_dir_bytes(budget)
        .build()
        .unwrap();
    std::fs::write(dir.join(format!("ready-{n}")), b"").unwrap();
    let started = std::time::Instant::now();
    while !(0..2).all(|k| dir.join(format!("ready-{k}")).exists()) {
        assert!(
            started.elapsed().as_secs() < 120,
            "the other writer never opened"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let lines = corpus_lines("en_sentences.txt");
    synth
        .prewarm(&lines[3 * n..3 * n + 3], &SynthesisOptions::default())
        .unwrap();
    let evictions = synth.cache_stats().disk.evictions;
    drop(synth); // joins the writer thread: every entry has landed
    std::fs::write(dir.join(format!("evictions-{n}")), evictions.to_string()).unwrap();
}
