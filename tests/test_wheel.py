"""The wheel reads anywhere: `pip wheel .`, then `pip install` of that wheel (not editable)
into a fresh virtualenv made from requirements.txt, reads lbwy9a.mpg right from `/`, with a
fresh home and cache. The shipped weights and their card travel in the wheel as package data
(the repository's models/ as lipread/models, pyproject.toml); the first reading builds what
it needs into the cache with one line on stderr ("preparing the reader once: ..."), the
second writes nothing there.

The wheel is built from a copy of what it is made of (pyproject.toml, README.md,
requirements.txt, lipread/, models/), so the checkout gets no build/ or egg-info. The
virtualenv (~1.1 GB; ~25 s to fill from a local wheel cache, longer from PyPI) is removed
afterwards. Every step has a timeout.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLIP = "lbwy9a"  # a test-split clip the shipped reader reads right and sure (test_confidence)
PREPARING = "preparing the reader once: "  # lipread.cache.PREPARING
BUILD_TIMEOUT_S = 300
INSTALL_TIMEOUT_S = 1200  # requirements.txt: ~25 s from a local wheel cache
READ_TIMEOUT_S = 300
# Not copied for the build: caches, and what `make checkpoint` downloads into models/.
CACHES = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
DOWNLOADED = shutil.ignore_patterns("checkpoint*", "*.zip")  # in models/ only


def LEFT_OUT(folder, names):
    out = CACHES(folder, names)
    return out | DOWNLOADED(folder, names) if Path(folder).name == "models" else out


def run(cmd, timeout, **kwargs):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout, **kwargs)
    assert proc.returncode == 0, f"{cmd}: exit {proc.returncode}\n{proc.stdout[-3000:]}" \
                                 f"\n{proc.stderr[-3000:]}"
    return proc


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_the_wheel_lists_every_package_and_the_models():
    """pyproject.toml lists the packages (models/ is mapped in, which the finder cannot
    do): every folder of lipread/ with an __init__.py, and lipread.models from models/."""
    from setuptools import find_packages

    found = find_packages(str(ROOT), include=["lipread", "lipread.*"])
    listed = pyproject()["packages"]
    assert sorted(p for p in listed if p != "lipread.models") == sorted(found), (
        "pyproject.toml's [tool.setuptools] packages must list every package of lipread/")
    assert pyproject()["package-dir"] == {"lipread.models": "models"}
    for name in pyproject()["package-data"]["lipread.models"]:
        assert (ROOT / "models" / name).is_file(), name


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """`pip wheel . --no-deps --no-build-isolation` of a copy of the wheel's sources."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "requirements.txt"):
        shutil.copy2(ROOT / name, src / name)
    for folder in ("lipread", "models"):
        shutil.copytree(ROOT / folder, src / folder, ignore=LEFT_OUT)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run([sys.executable, "-m", "pip", "wheel", src, "--no-deps", "--no-build-isolation",
         "-q", "-w", work / "dist"], BUILD_TIMEOUT_S, env=env)
    (built,) = (work / "dist").glob("lipread-*.whl")
    return built


def test_the_wheel_carries_the_weights_and_their_card(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        weights = z.read("lipread/models/lipnet.weights.h5")
    for name in ("lipnet.weights.h5", "lipnet.face.npy", "metrics.json", "README.md"):
        assert f"lipread/models/{name}" in names, name
    assert hashlib.sha256(weights).digest() == hashlib.sha256(
        (ROOT / "models" / "lipnet.weights.h5").read_bytes()).digest()
    assert {n.split("/")[0] for n in names} == {"lipread", wheel.name.split("-py3")[0]
                                                 + ".dist-info"}, "only lipread/ goes in"


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """A fresh virtualenv: requirements.txt and the wheel, not editable; removed after."""
    venv = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", "--clear", venv], 300)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    try:
        run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check",
             "-r", ROOT / "requirements.txt", wheel], INSTALL_TIMEOUT_S, env=env)
        yield venv
    finally:
        shutil.rmtree(venv, ignore_errors=True)


def fresh_env(venv: Path, home: Path) -> dict:
    """Only what a user's shell would have: the venv first on PATH, a home and temp folder
    of its own (every root cache.py looks in is empty), nothing of the checkout."""
    tmp = home / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    return {"PATH": f"{venv / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin", "HOME": str(home),
            "XDG_CACHE_HOME": str(home / ".cache"), "TMPDIR": str(tmp), "LANG": "C.UTF-8"}


def test_the_installed_wheel_reads_a_clip_from_root(installed, grid_dir, tmp_path):
    from lipread import grid

    clip = grid.video_path(grid_dir, CLIP).resolve()
    truth = grid.load_sentence(grid.alignment_path(grid_dir, CLIP))
    env = fresh_env(installed, tmp_path / "home")
    where = run([installed / "bin" / "python", "-c",
                 "import lipread; from lipread.model import loader; "
                 "from lipread.app import modelcard; print(lipread.__file__); "
                 "print(loader.DEFAULT_WEIGHTS['lipnet']); "
                 "print(sorted(modelcard.read_model_card(loader.MODELS_DIR)))"],
                READ_TIMEOUT_S, cwd="/", env=env).stdout.splitlines()
    assert where[0].startswith(str(installed)) and "site-packages" in where[0], where
    assert where[1] == str(Path(where[0]).parent / "models" / "lipnet.weights.h5"), where
    assert where[2] != "[]", "the card's figures (metrics.json) are not read"

    first = run([installed / "bin" / "lipread", "predict", clip], READ_TIMEOUT_S, cwd="/",
                env=env)
    assert first.stdout.strip() == truth
    lines = first.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(PREPARING), first.stderr
    assert "ONNX" in lines[0] and re.search(r"\(\d+\.\d s\)", lines[0]), lines[0]
    second = run([installed / "bin" / "lipread", "predict", clip], READ_TIMEOUT_S, cwd="/",
                 env=env)
    assert second.stdout.strip() == truth
    assert second.stderr == ""
