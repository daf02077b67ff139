//! The in-process level: an LRU bounded in bytes of audio. One lock, held only for the map
//! operation (microseconds); values are shared, never copied.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use lru::LruCache;

use super::{bytes_of, CacheKey, Counters, Level, LevelStats, Samples};

pub(super) struct Memory {
    map: Mutex<(LruCache<CacheKey, Samples>, u64)>,
    budget: u64,
    counters: Counters,
}

impl Memory {
    pub fn new(budget: u64) -> Memory {
        Memory {
            map: Mutex::new((LruCache::unbounded(), 0)),
            budget,
            counters: Counters::default(),
        }
    }
}

impl Level for Memory {
    fn get(&self, key: &CacheKey) -> Option<Samples> {
        let found = self
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .get(key)
            .cloned();
        self.counters.count(found.is_some());
        found
    }

    fn put(&self, key: &CacheKey, samples: &Samples) {
        let size = bytes_of(samples);
        if size > self.budget {
            return;
        }
        let mut guard = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let (map, bytes) = &mut *guard;
        if let Some(old) = map.put(*key, Arc::clone(samples)) {
            *bytes -= bytes_of(&old);
        }
        *bytes += size;
        while *bytes > self.budget {
            match map.pop_lru() {
                Some((_, old)) => {
                    *bytes -= bytes_of(&old);
                    self.counters.evictions.fetch_add(1, Ordering::Relaxed);
                }
                None => break,
            }
        }
    }

    fn stats(&self) -> LevelStats {
        let guard = self.map.lock().unwrap_or_else(|p| p.into_inner());
        self.counters.snapshot(guard.1, guard.0.len() as u64)
    }

    fn clear(&self) {
        let mut guard = self.map.lock().unwrap_or_else(|p| p.into_inner());
        guard.0.clear();
        guard.1 = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> CacheKey {
        CacheKey::for_test(i)
    }

    fn audio(len: usize, value: f32) -> Samples {
        Arc::new(super::super::SentenceAudio {
            samples: vec![value; len].into(),
            timing: None,
        })
    }

    #[test]
    fn memory_never_exceeds_its_byte_budget() {
        use rand_core::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let budget = 100_000;
        let m = Memory::new(budget);
        for i in 0..2_000 {
            let len = (rng.next_u32() % 12_000) as usize;
            m.put(&key(i % 300), &audio(len, 0.5));
            let stats = m.stats();
            assert!(
                stats.bytes <= budget,
                "{} bytes after {i} puts",
                stats.bytes
            );
            let (map, bytes) = &*m.map.lock().unwrap();
            assert_eq!(*bytes, map.iter().map(|(_, v)| bytes_of(v)).sum::<u64>());
        }
        assert!(m.stats().evictions > 0);
        // An entry larger than the whole budget is not kept (and evicts nothing).
        let before = m.stats();
        m.put(&key(9_999), &audio(30_000, 0.0));
        assert!(m.get(&key(9_999)).is_none());
        assert_eq!(m.stats().entries, before.entries);
    }

    #[test]
    fn memory_evicts_the_least_recently_used() {
        let m = Memory::new(3 * 400);
        for i in 0..3 {
            m.put(&key(i), &audio(100, 0.0));
        }
        assert!(m.get(&key(0)).is_some()); // 0 is now the most recent
        m.put(&key(3), &audio(100, 0.0));
        assert!(m.get(&key(1)).is_none(), "1 was least recently used");
        assert!(m.get(&key(0)).is_some() && m.get(&key(2)).is_some() && m.get(&key(3)).is_some());
        let shared = m.get(&key(3)).unwrap();
        assert!(
            Arc::ptr_eq(&shared, &m.get(&key(3)).unwrap()),
            "values are shared, not copied"
        );
    }
}
