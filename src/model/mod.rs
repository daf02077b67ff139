//! ONNX models: reading and splitting graphs, and running them. Nothing outside this module
//! touches `ort`.

pub mod onnx;
mod piper;
pub(crate) mod runtime;
pub mod split;

pub(crate) use piper::{PiperModel, Scales};
