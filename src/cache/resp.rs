//! A minimal Redis client for the shared cache level: RESP2 over TCP or a Unix socket, the few
//! commands the level sends, and one deadline for the whole of each command (request written,
//! reply read to its last byte), where a socket read timeout bounds only each read: a server
//! that drips its reply a byte at a time, or announces a reply larger than any entry, costs at
//! most the deadline and no allocation beyond [`MAX_REPLY_BYTES`]. The `redis` crate still
//! parses the URL, so every URL form it takes (`redis://user:pass@host:port/db`,
//! `redis+unix:///path?db=N`) means the same here.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// Largest bulk reply read: a cache entry of [`MAX_SENTENCE_FRAMES`](crate::MAX_SENTENCE_FRAMES)
/// frames is under 64 MiB, and the header is a few bytes.
pub(crate) const MAX_REPLY_BYTES: usize = 64 << 20;
/// Most elements of an array reply (a `SCAN` batch is about its `COUNT`).
const MAX_ARRAY: usize = 1 << 16;
/// Most bytes of one reply line (a type byte, a number or a status).
const MAX_LINE: usize = 512;

/// What went wrong with a command. Any error leaves the connection out of step: drop it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RespError {
    #[error("redis: {0}")]
    Io(#[from] std::io::Error),
    #[error("redis: no whole reply within {0:?}")]
    Deadline(Duration),
    #[error("redis: the server answered {0:?}")]
    Server(String),
    #[error("redis: malformed reply ({0})")]
    Protocol(&'static str),
    #[error("redis: {0}")]
    Url(String),
}

/// A reply.
#[derive(Debug, PartialEq)]
pub(crate) enum Reply {
    Status(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
}

/// Where and how to connect, from a Redis URL.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    addr: Addr,
    username: Option<String>,
    password: Option<String>,
    db: i64,
}

#[derive(Debug, Clone)]
enum Addr {
    Tcp(String, u16),
    #[cfg(unix)]
    Unix(std::path::PathBuf),
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, RespError> {
        use redis::IntoConnectionInfo as _;
        let info = url
            .into_connection_info()
            .map_err(|e| RespError::Url(e.to_string()))?;
        let addr = match info.addr() {
            redis::ConnectionAddr::Tcp(host, port) => Addr::Tcp(host.clone(), *port),
            #[cfg(unix)]
            redis::ConnectionAddr::Unix(path) => Addr::Unix(path.clone()),
            #[allow(unreachable_patterns)] // TLS addresses exist only with the crate's TLS features
            _ => return Err(RespError::Url("TLS (rediss://) is not supported".into())),
        };
        let settings = info.redis_settings();
        Ok(Target {
            addr,
            username: settings.username().map(str::to_owned),
            password: settings.password().map(str::to_owned),
            db: settings.db(),
        })
    }
}

/// An open connection, authenticated and on its database.
pub(crate) struct Connection {
    stream: Stream,
    /// Bytes read past the end of the last reply (there are none unless the server misbehaves).
    buf: Vec<u8>,
    /// Read position in `buf`.
    at: usize,
}

enum Stream {
    Tcp(std::net::TcpStream),
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixStream),
}

impl Stream {
    fn set_timeouts(&self, t: Duration) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => {
                s.set_read_timeout(Some(t))?;
                s.set_write_timeout(Some(t))
            }
            #[cfg(unix)]
            Stream::Unix(s) => {
                s.set_read_timeout(Some(t))?;
                s.set_write_timeout(Some(t))
            }
        }
    }

    fn io(&mut self) -> &mut dyn ReadWrite {
        match self {
            Stream::Tcp(s) => s,
            #[cfg(unix)]
            Stream::Unix(s) => s,
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

impl Connection {
    /// Connect within `connect_timeout` and, within `deadline`, authenticate and select the
    /// database.
    pub fn open(
        target: &Target,
        connect_timeout: Duration,
        deadline: Duration,
    ) -> Result<Connection, RespError> {
        let stream = match &target.addr {
            Addr::Tcp(host, port) => {
                use std::net::ToSocketAddrs as _;
                let mut last = None;
                let mut connected = None;
                for addr in (host.as_str(), *port).to_socket_addrs()? {
                    match std::net::TcpStream::connect_timeout(&addr, connect_timeout) {
                        Ok(s) => {
                            connected = Some(s);
                            break;
                        }
                        Err(e) => last = Some(e),
                    }
                }
                let s = connected.ok_or_else(|| {
                    last.unwrap_or_else(|| std::io::Error::other("the host has no address"))
                })?;
                s.set_nodelay(true)?;
                Stream::Tcp(s)
            }
            #[cfg(unix)]
            Addr::Unix(path) => Stream::Unix(std::os::unix::net::UnixStream::connect(path)?),
        };
        let mut c = Connection {
            stream,
            buf: Vec::new(),
            at: 0,
        };
        if let Some(password) = &target.password {
            let mut auth: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(user) = &target.username {
                auth.push(user.as_bytes());
            }
            auth.push(password.as_bytes());
            c.command(&auth, deadline)?;
        }
        if target.db != 0 {
            c.command(&[b"SELECT", target.db.to_string().as_bytes()], deadline)?;
        }
        Ok(c)
    }

    /// Send `args` as one command and read its whole reply, all within `deadline`. An error
    /// reply is `RespError::Server`.
    pub fn command(&mut self, args: &[&[u8]], deadline: Duration) -> Result<Reply, RespError> {
        let until = Instant::now() + deadline;
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            request.extend_from_slice(arg);
            request.extend_from_slice(b"\r\n");
        }
        self.stream.set_timeouts(remaining(until, deadline)?)?;
        self.stream
            .io()
            .write_all(&request)
            .map_err(|e| timed(e, deadline))?;
        let reply = self.reply(until, deadline, 0)?;
        if self.at == self.buf.len() {
            self.buf.clear();
            self.at = 0;
        }
        Ok(reply)
    }

    fn reply(
        &mut self,
        until: Instant,
        deadline: Duration,
        depth: usize,
    ) -> Result<Reply, RespError> {
        let line = self.line(until, deadline)?;
        let (kind, rest) = line
            .split_first()
            .ok_or(RespError::Protocol("an empty line"))?;
        let text = || String::from_utf8_lossy(rest).into_owned();
        let number = || -> Result<i64, RespError> {
            std::str::from_utf8(rest)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or(RespError::Protocol(
                    "a length or integer that is not a number",
                ))
        };
        Ok(match kind {
            b'+' => Reply::Status(text()),
            b'-' => return Err(RespError::Server(text())),
            b':' => Reply::Integer(number()?),
            b'$' => match number()? {
                -1 => Reply::Bulk(None),
                n if n < 0 || n as u64 > MAX_REPLY_BYTES as u64 => {
                    return Err(RespError::Protocol("a bulk reply longer than any entry"))
                }
                n => {
                    let n = n as usize;
                    self.fill(n + 2, until, deadline)?;
                    let bulk = self.buf[self.at..self.at + n].to_vec();
                    if &self.buf[self.at + n..self.at + n + 2] != b"\r\n" {
                        return Err(RespError::Protocol("a bulk reply not ended by CRLF"));
                    }
                    self.at += n + 2;
                    Reply::Bulk(Some(bulk))
                }
            },
            b'*' => match number()? {
                -1 => Reply::Array(Vec::new()),
                n if n < 0 || n as usize > MAX_ARRAY || depth > 2 => {
                    return Err(RespError::Protocol("an array too long or too deep"))
                }
                n => {
                    let mut items = Vec::with_capacity(n as usize);
                    for _ in 0..n {
                        items.push(self.reply(until, deadline, depth + 1)?);
                    }
                    Reply::Array(items)
                }
            },
            _ => return Err(RespError::Protocol("an unknown reply type")),
        })
    }

    /// The next CRLF-terminated line, without its CRLF.
    fn line(&mut self, until: Instant, deadline: Duration) -> Result<Vec<u8>, RespError> {
        loop {
            if let Some(end) = self.buf[self.at..].windows(2).position(|w| w == b"\r\n") {
                let line = self.buf[self.at..self.at + end].to_vec();
                self.at += end + 2;
                return Ok(line);
            }
            if self.buf.len() - self.at > MAX_LINE {
                return Err(RespError::Protocol("a reply line too long"));
            }
            self.read_more(until, deadline)?;
        }
    }

    /// Read until `n` unread bytes are buffered.
    fn fill(&mut self, n: usize, until: Instant, deadline: Duration) -> Result<(), RespError> {
        self.buf
            .reserve((self.at + n).saturating_sub(self.buf.len()));
        while self.buf.len() - self.at < n {
            self.read_more(until, deadline)?;
        }
        Ok(())
    }

    fn read_more(&mut self, until: Instant, deadline: Duration) -> Result<(), RespError> {
        // The buffer holds this reply from its start: however it is made of parts, it is
        // bounded as one entry is.
        if self.buf.len() > MAX_REPLY_BYTES + (1 << 20) {
            return Err(RespError::Protocol("a reply larger than any entry"));
        }
        self.stream.set_timeouts(remaining(until, deadline)?)?;
        let mut chunk = [0u8; 64 << 10];
        let n = self
            .stream
            .io()
            .read(&mut chunk)
            .map_err(|e| timed(e, deadline))?;
        if n == 0 {
            return Err(RespError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

/// Time left before `until`; none left is the deadline's error.
fn remaining(until: Instant, deadline: Duration) -> Result<Duration, RespError> {
    let left = until.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(RespError::Deadline(deadline))
    } else {
        Ok(left)
    }
}

/// A socket timeout is the deadline passing.
fn timed(e: std::io::Error, deadline: Duration) -> RespError {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            RespError::Deadline(deadline)
        }
        _ => RespError::Io(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A server on loopback that answers each connection with `reply`, `per_write` bytes at a
    /// time, `pause` apart.
    fn fake_server(reply: Vec<u8>, per_write: usize, pause: Duration) -> Target {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let reply = reply.clone();
                std::thread::spawn(move || {
                    let mut request = [0u8; 1024];
                    let _ = stream.read(&mut request);
                    for piece in reply.chunks(per_write) {
                        if stream.write_all(piece).is_err() {
                            return;
                        }
                        std::thread::sleep(pause);
                    }
                    std::thread::sleep(Duration::from_secs(5));
                });
            }
        });
        Target::parse(&format!("redis://127.0.0.1:{port}/")).unwrap()
    }

    fn get(target: &Target, deadline: Duration) -> Result<Reply, RespError> {
        let mut c = Connection::open(target, Duration::from_millis(200), deadline)?;
        c.command(&[b"GET", b"key"], deadline)
    }

    #[test]
    fn replies_parse() {
        let target = fake_server(b"$5\r\nhello\r\n".to_vec(), 64, Duration::ZERO);
        let reply = get(&target, Duration::from_secs(2)).unwrap();
        assert_eq!(reply, Reply::Bulk(Some(b"hello".to_vec())));
        let target = fake_server(
            b"*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n".to_vec(),
            3,
            Duration::ZERO,
        );
        let Reply::Array(items) = get(&target, Duration::from_secs(2)).unwrap() else {
            panic!("not an array")
        };
        assert_eq!(items[0], Reply::Bulk(Some(b"0".to_vec())));
        let target = fake_server(b"-ERR wrong\r\n".to_vec(), 64, Duration::ZERO);
        assert!(matches!(
            get(&target, Duration::from_secs(2)),
            Err(RespError::Server(_))
        ));
    }

    /// A reply dripped a byte every 20 ms never takes longer than the deadline in all, though
    /// each read alone is well within it.
    #[test]
    fn a_dripping_server_costs_at_most_the_deadline() {
        let mut reply = b"$1000\r\n".to_vec();
        reply.extend(std::iter::repeat_n(b'x', 1000));
        reply.extend_from_slice(b"\r\n");
        let target = fake_server(reply, 1, Duration::from_millis(20));
        let started = Instant::now();
        let result = get(&target, Duration::from_millis(300));
        let took = started.elapsed();
        assert!(matches!(result, Err(RespError::Deadline(_))), "{result:?}");
        assert!(took < Duration::from_millis(600), "took {took:?}");
    }

    /// A bulk reply announced longer than any entry is refused before anything is allocated
    /// for it.
    #[test]
    fn an_oversize_reply_is_refused_at_its_length() {
        let target = fake_server(b"$4000000000\r\n".to_vec(), 64, Duration::ZERO);
        let result = get(&target, Duration::from_secs(2));
        assert!(matches!(result, Err(RespError::Protocol(_))), "{result:?}");
        let target = fake_server(vec![b'+'; 4096], 4096, Duration::ZERO);
        let result = get(&target, Duration::from_secs(2));
        assert!(matches!(result, Err(RespError::Protocol(_))), "{result:?}");
    }
}
