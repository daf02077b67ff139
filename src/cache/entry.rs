//! The format of a cached sentence's audio, as the disk and Redis levels store it: a header
//! (magic, format version, sample rate, sample count, blake3 of the samples), then the samples
//! as little-endian f32. Every entry read is checked like any input: a shared directory or a
//! shared Redis may hold anything.

use super::CACHE_FORMAT_VERSION;

/// Magic of a disk entry.
const MAGIC: &[u8; 8] = b"IXTTSPCM";
/// magic, format version, sample rate, sample count, blake3 of the samples.
const HEADER_BYTES: usize = 8 + 4 + 4 + 8 + 32;

/// A disk entry: header, then the samples as little-endian f32.
pub(crate) fn encode_entry(sample_rate: u32, samples: &[f32]) -> Vec<u8> {
    let mut body = Vec::with_capacity(samples.len() * 4);
    for s in samples {
        body.extend_from_slice(&s.to_le_bytes());
    }
    let mut out = Vec::with_capacity(HEADER_BYTES + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&CACHE_FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&(samples.len() as u64).to_le_bytes());
    out.extend_from_slice(blake3::hash(&body).as_bytes());
    out.extend_from_slice(&body);
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
    /// The samples do not match their checksum.
    Checksum,
    /// A sample is not finite audio in [-1, 1] (the checksum is no signature: an entry from a
    /// shared directory or Redis is checked like any input).
    NotAudio,
}

/// Read a disk entry written by [`encode_entry`], checking everything; never panics on any input.
pub fn decode_entry(bytes: &[u8], sample_rate: u32) -> Result<Vec<f32>, EntryError> {
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
    if count.checked_mul(4) != Some(body.len() as u64) {
        return Err(EntryError::Truncated);
    }
    if blake3::hash(body).as_bytes() != &header[24..56] {
        return Err(EntryError::Checksum);
    }
    let samples: Vec<f32> = body
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    // NaN fails this test too.
    if !samples.iter().all(|s| (-1.0..=1.0).contains(s)) {
        return Err(EntryError::NotAudio);
    }
    Ok(samples)
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
}
