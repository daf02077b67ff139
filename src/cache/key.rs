//! What identifies a sentence's audio: the key of the sentence cache, and the seed of the
//! model's random draws, which is derived from it, so that a sentence sounds the same every time
//! and a cached sentence equals a fresh one.

use super::CACHE_FORMAT_VERSION;
use crate::model::Voicing;

/// A strong hash of everything that determines a sentence's audio: format version, voice
/// fingerprint (model and config content), phoneme ids, speaker, scales and seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SentenceKey(blake3::Hash);

impl SentenceKey {
    pub fn new(voice: &blake3::Hash, phoneme_ids: &[i64], voicing: &Voicing) -> Self {
        let mut h = blake3::Hasher::new();
        h.update(b"indextts sentence");
        h.update(&CACHE_FORMAT_VERSION.to_le_bytes());
        h.update(voice.as_bytes());
        h.update(&(phoneme_ids.len() as u64).to_le_bytes());
        for id in phoneme_ids {
            h.update(&id.to_le_bytes());
        }
        match voicing.sid {
            Some(sid) => h.update(&[1]).update(&sid.to_le_bytes()),
            None => h.update(&[0]),
        };
        if let Some(mix) = voicing.mix {
            h.update(&[2])
                .update(&(mix.parts().len() as u64).to_le_bytes());
            for (id, weight) in mix.parts() {
                h.update(&id.to_le_bytes())
                    .update(&weight.to_bits().to_le_bytes());
            }
        }
        let s = voicing.scales;
        for v in [s.noise_scale, s.length_scale, s.noise_w] {
            h.update(&v.to_bits().to_le_bytes());
        }
        match voicing.seed {
            Some(seed) => h.update(&[1]).update(&seed.to_le_bytes()),
            None => h.update(&[0]),
        };
        SentenceKey(h.finalize())
    }

    /// The seed of this sentence's random draws.
    pub fn seed(&self) -> u64 {
        let derived = blake3::keyed_hash(self.0.as_bytes(), b"indextts seed");
        let mut first = [0u8; 8];
        first.copy_from_slice(&derived.as_bytes()[..8]);
        u64::from_le_bytes(first)
    }
}

/// The key of a sentence's cached audio: the sentence key plus how its vocoder windows were
/// cut, since a stream's first sentence is decoded in smaller windows (for first audio) and
/// windows change the samples in the last bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey(pub(super) blake3::Hash);

impl CacheKey {
    pub fn new(sentence: &SentenceKey, plan: &[u64]) -> Self {
        let mut h = blake3::Hasher::new();
        h.update(b"indextts cache");
        h.update(sentence.0.as_bytes());
        for p in plan {
            h.update(&p.to_le_bytes());
        }
        CacheKey(h.finalize())
    }

    /// The key as a file or Redis key name.
    pub fn hex(&self) -> String {
        self.0.to_hex().to_string()
    }

    /// A key for what no key names (an unkeyed entry read on its own, in the fuzz target).
    #[cfg(any(test, feature = "unstable-internals"))]
    pub fn unnamed() -> Self {
        CacheKey(blake3::Hash::from_bytes([0; 32]))
    }

    #[cfg(test)]
    pub fn for_test(i: u64) -> Self {
        CacheKey(blake3::hash(&i.to_le_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Scales;

    fn voicing(seed: Option<u64>) -> Voicing {
        Voicing {
            scales: Scales {
                noise_scale: 0.667,
                length_scale: 1.0,
                noise_w: 0.8,
            },
            sid: None,
            mix: None,
            seed,
        }
    }

    #[test]
    fn keys_cover_everything_that_shapes_the_audio() {
        let voice = blake3::hash(b"voice");
        let base = SentenceKey::new(&voice, &[1, 0, 5, 0, 2], &voicing(None));
        assert_eq!(
            base,
            SentenceKey::new(&voice, &[1, 0, 5, 0, 2], &voicing(None))
        );
        assert_ne!(
            base,
            SentenceKey::new(&blake3::hash(b"other"), &[1, 0, 5, 0, 2], &voicing(None))
        );
        assert_ne!(
            base,
            SentenceKey::new(&voice, &[1, 0, 6, 0, 2], &voicing(None))
        );
        assert_ne!(
            base,
            SentenceKey::new(&voice, &[1, 0, 5, 0, 2], &voicing(Some(0)))
        );
        let mut slower = voicing(None);
        slower.scales.length_scale = 1.1;
        assert_ne!(base, SentenceKey::new(&voice, &[1, 0, 5, 0, 2], &slower));
        let mut speaker = voicing(None);
        speaker.sid = Some(0);
        assert_ne!(base, SentenceKey::new(&voice, &[1, 0, 5, 0, 2], &speaker));
        let mut blend = speaker;
        blend.mix = crate::model::SpeakerMix::new(&[(0, 0.7), (1, 0.3)]);
        assert_ne!(
            SentenceKey::new(&voice, &[1, 0, 5, 0, 2], &speaker),
            SentenceKey::new(&voice, &[1, 0, 5, 0, 2], &blend)
        );
        assert_eq!(
            base.seed(),
            SentenceKey::new(&voice, &[1, 0, 5, 0, 2], &voicing(None)).seed()
        );
        assert_ne!(
            base.seed(),
            SentenceKey::new(&voice, &[1, 0, 6, 0, 2], &voicing(None)).seed()
        );
    }
}
