"""Profiles: a person's reader, kept beside (never in place of) the general one.

    <profiles dir>/<name>/reader.weights.h5   the adapted network (models/README.md's lipnet,
                                              plus the method's adapters or prompt, if any)
    <profiles dir>/<name>/profile.json        its card: method, settings, clips, time, and the
                                              held-out clip read before and after
    <profiles dir>/<name>/recordings/         the clips recorded in the page, when made there

Whose a profile is: its card's "owner", the page visitor's hash (lipread/app/visitors.py)
for one made on the Teach page, listed to that visitor alone (unless the operator sets
LIPREAD_SHARE_PROFILES=1) and replaced or deleted by them alone; none for one made with
`lipread enroll`: the operator's, listed to every visitor, replaced by none from the page.

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
import sys
import tempfile
import time
from pathlib import Path

from lipread.enroll import cards

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")  # a letter or digit first: never a flag
WEIGHTS_FILE, CARD_FILE, RECORDINGS = "reader.weights.h5", "profile.json", "recordings"
GENERAL = "general"  # the shipped reader, in the page's reader choice: no profile's name


class ProfileError(ValueError):
    """A bad profile name, a missing or broken profile, or one being written already.
    `page`: what a visitor of the page is told instead, where the message names a path."""

    def __init__(self, message: str, page: str | None = None):
        super().__init__(message)
        self.page = page


def root() -> Path:
    return Path(os.environ.get("LIPREAD_PROFILES_DIR") or "profiles")


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ProfileError(f"profile name {name!r}: use 1-32 of a-z, 0-9, _ and -, "
                           "starting with a letter or digit (e.g. alice or bob-2)")
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


SHARE_ENV = "LIPREAD_SHARE_PROFILES"
OWNER = re.compile(r"[0-9a-f]{32}")


def shared() -> bool:
    """Whether the operator lists the page's profiles to every visitor
    (LIPREAD_SHARE_PROFILES=1)."""
    return os.environ.get(SHARE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def owner_of(name: str) -> str | None:
    """Who made the profile on the page (its card's owner), or None: the operator's (made
    with `lipread enroll`). A card that can't be read is the operator's to mend."""
    try:
        owner = cards.read(path(name) / CARD_FILE).get("owner")
    except (cards.Damaged, ProfileError):
        return None
    return owner if isinstance(owner, str) and OWNER.fullmatch(owner) else None


def owned_by(name: str, owner: str) -> bool:
    """Whether the visitor `owner` made profile `name` on the page (and so may replace or
    delete it)."""
    return bool(owner) and owner_of(name) == owner


def visible(owner: str) -> list[str]:
    """The profiles a page visitor may read with: the operator's, their own, and every
    other visitor's only when shared()."""
    share = shared()
    return [n for n in names() if share or owner_of(n) in (None, owner)]


def delete(name: str) -> None:
    """Remove profile `name`, weights, card and recordings (ProfileError while an
    enrollment of it runs)."""
    final = path(name)
    fd = os.open(_lock_path(name), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if not _lock_within(fd, LOCK_WAIT_S):
            raise ProfileError(f"profile {name!r}: an enrollment of it is running; wait for "
                               "it to end")
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{name}-old-", dir=root()))
            os.replace(final, old / name)
            shutil.rmtree(old, ignore_errors=True)
    finally:
        os.close(fd)


@contextlib.contextmanager
def writing(name: str, force: bool = False):
    """A fresh folder to fill with `name`'s profile; renamed into place when the block ends
    without an error, removed when it raises. Refused while another enrollment of `name`
    runs, and when `name` exists unless `force`."""
    final = path(name)
    root().mkdir(parents=True, exist_ok=True)
    sweep()  # what killed enrollments (of any name) left, first
    fd = os.open(_lock_path(name), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if not _lock_within(fd, LOCK_WAIT_S):  # a sweep holds it for milliseconds
            raise ProfileError(f"profile {name!r}: another enrollment of it is running; wait "
                               "for it to end")
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


# A work folder `writing` makes: .NAME-XXXXXXXX/, or .NAME-old-XXXXXXXX/ (mkdtemp's suffix)
WORK = re.compile(r"\.([a-z0-9][a-z0-9_-]{0,35})-[a-z0-9_]{8}")


LOCK_WAIT_S = 1.0


def _lock_path(name: str) -> Path:
    return root() / f".{name}.lock"


def _lock_within(fd: int, seconds: float) -> bool:
    for _ in range(int(seconds / 0.05) + 1):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            time.sleep(0.05)
    return False


def sweep() -> list[Path]:
    """Remove the work folders that killed enrollments left (a person's weights, their
    clips with --keep-clips): each one whose name's enrollment is not running (its lock
    is free). Run by every enrollment as it starts, and by the Teach page."""
    if not root().is_dir():
        return []
    removed = []
    for folder in sorted(root().iterdir()):
        match = WORK.fullmatch(folder.name)
        if not match or folder.is_symlink() or not folder.is_dir():
            continue
        named = match.group(1)  # .bob-old-XXXXXXXX: bob's old profile, or bob-old's work
        names_ = {named, named.removesuffix("-old")} - {""}
        with contextlib.ExitStack() as held:
            if all(_free(n, held) for n in names_):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    return removed


def _free(name: str, held: contextlib.ExitStack) -> bool:
    """Whether no enrollment of `name` runs: its lock taken (kept in `held`), or no lock
    file (none ever started; `writing` makes it before its folder)."""
    try:
        fd = os.open(_lock_path(name), os.O_RDWR)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    held.callback(os.close, fd)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def card(name: str) -> dict:
    """A profile's card, checked (cards.py). ProfileError, one line naming the profile and
    no path, when it is missing, unreadable or damaged."""
    file = path(name) / CARD_FILE
    if not file.is_file():
        have = ", ".join(names()) or "none"
        raise ProfileError(f"profile {name!r}: no such profile in {root()} (profiles: {have}); "
                           "make one with lipread enroll", page="it is not there any more")
    try:
        return cards.read(file)
    except cards.Damaged as err:
        raise ProfileError(f"profile {name!r}: not a profile card ({err}); enroll {name!r} "
                           "again with --force") from None


def page_reason(err: Exception) -> str:
    """Why a profile could not be loaded, for a visitor of the page: a ProfileError's own
    words without the command line's advice (they name no path); anything else (the
    server's cache, a file system) in general words, the details to the server's log."""
    if isinstance(err, ProfileError):
        return err.page or str(err).split("; enroll ")[0]
    print(f"lipread: a profile could not be loaded: {type(err).__name__}: {err}",
          file=sys.stderr)
    return "the server could not load it (its log says why)"


def weights_file(name: str) -> Path:
    """The profile's weights, a plain file of bounded size (cards.check_weights), else
    ProfileError (one line naming the profile, no path)."""
    weights = path(name) / WEIGHTS_FILE
    try:
        cards.check_weights(weights)
    except cards.Damaged as err:
        raise ProfileError(f"profile {name!r}: its weights {err}; enroll {name!r} again "
                           "with --force") from None
    return weights


def load_network(name: str, runtime: str = "onnx"):
    """The person's network to read with: under ONNX Runtime (exported once, its adapters
    folded in; no TensorFlow) or, with runtime "keras", as `load` builds it."""
    if runtime == "keras":
        return load(name)
    from lipread.enroll import methods
    from lipread.model import onnx_export, onnx_reader

    info = card(name)
    method = methods.get(info["method"])
    weights = weights_file(name)
    try:
        return onnx_reader.load(weights, adapters=method.adapters, prompt=method.prompt,
                                tempo=float(info.get("tempo", 1.0)))
    except onnx_export.ExportError:
        reason = "they do not fit its card's network"
    except onnx_reader.OnnxError:
        reason = "they could not be made a reader"
    except OSError as err:
        if err.errno is None:  # the cache's (cache.folder), not the profile's: as it is
            raise
        reason = err.strerror
    raise ProfileError(f"profile {name!r}: its weights cannot be read ({reason}); enroll "
                       f"{name!r} again with --force") from None


def load(name: str):
    """The person's inference network (ProfileError when it can't be loaded)."""
    import warnings

    from lipread.enroll import methods
    from lipread.model import loader, networks

    info = card(name)
    method = methods.get(info["method"])
    weights = weights_file(name)
    units = loader.gru_units_in(weights) or networks.GRU_UNITS
    model = networks.build_lipnet(units, method.adapters, method.prompt,
                                  float(info.get("tempo", 1.0)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(weights)
        except (ValueError, OSError):
            raise ProfileError(f"profile {name!r}: its weights do not fit its card's "
                               f"network; enroll {name!r} again with --force") from None
    if [w for w in caught if "saving" in w.filename]:
        raise ProfileError(f"profile {name!r}: its weights do not fit its card's network; "
                           f"enroll {name!r} again with --force")
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
