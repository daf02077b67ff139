//! The engine behind every synthesizer: a loaded voice (frontend, model pipeline, its stream
//! windows) with its sentence cache, and what each call shares: the checks of text and options,
//! and the key (and so the seed) of each sentence. `synthesizer.rs` builds it and calls it;
//! `stream.rs` runs its stages over it; neither knows the other's internals.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::cache::{CacheKey, SentenceCache, SentenceKey};
use crate::error::{Error, Result};
use crate::family::LoadedVoice;
use crate::frontend::{Sentence, TextFrontend};
use crate::model::{Pipeline, Scales, SpeakerMix, VoiceLoad, Voicing};
use crate::vocoder::StreamWindows;
use crate::voice::{VoiceConfig, VoicePaths};

/// Largest text accepted by one call, in bytes (128 KiB: about two and a half hours of speech,
/// whose whole audio is some 800 MB of `f32` samples). Longer texts are split by the caller
/// (chapters, paragraphs) and streamed call after call.
pub const MAX_TEXT_BYTES: usize = 128 << 10;

/// Per-call synthesis options; `None` takes the voice's default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SynthesisOptions {
    /// Phoneme duration multiplier, > 0: 1.0 is the voice's pace, 1.5 is slower.
    pub length_scale: Option<f32>,
    /// Prior noise, >= 0: variation in voice quality (0 is deterministic).
    pub noise_scale: Option<f32>,
    /// Duration noise, >= 0: variation in rhythm (0 is deterministic).
    pub noise_w: Option<f32>,
    /// Speaker name or id, for multi-speaker voices.
    pub speaker: Option<String>,
    /// Seed of the model's random draws. `None`: derived from each sentence (its phonemes,
    /// the voice, speaker and scales), so a sentence sounds the same every time. The same seed
    /// gives the same samples, bit for bit, across calls, runs and processes that use the same
    /// number of ONNX Runtime threads (a different count rounds reductions differently).
    pub seed: Option<u64>,
}

/// A loaded voice and its cache, shared by a synthesizer's clones and its streams.
pub(crate) struct Engine {
    config: VoiceConfig,
    paths: VoicePaths,
    pipeline: Pipeline,
    frontend: Box<dyn TextFrontend>,
    windows: StreamWindows,
    /// blake3 of the model and the config: part of every sentence's key.
    fingerprint: blake3::Hash,
    cache: SentenceCache,
    /// The speaker a call that names none gets, on multi-speaker voices.
    default_speaker: i64,
    /// Streams whose stage threads have not been joined yet, and the one-thread sessions made
    /// while several ran.
    load: Arc<VoiceLoad>,
    /// Model sessions of each stage, when a stream started while they are all taken by others
    /// gets a larger first window (see `windows_for_new_stream`).
    busy_beyond: Option<usize>,
    /// The caller's pronunciations, for voices whose phonemes are IPA.
    lexicon: Option<crate::frontend::Lexicon>,
}

/// Counts one stream as live until dropped (after its stage threads are joined).
pub(crate) struct LiveStream(Arc<VoiceLoad>);

impl Drop for LiveStream {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Engine {
    /// The engine of a loaded voice, its streams cut into `windows`.
    pub fn new(
        voice: LoadedVoice,
        paths: VoicePaths,
        windows: StreamWindows,
        cache: SentenceCache,
        lexicon: Option<crate::frontend::Lexicon>,
        busy_beyond: Option<usize>,
        load: Arc<VoiceLoad>,
    ) -> Engine {
        Engine {
            config: voice.config,
            paths,
            pipeline: voice.pipeline,
            frontend: voice.frontend,
            windows,
            fingerprint: voice.fingerprint,
            default_speaker: voice.default_speaker,
            lexicon,
            cache,
            load,
            busy_beyond,
        }
    }

    /// Count a new stream as live for as long as the returned guard.
    pub fn live_stream(&self) -> LiveStream {
        self.load.streams.fetch_add(1, Ordering::Relaxed);
        LiveStream(Arc::clone(&self.load))
    }

    /// Streams whose stage threads are still running (or not yet joined).
    pub fn live_streams(&self) -> usize {
        self.load.streams.load(Ordering::Relaxed)
    }

    /// One-thread sessions made for overlapping streams so far.
    pub fn one_thread_sessions(&self) -> usize {
        self.load.one_thread_sessions.load(Ordering::Relaxed)
    }

    pub fn config(&self) -> &VoiceConfig {
        &self.config
    }

    pub fn paths(&self) -> &VoicePaths {
        &self.paths
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    pub fn frontend(&self) -> &dyn TextFrontend {
        &*self.frontend
    }

    /// The caller's lexicon, if any.
    pub fn lexicon(&self) -> Option<&crate::frontend::Lexicon> {
        self.lexicon.as_ref()
    }

    pub fn windows(&self) -> StreamWindows {
        self.windows
    }

    /// The windows of a stream that starts now, counted live: the voice's, except, when the
    /// builder asked for it, that one starting while every session is taken by other streams
    /// gets a first window one growth step larger
    /// ([`crate::SynthesizerBuilder::grow_first_window_when_busy`]).
    pub fn windows_for_new_stream(&self) -> StreamWindows {
        let mut windows = self.windows;
        if self
            .busy_beyond
            .is_some_and(|sessions| self.live_streams() > sessions)
        {
            windows.first_chunk_frames = crate::vocoder::grown(windows.first_chunk_frames)
                .min(windows.chunk_frames)
                .max(windows.first_chunk_frames);
        }
        windows
    }

    pub fn cache(&self) -> &SentenceCache {
        &self.cache
    }

    pub fn sample_rate(&self) -> u32 {
        self.config.sample_rate
    }

    /// Samples of silence between two sentences of a stream (voices whose sentences do not
    /// end in their own pause).
    pub fn sentence_gap(&self) -> usize {
        (self.config.sentence_silence * self.config.sample_rate as f32).round() as usize
    }

    /// The key of a sentence's audio (and so its seed).
    pub fn sentence_key(&self, phoneme_ids: &[i64], voicing: &Voicing) -> SentenceKey {
        SentenceKey::new(&self.fingerprint, phoneme_ids, voicing)
    }

    /// The cache key of a sentence decoded as a stream's first sentence or not (the first one
    /// is decoded in smaller windows), when the cache is on.
    pub fn cache_key(&self, sentence: &SentenceKey, first: bool) -> Option<CacheKey> {
        if !self.cache.is_enabled() {
            return None;
        }
        let w = self.windows;
        let first_frames = if first {
            w.first_chunk_frames as u64
        } else {
            0
        };
        Some(CacheKey::new(
            sentence,
            &[first_frames, w.chunk_frames as u64, w.context_frames as u64],
        ))
    }

    /// Check `options` and fill in the voice's defaults.
    pub fn resolve(&self, options: &SynthesisOptions) -> Result<Voicing> {
        let defaults = self.config.inference;
        let scales = Scales {
            noise_scale: options.noise_scale.unwrap_or(defaults.noise_scale),
            length_scale: options.length_scale.unwrap_or(defaults.length_scale),
            noise_w: options.noise_w.unwrap_or(defaults.noise_w),
        };
        let invalid = |name: &'static str, value: f32, reason: &'static str| Error::InvalidOption {
            name,
            value: value.to_string(),
            reason,
        };
        if !(scales.length_scale.is_finite()
            && scales.length_scale > 0.0
            && scales.length_scale <= 10.0)
        {
            return Err(invalid(
                "length_scale",
                scales.length_scale,
                "must be a number in (0, 10]",
            ));
        }
        for (name, value) in [
            ("noise_scale", scales.noise_scale),
            ("noise_w", scales.noise_w),
        ] {
            if !(value.is_finite() && (0.0..=10.0).contains(&value)) {
                return Err(invalid(name, value, "must be a number in [0, 10]"));
            }
        }
        let (sid, mix) = self.speaker(options.speaker.as_deref())?;
        Ok(Voicing {
            scales,
            sid,
            mix,
            seed: options.seed,
        })
    }

    /// The speaker id (and blend) `name` picks: a speaker's name or id, or a blend
    /// `"name:weight,name:weight"` for voices that blend; `None` is the voice's default.
    pub fn speaker(&self, name: Option<&str>) -> Result<(Option<i64>, Option<SpeakerMix>)> {
        Ok(match name {
            Some(name) if self.config.blends_speakers && name.contains([':', ',']) => {
                let mix = self.speaker_mix(name)?;
                (mix.parts().first().map(|&(id, _)| id), Some(mix))
            }
            Some(name) => (Some(self.config.speaker_id(name)?), None),
            None if self.config.num_speakers > 1 => (Some(self.default_speaker), None),
            None => (None, None),
        })
    }
}

impl Engine {
    /// A blend `"name:weight,name:weight"` (a name without a weight weighs 1; the weights are
    /// scaled to sum to 1).
    fn speaker_mix(&self, spec: &str) -> Result<SpeakerMix> {
        let invalid = |reason: &'static str| Error::InvalidOption {
            name: "speaker",
            value: spec.to_owned(),
            reason,
        };
        let mut parts = Vec::new();
        for part in spec.split(',') {
            let (name, weight) = match part.split_once(':') {
                Some((name, weight)) => (
                    name.trim(),
                    weight.trim().parse::<f32>().map_err(|_| {
                        invalid("a blend's weight must be a number, as in af_heart:0.7,am_adam:0.3")
                    })?,
                ),
                None => (part.trim(), 1.0),
            };
            parts.push((self.config.speaker_id(name)?, weight));
        }
        SpeakerMix::new(&parts).ok_or_else(|| {
            invalid("a blend has 1 to 4 speakers, each with a weight > 0, as in af_heart:0.7,am_adam:0.3")
        })
    }
}

/// `text` is within [`MAX_TEXT_BYTES`] and not blank.
pub(crate) fn check_text(text: &str) -> Result<()> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(Error::TextTooLong {
            len: text.len(),
            max: MAX_TEXT_BYTES,
        });
    }
    if text.trim().is_empty() {
        return Err(Error::EmptyText { len: text.len() });
    }
    Ok(())
}

/// Log each symbol the voice lacks once per process.
pub(crate) fn report_missing(sentences: &[Sentence]) {
    use std::collections::BTreeSet;
    use std::sync::Mutex;
    static REPORTED: Mutex<BTreeSet<char>> = Mutex::new(BTreeSet::new());
    if sentences.iter().all(|s| s.missing.is_empty()) {
        return;
    }
    let mut reported = REPORTED.lock().unwrap_or_else(|p| p.into_inner());
    for c in sentences.iter().flat_map(|s| s.missing.iter()) {
        if reported.insert(*c) {
            tracing::warn!(
                symbol = %c,
                codepoint = format!("U+{:04X}", u32::from(*c)),
                "the voice has no id for this phoneme; it is skipped"
            );
        }
    }
}
