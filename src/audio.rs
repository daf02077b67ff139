//! Synthesized audio and its WAV writer.

use std::io::{Seek, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// Mono audio: samples in `[-1.0, 1.0]` at `sample_rate` Hz.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Audio {
    /// Samples, mono, nominally in `[-1.0, 1.0]`.
    pub samples: Vec<f32>,
    /// Samples per second.
    pub sample_rate: u32,
}

impl Audio {
    /// Length in seconds.
    pub fn duration_seconds(&self) -> f64 {
        if self.sample_rate == 0 {
            return 0.0;
        }
        self.samples.len() as f64 / f64::from(self.sample_rate)
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The samples as 16-bit PCM (rounded, saturating at full scale).
    pub fn to_i16(&self) -> Vec<i16> {
        self.samples.iter().map(|&s| sample_to_i16(s)).collect()
    }

    /// Write a 16-bit PCM mono WAV file.
    pub fn write_wav(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        self.write_wav_to(std::io::BufWriter::new(file))
            .map_err(|e| match e {
                Error::Wav { reason, .. } => Error::Wav {
                    path: path.to_path_buf(),
                    reason,
                },
                other => other,
            })
    }

    /// Write a 16-bit PCM mono WAV to any seekable writer.
    pub fn write_wav_to<W: Write + Seek>(&self, writer: W) -> Result<()> {
        let wav_error = |e: hound::Error| Error::Wav {
            path: "<writer>".into(),
            reason: e.to_string(),
        };
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: self.sample_rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut wav = hound::WavWriter::new(writer, spec).map_err(wav_error)?;
        let mut pcm = wav.get_i16_writer(self.samples.len() as u32);
        for &s in &self.samples {
            pcm.write_sample(sample_to_i16(s));
        }
        pcm.flush().map_err(wav_error)?;
        wav.finalize().map_err(wav_error)
    }
}

/// One float sample as 16-bit PCM.
pub fn sample_to_i16(s: f32) -> i16 {
    (s.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_round_trips_through_hound() {
        let audio = Audio {
            samples: vec![0.0, 0.5, -0.5, 1.0, -1.0, 2.0],
            sample_rate: 22_050,
        };
        let mut buf = std::io::Cursor::new(Vec::new());
        audio.write_wav_to(&mut buf).unwrap();
        buf.set_position(0);
        let reader = hound::WavReader::new(buf).unwrap();
        assert_eq!(reader.spec().sample_rate, 22_050);
        assert_eq!(reader.spec().bits_per_sample, 16);
        let back: Vec<i16> = reader.into_samples().map(|s| s.unwrap()).collect();
        assert_eq!(back, vec![0, 16384, -16384, 32767, -32767, 32767]);
        assert!((audio.duration_seconds() - 6.0 / 22_050.0).abs() < 1e-12);
    }
}
