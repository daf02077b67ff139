//! A graph run as a chain of pieces (see [`split_chain`](super::split::split_chain)): ONNX
//! Runtime builds a session for a few hundred nodes several times faster per node than for a
//! thousand, so a large graph cut into pieces starts faster and computes the same thing.

use std::collections::{HashMap, HashSet};

use ort::session::SessionInputValue;
use ort::value::DynValue;

use super::pool::SessionPool;
use crate::error::{Error, Result};

/// The pieces of one graph, run in turn.
pub(crate) struct Chain {
    pieces: Vec<SessionPool>,
    /// For each piece, the values still needed once it has run: what later pieces read and
    /// what the caller keeps. The rest is dropped there, so a run holds only the tensors that
    /// cross the piece boundary it is at, not every one made so far.
    live_after: Vec<HashSet<String>>,
}

impl Chain {
    /// A chain of `pieces` whose caller reads `keep` (the graph's outputs it uses) after a run.
    pub fn new(pieces: Vec<SessionPool>, keep: &[String]) -> Self {
        let inputs: Vec<Vec<String>> = pieces
            .iter()
            .map(|piece| {
                piece.with(|session| {
                    session
                        .inputs()
                        .iter()
                        .map(|i| i.name().to_owned())
                        .collect()
                })
            })
            .collect();
        Chain {
            live_after: live_after(&inputs, keep),
            pieces,
        }
    }

    /// Pieces in the chain.
    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    /// Run every piece in turn on `values`, which holds the graph's inputs by name: each piece
    /// reads its inputs from it and adds what it makes; what no later piece reads is dropped
    /// as the run goes, so at the end `values` holds the outputs the chain was made to keep.
    /// `context` names the graph in errors ("running the prior").
    pub fn run(&self, values: &mut HashMap<String, DynValue>, context: &'static str) -> Result<()> {
        for (piece, live) in self.pieces.iter().zip(&self.live_after) {
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
                    if !live.contains(&name) {
                        continue;
                    }
                    if let Some(value) = outputs.remove(&name) {
                        made.push((name, value));
                    }
                }
                Ok(made)
            })?;
            values.retain(|name, _| live.contains(name));
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

/// For each piece (by the names it reads, in chain order), the names still needed after it
/// runs: those a later piece reads, and `keep`.
fn live_after(inputs: &[Vec<String>], keep: &[String]) -> Vec<HashSet<String>> {
    let mut live: HashSet<String> = keep.iter().cloned().collect();
    let mut after = vec![HashSet::new(); inputs.len()];
    for (k, read) in inputs.iter().enumerate().rev() {
        after[k] = live.clone();
        live.extend(read.iter().cloned());
    }
    after
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|&n| n.to_owned()).collect()
    }

    fn set(list: &[&str]) -> HashSet<String> {
        list.iter().map(|&n| n.to_owned()).collect()
    }

    #[test]
    fn a_value_lives_until_its_last_reader_and_kept_outputs_to_the_end() {
        // Piece 0 reads the input; 1 reads what 0 made; 2 reads 0's and 1's; `out` is kept,
        // `mid` (made by 1, read by 2) is also a graph output the caller keeps.
        let inputs = [names(&["ids"]), names(&["a"]), names(&["a", "mid"])];
        let after = live_after(&inputs, &names(&["out", "mid"]));
        assert_eq!(after[0], set(&["a", "mid", "out"]));
        assert_eq!(after[1], set(&["a", "mid", "out"]));
        assert_eq!(after[2], set(&["mid", "out"]));
        // A lone piece keeps only what the caller keeps.
        assert_eq!(live_after(&[names(&["x"])], &names(&["y"])), [set(&["y"])]);
    }
}
