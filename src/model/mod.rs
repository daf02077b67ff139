//! ONNX models: reading and splitting graphs, and running them. Nothing outside this module
//! touches `ort`.

pub mod check;
pub mod onnx;
mod piper;
mod pool;
pub(crate) mod runtime;
pub mod split;

pub(crate) use piper::{PiperModel, Scales, SessionCounts};

/// Most acoustic frames one sentence may have (48,000: about 9 minutes of 22.05 kHz audio, far
/// beyond a 400-phoneme sentence even at `length_scale` 10). A duration model that predicts
/// more is an error before the flow and the vocoder run, so a pathological prediction cannot
/// make them allocate gigabytes (the prior's own expansion to frames happens inside its run).
pub const MAX_SENTENCE_FRAMES: usize = 48_000;

/// `frames` if within [`MAX_SENTENCE_FRAMES`], else the error.
pub(crate) fn check_frames(frames: usize, phonemes: usize) -> crate::Result<usize> {
    if frames > MAX_SENTENCE_FRAMES {
        return Err(crate::Error::ModelOutput {
            name: "durations".into(),
            reason: format!(
                "the duration model gave {frames} frames for a sentence of {phonemes} phoneme \
                 ids; at most {MAX_SENTENCE_FRAMES} are accepted"
            ),
        });
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_pathological_frame_count_is_an_error() {
        assert_eq!(super::check_frames(900, 100).ok(), Some(900));
        let error = super::check_frames(super::MAX_SENTENCE_FRAMES + 1, 12).unwrap_err();
        assert!(error.to_string().contains("48001 frames"), "{error}");
    }
}
