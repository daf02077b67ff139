//! Tiny Piper-shaped voices, generated in Rust, for tests that need no real voice.
//!
//! The graph has the structure the loader and the split rely on, at toy size: an embedding of
//! the phoneme ids, a scale by `length_scale`, noise from `RandomNormalLike` times `noise_scale`,
//! the split tensor from a node named `/Mul_7`, and a decoder of `/dec/...` nodes (a 1x1 conv and
//! a transposed conv that upsamples by [`TINY_HOP`]). Multi-speaker variants add a speaker
//! embedding read by `sid` and added inside the decoder, as VITS's `g` conditioning is.
//! One frame per phoneme id; `output` is `[1, 1, ids * TINY_HOP]`.

#![allow(missing_docs, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use bytes::Bytes;
use prost::Message;

use crate::model::onnx::{
    attribute_type, data_type, AttributeProto, Dim, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, TensorProto, ValueInfoProto,
};

/// Signal-to-noise ratio of `x` against `reference`, in dB (the streamed-equals-whole checks).
pub fn snr_db(reference: &[f32], x: &[f32]) -> f64 {
    let signal: f64 = reference.iter().map(|&s| f64::from(s).powi(2)).sum();
    let noise: f64 = reference
        .iter()
        .zip(x)
        .map(|(&a, &b)| f64::from(a - b).powi(2))
        .sum();
    10.0 * (signal / noise.max(1e-30)).log10()
}

/// Samples per frame of the tiny decoder.
pub const TINY_HOP: usize = 4;
/// Channels of the tiny latent frames.
pub const TINY_CHANNELS: usize = 8;
/// Sample rate written in the tiny configs.
pub const TINY_SAMPLE_RATE: u32 = 16_000;

/// IPA symbols of the tiny voices' maps, after `_ ^ $`: enough for espeak-ng's English.
pub const TINY_SYMBOLS: &str = " !'(),-.:;?abcdefhijklmnopqrstuvwxyzæçðøŋœɐɑɒɔəɚɛɜɡɪɹɾʃʊʌʒʔˈˌːʲθᵻ̩";

/// What to generate.
#[derive(Debug, Clone)]
pub struct TinyVoice {
    /// Number of speakers (1: no `sid` input).
    pub speakers: usize,
    /// Symbols of the config's map, in id order after `_ ^ $`.
    pub symbols: String,
    /// Symbols the model's embedding has (`None`: as many as the map).
    pub model_symbols: Option<usize>,
    /// A symbol whose embedding is NaN: a sentence with it makes the model fail.
    pub nan_symbol: Option<char>,
}

impl Default for TinyVoice {
    fn default() -> Self {
        TinyVoice {
            speakers: 1,
            symbols: TINY_SYMBOLS.to_owned(),
            model_symbols: None,
            nan_symbol: None,
        }
    }
}

impl TinyVoice {
    fn num_symbols(&self) -> usize {
        3 + self.symbols.chars().count()
    }

    /// The serialized ONNX model.
    pub fn model_bytes(&self) -> Vec<u8> {
        self.model().encode_to_vec()
    }

    /// The Piper config, as JSON.
    pub fn config_json(&self) -> String {
        let mut map = serde_json::Map::new();
        for (i, s) in ["_", "^", "$"]
            .into_iter()
            .map(str::to_owned)
            .chain(self.symbols.chars().map(String::from))
            .enumerate()
        {
            map.insert(s, serde_json::json!([i]));
        }
        let speaker_map: serde_json::Map<String, serde_json::Value> = if self.speakers > 1 {
            (0..self.speakers)
                .map(|i| (format!("speaker_{i}"), serde_json::json!(i)))
                .collect()
        } else {
            serde_json::Map::new()
        };
        serde_json::json!({
            "audio": {"sample_rate": TINY_SAMPLE_RATE},
            "espeak": {"voice": "en-us"},
            "phoneme_type": "espeak",
            "phoneme_id_map": map,
            "num_symbols": self.num_symbols(),
            "num_speakers": self.speakers,
            "speaker_id_map": speaker_map,
            "inference": {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8},
        })
        .to_string()
    }

    /// Write `NAME.onnx` and `NAME.onnx.json` into `dir`; returns the model's path.
    pub fn write(&self, dir: &Path, name: &str) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let model = dir.join(format!("{name}.onnx"));
        std::fs::write(&model, self.model_bytes())?;
        std::fs::write(dir.join(format!("{name}.onnx.json")), self.config_json())?;
        Ok(model)
    }

    /// The model as a protobuf message.
    pub fn model(&self) -> ModelProto {
        let symbols = self.model_symbols.unwrap_or_else(|| self.num_symbols());
        let c = TINY_CHANNELS;
        let nan_row = self
            .nan_symbol
            .and_then(|n| self.symbols.chars().position(|s| s == n))
            .map(|i| i + 3);
        let mut nodes = vec![
            node(
                "/enc_p/emb/Gather",
                "Gather",
                &["emb.weight", "input"],
                &["x_emb"],
                vec![],
            ),
            node(
                "/enc_p/Transpose",
                "Transpose",
                &["x_emb"],
                &["x"],
                vec![ints("perm", &[0, 2, 1])],
            ),
            node(
                "/Gather_ls",
                "Gather",
                &["scales", "idx_length"],
                &["length_scale"],
                vec![],
            ),
            node(
                "/Gather_ns",
                "Gather",
                &["scales", "idx_noise"],
                &["noise_scale"],
                vec![],
            ),
            node(
                "/Mul_x",
                "Mul",
                &["x", "length_scale"],
                &["x_scaled"],
                vec![],
            ),
            node(
                "/RandomNormalLike",
                "RandomNormalLike",
                &["x"],
                &["noise"],
                vec![int("dtype", i64::from(data_type::FLOAT))],
            ),
            node(
                "/Mul_noise",
                "Mul",
                &["noise", "noise_scale"],
                &["noise_scaled"],
                vec![],
            ),
            node(
                "/Add_noise",
                "Add",
                &["x_scaled", "noise_scaled"],
                &["z_noisy"],
                vec![],
            ),
            node(
                "/Mul_7",
                "Mul",
                &["z_noisy", "one"],
                &["/Mul_7_output_0"],
                vec![],
            ),
            node(
                "/dec/conv_pre/Conv",
                "Conv",
                &["/Mul_7_output_0", "dec.conv_pre.weight"],
                &["h"],
                vec![ints("kernel_shape", &[1])],
            ),
        ];
        let mut decoder_input = "h";
        if self.speakers > 1 {
            nodes.push(node(
                "/emb_g/Gather",
                "Gather",
                &["emb_g.weight", "sid"],
                &["g0"],
                vec![],
            ));
            nodes.push(node(
                "/Unsqueeze_g",
                "Unsqueeze",
                &["g0", "axes_2"],
                &["g"],
                vec![],
            ));
            nodes.push(node(
                "/dec/cond/Add",
                "Add",
                &["h", "g"],
                &["h_cond"],
                vec![],
            ));
            decoder_input = "h_cond";
        }
        nodes.push(node(
            "/dec/ups.0/ConvTranspose",
            "ConvTranspose",
            &[decoder_input, "dec.ups.weight"],
            &["up"],
            vec![
                ints("kernel_shape", &[TINY_HOP as i64]),
                ints("strides", &[TINY_HOP as i64]),
            ],
        ));
        nodes.push(node("/dec/Tanh", "Tanh", &["up"], &["output"], vec![]));

        let mut initializer = vec![
            float_tensor("emb.weight", &[symbols as i64, c as i64], |i| {
                if Some(i / c) == nan_row {
                    f32::NAN
                } else {
                    (i as f32 * 0.37).sin() * 0.5
                }
            }),
            int_scalar("idx_length", 1),
            int_scalar("idx_noise", 0),
            float_tensor("one", &[], |_| 1.0),
            float_tensor("dec.conv_pre.weight", &[c as i64, c as i64, 1], |i| {
                (i as f32 * 0.11).cos() * 0.3
            }),
            float_tensor("dec.ups.weight", &[c as i64, 1, TINY_HOP as i64], |i| {
                (i as f32 * 0.23).sin() * 0.4
            }),
        ];
        let mut input = vec![
            ValueInfoProto::tensor(
                "input",
                data_type::INT64,
                &[
                    Dim::Symbolic("batch_size".into()),
                    Dim::Symbolic("phonemes".into()),
                ],
            ),
            ValueInfoProto::tensor(
                "input_lengths",
                data_type::INT64,
                &[Dim::Symbolic("batch_size".into())],
            ),
            ValueInfoProto::tensor("scales", data_type::FLOAT, &[Dim::Fixed(3)]),
        ];
        if self.speakers > 1 {
            initializer.push(float_tensor(
                "emb_g.weight",
                &[self.speakers as i64, c as i64],
                |i| (i as f32 * 0.53).cos() * 0.2,
            ));
            initializer.push(int_tensor("axes_2", &[1], &[2]));
            input.push(ValueInfoProto::tensor(
                "sid",
                data_type::INT64,
                &[Dim::Symbolic("batch_size".into())],
            ));
        }
        // `input_lengths` is unused by the tiny graph but must exist, as in every Piper export.
        ModelProto {
            ir_version: Some(8),
            opset_import: vec![OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(15),
            }],
            producer_name: Some("indextts-testkit".into()),
            graph: Some(GraphProto {
                node: nodes,
                name: Some("tiny_vits".into()),
                initializer,
                input,
                output: vec![ValueInfoProto::tensor(
                    "output",
                    data_type::FLOAT,
                    &[
                        Dim::Symbolic("batch_size".into()),
                        Dim::Fixed(1),
                        Dim::Symbolic("time".into()),
                    ],
                )],
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

fn node(
    name: &str,
    op: &str,
    inputs: &[&str],
    outputs: &[&str],
    attribute: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        name: Some(name.into()),
        op_type: Some(op.into()),
        domain: Some(String::new()),
        attribute,
        ..Default::default()
    }
}

fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(attribute_type::INTS),
        ints: values.to_vec(),
        ..Default::default()
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(attribute_type::INT),
        i: Some(value),
        ..Default::default()
    }
}

fn float_tensor(name: &str, dims: &[i64], value: impl Fn(usize) -> f32) -> TensorProto {
    let count: i64 = dims.iter().product();
    let raw: Vec<u8> = (0..count as usize)
        .flat_map(|i| value(i).to_le_bytes())
        .collect();
    TensorProto {
        dims: dims.to_vec(),
        data_type: Some(data_type::FLOAT),
        name: Some(name.into()),
        raw_data: Some(Bytes::from(raw)),
        ..Default::default()
    }
}

fn int_tensor(name: &str, dims: &[i64], values: &[i64]) -> TensorProto {
    TensorProto {
        dims: dims.to_vec(),
        data_type: Some(data_type::INT64),
        name: Some(name.into()),
        raw_data: Some(Bytes::from(
            values
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>(),
        )),
        ..Default::default()
    }
}

fn int_scalar(name: &str, value: i64) -> TensorProto {
    int_tensor(name, &[], &[value])
}

/// A field of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`, ...) for process `pid` (or `self`);
/// 0 if it cannot be read.
pub fn proc_status_kib(pid: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// The address an `indextts-server` child prints on its first line (`... http://HOST:PORT`),
/// read from its piped standard output (which is taken from it).
pub fn server_address(child: &mut std::process::Child) -> std::io::Result<String> {
    use std::io::BufRead as _;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("the server's standard output is not piped"))?;
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line)?;
    Ok(line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_owned())
}

/// A `redis-server` on a free loopback port, for tests and benchmarks; stopped when dropped.
#[derive(Debug)]
pub struct RedisServer {
    child: std::process::Child,
    port: u16,
}

impl RedisServer {
    /// Start one (Debian's `redis-server`, installed by `scripts/setup.sh --reference`) and wait
    /// until it accepts connections.
    pub fn start() -> std::io::Result<RedisServer> {
        Self::start_with(&[])
    }

    /// Start one with extra `redis-server` arguments (`["--requirepass", "secret"]`).
    pub fn start_with(args: &[&str]) -> std::io::Result<RedisServer> {
        // A free port: bind to 0, read it, release it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(args)
            .stdout(std::process::Stdio::null())
            .spawn()?;
        let mut server = RedisServer { child, port };
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > std::time::Duration::from_secs(10) {
                server.stop();
                return Err(std::io::Error::other(
                    "redis-server did not start within 10 s",
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Ok(server)
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stop it now.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
