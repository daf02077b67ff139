//! Splitting a Piper VITS graph into an acoustic model (phoneme ids -> latent frames `z`) and a
//! vocoder (the HiFi-GAN decoder, `z` -> samples), in Rust, at load time.
//!
//! The split tensor is found by structure: the decoder is the part of the graph that produces
//! the output from the nodes of the `dec` module (`/dec/...` in every Piper export) and
//! everything downstream of them; the split tensor is the one tensor from outside that part which
//! it consumes. Speaker conditioning (`g`, from `sid` only) may also cross; its few nodes are copied
//! into the vocoder, which then takes `sid` as a second input.

use std::collections::{HashMap, HashSet};

use super::onnx::{data_type, Dim, GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto};

/// Prefix of the decoder's node names in Piper (and Coqui) VITS exports.
const DECODER_PREFIX: &str = "/dec/";

/// Graph inputs that carry the text, as opposed to speaker conditioning.
const SPEAKER_INPUT: &str = "sid";

/// The two halves of a split VITS model.
#[derive(Debug, Clone)]
pub struct SplitModel {
    /// The acoustic model: the original inputs -> `frames_tensor`.
    pub acoustic: ModelProto,
    /// The vocoder: `frames_tensor` (and `sid` for multi-speaker voices) -> the original outputs.
    pub vocoder: ModelProto,
    /// Name of the split tensor, `[1, channels, frames]`.
    pub frames_tensor: String,
    /// Channels of the split tensor, when the graph declares them.
    pub frame_channels: Option<usize>,
    /// Graph inputs besides the frames that the vocoder needs (`sid` for multi-speaker voices).
    pub vocoder_extra_inputs: Vec<String>,
    /// Product of the decoder's upsampling strides: output samples per frame.
    pub samples_per_frame: usize,
    /// Number of nodes on each side, for the log.
    pub node_counts: (usize, usize),
}

/// Why a graph could not be split (the caller falls back to the whole model).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoSplit(pub String);

impl std::fmt::Display for NoSplit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Split `model` at the input of its decoder.
pub fn split_vits(model: &ModelProto) -> Result<SplitModel, NoSplit> {
    let graph = checked_graph(model)?;
    let nodes = &graph.node;
    let producer = producers(nodes)?;
    let initializers: HashSet<&str> = graph.initializer.iter().map(TensorProto::name).collect();
    let cut = cut(graph, &producer, DECODER_PREFIX)?;
    let frames_tensor = match cut.tensors.as_slice() {
        [one] => one.clone(),
        many => {
            return Err(NoSplit(format!(
                "the decoder consumes {} tensors from the text side ({}); expected exactly one",
                many.len(),
                many.join(", ")
            )))
        }
    };

    let frames_info =
        frames_value_info(graph, &frames_tensor, nodes, &cut.downstream, &initializers);
    let frame_channels = frames_info
        .tensor_type()
        .and_then(|t| t.fixed_dim(1))
        .and_then(|c| usize::try_from(c).ok());
    let acoustic_nodes = backward_cone(nodes, &producer, [frames_tensor.as_str()]);
    let acoustic_graph = subgraph(
        graph,
        "acoustic",
        &acoustic_nodes,
        Vec::new(),
        vec![frames_info.clone()],
    );
    let vocoder_graph = subgraph(
        graph,
        "vocoder",
        &cut.with_conditioning(),
        vec![frames_info],
        graph.output.clone(),
    );
    let vocoder_extra_inputs = vocoder_graph
        .input
        .iter()
        .skip(1)
        .map(|v| v.name().to_owned())
        .collect();

    let samples_per_frame = nodes
        .iter()
        .enumerate()
        .filter(|(i, n)| cut.downstream[*i] && n.op_type() == "ConvTranspose")
        .map(|(_, n)| {
            n.attribute("strides")
                .and_then(|a| a.ints.first().copied())
                .unwrap_or(1)
        })
        .try_fold(1usize, |acc, s| {
            usize::try_from(s).ok().and_then(|s| acc.checked_mul(s))
        })
        .ok_or_else(|| NoSplit("decoder upsampling strides are invalid".into()))?;

    let node_counts = (acoustic_graph.node.len(), vocoder_graph.node.len());
    Ok(SplitModel {
        acoustic: with_graph(model, acoustic_graph),
        vocoder: with_graph(model, vocoder_graph),
        frames_tensor,
        frame_channels,
        vocoder_extra_inputs,
        samples_per_frame,
        node_counts,
    })
}

/// The acoustic model cut again at its flow: a prior (text encoder, durations, noise:
/// ids -> `z_p` and the frame mask) and the flow (`z_p`, mask -> frames).
#[derive(Debug, Clone)]
pub struct FlowSplit {
    /// ids -> the flow's inputs.
    pub prior: ModelProto,
    /// The flow's inputs (and `sid`) -> frames.
    pub flow: ModelProto,
    /// The frame-aligned tensors from the prior that the flow reads, in the flow's input order.
    pub flow_inputs: Vec<String>,
    /// Number of nodes on each side, for the log.
    pub node_counts: (usize, usize),
}

/// Prefix of the flow's node names in Piper (and Coqui) VITS exports.
const FLOW_PREFIX: &str = "/flow/";

/// Cut an acoustic model (as [`split_vits`] makes it) at the input of its flow.
///
/// VITS's flow is a stack of affine coupling layers around WaveNet convolutions, so each output
/// frame depends on a bounded neighbourhood of frames: it can run in frame windows, like the
/// decoder, once the prior has run over the whole sentence.
pub fn split_flow(acoustic: &ModelProto) -> Result<FlowSplit, NoSplit> {
    let graph = checked_graph(acoustic)?;
    let nodes = &graph.node;
    let producer = producers(nodes)?;
    let cut = cut(graph, &producer, FLOW_PREFIX)?;
    if cut.tensors.len() != 2 {
        return Err(NoSplit(format!(
            "the flow reads {} tensors from the text side ({}); expected two (z_p and its mask)",
            cut.tensors.len(),
            cut.tensors.join(", ")
        )));
    }
    let infos: Vec<ValueInfoProto> = cut
        .tensors
        .iter()
        .map(|t| frame_aligned_value_info(graph, t))
        .collect();
    let prior_nodes = backward_cone(nodes, &producer, cut.tensors.iter().map(String::as_str));
    let prior = subgraph(graph, "prior", &prior_nodes, Vec::new(), infos.clone());
    let flow = subgraph(
        graph,
        "flow",
        &cut.with_conditioning(),
        infos,
        graph.output.clone(),
    );
    Ok(FlowSplit {
        node_counts: (prior.node.len(), flow.node.len()),
        prior: with_graph(acoustic, prior),
        flow: with_graph(acoustic, flow),
        flow_inputs: cut.tensors,
    })
}

fn checked_graph(model: &ModelProto) -> Result<&GraphProto, NoSplit> {
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| NoSplit("the model has no graph".into()))?;
    if let Some(n) = graph.node.iter().find(|n| {
        n.attribute
            .iter()
            .any(|a| a.g.is_some() || !a.graphs.is_empty())
    }) {
        return Err(NoSplit(format!(
            "node {:?} ({}) has a subgraph; graphs with control flow are not split",
            n.name(),
            n.op_type()
        )));
    }
    Ok(graph)
}

/// A graph cut in two at the nodes whose names start with a prefix.
struct Cut {
    /// The prefixed nodes and everything downstream of them that the outputs need.
    downstream: Vec<bool>,
    /// Tensors from the text side that the downstream part reads.
    tensors: Vec<String>,
    /// Cones of tensors computed from the speaker id alone (VITS's `g`), which the
    /// downstream part also reads: they are copied into it.
    conditioning: Vec<Vec<bool>>,
}

impl Cut {
    /// The downstream nodes plus the conditioning cones.
    fn with_conditioning(&self) -> Vec<bool> {
        let mut mask = self.downstream.clone();
        for cone in &self.conditioning {
            for (m, &c) in mask.iter_mut().zip(cone) {
                *m |= c;
            }
        }
        mask
    }
}

fn cut(graph: &GraphProto, producer: &HashMap<&str, usize>, prefix: &str) -> Result<Cut, NoSplit> {
    let nodes = &graph.node;
    let graph_inputs: HashSet<&str> = graph.input.iter().map(ValueInfoProto::name).collect();
    let outputs: Vec<&str> = graph.output.iter().map(ValueInfoProto::name).collect();
    let needed = backward_cone(nodes, producer, outputs.iter().copied());

    let mut downstream = vec![false; nodes.len()];
    let mut prefixed = 0usize;
    for (i, node) in nodes.iter().enumerate() {
        if !needed[i] {
            continue;
        }
        let after = node
            .input
            .iter()
            .filter_map(|t| producer.get(t.as_str()))
            .any(|&p| downstream[p]);
        if node.name().starts_with(prefix) {
            prefixed += 1;
            downstream[i] = true;
        } else if after {
            downstream[i] = true;
        }
    }
    if prefixed == 0 {
        return Err(NoSplit(format!(
            "no nodes named {prefix}... feed the output"
        )));
    }

    let mut crossing: Vec<&str> = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        if !downstream[i] {
            continue;
        }
        for t in &node.input {
            if let Some(&p) = producer.get(t.as_str()) {
                if !downstream[p] && !crossing.contains(&t.as_str()) {
                    crossing.push(t);
                }
            }
        }
    }

    let mut tensors = Vec::new();
    let mut conditioning = Vec::new();
    for &t in &crossing {
        let cone = backward_cone(nodes, producer, [t]);
        let reaches_text = nodes.iter().enumerate().any(|(i, n)| {
            cone[i]
                && n.input
                    .iter()
                    .any(|x| graph_inputs.contains(x.as_str()) && x != SPEAKER_INPUT)
        });
        if reaches_text {
            tensors.push(t.to_owned());
        } else {
            conditioning.push(cone);
        }
    }
    if tensors.is_empty() {
        return Err(NoSplit(format!(
            "nothing from the text side reaches the {prefix}... nodes"
        )));
    }
    Ok(Cut {
        downstream,
        tensors,
        conditioning,
    })
}

/// The declared type of a `[batch, channels, frames]` tensor, or a float one with symbolic
/// dimensions when the graph declares no shape.
fn frame_aligned_value_info(graph: &GraphProto, name: &str) -> ValueInfoProto {
    let declared = graph.value_info.iter().find(|v| v.name() == name);
    if let Some(v) = declared {
        if v.tensor_type().and_then(|t| t.rank()) == Some(3) {
            return v.clone();
        }
    }
    let elem = declared
        .and_then(|v| v.tensor_type())
        .and_then(|t| t.elem_type)
        .unwrap_or(data_type::FLOAT);
    ValueInfoProto::tensor(
        name,
        elem,
        &[
            Dim::Symbolic("batch_size".into()),
            Dim::Symbolic(format!("{name}_channels")),
            Dim::Symbolic("frames".into()),
        ],
    )
}

/// Which node produces each tensor. A tensor produced twice makes the graph invalid.
fn producers(nodes: &[NodeProto]) -> Result<HashMap<&str, usize>, NoSplit> {
    let mut map = HashMap::with_capacity(nodes.len() * 2);
    for (i, node) in nodes.iter().enumerate() {
        for out in node.output.iter().filter(|o| !o.is_empty()) {
            if map.insert(out.as_str(), i).is_some() {
                return Err(NoSplit(format!("tensor {out:?} is produced by two nodes")));
            }
        }
    }
    Ok(map)
}

/// Nodes needed to compute `targets`, as a mask over `nodes`.
fn backward_cone<'a>(
    nodes: &[NodeProto],
    producer: &HashMap<&str, usize>,
    targets: impl IntoIterator<Item = &'a str>,
) -> Vec<bool> {
    let mut mask = vec![false; nodes.len()];
    let mut stack: Vec<usize> = targets
        .into_iter()
        .filter_map(|t| producer.get(t).copied())
        .collect();
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut mask[i], true) {
            continue;
        }
        for t in &nodes[i].input {
            if let Some(&p) = producer.get(t.as_str()) {
                if !mask[p] {
                    stack.push(p);
                }
            }
        }
    }
    mask
}

/// The declared type of the split tensor, or `[batch, channels, frames]` float built from the
/// decoder's first convolution when the graph does not declare it.
fn frames_value_info(
    graph: &GraphProto,
    name: &str,
    nodes: &[NodeProto],
    vocoder_side: &[bool],
    initializers: &HashSet<&str>,
) -> ValueInfoProto {
    if let Some(v) = graph.value_info.iter().find(|v| v.name() == name) {
        if v.tensor_type().and_then(|t| t.rank()) == Some(3) {
            return v.clone();
        }
    }
    // The first decoder Conv that reads the frames has weights [out, in, k]: `in` is the channel count.
    let channels = nodes
        .iter()
        .enumerate()
        .filter(|(i, n)| {
            vocoder_side[*i]
                && n.op_type() == "Conv"
                && n.input.first().map(String::as_str) == Some(name)
        })
        .filter_map(|(_, n)| n.input.get(1))
        .filter(|w| initializers.contains(w.as_str()))
        .find_map(|w| graph.initializer.iter().find(|t| t.name() == w))
        .and_then(|w| w.dims.get(1).copied());
    ValueInfoProto::tensor(
        name,
        data_type::FLOAT,
        &[
            Dim::Symbolic("batch_size".into()),
            channels.map_or_else(|| Dim::Symbolic("channels".into()), Dim::Fixed),
            Dim::Symbolic("frames".into()),
        ],
    )
}

/// A graph of the masked nodes, keeping the original order (which ONNX requires to be topological),
/// the original inputs they read, `extra_inputs` first, and only the initializers they use.
fn subgraph(
    graph: &GraphProto,
    name: &str,
    mask: &[bool],
    extra_inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
) -> GraphProto {
    let node: Vec<NodeProto> = graph
        .node
        .iter()
        .zip(mask)
        .filter(|(_, &m)| m)
        .map(|(n, _)| n.clone())
        .collect();
    let used: HashSet<&str> = node
        .iter()
        .flat_map(|n| n.input.iter().map(String::as_str))
        .chain(outputs.iter().map(ValueInfoProto::name))
        .collect();
    let produced: HashSet<&str> = node
        .iter()
        .flat_map(|n| n.output.iter().map(String::as_str))
        .collect();
    let extra: HashSet<&str> = extra_inputs.iter().map(ValueInfoProto::name).collect();
    let original: Vec<ValueInfoProto> = graph
        .input
        .iter()
        .filter(|v| used.contains(v.name()) && !extra.contains(v.name()))
        .cloned()
        .collect();
    let mut input = extra_inputs;
    input.extend(original);
    GraphProto {
        initializer: graph
            .initializer
            .iter()
            .filter(|t| used.contains(t.name()))
            .cloned()
            .collect(),
        value_info: graph
            .value_info
            .iter()
            .filter(|v| {
                produced.contains(v.name()) && !outputs.iter().any(|o| o.name() == v.name())
            })
            .cloned()
            .collect(),
        name: Some(name.to_owned()),
        node,
        input,
        output: outputs,
        sparse_initializer: Vec::new(),
        doc_string: None,
        quantization_annotation: Vec::new(),
        metadata_props: graph.metadata_props.clone(),
    }
}

fn with_graph(model: &ModelProto, graph: GraphProto) -> ModelProto {
    ModelProto {
        graph: Some(graph),
        ..model.clone_without_graph()
    }
}

impl ModelProto {
    /// Everything but the graph (cheap: the weights live in the graph).
    fn clone_without_graph(&self) -> ModelProto {
        ModelProto {
            ir_version: self.ir_version,
            opset_import: self.opset_import.clone(),
            producer_name: self.producer_name.clone(),
            producer_version: self.producer_version.clone(),
            domain: self.domain.clone(),
            model_version: self.model_version,
            doc_string: self.doc_string.clone(),
            graph: None,
            metadata_props: self.metadata_props.clone(),
            training_info: Vec::new(),
            functions: self.functions.clone(),
        }
    }
}
