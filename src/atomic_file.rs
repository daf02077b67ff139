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

/// The regular file at `path` and up to `max_bytes` of its bytes; `Ok(None)` if what is there is
/// not a regular file within `max_bytes`. For files in a directory others may write: opened
/// without following a link (`O_NOFOLLOW`) or waiting for a FIFO's writer (`O_NONBLOCK`),
/// checked on the open handle, and read only up to the size it had, so a planted link, FIFO or
/// huge file is neither followed, waited on nor read whole.
pub(crate) fn read_bounded(
    path: &Path,
    max_bytes: u64,
) -> std::io::Result<Option<(std::fs::File, Vec<u8>)>> {
    use std::io::Read as _;
    let mut options = std::fs::File::options();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = match options.open(path) {
        Ok(file) => file,
        // ELOOP: the name is a symbolic link.
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if !meta.is_file() || meta.len() > max_bytes {
        return Ok(None);
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    (&file).take(max_bytes).read_to_end(&mut bytes)?;
    Ok(Some((file, bytes)))
}

/// Age at which a temporary file or directory is a crashed writer's leftover: no live write
/// takes an hour.
pub(crate) const STALE_TEMP: std::time::Duration = std::time::Duration::from_secs(3600);

/// Remove the temporaries ([`temp_path`] names, files or directories) in `dir` that are older
/// than [`STALE_TEMP`]: a killed writer's, which would otherwise stay outside any budget.
pub(crate) fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let stale = std::time::SystemTime::now() - STALE_TEMP;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let temporary = name
            .to_str()
            .is_some_and(|n| n.starts_with('.') && n.ends_with(".tmp"));
        // symlink_metadata: a link is judged (and removed) as itself, never followed.
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        if !temporary || meta.modified().map_or(true, |m| m >= stale) {
            continue;
        }
        let _ = if meta.is_dir() {
            std::fs::remove_dir_all(entry.path())
        } else {
            std::fs::remove_file(entry.path())
        };
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

        // Temporaries an hour old go, fresh ones and entries stay.
        let (old_file, old_dir) = (temp_path(&dir, "a"), temp_path(&dir, "staging"));
        let fresh = temp_path(&dir, "b");
        std::fs::write(&old_file, b"x").unwrap();
        std::fs::create_dir_all(old_dir.join("sub")).unwrap();
        std::fs::write(&fresh, b"x").unwrap();
        let hour_ago =
            std::time::SystemTime::now() - STALE_TEMP - std::time::Duration::from_secs(1);
        for old in [&old_file, &old_dir] {
            std::fs::File::open(old)
                .unwrap()
                .set_modified(hour_ago)
                .unwrap();
        }
        remove_stale_temporaries(&dir);
        assert!(!old_file.exists() && !old_dir.exists());
        assert!(fresh.exists() && path.exists() && dest.exists());

        // Bounded reads: a regular file within the bound, nothing else.
        assert_eq!(read_bounded(&path, 64).unwrap().unwrap().1, b"second");
        assert!(read_bounded(&path, 3).unwrap().is_none(), "over the bound");
        assert!(read_bounded(&dest, 64).unwrap().is_none(), "a directory");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&path, dir.join("link")).unwrap();
            assert!(
                read_bounded(&dir.join("link"), 64).unwrap().is_none(),
                "a link"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
