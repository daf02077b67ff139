//! Where the fetched assets (ONNX Runtime, espeak-ng, the voices) are found: where the caller
//! says, else `$INDEXTTS_ASSETS`, else the places installed software looks: the user's data
//! directory (`$XDG_DATA_HOME/indextts`, else `~/.local/share/indextts`), then, when the
//! library runs from the checkout it was built in, that checkout's `models/assets`.

use std::path::{Path, PathBuf};

/// ONNX Runtime's library, inside an assets directory.
pub(crate) const ORT_LIBRARY: &str = "onnxruntime/libonnxruntime.so.1.31.1";
/// espeak-ng's library, inside an assets directory.
pub(crate) const ESPEAK_LIBRARY: &str = "espeak-ng/libespeak-ng.so.1.52.0";
/// espeak-ng's data, inside an assets directory.
pub(crate) const ESPEAK_DATA: &str = "espeak-ng/espeak-ng-data";

/// The assets directories searched, in order: `$INDEXTTS_ASSETS` alone when it is set, else
/// the user's data directory and the build's checkout (when it exists).
pub fn asset_dirs() -> Vec<PathBuf> {
    if let Some(dir) = env_path("INDEXTTS_ASSETS") {
        return vec![dir];
    }
    let mut dirs: Vec<PathBuf> = env_path("XDG_DATA_HOME")
        .or_else(|| env_path("HOME").map(|h| h.join(".local/share")))
        .map(|d| d.join("indextts"))
        .into_iter()
        .collect();
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/assets");
    if checkout.is_dir() {
        dirs.push(checkout);
    }
    dirs
}

/// The first of [`asset_dirs`] that holds assets (a `voices` or `onnxruntime` directory), else
/// the first place searched: where `speak --fetch` (or `scripts/fetch_assets.py --assets DIR`)
/// should put them.
pub fn assets_dir() -> PathBuf {
    let dirs = asset_dirs();
    dirs.iter()
        .find(|d| d.join("voices").is_dir() || d.join("onnxruntime").is_dir())
        .or(dirs.first())
        .cloned()
        .unwrap_or_else(|| PathBuf::from("models/assets"))
}

/// `relative` in the first of `dirs` that has it; else the error text naming every place looked.
pub(crate) fn find(dirs: &[PathBuf], relative: &str) -> Result<PathBuf, (PathBuf, String)> {
    if let Some(found) = dirs.iter().map(|d| d.join(relative)).find(|p| p.exists()) {
        return Ok(found);
    }
    let first = dirs
        .first()
        .map_or_else(|| PathBuf::from(relative), |d| d.join(relative));
    Err((first, format!("not found; looked in {}", looked(dirs))))
}

/// The places searched, for an error message.
pub(crate) fn looked(dirs: &[PathBuf]) -> String {
    if dirs.is_empty() {
        return "no assets directory (set INDEXTTS_ASSETS or HOME)".into();
    }
    let places: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    format!(
        "{} (install them with `speak --fetch VOICE`, or set INDEXTTS_ASSETS)",
        places.join(", ")
    )
}

pub(crate) fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_asset_names_every_place_looked() {
        let dirs = vec![
            PathBuf::from("/nonexistent/a"),
            PathBuf::from("/nonexistent/b"),
        ];
        let (first, reason) = find(&dirs, ORT_LIBRARY).unwrap_err();
        assert_eq!(first, Path::new("/nonexistent/a").join(ORT_LIBRARY));
        assert!(
            reason.contains("/nonexistent/a") && reason.contains("/nonexistent/b"),
            "{reason}"
        );
        let here = std::env::temp_dir();
        assert_eq!(
            find(&[PathBuf::from("/nonexistent/a"), here.clone()], "."),
            Ok(here.join("."))
        );
    }
}
