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

/// The acoustic model cut again at its flow: a prior (text encoder, durations -> the flow's
/// frame-aligned inputs) and the flow (-> frames). The model's random draws become inputs that
/// the library fills from a seeded generator, so that a seed gives the same audio every time.
#[derive(Debug, Clone)]
pub struct FlowSplit {
    /// ids (and the text-side noise) -> the flow's inputs.
    pub prior: ModelProto,
    /// The flow's inputs, the frame noise (and `sid`) -> frames.
    pub flow: ModelProto,
    /// The prior's outputs that the flow reads, in order.
    pub flow_inputs: Vec<String>,
    /// Noise the flow side draws per frame (VITS's prior noise `randn_like(m_p)`): each is a flow
    /// input named `input`, shaped like the prior output `like`.
    pub frame_noise: Vec<FrameNoise>,
    /// 1-D inputs of the prior that replace its text-side draws (the duration predictor's
    /// noise); each needs at least [`TEXT_NOISE_PER_ID`] values per phoneme id plus
    /// [`TEXT_NOISE_EXTRA`].
    pub text_noise: Vec<String>,
    /// The prior's output of each phoneme id's frame count (VITS's `w_ceil`, `[1, 1, ids]`,
    /// after `length_scale`), when the prior has exactly one `Ceil`: what word timestamps are
    /// made from.
    pub durations: Option<String>,
    /// Number of nodes on each side, for the log.
    pub node_counts: (usize, usize),
}

/// Noise drawn per frame, fed to the flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameNoise {
    /// The flow input it feeds (the replaced node's output name).
    pub input: String,
    /// The prior output whose shape it takes.
    pub like: String,
}

/// Values of text-side noise fed per phoneme id: VITS's duration predictor draws `[1, 2, ids]`;
/// four times that leaves room for variants, and a shortfall is an error, never a silent cut.
pub const TEXT_NOISE_PER_ID: usize = 8;
/// Values of text-side noise fed beyond [`TEXT_NOISE_PER_ID`] per id.
pub const TEXT_NOISE_EXTRA: usize = 64;

/// Prefix of the flow's node names in Piper (and Coqui) VITS exports.
const FLOW_PREFIX: &str = "/flow/";

/// Cut an acoustic model (as [`split_vits`] makes it) at the input of its flow.
///
/// VITS's flow is a stack of affine coupling layers around WaveNet convolutions, so each output
/// frame depends on a bounded neighbourhood of frames: it can run in frame windows, like the
/// decoder, once the prior has run over the whole sentence. `RandomNormalLike` draws that shape
/// only the flow's input `z_p` (not the frame mask, which the durations fix) move to the flow side
/// and become inputs; draws that reach everything (the duration predictor's) stay in the prior
/// and read a 1-D input instead.
pub fn split_flow(acoustic: &ModelProto) -> Result<FlowSplit, NoSplit> {
    let graph = checked_graph(acoustic)?;
    let nodes = &graph.node;
    let producer = producers(nodes)?;
    let types = elem_types(graph);
    let first = cut(graph, &producer, FLOW_PREFIX)?;
    if first.tensors.len() != 2 {
        return Err(NoSplit(format!(
            "the flow reads {} tensors from the text side ({}); expected two (z_p and its mask)",
            first.tensors.len(),
            first.tensors.join(", ")
        )));
    }
    // Which draws reach which of the flow's inputs.
    let cones: Vec<Vec<bool>> = first
        .tensors
        .iter()
        .map(|t| backward_cone(nodes, &producer, [t.as_str()]))
        .collect();
    let draws: Vec<(usize, usize)> = nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.op_type() == "RandomNormalLike")
        .map(|(i, _)| (i, cones.iter().filter(|c| c[i]).count()))
        .filter(|&(_, reach)| reach > 0)
        .collect();
    let frame_draws: Vec<usize> = draws
        .iter()
        .filter(|&&(_, reach)| reach < cones.len())
        .map(|&(i, _)| i)
        .collect();
    let text_draws: Vec<usize> = draws
        .iter()
        .filter(|&&(_, reach)| reach == cones.len())
        .map(|&(i, _)| i)
        .collect();
    let cut = cut_at(graph, &producer, FLOW_PREFIX, |i, n| {
        n.name().starts_with(FLOW_PREFIX) || frame_draws.contains(&i)
    })?;

    let frame_noise: Vec<FrameNoise> = frame_draws
        .iter()
        .map(|&i| {
            let node = &nodes[i];
            match (node.input.first(), node.output.first()) {
                (Some(like), Some(out)) if cut.tensors.contains(like) => Ok(FrameNoise {
                    input: out.clone(),
                    like: like.clone(),
                }),
                _ => Err(NoSplit(format!(
                    "draw {:?} is not shaped like a tensor the prior gives",
                    node.name()
                ))),
            }
        })
        .collect::<Result<_, _>>()?;

    let infos: Vec<ValueInfoProto> = cut
        .tensors
        .iter()
        .map(|t| crossing_value_info(graph, &types, t))
        .collect::<Result<_, _>>()?;
    let prior_nodes = backward_cone(nodes, &producer, cut.tensors.iter().map(String::as_str));
    // VITS rounds each id's predicted frames up once (`w_ceil`): the prior also gives that, as
    // the durations word timestamps are made from. Anything else (no Ceil, or several) gives none.
    let ceils: Vec<&str> = nodes
        .iter()
        .enumerate()
        .filter(|&(i, n)| prior_nodes[i] && n.op_type() == "Ceil")
        .filter_map(|(_, n)| n.output.first().map(String::as_str))
        .collect();
    let durations = match ceils.as_slice() {
        [one] => Some((*one).to_owned()),
        _ => None,
    };
    let mut prior_outputs = infos.clone();
    if let Some(name) = &durations {
        prior_outputs.push(crossing_value_info(graph, &types, name)?);
    }
    let mut prior = subgraph(graph, "prior", &prior_nodes, Vec::new(), prior_outputs);
    let mut text_noise = Vec::new();
    for (k, &i) in text_draws.iter().enumerate() {
        let name = format!("indextts_text_noise_{k}");
        externalize_draw(&mut prior, nodes[i].name(), &name)?;
        text_noise.push(name);
    }

    let mut flow_mask = cut.with_conditioning();
    for &i in &frame_draws {
        flow_mask[i] = false;
    }
    let mut flow_extra = infos;
    for noise in &frame_noise {
        flow_extra.push(crossing_value_info(graph, &types, &noise.input)?);
    }
    let mut flow = subgraph(graph, "flow", &flow_mask, flow_extra, graph.output.clone());
    let used: HashSet<String> = flow
        .node
        .iter()
        .flat_map(|n| n.input.iter().cloned())
        .collect();
    flow.input.retain(|v| used.contains(v.name()));
    let flow_inputs: Vec<String> = cut
        .tensors
        .iter()
        .filter(|t| used.contains(t.as_str()))
        .cloned()
        .collect();
    Ok(FlowSplit {
        node_counts: (prior.node.len(), flow.node.len()),
        prior: with_graph(acoustic, prior),
        flow: with_graph(acoustic, flow),
        flow_inputs,
        frame_noise,
        text_noise,
        durations,
    })
}

/// Replace the draw `RandomNormalLike(x)` named `node_name` in `graph` by the first
/// `numel(x)` values of the 1-D float input `input`, shaped like `x`.
fn externalize_draw(graph: &mut GraphProto, node_name: &str, input: &str) -> Result<(), NoSplit> {
    let at = graph
        .node
        .iter()
        .position(|n| n.name() == node_name)
        .ok_or_else(|| NoSplit(format!("draw {node_name:?} vanished")))?;
    let draw = graph.node.remove(at);
    let (Some(like), Some(out)) = (draw.input.first(), draw.output.first()) else {
        return Err(NoSplit(format!(
            "draw {node_name:?} has no input or output"
        )));
    };
    let t = |suffix: &str| format!("{input}/{suffix}");
    let node = |name: &str,
                op: &str,
                inputs: Vec<String>,
                output: String,
                attribute: Vec<super::onnx::AttributeProto>| NodeProto {
        name: Some(t(name)),
        op_type: Some(op.into()),
        domain: Some(String::new()),
        input: inputs,
        output: vec![output],
        attribute,
        ..Default::default()
    };
    let keepdims = super::onnx::AttributeProto {
        name: Some("keepdims".into()),
        r#type: Some(super::onnx::attribute_type::INT),
        i: Some(1),
        ..Default::default()
    };
    let zero = TensorProto {
        dims: vec![1],
        data_type: Some(data_type::INT64),
        name: Some(t("zero")),
        raw_data: Some(bytes::Bytes::from(0i64.to_le_bytes().to_vec())),
        ..Default::default()
    };
    let replacement = vec![
        node("shape", "Shape", vec![like.clone()], t("shape"), vec![]),
        node(
            "count",
            "ReduceProd",
            vec![t("shape")],
            t("count"),
            vec![keepdims],
        ),
        node(
            "slice",
            "Slice",
            vec![input.to_owned(), zero.name().to_owned(), t("count")],
            t("values"),
            vec![],
        ),
        node(
            "reshape",
            "Reshape",
            vec![t("values"), t("shape")],
            out.clone(),
            vec![],
        ),
    ];
    graph.node.splice(at..at, replacement);
    graph.initializer.push(zero);
    graph.input.push(ValueInfoProto::tensor(
        input,
        data_type::FLOAT,
        &[Dim::Symbolic(format!("{input}_len"))],
    ));
    Ok(())
}

/// Most nodes in one piece of a [`split_chain`] (a Piper prior, a FastSpeech2 voice's graphs).
/// ONNX Runtime's memory-reuse planner grows faster than linearly with a graph's nodes
/// (measured on en_US-joe-medium's 2,192-node prior: 548 nodes plan in 44 ms, 1,096 in 153 ms,
/// all 2,192 in 471 ms), so a graph cut into pieces of this size builds its sessions several
/// times faster and still plans reuse within each piece (see `examples/load_anatomy.rs`).
pub const CHAIN_PIECE_NODES: usize = 300;

/// `model` as a [`split_chain`] of pieces of at most [`CHAIN_PIECE_NODES`] nodes, or as one
/// piece when it cannot be cut (`what` names it in the log line that says why).
pub fn chain_or_whole(model: &ModelProto, what: &str) -> Vec<ModelProto> {
    split_chain(model, CHAIN_PIECE_NODES).unwrap_or_else(|why| {
        tracing::debug!("{what} runs in one piece: {why}");
        vec![model.clone()]
    })
}

/// `model` cut into a chain of graphs of at most `max_nodes` nodes each, in the graph's own
/// (topological) order. Piece `k` takes the original inputs its nodes read and the tensors that
/// earlier pieces made and it reads; it gives the tensors that later pieces read and the
/// original outputs it makes. Run in turn, each fed from everything before it, the pieces
/// compute exactly what the whole graph computes.
pub fn split_chain(model: &ModelProto, max_nodes: usize) -> Result<Vec<ModelProto>, NoSplit> {
    let graph = checked_graph(model)?;
    let nodes = &graph.node;
    let pieces = nodes.len().div_ceil(max_nodes.max(1)).max(1);
    if pieces == 1 {
        return Ok(vec![model.clone()]);
    }
    let size = nodes.len().div_ceil(pieces);
    let producer = producers(nodes)?;
    let types = elem_types(graph);
    for output in &graph.output {
        if !producer.contains_key(output.name()) {
            return Err(NoSplit(format!(
                "output {:?} is not made by a node",
                output.name()
            )));
        }
    }
    // The last node that reads each tensor.
    let mut last_reader: HashMap<&str, usize> = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        for input in node.input.iter().filter(|t| !t.is_empty()) {
            last_reader.insert(input.as_str(), i);
        }
    }
    let mut chain = Vec::with_capacity(pieces);
    for k in 0..pieces {
        let range = k * size..((k + 1) * size).min(nodes.len());
        let mask: Vec<bool> = (0..nodes.len()).map(|i| range.contains(&i)).collect();
        // Tensors made before this piece that it reads, once each, in first-read order.
        let mut seen = HashSet::new();
        let extra_inputs: Vec<ValueInfoProto> = nodes[range.clone()]
            .iter()
            .flat_map(|n| n.input.iter())
            .filter(|t| producer.get(t.as_str()).is_some_and(|&p| p < range.start))
            .filter(|t| seen.insert(t.as_str()))
            .map(|t| crossing_value_info(graph, &types, t))
            .collect::<Result<_, _>>()?;
        // Tensors made here that later pieces read, or that the whole graph gives.
        let outputs: Vec<ValueInfoProto> = nodes[range.clone()]
            .iter()
            .flat_map(|n| n.output.iter())
            .filter(|t| !t.is_empty())
            .filter_map(|t| {
                if let Some(declared) = graph.output.iter().find(|o| o.name() == t) {
                    Some(Ok(declared.clone()))
                } else if last_reader.get(t.as_str()).is_some_and(|&r| r >= range.end) {
                    Some(crossing_value_info(graph, &types, t))
                } else {
                    None
                }
            })
            .collect::<Result<_, _>>()?;
        let name = format!("{}_{k}", graph.name());
        chain.push(with_graph(
            model,
            subgraph(graph, &name, &mask, extra_inputs, outputs),
        ));
    }
    Ok(chain)
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
    cut_at(graph, producer, prefix, |_, node| {
        node.name().starts_with(prefix)
    })
}

/// Cut `graph` before the nodes `starts` picks (by index and node), everything downstream of
/// them going with them; `what` names them in messages.
fn cut_at(
    graph: &GraphProto,
    producer: &HashMap<&str, usize>,
    what: &str,
    starts: impl Fn(usize, &NodeProto) -> bool,
) -> Result<Cut, NoSplit> {
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
        if starts(i, node) {
            prefixed += 1;
            downstream[i] = true;
        } else if after {
            downstream[i] = true;
        }
    }
    if prefixed == 0 {
        return Err(NoSplit(format!("no nodes named {what}... feed the output")));
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
            "nothing from the text side reaches the {what}... nodes"
        )));
    }
    Ok(Cut {
        downstream,
        tensors,
        conditioning,
    })
}

/// The declared type of a tensor that crosses a cut; when the graph declares no shape for it,
/// a tensor of any shape (ONNX Runtime then takes whatever it is given) of the element type
/// declared or inferred (`types`, from [`elem_types`]). A tensor whose type is known neither
/// way cannot cross a cut.
fn crossing_value_info(
    graph: &GraphProto,
    types: &HashMap<&str, i32>,
    name: &str,
) -> Result<ValueInfoProto, NoSplit> {
    let declared = graph.value_info.iter().find(|v| v.name() == name);
    if let Some(v) = declared.filter(|v| v.tensor_type().and_then(|t| t.rank()).is_some()) {
        return Ok(v.clone());
    }
    let elem = declared
        .and_then(|v| v.tensor_type())
        .and_then(|t| t.elem_type)
        .or_else(|| types.get(name).copied())
        .ok_or_else(|| {
            NoSplit(format!(
                "the type of {name:?}, which crosses a cut, is unknown"
            ))
        })?;
    Ok(ValueInfoProto {
        name: Some(name.to_owned()),
        r#type: Some(super::onnx::TypeProto {
            tensor_type: Some(super::onnx::TypeProtoTensor {
                elem_type: Some(elem),
                shape: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// Each tensor's element type (`TensorProto.DataType`) as far as the graph's inputs, its
/// initializers and its nodes' operators tell, for graphs that declare no `value_info` (a
/// converter's output). Outputs of operators not listed here are left out.
fn elem_types(graph: &GraphProto) -> HashMap<&str, i32> {
    let mut types: HashMap<&str, i32> = HashMap::with_capacity(graph.node.len() * 2);
    for v in graph
        .input
        .iter()
        .chain(&graph.value_info)
        .chain(&graph.output)
    {
        if let Some(elem) = v.tensor_type().and_then(|t| t.elem_type) {
            types.insert(v.name(), elem);
        }
    }
    for t in &graph.initializer {
        if let (Some(name), Some(elem)) = (t.name.as_deref(), t.data_type) {
            types.insert(name, elem);
        }
    }
    for node in &graph.node {
        let input = |k: usize| {
            node.input
                .get(k)
                .and_then(|t| types.get(t.as_str()).copied())
        };
        let int_attribute = |name: &str| node.attribute(name).and_then(|a| a.i).map(|i| i as i32);
        let first = match node.op_type() {
            "Shape" | "Size" | "NonZero" | "ArgMax" | "ArgMin" => Some(data_type::INT64),
            "Equal" | "Less" | "LessOrEqual" | "Greater" | "GreaterOrEqual" | "Not" | "And"
            | "Or" | "Xor" | "IsNaN" | "IsInf" => Some(data_type::BOOL),
            "Cast" => int_attribute("to"),
            "Constant" | "ConstantOfShape" => match node.attribute("value") {
                Some(a) => a.t.as_ref().and_then(|t| t.data_type),
                None if node.op_type() == "ConstantOfShape" => Some(data_type::FLOAT),
                None => None,
            },
            "QuantizeLinear" => input(2).or(Some(data_type::UINT8)),
            "DequantizeLinear" => input(1),
            "Where" => input(1),
            "Add"
            | "Sub"
            | "Mul"
            | "Div"
            | "Neg"
            | "Abs"
            | "Max"
            | "Min"
            | "Pow"
            | "Mod"
            | "Sign"
            | "Concat"
            | "Conv"
            | "ConvTranspose"
            | "MatMul"
            | "Gemm"
            | "Relu"
            | "LeakyRelu"
            | "Tanh"
            | "Sigmoid"
            | "Exp"
            | "Log"
            | "Sqrt"
            | "Reciprocal"
            | "Softmax"
            | "LogSoftmax"
            | "Softplus"
            | "Erf"
            | "Round"
            | "Floor"
            | "Ceil"
            | "Clip"
            | "Pad"
            | "Reshape"
            | "Squeeze"
            | "Unsqueeze"
            | "Transpose"
            | "Slice"
            | "Tile"
            | "Expand"
            | "Gather"
            | "GatherElements"
            | "GatherND"
            | "Identity"
            | "Flatten"
            | "GlobalAveragePool"
            | "AveragePool"
            | "ReduceMax"
            | "ReduceMin"
            | "ReduceSum"
            | "ReduceMean"
            | "ReduceProd"
            | "CumSum"
            | "Range"
            | "Dropout"
            | "Split"
            | "InstanceNormalization"
            | "ScatterND"
            | "ScatterElements" => input(0),
            _ => None,
        };
        let Some(first) = first else { continue };
        for (k, out) in node
            .output
            .iter()
            .enumerate()
            .filter(|(_, o)| !o.is_empty())
        {
            let elem = match (node.op_type(), k) {
                (_, 0) | ("Split", _) => first,
                ("Dropout", 1) => data_type::BOOL,
                _ => continue,
            };
            types.insert(out.as_str(), elem);
        }
    }
    types
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

#[cfg(test)]
mod tests {
    use super::*;

    fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
        NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_owned()],
            name: Some(format!("/{output}")),
            op_type: Some(op.into()),
            domain: Some(String::new()),
            ..Default::default()
        }
    }

    fn names(values: &[ValueInfoProto]) -> Vec<&str> {
        values.iter().map(ValueInfoProto::name).collect()
    }

    /// Each piece reads exactly what earlier pieces made and it needs (a tensor read two pieces
    /// later crosses both cuts), and gives what later pieces read or the graph gives.
    #[test]
    fn a_chain_passes_each_tensor_to_every_piece_that_reads_it() {
        let float = |name: &str| ValueInfoProto::tensor(name, data_type::FLOAT, &[Dim::Fixed(4)]);
        let model = ModelProto {
            ir_version: Some(8),
            graph: Some(GraphProto {
                name: Some("g".into()),
                node: vec![
                    node("Relu", &["x"], "a"),
                    node("Neg", &["a"], "b"),
                    node("Add", &["a", "b"], "c"),
                    node("Mul", &["c", "x"], "d"),
                    node("Add", &["d", "a"], "y"),
                ],
                input: vec![float("x")],
                output: vec![float("y"), float("b")],
                ..Default::default()
            }),
            ..Default::default()
        };
        let chain = split_chain(&model, 2).unwrap();
        let graphs: Vec<&GraphProto> = chain.iter().map(|m| m.graph.as_ref().unwrap()).collect();
        assert_eq!(graphs.len(), 3);
        assert!(graphs.iter().all(|g| g.node.len() <= 2));
        assert_eq!(names(&graphs[0].input), ["x"]);
        assert_eq!(names(&graphs[0].output), ["a", "b"]);
        assert_eq!(names(&graphs[1].input), ["a", "b", "x"]);
        assert_eq!(names(&graphs[1].output), ["d"]);
        assert_eq!(names(&graphs[2].input), ["d", "a"]);
        assert_eq!(names(&graphs[2].output), ["y"]);
        // Small enough already: the model itself.
        assert_eq!(split_chain(&model, 5).unwrap().len(), 1);
    }

    /// A converter's graph declares no intermediate types: a tensor crossing a cut takes the
    /// element type its operator makes (a shape is int64, a comparison bool, a cast its `to`),
    /// and a tensor of unknown type stops the cut rather than cross it as float.
    #[test]
    fn crossing_tensors_take_their_inferred_element_types() {
        let float = |name: &str| ValueInfoProto::tensor(name, data_type::FLOAT, &[Dim::Fixed(4)]);
        let mut cast = node("Cast", &["x"], "ints");
        cast.attribute.push(super::super::onnx::AttributeProto {
            name: Some("to".into()),
            i: Some(i64::from(data_type::INT32)),
            ..Default::default()
        });
        let graph = |last_op: &str| ModelProto {
            ir_version: Some(8),
            graph: Some(GraphProto {
                name: Some("g".into()),
                node: vec![
                    node("Shape", &["x"], "shape"),
                    node("Less", &["x", "x"], "mask"),
                    cast.clone(),
                    node(last_op, &["x"], "other"),
                    node("Reshape", &["x", "shape"], "r"),
                    node("Where", &["mask", "r", "x"], "w"),
                    node("Add", &["w", "other"], "y"),
                    node("Mul", &["y", "ints"], "z"),
                ],
                input: vec![float("x")],
                output: vec![float("z")],
                ..Default::default()
            }),
            ..Default::default()
        };
        let chain = split_chain(&graph("Relu"), 4).unwrap();
        let second = chain[1].graph.as_ref().unwrap();
        let types: Vec<(&str, Option<i32>)> = second
            .input
            .iter()
            .map(|v| (v.name(), v.tensor_type().and_then(|t| t.elem_type)))
            .collect();
        assert_eq!(
            types,
            [
                ("shape", Some(data_type::INT64)),
                ("mask", Some(data_type::BOOL)),
                ("other", Some(data_type::FLOAT)),
                ("ints", Some(data_type::INT32)),
                ("x", Some(data_type::FLOAT)),
            ]
        );
        let unknown = split_chain(&graph("SomeCustomOp"), 4).unwrap_err();
        assert!(unknown.0.contains("\"other\""), "{unknown:?}");
    }
}
