"""Reading with ONNX Runtime: lipnet's weights file, exported once (onnx_export.py) to a file
named by the weights' content, run on the CPU without TensorFlow, Keras or JAX.

The export is kept in the per-user cache ($LIPREAD_CACHE_DIR, else ~/.cache/lipread/onnx):
named by the sha256 of the weights it came from and the graph's version, so changed
weights are never read through a stale export, and each user builds their own (0.4 s, said
on the "preparing the reader once" line: cache.preparing) instead of a second weights file
beside the shipped one. The graph also carries that sha256 (`weights_sha256`), checked
when an export is given by path. A cached export is also checked against its own sha256,
kept beside it when it was written (`<name>.sha256`): one changed after it was written
(other weights under the right stamp) is built again, never read. The cache's folder
is the user's own (cache.py).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from lipread import cache
from lipread.model import onnx_export

THREADS = 0  # ONNX Runtime's intra-op threads; 0: one per core
SHA_KEY = "weights_sha256"  # the graph's metadata: the weights it was exported from


class OnnxError(ValueError):
    """An export that is missing, corrupt or stale, said in one line with the fix."""


def weights_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


DIGEST = ".sha256"  # beside a cached export: the export's own sha256, as written


def _checked_bytes(found: Path) -> bytes | None:
    """A cached export's bytes when they are what was written (its DIGEST file's sha256,
    the same folder's), else None: to build again."""
    digest = cache.find("onnx", found.name + DIGEST)
    if digest is None or digest.parent != found.parent:
        return None
    try:
        data = found.read_bytes()
        expected = digest.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return data if hashlib.sha256(data).hexdigest() == expected else None


def _write_digest(export: Path) -> None:
    """export's sha256 beside it (a temp file, then renamed)."""
    import tempfile

    digest = export.with_name(export.name + DIGEST)
    fd, tmp = tempfile.mkstemp(prefix=f".{digest.name}.", dir=export.parent)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(weights_sha256(export) + "\n")
        os.replace(tmp, digest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cache_dir() -> Path:
    """Where exports are kept: lipread/cache.py's folder "onnx"."""
    return cache.folder("onnx")


class OnnxReader:
    """lipnet under ONNX Runtime: (N, 75, 46, 140, 1) frames to (N, 75, 41) probabilities."""

    runtime = "onnx"

    def __init__(self, onnx_path, weights_sha: str | None = None, data: bytes | None = None):
        """`data`: the export's bytes, read and checked already (else read from the path)."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = THREADS
        options.log_severity_level = 3  # errors only
        # Idle threads sleep instead of spinning: spinning held a core for the mouth stage
        # of the next video (a warm clip 11 ms slower on 2 cores), for no gain in the network.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(onnx_path) if data is None else data,
                                                options, providers=["CPUExecutionProvider"])
        except Exception as err:  # noqa: BLE001: ONNX Runtime raises its own error types
            first = (str(err).strip().splitlines() or ["unreadable"])[0][:200]
            raise OnnxError(f"{onnx_path}: not a usable ONNX export ({first}); rebuild it "
                            "with `lipread export`") from None
        found = self.session.get_modelmeta().custom_metadata_map.get(SHA_KEY)
        if weights_sha is not None and found != weights_sha:
            raise OnnxError(f"{onnx_path}: exported from other weights than these (stale); "
                            "rebuild it with `lipread export`")
        self.path = Path(onnx_path)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        frames = np.ascontiguousarray(frames, dtype=np.float32)
        return self.session.run(None, {onnx_export.INPUT_NAME: frames})[0]


def load(weights, onnx_path=None, **person) -> OnnxReader:
    """The reader of `weights` (a lipnet .weights.h5; `person`: a profile's adapters, prompt,
    tempo, as onnx_export.build takes them): from `onnx_path` when given (checked against
    the weights), else from the cache, exported there first if needed."""
    sha = weights_sha256(weights)
    if onnx_path is not None:
        return OnnxReader(onnx_path, sha)
    shape = "".join(f"-{k}" if v is True else f"-{k}{v:g}" for k, v in sorted(person.items())
                    if v is True or (v is not False and v != 1.0))  # True == 1.0: said first
    name = f"lipnet-{sha[:32]}{shape}-g{onnx_export.GRAPH_VERSION}.onnx"
    found = cache.find("onnx", name)
    data = _checked_bytes(found) if found is not None else None
    if data is not None:
        try:
            return OnnxReader(found, sha, data)
        except OnnxError:
            pass  # a damaged cache entry: built again below
    cached = cache_dir() / name
    onnx_export.check(weights, **person)  # weights that are not lipnet's: said alone
    with cache.preparing(f"exporting {Path(weights).name} to ONNX", cached.parent):
        onnx_export.export(weights, cached, **person)
        _write_digest(cached)
    return OnnxReader(cached, sha)
