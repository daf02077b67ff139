//! Kokoro-82M (StyleTTS 2 with an iSTFTNet decoder), run as one graph: `tokens [1, n + 2]`
//! int64 (0 at both ends), `style [1, 256]` and `speed [1]` in, `audio [samples]` at 24 kHz out.
//!
//! The style comes from a voice pack: `[510, 256]` floats, row `n - 1` for a sentence of `n`
//! tokens; a blend of packs is their weighted sum. The graph draws nothing (it has no random
//! operator: kokoro-onnx's export fixed the harmonic source's phase and noise), so the same
//! tokens and style give the same samples.

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2};
use ort::value::{DynValue, Tensor};

use super::pool::SessionPool;
use super::{samples_of, sessions, Graph, SessionCounts, SpeakerMix, Utterance, WholeModel};
use crate::error::{Error, Result};

/// Floats in one style vector.
pub const STYLE_DIM: usize = 256;
/// Rows of a voice pack: one style per sentence length, 0..510 tokens.
pub const PACK_ROWS: usize = 510;

/// One voice pack: `[PACK_ROWS, STYLE_DIM]` floats.
pub(crate) struct StylePack(Vec<f32>);

impl StylePack {
    /// Read a pack file (`*.bin`, little-endian float32, as kokoro-js ships them): the pack and
    /// the blake3 of the file's bytes.
    pub fn read(path: &Path) -> Result<(Self, blake3::Hash)> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let want = PACK_ROWS * STYLE_DIM * 4;
        if bytes.len() != want {
            return Err(Error::ModelFormat {
                path: path.to_path_buf(),
                reason: format!(
                    "a Kokoro voice pack is {want} bytes ([{PACK_ROWS}, {STYLE_DIM}] float32); this one is {}",
                    bytes.len()
                ),
            });
        }
        let floats: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if floats.iter().any(|v| !v.is_finite()) {
            return Err(Error::ModelFormat {
                path: path.to_path_buf(),
                reason: "the voice pack holds NaN or infinite values".into(),
            });
        }
        Ok((StylePack(floats), blake3::hash(&bytes)))
    }

    fn row(&self, tokens: usize) -> &[f32] {
        // Row n - 1 for n tokens, as hexgrad's KPipeline (`pack[len(ps) - 1]`) and kokoro-onnx
        // 0.6.1 index it.
        let r = tokens.saturating_sub(1).min(PACK_ROWS - 1);
        &self.0[r * STYLE_DIM..(r + 1) * STYLE_DIM]
    }
}

/// A loaded Kokoro model with its voice packs, indexed by speaker id.
pub(crate) struct KokoroModel {
    sessions: SessionPool,
    packs: Vec<StylePack>,
    path: PathBuf,
}

impl std::fmt::Debug for KokoroModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KokoroModel")
            .field("path", &self.path)
            .field("packs", &self.packs.len())
            .finish()
    }
}

impl KokoroModel {
    /// Load the graph from `bytes` (read from `path`) with `packs` as its speakers.
    pub fn load(
        env: &ort::environment::Environment,
        path: &Path,
        bytes: &bytes::Bytes,
        packs: Vec<StylePack>,
        counts: SessionCounts,
    ) -> Result<Self> {
        if packs.is_empty() {
            return Err(Error::VoiceNotFound {
                path: path.to_path_buf(),
                reason: "a Kokoro voice needs at least one voice pack".into(),
            });
        }
        // Checked as every other family's graphs are, before ONNX Runtime reads it.
        drop(super::check::decode_checked(bytes.clone(), path)?);
        let sessions = sessions(
            env,
            bytes,
            counts.acoustic,
            counts.threads,
            Graph::Fresh {
                save_optimized: None,
            },
            "loading the Kokoro model",
        )?;
        for (name, expected) in [("tokens", "int64"), ("style", "float"), ("speed", "float")] {
            let found = sessions.with(|s| s.inputs().iter().any(|i| i.name() == name));
            if !found {
                return Err(Error::ModelInput {
                    path: path.to_path_buf(),
                    kind: "input",
                    name: name.into(),
                    expected: expected.into(),
                    found: "nothing".into(),
                });
            }
        }
        Ok(KokoroModel {
            sessions,
            packs,
            path: path.to_path_buf(),
        })
    }

    /// The style of a sentence of `tokens` tokens: one pack's row, or the weighted sum of several.
    fn style(&self, tokens: usize, sid: Option<i64>, mix: Option<SpeakerMix>) -> Result<Vec<f32>> {
        let pack = |id: i64| {
            usize::try_from(id)
                .ok()
                .and_then(|i| self.packs.get(i))
                .ok_or_else(|| Error::UnknownSpeaker {
                    speaker: id.to_string(),
                    available: format!(
                        "{} voice packs, ids 0..{}",
                        self.packs.len(),
                        self.packs.len()
                    ),
                })
        };
        match mix {
            Some(mix) => {
                let mut style = vec![0.0f32; STYLE_DIM];
                for &(id, weight) in mix.parts() {
                    for (s, v) in style.iter_mut().zip(pack(id)?.row(tokens)) {
                        *s += weight * v;
                    }
                }
                Ok(style)
            }
            None => Ok(pack(sid.unwrap_or(0))?.row(tokens).to_vec()),
        }
    }
}

fn tensor_error(e: impl std::fmt::Display) -> Error {
    Error::runtime("preparing Kokoro's inputs", e)
}

impl WholeModel for KokoroModel {
    fn is_seeded(&self) -> bool {
        true
    }

    /// Kokoro's `speed` is the inverse of the pace: `1 / length_scale` (1.5 is slower).
    fn synthesize(&self, u: Utterance<'_>) -> Result<Vec<f32>> {
        let n = u.ids.len();
        if n == 0 || n > crate::frontend::kokoro::MAX_TOKENS {
            return Err(Error::ModelOutput {
                name: "tokens".into(),
                reason: format!(
                    "a Kokoro sentence has 1 to {} tokens, this one {n}",
                    crate::frontend::kokoro::MAX_TOKENS
                ),
            });
        }
        let style = self.style(n, u.sid, u.mix)?;
        let mut tokens = Vec::with_capacity(n + 2);
        tokens.push(0i64);
        tokens.extend_from_slice(u.ids);
        tokens.push(0);
        let inputs: Vec<(&str, DynValue)> = vec![
            (
                "tokens",
                Tensor::from_array(
                    Array2::from_shape_vec((1, n + 2), tokens).map_err(tensor_error)?,
                )
                .map_err(tensor_error)?
                .into_dyn(),
            ),
            (
                "style",
                Tensor::from_array(
                    Array2::from_shape_vec((1, STYLE_DIM), style).map_err(tensor_error)?,
                )
                .map_err(tensor_error)?
                .into_dyn(),
            ),
            (
                "speed",
                Tensor::from_array(Array1::from_vec(vec![1.0 / u.scales.length_scale]))
                    .map_err(tensor_error)?
                    .into_dyn(),
            ),
        ];
        self.sessions.with(|session| {
            let outputs = session
                .run(inputs)
                .map_err(|e| Error::runtime("running the Kokoro model", e))?;
            samples_of(&outputs[0])
        })
    }
}
