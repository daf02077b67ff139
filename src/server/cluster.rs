//! Several `indextts-server` nodes behind one load balancer, sharing one Redis (`--node-url`
//! with `--redis-url`). A task lives on the node that made it, as on a lone server; Redis holds
//! what every node needs to find it or outlive it:
//!
//! - `indextts:cluster:node:{url}`: a node's heartbeat, set every second for three;
//! - `indextts:cluster:task:{id}`: the URL of the node that owns a task (the task's TTL);
//! - `indextts:cluster:status:{id}`: a finished task's last status and words (its TTL);
//! - `indextts:cluster:audio:{id}`: a finished task's WAV (its TTL; tasks under 63 MiB).
//!
//! A node asked for a task it does not hold serves it from Redis if it has finished, or
//! forwards the request to the owner while it runs: live audio crosses the network only when
//! someone reads it elsewhere, and Redis carries each task's audio once, at its end, instead of
//! every chunk of every task. An owner whose heartbeat has gone turns its unfinished tasks into
//! a failed status that says so, for every node's clients.

use std::sync::Mutex;
use std::time::Duration;

use crate::cache::resp::{Connection, Reply, RespError, Target, MAX_REPLY_BYTES};

use super::tasks::{Progress, TaskState, TaskStatus};

/// Connect timeout to Redis.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(100);
/// Deadline of a small command (a lookup, a heartbeat).
const COMMAND_DEADLINE: Duration = Duration::from_millis(500);
/// Deadline of a finished task's audio, written or read (63 MiB at most).
const AUDIO_DEADLINE: Duration = Duration::from_secs(5);
/// How often a node says it is alive, and how long one saying is good for.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
const HEARTBEAT_TTL: Duration = Duration::from_secs(3);
/// The largest finished audio shared through Redis (its client reads replies up to 64 MiB).
const MAX_SHARED_AUDIO: usize = MAX_REPLY_BYTES - (1 << 20);

/// This node's place in the cluster.
pub struct Cluster {
    target: Target,
    /// The URL other nodes reach this one at.
    node: String,
    ttl_seconds: u64,
    idle: Mutex<Vec<Connection>>,
    /// Places for readers of finished audio from Redis (each holds a whole WAV in memory).
    pub audio_readers: std::sync::Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("node", &self.node).finish()
    }
}

/// A finished task as Redis keeps it.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Finished {
    /// The node that ran it (which holds its audio for the task's TTL, shared or not).
    pub node: String,
    /// Its last status.
    pub status: TaskStatus,
    /// Every word's mark (`words_json`).
    pub words: serde_json::Value,
    /// Whether its audio was kept (a done task under the size bound).
    pub audio: bool,
    /// Whether it failed because its node died.
    #[serde(default)]
    pub lost: bool,
}

/// Where a task not held here is.
#[derive(Debug)]
pub enum Whereabouts {
    /// No node has it (unknown, or expired).
    Unknown,
    /// It finished; Redis has its record.
    Finished(Box<Finished>),
    /// Running on the node at this URL.
    Owner(String),
}

impl Cluster {
    /// This node, reached at `node_url`, in the cluster kept in the Redis at `redis_url`, with
    /// at most `audio_readers` reading finished audio from Redis at once.
    pub fn new(
        redis_url: &str,
        node_url: &str,
        task_ttl: Duration,
        audio_readers: usize,
    ) -> crate::Result<Cluster> {
        let target = Target::parse(redis_url).map_err(|e| crate::Error::InvalidOption {
            name: "--redis-url",
            value: format!("{redis_url} ({e})"),
            reason: "must be a Redis URL such as redis://127.0.0.1:6379/",
        })?;
        if Authority::parse(node_url).is_none() {
            return Err(crate::Error::InvalidOption {
                name: "--node-url",
                value: node_url.to_owned(),
                reason: "must be http://HOST:PORT, where the other nodes reach this one",
            });
        }
        Ok(Cluster {
            target,
            node: node_url.trim_end_matches('/').to_owned(),
            ttl_seconds: task_ttl.as_secs().max(1),
            idle: Mutex::new(Vec::new()),
            audio_readers: std::sync::Arc::new(tokio::sync::Semaphore::new(audio_readers.max(1))),
        })
    }

    /// The URL other nodes reach this one at.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Run one command on a pooled connection (blocking).
    fn command(&self, args: &[&[u8]], deadline: Duration) -> Result<Reply, RespError> {
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut c = match pooled {
            Some(c) => c,
            None => Connection::open(&self.target, CONNECT_TIMEOUT, COMMAND_DEADLINE)?,
        };
        // A failed command leaves its connection out of step: it is dropped, not pooled.
        let reply = c.command(args, deadline)?;
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(c);
        Ok(reply)
    }

    fn get(&self, key: &str, deadline: Duration) -> Result<Option<Vec<u8>>, RespError> {
        match self.command(&[b"GET", key.as_bytes()], deadline)? {
            Reply::Bulk(value) => Ok(value),
            _ => Err(RespError::Protocol("GET answered other than a bulk string")),
        }
    }

    fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: (&str, u64),
        deadline: Duration,
    ) -> Result<(), RespError> {
        self.set_if(key, value, ttl, deadline, false).map(drop)
    }

    /// `SET` with a TTL; with `only_new`, only if the key does not exist (`NX`). Whether it
    /// was set.
    fn set_if(
        &self,
        key: &str,
        value: &[u8],
        ttl: (&str, u64),
        deadline: Duration,
        only_new: bool,
    ) -> Result<bool, RespError> {
        let ttl_value = ttl.1.to_string();
        let mut args: Vec<&[u8]> = vec![
            b"SET",
            key.as_bytes(),
            value,
            ttl.0.as_bytes(),
            ttl_value.as_bytes(),
        ];
        if only_new {
            args.push(b"NX");
        }
        // NX answers a null bulk string when the key exists.
        Ok(!matches!(self.command(&args, deadline)?, Reply::Bulk(None)))
    }

    /// Say this node is alive for the next few seconds.
    pub fn heartbeat(&self) -> Result<(), RespError> {
        self.set(
            &node_key(&self.node),
            b"1",
            ("PX", HEARTBEAT_TTL.as_millis() as u64),
            COMMAND_DEADLINE,
        )
    }

    /// Say this node has gone (a clean shutdown), so its unfinished tasks fail at once.
    pub fn leave(&self) -> Result<(), RespError> {
        self.command(&[b"DEL", node_key(&self.node).as_bytes()], COMMAND_DEADLINE)
            .map(drop)
    }

    /// Record that this node owns task `id`.
    pub fn claim(&self, id: &str) -> Result<(), RespError> {
        self.set(
            &format!("indextts:cluster:task:{id}"),
            self.node.as_bytes(),
            ("EX", self.ttl_seconds),
            COMMAND_DEADLINE,
        )
    }

    /// Keep a finished task for every node: its WAV if it is done and small enough, then its
    /// status and words (so a reader that sees the status finds the audio).
    pub fn publish(
        &self,
        status: TaskStatus,
        words: serde_json::Value,
        wav: &[u8],
    ) -> Result<(), RespError> {
        self.keep(status, words, wav, &self.node, false).map(drop)
    }

    /// Write a finished task's record; a lost one only if no record exists (its node may have
    /// finished it just before it left). Whether the record was written.
    fn keep(
        &self,
        status: TaskStatus,
        words: serde_json::Value,
        wav: &[u8],
        node: &str,
        lost: bool,
    ) -> Result<bool, RespError> {
        let id = status.task_id.clone();
        let audio = status.state == TaskState::Done && wav.len() <= MAX_SHARED_AUDIO;
        if audio {
            let key = format!("indextts:cluster:audio:{id}");
            self.set(&key, wav, ("EX", self.ttl_seconds), AUDIO_DEADLINE)?;
        }
        let record = Finished {
            node: node.to_owned(),
            status,
            words,
            audio,
            lost,
        };
        let json = serde_json::to_vec(&record).unwrap_or_default();
        let key = format!("indextts:cluster:status:{id}");
        self.set_if(
            &key,
            &json,
            ("EX", self.ttl_seconds),
            COMMAND_DEADLINE,
            lost,
        )
    }

    /// Where task `id`, not held here, is.
    pub fn whereabouts(&self, id: &str) -> Result<Whereabouts, RespError> {
        if let Some(json) = self.get(&format!("indextts:cluster:status:{id}"), COMMAND_DEADLINE)? {
            let finished = serde_json::from_slice(&json)
                .map_err(|_| RespError::Protocol("a task record that is not its JSON"))?;
            return Ok(Whereabouts::Finished(Box::new(finished)));
        }
        match self.get(&format!("indextts:cluster:task:{id}"), COMMAND_DEADLINE)? {
            Some(owner) => Ok(Whereabouts::Owner(
                String::from_utf8_lossy(&owner).into_owned(),
            )),
            None => Ok(Whereabouts::Unknown),
        }
    }

    /// Forget task `id` on every node (`DELETE /tasks/{id}` of a task that no longer runs).
    pub fn forget(&self, id: &str) -> Result<(), RespError> {
        let keys = ["task", "status", "audio"].map(|kind| format!("indextts:cluster:{kind}:{id}"));
        let mut args: Vec<&[u8]> = vec![b"DEL"];
        args.extend(keys.iter().map(|k| k.as_bytes()));
        self.command(&args, COMMAND_DEADLINE).map(drop)
    }

    /// A finished task's WAV, if it was kept.
    pub fn audio(&self, id: &str) -> Result<Option<Vec<u8>>, RespError> {
        self.get(&format!("indextts:cluster:audio:{id}"), AUDIO_DEADLINE)
    }

    /// Whether the node at `url` has said it is alive in the last few seconds.
    pub fn alive(&self, url: &str) -> Result<bool, RespError> {
        match self.command(&[b"EXISTS", node_key(url).as_bytes()], COMMAND_DEADLINE)? {
            Reply::Integer(n) => Ok(n > 0),
            _ => Err(RespError::Protocol("EXISTS answered other than an integer")),
        }
    }

    /// Task `id`'s owner has gone: record it as failed, for every node, and return that
    /// status; `None` if it has a record already (it finished just before its node left).
    pub fn lost(&self, id: &str, owner: &str) -> Result<Option<TaskStatus>, RespError> {
        let status = lost_status(id, owner);
        let recorded = self.keep(status.clone(), serde_json::json!([]), &[], owner, true)?;
        Ok(recorded.then_some(status))
    }
}

fn node_key(url: &str) -> String {
    format!("indextts:cluster:node:{url}")
}

/// The status of a task whose node died before it finished.
pub fn lost_status(id: &str, owner: &str) -> TaskStatus {
    TaskStatus {
        task_id: id.to_owned(),
        state: TaskState::Failed,
        progress: Progress {
            sentences_done: 0,
            sentences_total: 0,
        },
        audio_seconds: 0.0,
        words_done: 0,
        error: Some(format!(
            "the node that ran this task ({owner}) stopped before it finished; its audio is lost"
        )),
    }
}

/// `HOST:PORT` of an `http://HOST:PORT[/]` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority(pub String);

impl Authority {
    /// The authority of `url`, if it is a plain `http://HOST:PORT` URL.
    pub fn parse(url: &str) -> Option<Authority> {
        let rest = url.strip_prefix("http://")?.trim_end_matches('/');
        let (host, port) = rest.rsplit_once(':')?;
        let valid = !host.is_empty()
            && !rest.contains(['/', '?', '#', '@'])
            && port.parse::<u16>().is_ok_and(|p| p != 0);
        valid.then(|| Authority(rest.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_urls_are_plain_http_host_and_port() {
        assert_eq!(
            Authority::parse("http://127.0.0.1:8081/"),
            Some(Authority("127.0.0.1:8081".into()))
        );
        assert_eq!(
            Authority::parse("http://node-a.internal:80"),
            Some(Authority("node-a.internal:80".into()))
        );
        for bad in [
            "https://a:1",
            "http://a",
            "http://a:0",
            "http://a:1/path",
            "http://user@a:1",
            "http://:80",
            "127.0.0.1:80",
        ] {
            assert_eq!(Authority::parse(bad), None, "{bad}");
        }
    }

    /// Against a real `redis-server`: a task finished just before its node left is not
    /// overwritten as lost; one that never finished is, once, and then reads as lost.
    #[test]
    #[cfg(feature = "unstable-internals")]
    fn a_record_is_never_overwritten_as_lost() {
        let Ok(redis) = crate::testkit::RedisServer::start() else {
            panic!("redis-server: run scripts/setup.sh --reference");
        };
        let cluster = Cluster::new(
            &redis.url(),
            "http://127.0.0.1:9",
            Duration::from_secs(60),
            1,
        )
        .unwrap();
        let done = TaskStatus {
            state: TaskState::Done,
            error: None,
            ..lost_status("a", "x")
        };
        cluster
            .publish(done, serde_json::json!([]), b"RIFF")
            .unwrap();
        assert_eq!(
            cluster
                .lost("a", "http://127.0.0.1:9")
                .unwrap()
                .map(|s| s.state),
            None
        );
        match cluster.whereabouts("a").unwrap() {
            Whereabouts::Finished(f) => assert!(f.audio && !f.lost && f.status.error.is_none()),
            other => panic!("{other:?}"),
        }
        assert_eq!(cluster.audio("a").unwrap().as_deref(), Some(&b"RIFF"[..]));
        cluster.claim("b").unwrap();
        assert!(matches!(
            cluster.whereabouts("b").unwrap(),
            Whereabouts::Owner(_)
        ));
        assert!(cluster.lost("b", "http://127.0.0.1:9").unwrap().is_some());
        assert!(cluster.lost("b", "http://127.0.0.1:9").unwrap().is_none());
        match cluster.whereabouts("b").unwrap() {
            Whereabouts::Finished(f) => assert!(f.lost && !f.audio),
            other => panic!("{other:?}"),
        }
        assert!(!cluster.alive("http://127.0.0.1:9").unwrap());
        cluster.heartbeat().unwrap();
        assert!(cluster.alive("http://127.0.0.1:9").unwrap());
        cluster.leave().unwrap();
        assert!(!cluster.alive("http://127.0.0.1:9").unwrap());
        cluster.forget("b").unwrap();
        assert!(matches!(
            cluster.whereabouts("b").unwrap(),
            Whereabouts::Unknown
        ));
    }

    #[test]
    fn a_lost_task_fails_and_says_which_node_went() {
        let status = lost_status("abc", "http://10.0.0.2:8080");
        assert_eq!(status.state, TaskState::Failed);
        let error = status.error.unwrap();
        assert!(error.contains("http://10.0.0.2:8080") && error.contains("lost"));
    }
}
