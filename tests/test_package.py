"""The package and its one command: `python -m lipread` and every verb's --help in a
subprocess, `pip install -e .` into a fresh virtualenv (no network) giving a `lipread`
command that reads a clip from another folder, and the layout the design card names:
no Python at the top level but the page and its two faces, library code importing
`lipread.*` only, no import from a verb module into the library.
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from lipread.cli.main import VERBS

ROOT = Path(__file__).resolve().parents[1]
FACES = ("app.py", "modelutil.py", "utils.py")  # the design card's top-level Python


def lipread(*args, cwd=ROOT, env=None, exe=(sys.executable, "-m", "lipread")):
    return subprocess.run([*exe, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL, env=env)


def test_help_lists_every_verb_with_one_line():
    proc = lipread("--help")
    assert proc.returncode == 0, proc.stderr
    listed = [l.split()[0] for l in proc.stdout.splitlines() if l.startswith("  ")]
    assert listed == list(VERBS)
    for verb in VERBS:
        line = next(l for l in proc.stdout.splitlines() if l.split()[:1] == [verb])
        assert len(line.split(None, 1)[1]) > 20, line  # a real sentence, from the docstring
        assert line.endswith("."), line  # whole: the docstring's first paragraph, not a line
    assert "tensorflow" not in proc.stderr.lower()


@pytest.mark.parametrize("argv", [("--help",), ("predict", "--help")])
def test_a_reader_that_stops_early_gets_no_traceback(argv):
    """`lipread --help | head -1`: stdout closed before lipread writes; no traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "lipread", *argv], cwd=ROOT,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # before the child has started: its first write finds no reader
    try:
        said = proc.stderr.read()
        proc.wait(timeout=120)
    finally:
        proc.kill()
    assert "Traceback" not in said and "BrokenPipeError" not in said, said
    assert proc.returncode in (0, 1), said


def test_help_never_cuts_a_path_or_a_word_at_a_hyphen(monkeypatch):
    """A checkout in /srv/lip-app: its default paths are whole in --help, however narrow."""
    from lipread.cli import common

    monkeypatch.setenv("COLUMNS", "50")
    path = "/srv/lip-app/a-rather-long-folder-name/models/"
    p = common.parser("lipread x", f"Reads from lip-app folders such as {path} and more.")
    p.add_argument("--dest", default=path, help="where the weights go")
    text = p.format_help()
    assert sum(path in line for line in text.splitlines()) == 2, text
    assert not any(line.rstrip().endswith("-") for line in text.splitlines()), text


@pytest.mark.parametrize("verb", VERBS)
def test_each_verb_has_help_and_flags(verb):
    proc = lipread(verb, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: lipread {verb} "), proc.stdout[:200]
    assert "--json" in proc.stdout  # every verb writes its results as JSON on request
    assert proc.stderr == ""


@pytest.mark.parametrize("argv, said", [((), "no verb given"), (("read",), "unknown verb 'read'")])
def test_a_missing_or_unknown_verb_is_exit_2_with_the_verbs(argv, said):
    proc = lipread(*argv)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"lipread: error: {said}: choose one of {', '.join(VERBS)}")


def test_shared_flags_say_their_defaults_once():
    """--crop and --decoder come from one helper each: the same choices and default text."""
    texts = {v: lipread(v, "--help").stdout for v in ("predict", "evaluate")}
    for flag in ("--crop {landmarks,fixed}", "--decoder {greedy,beam,grammar}"):
        assert all(flag in t for t in texts.values()), flag
    assert all("(default: landmarks)" in " ".join(t.split()) for t in texts.values())


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """`pip install -e .` into a fresh virtualenv, offline: the venv sees the test
    environment's packages through a .pth file (as --system-site-packages would a system
    Python's) and builds without isolation, so nothing is downloaded."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    site = Path(subprocess.check_output(
        [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        text=True).strip())
    (site / "test-environment.pth").write_text(sysconfig.get_path("purelib") + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "--no-deps",
                           "--no-build-isolation", "--no-index", "-q", "-e", str(ROOT)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return venv / "bin" / "lipread", env


def test_pip_install_gives_a_lipread_command_that_reads_a_clip(installed, grid_dir, test_names,
                                                               tmp_path):
    """Run from an empty folder: the shipped weights are found from the package."""
    exe, env = installed
    assert exe.is_file()
    from lipread import grid

    clip = grid.video_path(grid_dir, test_names[0])
    proc = lipread("predict", clip, "--decoder", "grammar", "--json", "-", cwd=tmp_path,
                   env=env, exe=(exe,))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)["results"][0]
    truth = grid.load_sentence(grid.alignment_path(grid_dir, test_names[0]))
    assert len(result["sentence"].split()) == 6 and result["name"] == str(clip)
    assert sum(a == b for a, b in zip(result["sentence"].split(), truth.split())) >= 4
    assert list(tmp_path.iterdir()) == []  # nothing written where it ran


def test_the_top_level_holds_only_the_page_and_its_faces():
    tracked = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True,
                             text=True).stdout.split() or [p.name for p in ROOT.glob("*.py")]
    assert sorted(p for p in tracked if "/" not in p) == sorted(FACES)
    assert sorted(p.name for p in ROOT.glob("*.py")) == sorted(FACES)


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module)
    return names


def test_library_code_imports_the_package_only():
    """No module of lipread/ imports a face (utils, modelutil) or the page; the library
    below cli/ never imports a verb module; the faces are short."""
    mine = {"utils", "modelutil", "app"}
    for path in (ROOT / "lipread").rglob("*.py"):
        found = imports_of(path)
        assert not found & mine, f"{path.relative_to(ROOT)} imports {found & mine}"
        if "cli" not in path.parts and path.name != "__main__.py":  # the command's entry
            assert not {n for n in found if n.startswith("lipread.cli")}, path
    for face in ("utils.py", "modelutil.py"):
        found = imports_of(ROOT / face)
        assert found and all(n.startswith("lipread") or n == "functools" for n in found), found
        assert len((ROOT / face).read_text().splitlines()) < 40


def test_the_faces_hand_on_the_card_names():
    import modelutil
    import utils
    from lipread import grid, video
    from lipread.model import loader

    assert utils.load_video is video.load_video
    assert utils.load_alignments is grid.load_alignments
    assert modelutil.load_model is loader.load_model
    assert modelutil.build_model is loader.build_model
    assert modelutil.DEFAULT_WEIGHTS["lipnet"] == ROOT / "models" / "lipnet.weights.h5"
    char_to_num, num_to_char = utils.char_to_num, utils.num_to_char  # the tutorial's layers
    ids = char_to_num(list("bin blue"))
    assert [int(i) for i in ids] == grid.text_to_ids("bin blue")
    assert b"".join(num_to_char(ids).numpy()).decode() == "bin blue"
    with pytest.raises(AttributeError):
        utils.no_such_name  # noqa: B018
