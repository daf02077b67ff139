//! Files and directories that appear whole or not at all, for the caches that several processes
//! share (the sentence cache's disk level, the compiled-graph cache): everything is written
//! under a temporary name unique to this process, thread and moment, then renamed into place,
//! so a reader never sees half of an entry and two writers never write the same file.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// A fresh temporary name in `dir` for an entry called `stem` (hidden, ends in `.tmp`): the
/// process, thread and moment, and 64 random bits, so another user of a shared directory cannot
/// plant a file or link at the name beforehand (and `write` creates it exclusively anyway).
pub(crate) fn temp_path(dir: &Path, stem: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let random = getrandom::u64().unwrap_or(0);
    dir.join(format!(
        ".{stem}.{}.{:?}.{nanos}.{random:016x}.tmp",
        std::process::id(),
        std::thread::current().id()
    ))
}

/// Write `bytes` to `path` atomically: a temporary file in the same directory, then a rename.
/// On failure nothing is left behind.
pub(crate) fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let stem = path
        .file_name()
        .map_or_else(|| "entry".into(), |n| n.to_string_lossy());
    let tmp = temp_path(dir, &stem);
    // create_new: O_EXCL, which also refuses to follow a link planted at the name.
    let written = std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Move the finished directory `staging` to `dest`. If another writer put `dest` there first,
/// theirs is kept and `staging` removed: `Ok(false)`.
pub(crate) fn publish_dir(staging: &Path, dest: &Path) -> std::io::Result<bool> {
    if dest.exists() {
        std::fs::remove_dir_all(staging)?;
        return Ok(false);
    }
    match std::fs::rename(staging, dest) {
        Ok(()) => Ok(true),
        // Renaming onto a directory that appeared meanwhile fails (it is not empty).
        Err(_) if dest.exists() => {
            std::fs::remove_dir_all(staging)?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_land_whole_and_leave_no_temporary_behind() {
        let dir = std::env::temp_dir().join(format!("indextts-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.pcm");
        write(&path, b"first").unwrap();
        write(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert!(write(&dir.join("missing/a.pcm"), b"x").is_err());
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "only a.pcm: {names:?}");
        assert_ne!(temp_path(&dir, "a"), temp_path(&dir, "a"));

        let (staging, dest) = (temp_path(&dir, "entry"), dir.join("entry"));
        std::fs::create_dir_all(&staging).unwrap();
        std::fs::write(staging.join("x"), b"mine").unwrap();
        assert!(publish_dir(&staging, &dest).unwrap());
        let late = temp_path(&dir, "entry");
        std::fs::create_dir_all(&late).unwrap();
        std::fs::write(late.join("x"), b"theirs").unwrap();
        assert!(
            !publish_dir(&late, &dest).unwrap(),
            "the first entry is kept"
        );
        assert_eq!(std::fs::read(dest.join("x")).unwrap(), b"mine");
        assert!(!late.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
