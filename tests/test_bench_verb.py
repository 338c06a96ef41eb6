"""`lipread bench`: how fast this machine reads a user's video, cold and warm (figures come
out, never how fast); and the lab stays beside the package: nothing in lipread/ imports
benchmarks/ or experiments/, builds a path to a folder beside the project, names a fixed
browser, or rewrites another module's constant at run time.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lipread import grid, pipeline

ROOT = Path(__file__).resolve().parents[1]
LAB = ("benchmarks", "experiments")


def lipread(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lipread", "bench", *map(str, args)],
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)


def test_bench_times_a_video_cold_and_warm(grid_dir, test_names, tmp_path):
    clip = grid.video_path(grid_dir, test_names[0])
    out = tmp_path / "bench.json"
    proc = lipread(clip, "--runs", 2, "--cold-runs", 1, "--json", out)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    warm, cold = result["warm"], result["cold"]
    assert result["video"] == str(clip) and result["runtime"] == "onnx"
    assert warm["runs"] == 2 and warm["median_s"] > 0
    assert set(warm["stages_s"]) == set(pipeline.STAGES)
    assert all(v > 0 for v in warm["stages_s"].values()), warm
    words = warm["sentence"].split()  # a GRID sentence (the grammar decoder)
    assert len(words) == 6 and all(w in slot for w, slot in zip(words, grid.GRID_SLOTS))
    assert cold["runs"] == 1 and cold["min_s"] == cold["median_s"] == cold["max_s"] > 0
    assert cold["sentence"] == warm["sentence"]  # the fresh process read the same
    assert f"sentence: {warm['sentence']}" in proc.stdout
    assert "median of 2" in proc.stdout and "median of 1" in proc.stdout


def test_bench_without_cold_runs_and_json_to_stdout(grid_dir, test_names):
    proc = lipread(grid.video_path(grid_dir, test_names[0]), "--runs", 1, "--cold-runs", 0,
                   "--crop", "fixed", "--decoder", "greedy", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["cold"] is None and result["crop"] == "fixed"
    assert result["decoder"] == "greedy" and "warm, the network loaded" in proc.stderr


@pytest.mark.parametrize("args, said", [
    (["{tmp}/none.mp4"], "none.mp4: no such file"),
    (["{readme}"], "not a video"),
    (["{readme}", "--runs", "0"], "--runs must be 1 or more"),
    (["{readme}", "--cold-runs", "-1"], "--cold-runs must be 0 or more"),
])
def test_bench_refuses_bad_input_in_one_line(args, said, tmp_path):
    args = [a.format(tmp=tmp_path, readme=ROOT / "README.md") for a in args]
    proc = lipread(*args, "--json", tmp_path / "out.json")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("lipread bench: error:") and said in last, proc.stderr
    assert not (tmp_path / "out.json").exists()


def code_strings(tree: ast.AST) -> list[str]:
    """The module's string constants, its docstrings left out."""
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
            and n.body and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)}
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
            and isinstance(n.value, str) and id(n) not in docs]


def module_constants_set(tree: ast.AST) -> list[str]:
    """`module.NAME = ...` for a module the file imports: a library constant rewritten."""
    modules = {a.asname or a.name.split(".")[0] for n in ast.walk(tree)
               if isinstance(n, ast.Import) for a in n.names}
    modules |= {a.asname or a.name for n in ast.walk(tree)
                if isinstance(n, ast.ImportFrom) for a in n.names}
    targets = [t for n in ast.walk(tree) if isinstance(n, (ast.Assign, ast.AugAssign))
               for t in (n.targets if isinstance(n, ast.Assign) else [n.target])]
    flat = [e for t in targets for e in (t.elts if isinstance(t, ast.Tuple) else [t])]
    return [f"{e.value.id}.{e.attr}" for e in flat if isinstance(e, ast.Attribute)
            and isinstance(e.value, ast.Name) and e.value.id in modules and e.attr.isupper()]


def test_the_package_holds_no_lab():
    for path in sorted((ROOT / "lipread").rglob("*.py")):
        where = path.relative_to(ROOT)
        tree = ast.parse(path.read_text())
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import)
                    for a in n.names}
        imported |= {n.module for n in ast.walk(tree)
                     if isinstance(n, ast.ImportFrom) and n.level == 0}
        assert not {m for m in imported if m.split(".")[0] in LAB}, where
        for text in code_strings(tree):
            assert text != "shared" and "../shared" not in text, (where, text)
            assert "/usr/bin/chromium" not in text, (where, text)
        assert module_constants_set(tree) == [], where
    assert not (ROOT / "lipread" / "bench").exists()
    for folder in LAB:  # each says what it measures and how to run it
        readme = (ROOT / folder / "README.md").read_text()
        assert f"python -m {folder}" in readme and "make " in readme, folder
