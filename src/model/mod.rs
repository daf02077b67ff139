//! ONNX models: reading and splitting graphs, and running them. Nothing outside this module
//! touches `ort`.

pub mod onnx;
mod piper;
mod pool;
pub(crate) mod runtime;
pub mod split;

pub(crate) use piper::{PiperModel, Scales, SessionCounts};
