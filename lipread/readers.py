"""Choosing a reader: the shipped one, a weights file, or a taught profile, by one name. The
only way the CLI, the read page, Live and Teach choose what reads.

    import lipread
    reader = lipread.load_reader()          # the shipped reader ($LIPREAD_WEIGHTS: another)
    reader = lipread.load_reader("alice")   # alice's profile (lipread enroll --name alice)
    reader = lipread.load_reader("runs/lipnet/best.weights.h5")
    print(lipread.read("bbaf2n.mpg", reader).sentence)
"""
from __future__ import annotations

import os
from pathlib import Path

from lipread import reading
from lipread.enroll import profiles
from lipread.model import loader

GENERAL = profiles.GENERAL  # the shipped reader's name where a name is asked for
WEIGHTS_SUFFIXES = (".weights.h5", ".h5", ".index")  # a name ending so is a file's


def is_file_name(name: str) -> bool:
    """A weights file's name, not a profile's: a profile's name is 1-32 of a-z, 0-9, _ and -
    (profiles.NAME); anything else (a folder, a suffix) names a file."""
    return not profiles.NAME.fullmatch(name) or name.endswith(WEIGHTS_SUFFIXES)


def weights_of(name: str | None = None) -> Path:
    """The weights file `name` reads with (the profile's, the file itself, or the shipped
    weights); raises profiles.ProfileError for a bad profile name."""
    if name is None or name == GENERAL:
        return Path(os.environ.get(reading.WEIGHTS_ENV) or loader.DEFAULT_WEIGHTS["lipnet"])
    if is_file_name(name):
        return Path(name)
    return profiles.path(name) / profiles.WEIGHTS_FILE


def load_reader(name: str | os.PathLike | None = None, *, arch: str = "lipnet",
                runtime: str | None = None):
    """The reader `name` says: None (or "general") the shipped reader, or $LIPREAD_WEIGHTS;
    a weights file's path (a .weights.h5, or the tutorial's TF checkpoint with arch
    "tutorial"); or a taught profile's name. `runtime` "keras" reads with the Keras network
    instead of ONNX Runtime. Raises ValueError (loader.WeightsError, profiles.ProfileError)
    with one line saying what is wrong.

        >>> reader = lipread.load_reader("alice")
    """
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    if arch != "lipnet" and name in (None, GENERAL):
        return loader.load_network(arch, None, runtime)
    if name is None or name == GENERAL:
        if runtime is None:
            return reading.default_reader()
        return loader.load_network(arch, os.environ.get(reading.WEIGHTS_ENV) or None, runtime)
    if arch != "lipnet" or is_file_name(name):
        return loader.load_network(arch, name, runtime)
    return profiles.load_network(name, runtime or loader.default_runtime())
