//! Every voice indextts knows of: the ones its asset manifest pins (installed or not) and any
//! other voice found in the assets directories, for `speak --list-voices`.

use std::path::{Path, PathBuf};

use crate::voice::VoiceFamily;

/// The asset manifest, as built into the library.
const MANIFEST: &str = include_str!("../models/manifest.json");

/// The built-in asset manifest, parsed (tests check it parses; a broken one pins nothing).
pub(crate) fn manifest() -> serde_json::Value {
    serde_json::from_str(MANIFEST).unwrap_or_default()
}

/// What the manifest pins under a voice name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Pinned {
    /// A Piper voice from a wheel.
    Piper,
    /// A Kokoro voice pack of a language indextts reads.
    Kokoro,
    /// A Kokoro voice pack of a language with no frontend (named): a speaker only.
    KokoroSpeaker(&'static str),
    /// The Mandarin voice, converted from TFLite in a Python venv.
    Converted,
}

/// What `manifest` pins under `name`, if anything.
pub(crate) fn pinned(manifest: &serde_json::Value, name: &str) -> Option<Pinned> {
    let in_voice = |dest: &serde_json::Value| {
        dest.as_str()
            .is_some_and(|d| d.starts_with(&format!("voices/{name}/")))
    };
    let piper = manifest["wheels"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|w| w["files"].as_array().into_iter().flatten())
        .any(|f| in_voice(&f["dest"]));
    if piper {
        Some(Pinned::Piper)
    } else if kokoro_packs(manifest).any(|p| p == name) {
        Some(match crate::family::kokoro::pack_language(name) {
            Ok(_) => Pinned::Kokoro,
            Err(language) => Pinned::KokoroSpeaker(language),
        })
    } else if in_voice(&manifest["zh"]["voice_json"]["dest"]) {
        Some(Pinned::Converted)
    } else {
        None
    }
}

/// The names of the Kokoro voice packs `manifest` pins.
pub(crate) fn kokoro_packs(manifest: &serde_json::Value) -> impl Iterator<Item = &str> {
    manifest["kokoro"]["npm"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["packs"].as_array().into_iter().flatten())
        .filter_map(|p| p["name"].as_str())
}

/// One voice of the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogEntry {
    /// The name to pass as a voice.
    pub name: String,
    /// The kind of model.
    pub family: VoiceFamily,
    /// The language (an espeak-ng style tag: `en-us`, `cmn`, ...).
    pub language: String,
    /// Output sample rate in Hz.
    pub sample_rate: u32,
    /// Where it is installed, if it is.
    pub installed: Option<PathBuf>,
    /// Bytes of the voice's own files when installed (0 when not).
    pub bytes: u64,
    /// What a user should know (how it is installed, what it shares, why it cannot be).
    pub note: String,
}

/// The catalog, in name order.
pub fn voice_catalog() -> Vec<CatalogEntry> {
    let dirs = crate::asset_dirs();
    let installed = |name: &str| {
        dirs.iter()
            .map(|d| d.join("voices").join(name))
            .find(|p| p.is_dir())
    };
    let entry = |name: &str, family, language: &str, rate, note: String| {
        let at = installed(name);
        CatalogEntry {
            name: name.to_owned(),
            family,
            language: language.to_owned(),
            sample_rate: rate,
            bytes: at.as_deref().map_or(0, dir_bytes),
            installed: at,
            note,
        }
    };
    let mut entries = vec![
        entry(
            crate::DEFAULT_VOICE,
            VoiceFamily::PiperVits,
            "en-us",
            22_050,
            format!("the default voice: speak --fetch {}", crate::DEFAULT_VOICE),
        ),
        entry(
            "zh_CN-baker-fastspeech2",
            VoiceFamily::FastSpeech2,
            "cmn",
            24_000,
            "converted from TFLite in a pinned Python venv (not by speak --fetch): \
             scripts/fetch_assets.py --zh in a checkout"
                .into(),
        ),
    ];
    let manifest = manifest();
    let model_bytes = manifest["kokoro"]["concat"]["bytes"].as_u64().unwrap_or(0);
    for name in kokoro_packs(&manifest) {
        let (language, note) = match crate::family::kokoro::pack_language(name) {
            Ok((language, _)) => (
                language.to_owned(),
                format!(
                    "shares the {} MB model in voices/kokoro-v1.0: speak --fetch {name}",
                    model_bytes / 1_000_000
                ),
            ),
            Err(language) => (
                match language {
                    "Japanese" => "ja",
                    "Mandarin" => "cmn",
                    _ => "?",
                }
                .to_owned(),
                format!("a speaker of any Kokoro voice; no {language} frontend yet"),
            ),
        };
        let mut voice = entry(name, VoiceFamily::Kokoro, &language, 24_000, note);
        if voice.installed.is_some() {
            // Its own bytes are its voice pack (the directory holds only its kokoro.json).
            voice.bytes += manifest["kokoro"]["npm"][0]["bytes"].as_u64().unwrap_or(0);
        }
        entries.push(voice);
    }
    // Voices installed beside them that the manifest does not know (a user's own).
    for dir in &dirs {
        for name in crate::voice::available_voices(dir) {
            if entries.iter().any(|e| e.name == name) || name == "kokoro-v1.0" {
                continue;
            }
            let path = dir.join("voices").join(&name);
            let Ok(paths) = crate::VoicePaths::locate(&path) else {
                continue;
            };
            entries.push(CatalogEntry {
                bytes: dir_bytes(&path),
                name,
                family: paths.family,
                language: "?".into(),
                sample_rate: 0,
                installed: Some(path),
                note: "installed by hand".into(),
            });
        }
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries
}

/// How to install the pinned voice `name`, for an error that says it is missing; `None` for a
/// name the manifest does not pin.
pub(crate) fn install_command(name: &str) -> Option<String> {
    match pinned(&manifest(), name)? {
        Pinned::Piper | Pinned::Kokoro => Some(format!("speak --fetch {name}")),
        Pinned::Converted => Some("scripts/fetch_assets.py --zh (in an indextts checkout)".into()),
        Pinned::KokoroSpeaker(_) => None,
    }
}

/// Bytes of the files under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_catalog_knows_every_pinned_voice() {
        let catalog = super::voice_catalog();
        let kokoro = catalog
            .iter()
            .filter(|e| e.family == crate::VoiceFamily::Kokoro)
            .count();
        assert_eq!(kokoro, 54);
        assert!(catalog.iter().any(|e| e.name == "en_US-joe-medium"));
        let ja = catalog.iter().find(|e| e.name == "jf_alpha").unwrap();
        assert!(ja.note.contains("Japanese"), "{ja:?}");
        use super::install_command;
        assert_eq!(
            install_command("af_heart").unwrap(),
            "speak --fetch af_heart"
        );
        assert_eq!(
            install_command("en_US-joe-medium").unwrap(),
            "speak --fetch en_US-joe-medium"
        );
        assert!(install_command("zh_CN-baker-fastspeech2")
            .unwrap()
            .contains("--zh"));
        assert_eq!(install_command("jf_alpha"), None);
        assert_eq!(install_command("nobody"), None);
    }
}
