//! Write the fuzz targets' seed corpora (tiny models, voice configs, real cache entries, corpus
//! text) into a directory, one subdirectory per target. scripts/fuzz.sh runs it.
//!
//!   cargo run --example fuzz_seeds -- target/fuzz-corpus

use std::path::{Path, PathBuf};

use indextts::model::onnx::{
    AttributeProto, FunctionProto, GraphProto, ModelProto, NodeProto, SparseTensorProto,
    TensorProto, ValueInfoProto,
};
use indextts::testkit::TinyVoice;
use indextts::{SynthesisOptions, Synthesizer};
use prost::Message as _;

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("seed directory");
    std::fs::write(dir.join(name), bytes).expect("seed file");
}

fn main() -> indextts::Result<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or("target/fuzz-corpus".into()),
    );
    let voices = [
        TinyVoice::default(),
        TinyVoice {
            speakers: 3,
            ..Default::default()
        },
        TinyVoice {
            symbols: "abcdefg".into(),
            ..Default::default()
        },
    ];
    for (i, voice) in voices.iter().enumerate() {
        write(
            &out.join("onnx_model"),
            &format!("tiny{i}.onnx"),
            &voice.model_bytes(),
        );
        write(
            &out.join("voice_config"),
            &format!("tiny{i}.json"),
            voice.config_json().as_bytes(),
        );
    }
    // The places tensors hide besides the initializers, each well-formed, so the fuzzer starts
    // inside the checks of Constant values, subgraphs, sparse initializers and functions.
    for (name, model) in tensor_hiding_models() {
        write(&out.join("onnx_model"), name, &model.encode_to_vec());
    }
    let real = indextts::assets_dir().join("voices/en_US-joe-medium/en_US-joe-medium.onnx.json");
    if let Ok(json) = std::fs::read(&real) {
        write(&out.join("voice_config"), "joe.json", &json);
    }

    // Real disk-cache entries, written by the default voice's cache (a seeded voice: the tiny
    // ones draw inside ONNX Runtime and are not cached).
    let work = std::env::temp_dir().join(format!("indextts-fuzz-seeds-{}", std::process::id()));
    let cache = work.join("cache");
    let synth = Synthesizer::builder()
        .threads(1)
        .cache_dir(&cache)
        .build()?;
    synth.prewarm(
        ["Hello there.", "A second, longer sentence."],
        &SynthesisOptions::default(),
    )?;
    let mut entries = 0;
    for entry in walk(&cache)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "pcm"))
    {
        if let Ok(bytes) = std::fs::read(&entry) {
            write(&out.join("cache_entry"), &format!("entry{entries}"), &bytes);
            entries += 1;
        }
    }
    let _ = std::fs::remove_dir_all(&work);

    // The compiled-graph cache's meta.json files (the real voice's entry was written by the
    // load above, unless the cache is off).
    let mut metas = 0;
    if let Some(graphs) = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|c| c.join("indextts/graphs"))
    {
        for meta in walk(&graphs)
            .into_iter()
            .filter(|p| p.file_name().is_some_and(|n| n == "meta.json"))
            .take(8)
        {
            if let Ok(bytes) = std::fs::read(&meta) {
                write(
                    &out.join("graph_cache_meta"),
                    &format!("meta{metas}.json"),
                    &bytes,
                );
                metas += 1;
            }
        }
    }

    // Excerpts of the Mandarin voice's dictionaries: mapper, characters, phrases and a text,
    // 0xff apart (the zh_dictionaries target's input).
    let zh = indextts::assets_dir().join("voices/zh_CN-baker-fastspeech2");
    let excerpt = |name: &str, keep: usize| -> Option<Vec<u8>> {
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(zh.join(name)).ok()?).ok()?;
        let map = json.as_object()?;
        let kept: serde_json::Map<String, serde_json::Value> = map
            .iter()
            .take(keep)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        serde_json::to_vec(&kept).ok()
    };
    if let (Ok(mapper), Some(chars), Some(phrases)) = (
        std::fs::read(zh.join("baker_mapper.json")),
        excerpt("pinyin_dict.json", 400),
        excerpt("phrases_dict.json", 200),
    ) {
        let mut seed = mapper;
        for part in [
            &chars[..],
            &phrases[..],
            "银行行长说，长大以后要重新开始。".as_bytes(),
        ] {
            seed.push(0xff);
            seed.extend_from_slice(part);
        }
        write(&out.join("zh_dictionaries"), "excerpt", &seed);
    }

    // The C option structs as their _default functions fill them, field by field into zeroed
    // bytes (padding included), tagged for the c_options target (first byte: even for
    // synthesis options, odd for load options).
    write(
        &out.join("c_options"),
        "synthesis",
        &synthesis_options_seed(),
    );
    write(&out.join("c_options"), "load", &load_options_seed());

    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    let mut texts = 0;
    for name in ["en_sentences.txt", "en_paragraph.txt", "normalize_zh.tsv"] {
        if let Ok(text) = std::fs::read_to_string(corpus.join(name)) {
            for line in text.lines().filter(|l| !l.trim().is_empty()).take(12) {
                write(
                    &out.join("frontend"),
                    &format!("text{texts}"),
                    line.as_bytes(),
                );
                texts += 1;
            }
        }
    }
    for name in [
        "zh_sentences.txt",
        "zh_100.txt",
        "mixed.txt",
        "normalize_zh.tsv",
    ] {
        if let Ok(text) = std::fs::read_to_string(corpus.join(name)) {
            for line in text.lines().filter(|l| !l.trim().is_empty()).take(12) {
                write(
                    &out.join("frontend_zh"),
                    &format!("text{texts}"),
                    line.as_bytes(),
                );
                texts += 1;
            }
        }
    }
    let tricky = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/en_tricky.txt");
    if let Ok(text) = std::fs::read(&tricky) {
        write(&out.join("frontend"), "tricky", &text);
    }
    for (name, doc) in [
        (
            "all",
            "<speak><s>Call <say-as interpret-as=\"telephone\">555-0123</say-as></s><p>The \
             <say-as interpret-as=\"ordinal\">3</say-as> <sub alias=\"W W W\">WWW</sub>, \
             <phoneme alphabet=\"ipa\" ph=\"təmˈɑːtoʊ\">tomato</phoneme> <break time=\"300ms\"/>\
             <prosody rate=\"150%\">fast &amp; <![CDATA[a < b]]></prosody>\
             <emphasis>unknown</emphasis><break strength=\"strong\"/></p></speak>",
        ),
        (
            "broken",
            "<speak>\n <s>unclosed <break time=\"1h\"/>\n</speak>",
        ),
    ] {
        write(&out.join("ssml"), name, doc.as_bytes());
    }
    println!(
        "fuzz seeds in {}: {} models, {} configs, {entries} cache entries, {} texts, {metas} \
         graph-cache metas, dictionary excerpts, C option structs, SSML documents",
        out.display(),
        voices.len(),
        voices.len() + 1,
        texts + 1
    );
    Ok(())
}

/// `bytes` written at `at` in `buf`.
fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}

/// `indextts_synthesis_options` with a seed, as bytes after the tag 0.
fn synthesis_options_seed() -> Vec<u8> {
    use indextts::ffi::indextts_synthesis_options as O;
    use std::mem::{offset_of, size_of};
    let mut b = vec![0u8; size_of::<O>()];
    put(
        &mut b,
        offset_of!(O, struct_size),
        &(size_of::<O>() as u32).to_ne_bytes(),
    );
    put(&mut b, offset_of!(O, length_scale), &1.0f32.to_ne_bytes());
    put(&mut b, offset_of!(O, noise_scale), &0.667f32.to_ne_bytes());
    put(&mut b, offset_of!(O, noise_w), &0.8f32.to_ne_bytes());
    put(&mut b, offset_of!(O, use_seed), &[1]);
    put(&mut b, offset_of!(O, seed), &42u64.to_ne_bytes());
    [&[0u8][..], &b].concat()
}

/// `indextts_options` as `indextts_options_default()` fills it, as bytes after the tag 1.
fn load_options_seed() -> Vec<u8> {
    use indextts::ffi::indextts_options as O;
    use std::mem::{offset_of, size_of};
    let d = O::default();
    let mut b = vec![0u8; size_of::<O>()];
    put(
        &mut b,
        offset_of!(O, struct_size),
        &d.struct_size.to_ne_bytes(),
    );
    put(&mut b, offset_of!(O, sessions), &d.sessions.to_ne_bytes());
    put(
        &mut b,
        offset_of!(O, cache_bytes),
        &d.cache_bytes.to_ne_bytes(),
    );
    put(
        &mut b,
        offset_of!(O, cache_dir_bytes),
        &d.cache_dir_bytes.to_ne_bytes(),
    );
    put(
        &mut b,
        offset_of!(O, redis_ttl_seconds),
        &d.redis_ttl_seconds.to_ne_bytes(),
    );
    [&[1u8][..], &b].concat()
}

/// A small float tensor called `name`.
fn tensor(name: &str, values: &[f32]) -> TensorProto {
    TensorProto {
        dims: vec![values.len() as i64],
        data_type: Some(1),
        float_data: values.to_vec(),
        name: Some(name.into()),
        ..Default::default()
    }
}

/// A node `op` with one tensor attribute or one graph attribute.
fn node(op: &str, inputs: &[&str], output: &str, attribute: AttributeProto) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| (*s).to_owned()).collect(),
        output: vec![output.into()],
        name: Some(format!("/seed/{op}")),
        op_type: Some(op.into()),
        attribute: vec![attribute],
        ..Default::default()
    }
}

/// The tiny voice's model with a Constant, an If with a subgraph, a sparse initializer, or a
/// model-local function added.
fn tensor_hiding_models() -> Vec<(&'static str, ModelProto)> {
    let base = TinyVoice::default().model();
    let constant = |t: TensorProto| AttributeProto {
        name: Some("value".into()),
        r#type: Some(4),
        t: Some(t),
        ..Default::default()
    };
    let mut with_constant = base.clone();
    let graph = with_constant.graph.as_mut().expect("graph");
    graph.node.push(node(
        "Constant",
        &[],
        "seed_constant",
        constant(tensor("", &[1.0, 2.0])),
    ));

    let mut with_if = base.clone();
    let graph = with_if.graph.as_mut().expect("graph");
    let mut flag = tensor("seed_flag", &[]);
    flag.data_type = Some(9);
    flag.dims.clear();
    flag.int32_data = vec![1];
    graph.initializer.push(flag);
    let branch = GraphProto {
        node: vec![node(
            "Constant",
            &[],
            "branch_out",
            constant(tensor("", &[0.5])),
        )],
        initializer: vec![tensor("branch_weight", &[0.25, 0.75])],
        output: vec![ValueInfoProto {
            name: Some("branch_out".into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    graph.node.push(node(
        "If",
        &["seed_flag"],
        "seed_if",
        AttributeProto {
            name: Some("then_branch".into()),
            r#type: Some(5),
            g: Some(branch),
            ..Default::default()
        },
    ));

    let mut with_sparse = base.clone();
    let mut indices = tensor("", &[]);
    indices.data_type = Some(7);
    indices.dims = vec![1];
    indices.int64_data = vec![3];
    with_sparse
        .graph
        .as_mut()
        .expect("graph")
        .sparse_initializer
        .push(
            SparseTensorProto {
                values: Some(tensor("seed_sparse", &[1.0])),
                indices: Some(indices),
                dims: vec![8],
            }
            .encode_to_vec(),
        );

    let mut with_function = base;
    with_function.functions.push(
        FunctionProto {
            name: Some("seed_fn".into()),
            node: vec![node(
                "Constant",
                &[],
                "fn_out",
                constant(tensor("", &[3.0])),
            )],
        }
        .encode_to_vec(),
    );
    vec![
        ("constant.onnx", with_constant),
        ("if.onnx", with_if),
        ("sparse.onnx", with_sparse),
        ("function.onnx", with_function),
    ]
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Ok(read) = std::fs::read_dir(dir) {
        for entry in read.flatten() {
            let path = entry.path();
            if path.is_dir() {
                files.extend(walk(&path));
            } else {
                files.push(path);
            }
        }
    }
    files
}
