//! Two `indextts-server` nodes behind a real load balancer (Debian's HAProxy) sharing one real
//! `redis-server`, all on loopback (installed by `scripts/setup.sh --reference`): a task made
//! through the balancer is read live and finished through the other node; a sentence spoken on
//! one node is a Redis hit on the other, bit for bit; a node killed with SIGKILL mid-stream ends
//! every reader's stream with an error and fails its task for every client, within seconds.
#![cfg(feature = "server")]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::http::{get_text, metric, spawn_server, wav_audio};
use common::{check_speech, corpus_lines, corpus_text, scratch};
use indextts::testkit::RedisServer;
use serde_json::{json, Value};

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A node on `port` in the cluster kept in `redis`, once it listens.
fn node(port: u16, redis: &str) -> (Process, String) {
    let url = format!("http://127.0.0.1:{port}");
    let bind = format!("127.0.0.1:{port}");
    let (child, base) = spawn_server(&[
        "--bind",
        &bind,
        "--node-url",
        &url,
        "--redis-url",
        redis,
        "--threads",
        "1",
        "--workers",
        "2",
        // Behind a balancer every client has its address: the balancer limits clients.
        "--rate-per-second",
        "0",
        "--client-quota",
        "0",
    ]);
    assert_eq!(base, url);
    (Process(child), url)
}

/// HAProxy on `port` in front of `nodes`, checking each one's `/health` every 200 ms, and
/// trying the other node when one refuses a connection.
fn balancer(port: u16, nodes: &[&str]) -> Process {
    let mut config = format!(
        "global\n  maxconn 256\n\
         defaults\n  mode http\n  timeout connect 1s\n  timeout client 60s\n  timeout server 60s\n\
         \x20 retries 3\n  option redispatch 1\n\
         frontend front\n  bind 127.0.0.1:{port}\n  default_backend nodes\n\
         backend nodes\n  balance roundrobin\n  option httpchk\n\
         \x20 http-check send meth GET uri /health ver HTTP/1.1 hdr Host 127.0.0.1\n"
    );
    for (i, node) in nodes.iter().enumerate() {
        let address = node.trim_start_matches("http://");
        config += &format!("  server node{i} {address} check inter 200ms fall 2 rise 1\n");
    }
    let path = scratch("cluster").join("haproxy.cfg");
    std::fs::write(&path, config).unwrap();
    let child = Command::new("haproxy")
        .args(["-db", "-f"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("haproxy: run scripts/setup.sh --reference");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "haproxy did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Process(child)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

async fn json_of(response: reqwest::Response) -> Value {
    let status = response.status();
    let body = response.text().await.unwrap();
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("{status}: {body}"))
}

async fn synthesize(base: &str, text: &str) -> (String, String) {
    let response = client()
        .post(format!("{base}/synthesize"))
        .json(&json!({ "text": text }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body = json_of(response).await;
    let id = body["task_id"].as_str().unwrap().to_owned();
    (id, body["node"].as_str().unwrap().to_owned())
}

async fn status(base: &str, id: &str) -> Value {
    json_of(
        client()
            .get(format!("{base}/status/{id}"))
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn wait_until_final(base: &str, id: &str, bound: Duration) -> Value {
    let started = Instant::now();
    loop {
        let status = status(base, id).await;
        if status["state"] == "done" || status["state"] == "failed" {
            return status;
        }
        assert!(started.elapsed() < bound, "task {id} not final: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `/events/{id}` read to its end: (event name, data) pairs.
async fn events(base: &str, id: &str) -> Vec<(String, Value)> {
    let text = get_text(&format!("{base}/events/{id}")).await;
    text.split("\n\n")
        .filter_map(|block| {
            let name = block.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((name.to_owned(), serde_json::from_str(data).unwrap()))
        })
        .collect()
}

async fn stream_bytes(base: &str, id: &str) -> Vec<u8> {
    let response = client()
        .get(format!("{base}/stream/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{base}/stream/{id}");
    response.bytes().await.unwrap().to_vec()
}

#[test]
fn two_nodes_behind_haproxy_share_tasks_and_cache_and_survive_a_killed_node() {
    let mut redis = RedisServer::start().expect("redis-server: run scripts/setup.sh --reference");
    let (a_port, b_port, lb_port) = (free_port(), free_port(), free_port());
    let (a, a_url) = node(a_port, &redis.url());
    let (b, b_url) = node(b_port, &redis.url());
    let _lb = balancer(lb_port, &[&a_url, &b_url]);
    let lb = format!("http://127.0.0.1:{lb_port}");
    let mut a = Some(a);
    let other = |url: &str| {
        if url == a_url {
            b_url.clone()
        } else {
            a_url.clone()
        }
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        // The sentence cache: spoken on A, a Redis hit on B, the same samples.
        let sentence = &corpus_lines("en_sentences.txt")[0];
        let speak = |base: String| async move {
            let response = client()
                .post(format!("{base}/v1/audio/speech"))
                .json(&json!({ "input": sentence }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            wav_audio(&response.bytes().await.unwrap())
        };
        let on_a = speak(a_url.clone()).await;
        let started = Instant::now();
        let mut redis_client = redis::Client::open(redis.url())
            .unwrap()
            .get_connection()
            .unwrap();
        while redis::cmd("KEYS")
            .arg("indextts:v*")
            .query::<Vec<String>>(&mut redis_client)
            .unwrap()
            .is_empty()
        {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no entry in Redis"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let on_b = speak(b_url.clone()).await;
        assert_eq!(on_a.samples, on_b.samples, "B's hit differs from A's audio");
        let hits = metric(&b_url, "indextts_cache_hits_total{level=\"redis\"}").await;
        assert_eq!(hits, 1.0, "B did not hit Redis");
        check_speech("cross-node cache", sentence, &on_b, 22_050);

        // A task made through the balancer, read through the node that does not run it: live
        // (forwarded), then finished (from Redis), the same bytes as its own node's.
        let text = corpus_text("en_paragraph.txt");
        let (id, owner) = synthesize(&lb, &text).await;
        let elsewhere = other(&owner);
        let live = stream_bytes(&elsewhere, &id).await;
        let from_owner = stream_bytes(&owner, &id).await;
        let done = wait_until_final(&lb, &id, Duration::from_secs(60)).await;
        assert_eq!(done["state"], "done", "{done}");
        let finished = stream_bytes(&elsewhere, &id).await;
        assert_eq!(live, from_owner, "the forwarded stream differs");
        assert_eq!(finished, from_owner, "the stream kept in Redis differs");
        check_speech("cross-node task", &text, &wav_audio(&finished), 22_050);
        for base in [&lb, &lb, &elsewhere] {
            let status = status(base, &id).await;
            assert_eq!(
                (status["task_id"].as_str(), status["state"].as_str()),
                (Some(id.as_str()), Some("done"))
            );
        }
        let events = events(&elsewhere, &id).await;
        let words: usize = events
            .iter()
            .filter(|(name, _)| name == "words")
            .map(|(_, data)| data["words"].as_array().unwrap().len())
            .sum();
        assert_eq!(words, common::word_count(&text), "{events:?}");
        assert_eq!(events.last().unwrap().1["state"], "done");

        // SIGKILL of the node running a task, while four readers stream it: two through the
        // balancer (one to each node), one forwarded, and one following its events.
        let long = corpus_text("en_long.txt");
        let (id, owner) = synthesize(&lb, &long).await;
        let survivor = other(&owner);
        let mut readers = Vec::new();
        for base in [&lb, &lb, &survivor] {
            let mut response = client()
                .get(format!("{base}/stream/{id}"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            assert!(response.chunk().await.unwrap().is_some());
            readers.push(response);
        }
        let mut follower = client()
            .get(format!("{survivor}/events/{id}"))
            .send()
            .await
            .unwrap();
        assert!(follower.chunk().await.unwrap().is_some());
        let victim = if owner == a_url { a.take() } else { None };
        let killed = Instant::now();
        match victim {
            Some(process) => drop(process),
            None => {
                // B ran it: kill B (its Process is dropped at the end).
                let pid = b.0.id().to_string();
                assert!(Command::new("kill")
                    .args(["-KILL", &pid])
                    .status()
                    .unwrap()
                    .success());
            }
        }
        for (i, mut reader) in readers.into_iter().enumerate() {
            let ended = tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    match reader.chunk().await {
                        Ok(Some(_)) => continue,
                        Ok(None) => return Ok(()),
                        Err(e) => return Err(e),
                    }
                }
            })
            .await
            .unwrap_or_else(|_| panic!("reader {i} hung after the kill"));
            assert!(
                ended.is_err(),
                "reader {i}: a cut-off task's WAV ended cleanly"
            );
        }
        let mut tail = String::new();
        let followed = tokio::time::timeout(Duration::from_secs(10), async {
            while let Ok(Some(chunk)) = follower.chunk().await {
                tail.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await;
        assert!(followed.is_ok(), "the events follower hung after the kill");
        assert!(
            tail.contains("event: error") && tail.contains("stopped before it finished"),
            "{tail}"
        );
        let failed = wait_until_final(&lb, &id, Duration::from_secs(10)).await;
        assert_eq!(failed["state"], "failed");
        assert!(
            failed["error"].as_str().unwrap().contains(&owner),
            "{failed}"
        );
        println!(
            "killed node's task failed for clients after {:?}",
            killed.elapsed()
        );
        let gone = client()
            .get(format!("{lb}/stream/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(gone.status(), 502);
        assert_eq!(json_of(gone).await["error"]["code"], "node_lost");
        // The survivor still speaks through the balancer.
        let after = speak(lb.clone()).await;
        assert_eq!(after.samples, on_a.samples);

        // Redis dies too: a node's own tasks still work; another's are a clear, retryable 503.
        redis.stop();
        let (id, _) = synthesize(&lb, sentence).await;
        let done = wait_until_final(&lb, &id, Duration::from_secs(30)).await;
        assert_eq!(done["state"], "done", "{done}");
        check_speech(
            "without Redis",
            sentence,
            &wav_audio(&stream_bytes(&lb, &id).await),
            22_050,
        );
        let elsewhere = client()
            .get(format!("{lb}/status/{}", "0".repeat(32)))
            .send()
            .await
            .unwrap();
        assert_eq!(elsewhere.status(), 503);
        assert!(elsewhere.headers().contains_key("retry-after"));
        assert_eq!(
            json_of(elsewhere).await["error"]["code"],
            "cluster_unavailable"
        );
    });
}

/// The deployment files of docs/deploy.md: HAProxy takes the balancer's config, systemd the
/// node's unit, and every setting the unit gives is one the server reads.
#[test]
fn the_deployment_files_are_valid() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let checked = Command::new("haproxy")
        .arg("-c")
        .arg("-f")
        .arg(root.join("haproxy.cfg"))
        .output()
        .expect("haproxy: run scripts/setup.sh --reference");
    assert!(checked.status.success(), "{checked:?}");
    let unit = std::fs::read_to_string(root.join("indextts-server.service")).unwrap();
    // `verify` wants the unit's program to exist: this build's.
    let server = env!("CARGO_BIN_EXE_indextts-server");
    let local = unit.replace("/usr/local/bin/indextts-server", server);
    let path = scratch("deploy-unit").join("indextts-server.service");
    std::fs::write(&path, local).unwrap();
    let verified = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze: run scripts/setup.sh --reference");
    assert!(
        verified.status.success() && verified.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    let help = Command::new(server).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    let variables: Vec<&str> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("Environment="))
        .filter_map(|l| l.split_once('=').map(|(name, _)| name))
        .collect();
    assert!(variables.len() >= 8, "{variables:?}");
    for name in variables {
        // Read by the library rather than the server's flags.
        let library = ["INDEXTTS_ASSETS", "INDEXTTS_GRAPH_CACHE"].contains(&name);
        assert!(
            library || help.contains(&format!("[env: {name}=")),
            "the unit sets {name}, which the server does not read"
        );
    }
}
