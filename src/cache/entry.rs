//! The format of a cached sentence's audio, as the disk and Redis levels store it: a header
//! (magic, format version, sample rate, sample count, blake3 of the body), then the body: the
//! samples as little-endian f32, then the timing (u32 lead samples, u32 id count, then each id's
//! samples as u32; a count of 0 means the model gave no durations). Every entry read is checked
//! like any input: a shared directory or a shared Redis may hold anything.

use super::{CacheKey, SentenceAudio, CACHE_FORMAT_VERSION};
use crate::model::Timing;

/// Magic of a disk entry.
const MAGIC: &[u8; 8] = b"IXTTSPCM";
/// magic, format version, sample rate, sample count, blake3 of the samples.
const HEADER_BYTES: usize = 8 + 4 + 4 + 8 + 32;

/// How the shared levels' entries are sealed: with no key, the header's last 32 bytes are a
/// blake3 checksum of the samples (it catches corruption; anyone may write a valid entry); with
/// the operator's key, a keyed blake3 MAC over the entry's cache key, header and samples, so
/// only a holder of the key can write an entry a reader accepts, and only under its own key.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Seal(Option<[u8; 32]>);

impl std::fmt::Debug for Seal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself.
        f.write_str(if self.0.is_some() {
            "Seal(keyed)"
        } else {
            "Seal(checksum)"
        })
    }
}

impl Seal {
    /// A seal keyed by the secret `material` (any length; at least 32 bytes is required by
    /// the caller), derived so that the raw bytes are never the MAC key.
    pub fn keyed(material: &[u8]) -> Seal {
        Seal(Some(blake3::derive_key(
            "indextts 2026-12 sentence cache entry MAC v1",
            material,
        )))
    }

    fn tag(&self, key: &CacheKey, header: &[u8], body: &[u8]) -> blake3::Hash {
        match &self.0 {
            None => blake3::hash(body),
            Some(mac) => blake3::Hasher::new_keyed(mac)
                .update(key.0.as_bytes())
                .update(header)
                .update(body)
                .finalize(),
        }
    }
}

/// A disk entry with the unkeyed checksum (what the fuzz seeds and old tests write).
#[cfg(test)]
pub(crate) fn encode_entry(sample_rate: u32, samples: &[f32]) -> Vec<u8> {
    let audio = SentenceAudio {
        samples: samples.into(),
        timing: None,
    };
    encode_sealed(&Seal::default(), &CacheKey::unnamed(), sample_rate, &audio)
}

/// An entry for `key`: header, then the samples as little-endian f32, then the timing.
pub(crate) fn encode_sealed(
    seal: &Seal,
    key: &CacheKey,
    sample_rate: u32,
    audio: &SentenceAudio,
) -> Vec<u8> {
    let samples = &audio.samples;
    let (lead, per_id) = audio
        .timing
        .as_ref()
        .map_or((0, &[][..]), |t| (t.lead, t.per_id.as_slice()));
    let mut out = Vec::with_capacity(HEADER_BYTES + samples.len() * 4 + 8 + per_id.len() * 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&CACHE_FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&(samples.len() as u64).to_le_bytes());
    out.extend_from_slice(&[0; 32]);
    for s in samples.iter() {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out.extend_from_slice(&lead.to_le_bytes());
    out.extend_from_slice(&(per_id.len() as u32).to_le_bytes());
    for d in per_id {
        out.extend_from_slice(&d.to_le_bytes());
    }
    let (header, body) = out.split_at(HEADER_BYTES);
    let tag = seal.tag(key, &header[..24], body);
    out[24..56].copy_from_slice(tag.as_bytes());
    out
}

/// Why a disk entry was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryError {
    /// Its length does not match its header.
    Truncated,
    /// Not an indextts entry.
    Foreign,
    /// Written by another format version.
    Version(u32),
    /// For another sample rate.
    SampleRate(u32),
    /// The samples do not match their checksum (or, with a key, their MAC: written without
    /// the key, or under another entry's name).
    Checksum,
    /// A sample is not finite audio in [-1, 1] (the checksum is no signature: an entry from a
    /// shared directory or Redis is checked like any input).
    NotAudio,
    /// The timing does not fit the samples (it places ids beyond the audio).
    Timing,
}

/// Read an unkeyed entry, checking everything; never panics on any input (the fuzz target's
/// way in).
#[cfg(any(test, feature = "unstable-internals"))]
pub fn decode_entry(bytes: &[u8], sample_rate: u32) -> Result<Vec<f32>, EntryError> {
    decode_sealed(bytes, &Seal::default(), &CacheKey::unnamed(), sample_rate)
        .map(|audio| audio.samples.into_vec())
}

/// Read the entry for `key` written by [`encode_sealed`] with `seal`, checking everything.
pub(crate) fn decode_sealed(
    bytes: &[u8],
    seal: &Seal,
    key: &CacheKey,
    sample_rate: u32,
) -> Result<SentenceAudio, EntryError> {
    if bytes.len() < HEADER_BYTES {
        return Err(if bytes.starts_with(&MAGIC[..bytes.len().min(8)]) {
            EntryError::Truncated
        } else {
            EntryError::Foreign
        });
    }
    let (header, body) = bytes.split_at(HEADER_BYTES);
    if &header[..8] != MAGIC {
        return Err(EntryError::Foreign);
    }
    let u32_at =
        |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let version = u32_at(8);
    if version != CACHE_FORMAT_VERSION {
        return Err(EntryError::Version(version));
    }
    let rate = u32_at(12);
    if rate != sample_rate {
        return Err(EntryError::SampleRate(rate));
    }
    let mut count = [0u8; 8];
    count.copy_from_slice(&header[16..24]);
    let count = u64::from_le_bytes(count);
    // Checked arithmetic: the count is the writer's word (a count near 2^62 once wrapped
    // `4 * count + 8` to a small number, and the read past the body panicked; found by fuzzing).
    let pcm = count
        .checked_mul(4)
        .filter(|&b| b.checked_add(8).is_some_and(|end| end <= body.len() as u64))
        .ok_or(EntryError::Truncated)? as usize;
    let u32_in = |i: usize| u32::from_le_bytes([body[i], body[i + 1], body[i + 2], body[i + 3]]);
    let (lead, ids) = (u32_in(pcm), u32_in(pcm + 4) as u64);
    if (pcm as u64 + 8).checked_add(ids * 4) != Some(body.len() as u64) {
        return Err(EntryError::Truncated);
    }
    // blake3::Hash compares in constant time.
    let mut stored = [0u8; 32];
    stored.copy_from_slice(&header[24..56]);
    if seal.tag(key, &header[..24], body) != blake3::Hash::from_bytes(stored) {
        return Err(EntryError::Checksum);
    }
    let samples: Box<[f32]> = body[..pcm]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    // NaN fails this test too.
    if !samples.iter().all(|s| (-1.0..=1.0).contains(s)) {
        return Err(EntryError::NotAudio);
    }
    let timing = (ids > 0).then(|| Timing {
        lead,
        per_id: body[pcm + 8..]
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
    });
    let spoken = timing.as_ref().map_or(0, |t| {
        t.per_id.iter().map(|&d| u64::from(d)).sum::<u64>() + u64::from(t.lead)
    });
    if spoken > count {
        return Err(EntryError::Timing);
    }
    Ok(SentenceAudio { samples, timing })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_entries_round_trip_and_every_corruption_is_rejected() {
        let samples: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.01).sin()).collect();
        let entry = encode_entry(22_050, &samples);
        assert_eq!(decode_entry(&entry, 22_050).unwrap(), samples);
        assert_eq!(
            decode_entry(&entry, 16_000),
            Err(EntryError::SampleRate(22_050))
        );
        for len in 0..entry.len() {
            assert!(
                decode_entry(&entry[..len], 22_050).is_err(),
                "truncated to {len}"
            );
        }
        for at in (0..entry.len()).step_by(7) {
            let mut bad = entry.clone();
            bad[at] ^= 1;
            assert!(decode_entry(&bad, 22_050).is_err(), "flipped byte {at}");
        }
        // A sample count whose byte length wraps (the fuzzer's find): refused, no panic.
        let mut huge = entry.clone();
        huge[16..24].copy_from_slice(&0x3fff_ffff_ffff_fffe_u64.to_le_bytes());
        assert_eq!(decode_entry(&huge, 22_050), Err(EntryError::Truncated));
        let found = [
            73, 88, 84, 84, 83, 80, 67, 77, 2, 0, 0, 0, 34, 86, 0, 0, 254, 255, 255, 255, 255, 255,
            255, 63, 231, 82, 156, 105, 232, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0, 0, 188, 167,
            148, 218, 229, 131, 171, 37, 255, 188, 82, 57, 84,
        ];
        assert!(decode_entry(&found, 22_050).is_err());
        let mut longer = entry.clone();
        longer.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(decode_entry(&longer, 22_050), Err(EntryError::Truncated));
        // Well formed, checksum right, but not audio: a hostile or broken writer's entry.
        for bad in [f32::NAN, f32::INFINITY, 3.5] {
            let mut poisoned = samples.clone();
            poisoned[500] = bad;
            let entry = encode_entry(22_050, &poisoned);
            assert_eq!(decode_entry(&entry, 22_050), Err(EntryError::NotAudio));
        }
    }

    #[test]
    fn keyed_entries_open_only_with_their_key_under_their_name() {
        let samples = SentenceAudio {
            samples: (0..300).map(|i| (i as f32 * 0.02).cos() * 0.5).collect(),
            timing: Some(Timing {
                lead: 12,
                per_id: vec![100, 0, 188],
            }),
        };
        let (seal, other) = (Seal::keyed(&[7; 32]), Seal::keyed(&[8; 32]));
        let (key, elsewhere) = (CacheKey::for_test(1), CacheKey::for_test(2));
        let entry = encode_sealed(&seal, &key, 22_050, &samples);
        assert_eq!(decode_sealed(&entry, &seal, &key, 22_050).unwrap(), samples);
        // A timing that places ids past the audio is refused, MAC or not.
        let mut long = samples.clone();
        long.timing.as_mut().unwrap().per_id[1] = 1;
        let entry_long = encode_sealed(&seal, &key, 22_050, &long);
        assert_eq!(
            decode_sealed(&entry_long, &seal, &key, 22_050),
            Err(EntryError::Timing)
        );
        let refused = [
            decode_sealed(&entry, &other, &key, 22_050),
            decode_sealed(&entry, &seal, &elsewhere, 22_050),
            decode_sealed(&entry, &Seal::default(), &key, 22_050),
            // Forged without the key: a well-formed unkeyed entry.
            decode_sealed(
                &encode_sealed(&Seal::default(), &key, 22_050, &samples),
                &seal,
                &key,
                22_050,
            ),
        ];
        for (i, r) in refused.iter().enumerate() {
            assert_eq!(r, &Err(EntryError::Checksum), "case {i}");
        }
        assert_eq!(format!("{seal:?}"), "Seal(keyed)");
    }
}
