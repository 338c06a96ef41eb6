"""Install sizes: each requirements set installed into a fresh virtual environment of its
own (a private temp folder, removed after), the folder measured, for
`python -m benchmarks --sizes`.

The sets, as the Makefile installs them: reading (requirements.txt: the page, predict,
evaluate), run (requirements-train.txt: reading and training, what `make run` builds),
and test (requirements-test.txt: run, JAX and the test tools, what `make test` builds).
Sizes are the files' own sizes (as `du -sb` counts them), with the part that is compiled
bytecode (pip writes it at install; `pip install --no-compile` leaves it to first use).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

SETS = {"reading": "requirements.txt", "run": "requirements-train.txt",
        "test": "requirements-test.txt"}
PIP_TIMEOUT = 3600  # s, one set's install: a few minutes from a warm pip cache


def tree_size(root: Path) -> dict:
    """Bytes under `root` (links not followed), and how many of them are .pyc files."""
    total = pyc = files = 0
    for folder, _, names in os.walk(root):
        for name in names:
            try:
                size = os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
            total, files = total + size, files + 1
            if name.endswith(".pyc"):
                pyc += size
    return {"bytes": total, "pyc_bytes": pyc, "files": files}


def largest(site: Path, n: int = 5) -> list[tuple[str, int]]:
    """The n largest top-level entries of site-packages, with their bytes."""
    sizes = [(p.name, tree_size(p)["bytes"] if p.is_dir() else p.stat().st_size)
             for p in site.iterdir() if not p.name.endswith(".dist-info")]
    return sorted(sizes, key=lambda s: -s[1])[:n]


def install_size(requirements: Path, python: str = sys.executable) -> dict:
    """`requirements` pip-installed into a new venv in a private temp folder: its size."""
    with tempfile.TemporaryDirectory(prefix="lipread-size-") as folder:
        venv = Path(folder) / "venv"
        subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=300,
                       stdin=subprocess.DEVNULL)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
               "--disable-pip-version-check", "-r", str(requirements.resolve())]
        done = subprocess.run(pip, timeout=PIP_TIMEOUT, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            errors = [line for line in done.stderr.splitlines() if "ERROR" in line]
            raise RuntimeError(f"pip install -r {requirements.name} failed: "
                               f"{(errors or done.stderr.splitlines() or ['?'])[-1]}")
        size = tree_size(venv)
        site = next(venv.glob("lib/python*/site-packages"))
        size["largest"] = largest(site)
        size["packages"] = sum(1 for p in site.glob("*.dist-info"))
    return size


def measure(root: Path, sets=tuple(SETS)) -> dict:
    """Each named set's size, installed from `root`'s requirements files."""
    out = {}
    for name in sets:
        print(f"installing the {name} set ({SETS[name]}) into a temp venv", file=sys.stderr,
              flush=True)
        out[name] = {"requirements": SETS[name], **install_size(root / SETS[name])}
    return out
