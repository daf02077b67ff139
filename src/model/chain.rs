//! A graph run as a chain of pieces (see [`split_chain`](super::split::split_chain)): ONNX
//! Runtime builds a session for a few hundred nodes several times faster per node than for a
//! thousand, so a large graph cut into pieces starts faster and computes the same thing.

use std::collections::HashMap;

use ort::session::SessionInputValue;
use ort::value::DynValue;

use super::pool::SessionPool;
use crate::error::{Error, Result};

/// The pieces of one graph, run in turn.
pub(crate) struct Chain {
    pieces: Vec<SessionPool>,
}

impl Chain {
    pub fn new(pieces: Vec<SessionPool>) -> Self {
        Chain { pieces }
    }

    /// Pieces in the chain.
    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    /// Run every piece in turn on `values`, which holds the graph's inputs by name: each piece
    /// reads its inputs from it and adds what it makes (the graph's outputs among them).
    /// `context` names the graph in errors ("running the prior").
    pub fn run(&self, values: &mut HashMap<String, DynValue>, context: &'static str) -> Result<()> {
        for piece in &self.pieces {
            let made = piece.with(|session| -> Result<Vec<(String, DynValue)>> {
                let names: Vec<String> = session
                    .outputs()
                    .iter()
                    .map(|o| o.name().to_owned())
                    .collect();
                let mut inputs = Vec::with_capacity(session.inputs().len());
                for input in session.inputs() {
                    let value = values.get(input.name()).ok_or_else(|| Error::ModelOutput {
                        name: input.name().to_owned(),
                        reason: format!("{context}: a piece reads it, but nothing earlier made it"),
                    })?;
                    inputs.push((input.name().to_owned(), SessionInputValue::from(value)));
                }
                let mut outputs = session
                    .run(inputs)
                    .map_err(|e| Error::runtime(context, e))?;
                let mut made = Vec::with_capacity(names.len());
                for name in names {
                    if let Some(value) = outputs.remove(&name) {
                        made.push((name, value));
                    }
                }
                Ok(made)
            })?;
            values.extend(made);
        }
        Ok(())
    }

    /// The graph's output `name` after [`Chain::run`], or an error naming it.
    pub fn output<'v>(
        values: &'v HashMap<String, DynValue>,
        name: &str,
        context: &'static str,
    ) -> Result<&'v DynValue> {
        values.get(name).ok_or_else(|| Error::ModelOutput {
            name: name.to_owned(),
            reason: format!("{context}: missing from the graph's outputs"),
        })
    }
}
