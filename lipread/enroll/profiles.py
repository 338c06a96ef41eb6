"""Profiles: a person's reader, kept beside (never in place of) the general one.

    <profiles dir>/<name>/reader.weights.h5   the adapted network (models/README.md's lipnet,
                                              plus the method's adapters or prompt, if any)
    <profiles dir>/<name>/profile.json        its card: method, settings, clips, time, and the
                                              held-out clip read before and after
    <profiles dir>/<name>/recordings/         the clips recorded in the page, when made there

The profiles dir is profiles/ (git-ignored), or $LIPREAD_PROFILES_DIR. A profile is written
whole into a fresh hidden folder and renamed into place, so a stopped enrollment leaves no
half profile; one enrollment of a name at a time (a lock file in the profiles dir).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

NAME = re.compile(r"[a-z0-9_-]{1,32}")
WEIGHTS_FILE, CARD_FILE, RECORDINGS = "reader.weights.h5", "profile.json", "recordings"
GENERAL = "general"  # the shipped reader, in the page's reader choice: no profile's name
MAX_CARD_BYTES = 1 << 20  # a card is a few kB


class ProfileError(ValueError):
    """A bad profile name, a missing or broken profile, or one being written already."""


def root() -> Path:
    return Path(os.environ.get("LIPREAD_PROFILES_DIR") or "profiles")


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ProfileError(f"profile name {name!r}: use 1-32 of a-z, 0-9, _ and - "
                           "(e.g. alice or bob-2)")
    if name == GENERAL:
        raise ProfileError(f"profile name {name!r} is the general reader's; choose another")
    return name


def path(name: str) -> Path:
    return root() / check_name(name)


def names() -> list[str]:
    """The complete profiles, sorted."""
    if not root().is_dir():
        return []
    return sorted(p.name for p in root().iterdir()
                  if NAME.fullmatch(p.name) and (p / CARD_FILE).is_file())


@contextlib.contextmanager
def writing(name: str, force: bool = False):
    """A fresh folder to fill with `name`'s profile; renamed into place when the block ends
    without an error, removed when it raises. Refused while another enrollment of `name`
    runs, and when `name` exists unless `force`."""
    final = path(name)
    root().mkdir(parents=True, exist_ok=True)
    lock_path = root() / f".{name}.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ProfileError(f"profile {name!r}: another enrollment of it is running; wait "
                               "for it to end") from None
        if final.exists() and not force:
            raise ProfileError(f"profile {name!r} exists ({final}); pass --force to replace "
                               "it, or choose another name")
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root()))
        try:
            yield tmp
            if final.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{name}-old-", dir=root()))
                os.replace(final, old / name)
                os.replace(tmp, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        os.close(fd)  # the lock goes with it; the empty lock file stays, harmless


def card(name: str) -> dict:
    """A profile's card (ProfileError when it is missing or unreadable)."""
    file = path(name) / CARD_FILE
    if not file.is_file():
        have = ", ".join(names()) or "none"
        raise ProfileError(f"profile {name!r}: no such profile in {root()} (profiles: {have}); "
                           "make one with lipread enroll")
    try:
        if file.stat().st_size > MAX_CARD_BYTES:
            raise ValueError("too big")
        data = json.loads(file.read_text())
        if not isinstance(data, dict) or "method" not in data:
            raise ValueError("no method")
        return data
    except (OSError, ValueError) as err:
        raise ProfileError(f"{file}: not a profile card ({err}); enroll {name!r} again "
                           "with --force") from None


def load_reader(name: str, runtime: str = "onnx"):
    """The person's network to read with: under ONNX Runtime (exported once, its adapters
    folded in; no TensorFlow) or, with runtime "keras", as `load` builds it."""
    if runtime == "keras":
        return load(name)
    from lipread.enroll import methods
    from lipread.model import onnx_export, onnx_reader

    info = card(name)
    method = methods.get(info["method"])
    weights = path(name) / WEIGHTS_FILE
    try:
        return onnx_reader.load(weights, adapters=method.adapters, prompt=method.prompt,
                                tempo=float(info.get("tempo", 1.0)))
    except (onnx_export.ExportError, onnx_reader.OnnxError, OSError) as err:
        raise ProfileError(f"{err}; enroll {name!r} again with --force") from None


def load(name: str):
    """The person's inference network (ProfileError when it can't be loaded)."""
    import warnings

    from lipread.enroll import methods
    from lipread.model import loader, networks

    info = card(name)
    method = methods.get(info["method"])
    weights = path(name) / WEIGHTS_FILE
    units = loader.gru_units_in(weights) or networks.GRU_UNITS
    model = networks.build_lipnet(units, method.adapters, method.prompt,
                                  float(info.get("tempo", 1.0)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(weights)
        except (ValueError, OSError) as err:
            first = (str(err).strip().splitlines() or ["unreadable"])[0]
            raise ProfileError(f"{weights}: does not fit its card's network ({first}); "
                               f"enroll {name!r} again with --force") from None
    if [w for w in caught if "saving" in w.filename]:
        raise ProfileError(f"{weights}: does not fit its card's network; enroll {name!r} "
                           "again with --force")
    return model


def save(folder: Path, model, method, info: dict) -> None:
    """Weights and card into a folder `writing` handed out. The weights go through a fresh,
    uncompiled network: a compiled one's file would carry its optimizer's state too (3x)."""
    from lipread.model import networks, widen

    fresh = networks.build_lipnet(widen.gru_units_of(model), method.adapters, method.prompt,
                                  float(info.get("tempo", 1.0)))
    fresh.set_weights(model.get_weights())
    fresh.save_weights(folder / WEIGHTS_FILE)
    (folder / CARD_FILE).write_text(json.dumps(info, indent=1) + "\n")
