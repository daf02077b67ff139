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
    /// When each word of the text is said, in order (empty when the voice's model gives no
    /// durations, or for audio not made from text).
    pub words: Vec<crate::WordMark>,
    /// When each phoneme is said, with its id, in order (empty as `words` is).
    pub phonemes: Vec<crate::PhonemeMark>,
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

/// What a [`PcmStreamWriter`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFormat {
    /// Headerless 16-bit little-endian mono PCM (`aplay -f S16_LE -r RATE`, `sox -t raw`).
    RawPcm16,
    /// A 16-bit PCM WAV whose header declares an unbounded length, for pipes that cannot seek
    /// back to fill in the length.
    WavUnbounded,
}

/// Writes audio as it is made, to a writer that need not seek (a pipe, a socket).
#[derive(Debug)]
pub struct PcmStreamWriter<W: Write> {
    out: W,
    format: StreamFormat,
    sample_rate: u32,
    started: bool,
    buf: Vec<u8>,
}

impl<W: Write> PcmStreamWriter<W> {
    /// A writer of `format` at `sample_rate` Hz, mono.
    pub fn new(out: W, format: StreamFormat, sample_rate: u32) -> Self {
        PcmStreamWriter {
            out,
            format,
            sample_rate,
            started: false,
            buf: Vec::new(),
        }
    }

    /// Write `samples` (the WAV header first, on the first call) and flush them.
    pub fn write(&mut self, samples: &[f32]) -> std::io::Result<()> {
        if !self.started {
            self.started = true;
            if self.format == StreamFormat::WavUnbounded {
                let spec = hound::WavSpec {
                    channels: 1,
                    sample_rate: self.sample_rate,
                    bits_per_sample: 16,
                    sample_format: hound::SampleFormat::Int,
                };
                self.out.write_all(&spec.into_header_for_infinite_file())?;
            }
        }
        self.buf.clear();
        self.buf
            .extend(samples.iter().flat_map(|&s| sample_to_i16(s).to_le_bytes()));
        self.out.write_all(&self.buf)?;
        self.out.flush()
    }

    /// Write the header if nothing was written yet (an empty stream is still a valid file).
    pub fn finish(mut self) -> std::io::Result<W> {
        self.write(&[])?;
        Ok(self.out)
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
    fn streamed_wav_and_raw_pcm_hold_the_samples() {
        let samples = [0.0f32, 0.25, -0.25, 1.0];
        let mut wav = PcmStreamWriter::new(Vec::new(), StreamFormat::WavUnbounded, 16_000);
        wav.write(&samples[..2]).unwrap();
        wav.write(&samples[2..]).unwrap();
        let bytes = wav.finish().unwrap();
        assert_eq!(&bytes[..4], b"RIFF");
        assert_eq!(&bytes[8..12], b"WAVE");
        assert_eq!(
            u32::from_le_bytes(bytes[24..28].try_into().unwrap()),
            16_000
        );
        let data = bytes.windows(4).position(|w| w == b"data").unwrap();
        // The data chunk's length is the "unknown" marker; the samples follow it.
        let pcm: Vec<i16> = bytes[data + 8..]
            .chunks(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(pcm, vec![0, 8192, -8192, 32767]);

        let mut raw = PcmStreamWriter::new(Vec::new(), StreamFormat::RawPcm16, 16_000);
        raw.write(&samples).unwrap();
        let bytes = raw.finish().unwrap();
        assert_eq!(bytes, vec![0, 0, 0, 0x20, 0, 0xe0, 0xff, 0x7f]);
    }

    #[test]
    fn wav_round_trips_through_hound() {
        let audio = Audio {
            samples: vec![0.0, 0.5, -0.5, 1.0, -1.0, 2.0],
            sample_rate: 22_050,
            ..Audio::default()
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
