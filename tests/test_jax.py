"""Training and evaluation under KERAS_BACKEND=jax where `import tensorflow` fails.

TensorFlow stays the default backend; these run the same scripts under JAX in a subprocess
whose import hook (tests/no_tensorflow.py) makes TensorFlow missing, as on a GPU machine
with JAX and no TensorFlow; and, as the README says, in a fresh virtualenv made from
requirements-jax.txt alone (no TensorFlow, no ONNX Runtime or onnx: reading falls back to
Keras), which trains, then evaluates what it trained.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCKER = ROOT / "tests" / "no_tensorflow.py"
READ_RIGHT = "bgau1a"  # a test-split clip the shipped reader reads right (tests/test_mouth.py)

# Reads one clip with the shipped network under the backend in use; saves the probabilities.
PROBS = """
import sys
sys.path.insert(0, {root!r})
import numpy as np
from lipread.cli import common
keras = common.import_keras()
from lipread.model import loader
from lipread import pipeline
from lipread import grid, video
model = loader.load_model("lipnet")
x = video.load_video({video!r})
np.save({out!r}, pipeline.predict_probs(model, x)[0])
print("backend", keras.backend.backend())
"""


def run_without_tensorflow(*args, timeout=900):
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    proc = subprocess.run([sys.executable, str(BLOCKER), *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "NO_TENSORFLOW modules=0" in proc.stderr, proc.stderr[-2000:]
    return proc


def test_jax_trains_and_evaluates_without_tensorflow(grid_dir, test_names, tmp_path):
    """Two training steps with every augmentation, distillation and mixup on, then an
    evaluation: no TensorFlow, and the JAX-trained weights load under TensorFlow too."""
    run_dir = tmp_path / "run"
    proc = run_without_tensorflow(
        "-m", "lipread", "train", "--data-dir", grid_dir, "--limit", 12, "--run-dir", run_dir,
        "--cache-dir", tmp_path / "cache", "--max-steps", 2, "--batch-size", 2,
        "--epochs", 1, "--verbose", 2, "--time-masks", 1, "--warp", 0.5, "--mixup", 0.5,
        "--sub-sentences", 0.5, "--teacher", ROOT / "models" / "lipnet.weights.h5",
        "--json", tmp_path / "train.json")
    assert "(jax)" in proc.stdout and "teacher" in proc.stdout
    summary = json.loads((tmp_path / "train.json").read_text())
    assert summary["epochs_logged"] == 1 and summary["train_clips"] == 11
    assert json.loads((run_dir / "checkpoint" / "state.json").read_text())["epoch"] == 1

    from lipread.model import loader
    trained = loader.load_model("lipnet", run_dir / "best.weights.h5")  # under TensorFlow
    shipped = loader.load_model("lipnet")
    assert any(not np.array_equal(a.numpy(), b.numpy())
               for a, b in zip(trained.weights, shipped.weights))

    names = tmp_path / "names.txt"
    names.write_text("\n".join(test_names[:3]) + "\n")
    run_without_tensorflow("-m", "lipread", "evaluate", "--data-dir", grid_dir, "--names", names,
                           "--decoder", "grammar", "--json", tmp_path / "eval.json")
    jax_eval = json.loads((tmp_path / "eval.json").read_text())

    from lipread.cli import evaluate
    wer, cer, per_clip, _ = evaluate.evaluate(shipped, grid_dir, test_names[:3], "grammar")
    assert jax_eval["clips"] == 3
    assert [c["predicted"] for c in jax_eval["per_clip"]] == [c["predicted"] for c in per_clip]
    assert jax_eval["wer"] == wer and jax_eval["cer"] == cer


def test_shipped_weights_read_the_same_under_jax_and_tensorflow(grid_dir, test_names,
                                                                 tmp_path):
    from lipread import grid, pipeline, video
    from lipread.model import loader

    path = grid.video_path(grid_dir, test_names[0])
    script = tmp_path / "probs.py"
    script.write_text(PROBS.format(root=str(ROOT), video=str(path),
                                   out=str(tmp_path / "jax.npy")))
    proc = run_without_tensorflow(script)
    assert "backend jax" in proc.stdout
    jax_probs = np.load(tmp_path / "jax.npy")
    tf_probs = pipeline.predict_probs(loader.load_model("lipnet"), video.load_video(path))[0]
    assert jax_probs.shape == tf_probs.shape == (75, grid.NUM_CLASSES)
    np.testing.assert_allclose(jax_probs, tf_probs, atol=1e-4)
    np.testing.assert_array_equal(jax_probs.argmax(-1), tf_probs.argmax(-1))


# lipread train under JAX with Model.fit watched: the distribution in force, and where the
# variables and one batch's frames live. The last stdout line is the report.
WATCHED_JAX_TRAIN = """
import json, sys
sys.path.insert(0, {root!r})
import keras
import numpy as np
report, fit = {{}}, keras.Model.fit

def watched_fit(self, x=None, *args, **kwargs):
    dist = keras.distribution.distribution()
    batch = np.asarray(x[0][0])
    layout = dist.get_data_layout(batch.shape)
    before = [np.array(v.value) for v in self.trainable_variables]
    history = fit(self, x, *args, **kwargs)
    report.update(
        distribution=type(dist).__name__,
        devices=len(dist.device_mesh.devices.flatten()),
        batch_axes=list(layout.axes),
        variable_devices=sorted({{len(v.value.sharding.device_set)
                                  for v in self.trainable_variables}}),
        changed=sum(not np.array_equal(b, np.array(v.value))
                    for b, v in zip(before, self.trainable_variables)),
        variables=len(before), losses=history.history["loss"])
    return history

keras.Model.fit = watched_fit
from lipread.cli import train
code = train.cli(sys.argv[1:])
print("REPORT " + json.dumps(report))
sys.exit(code)
"""


def test_jax_data_parallel_over_two_cpu_devices(grid_dir, tmp_path):
    """--strategy mirrored under JAX: keras.distribution.DataParallel over the two XLA CPU
    devices --cpu-devices 2 makes; batches split along the batch axis, every variable on
    both devices, training moves them."""
    script = tmp_path / "watched.py"
    script.write_text(WATCHED_JAX_TRAIN.format(root=str(ROOT)))
    proc = run_without_tensorflow(
        script, "--data-dir", grid_dir, "--limit", 12, "--run-dir", tmp_path / "run",
        "--cache-dir", tmp_path / "cache", "--max-steps", 2, "--batch-size", 4,
        "--epochs", 1, "--strategy", "mirrored", "--cpu-devices", 2, "--val-fraction", 0.2,
        "--verbose", 2)
    assert "2 replica(s) (jax)" in proc.stdout
    report = json.loads(proc.stdout.strip().splitlines()[-1].removeprefix("REPORT "))
    assert report["distribution"] == "DataParallel" and report["devices"] == 2, report
    assert report["batch_axes"][0] == "batch" and set(report["batch_axes"][1:]) == {None}
    assert report["variable_devices"] == [2], report  # replicated on both devices
    assert report["changed"] == report["variables"], report
    assert np.isfinite(report["losses"]).all()


JAX_SET_INSTALL_TIMEOUT_S = 1200  # ~45 s from a local wheel cache
JAX_SET_RUN_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def jax_set(tmp_path_factory):
    """A fresh virtualenv of requirements-jax.txt alone (~1.2 GB, removed afterwards): the
    checkout runs in it as the README says, `python -m lipread` from its root."""
    venv = tmp_path_factory.mktemp("venv-jax")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True,
                       timeout=300, capture_output=True)
        proc = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                               "--disable-pip-version-check", "-r",
                               str(ROOT / "requirements-jax.txt")], capture_output=True,
                              text=True, timeout=JAX_SET_INSTALL_TIMEOUT_S, env=env)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        yield venv / "bin" / "python"
    finally:
        shutil.rmtree(venv, ignore_errors=True)


def in_jax_set(python, *args, cache):
    """`python -m lipread <args>` in the JAX set, from the checkout's root; its own cache
    (the set's dlib model file is a new one to convert each time)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "LIPREAD_RUNTIME", "LIPREAD_WEIGHTS")}
    env.update(KERAS_BACKEND="jax", LIPREAD_CACHE_DIR=str(cache))
    proc = subprocess.run([str(python), "-m", "lipread", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=JAX_SET_RUN_TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc


def test_the_jax_set_alone_reads_what_it_trains(jax_set, grid_dir, test_names, tmp_path):
    """No TensorFlow, ONNX Runtime or onnx in the set: it trains two steps, evaluates the
    run's weights (--weights: no ONNX export is tried) and reads a clip with the shipped
    ones, each with Keras on JAX."""
    from lipread import grid

    absent = subprocess.run(
        [str(jax_set), "-c", "import importlib.util as u; print([m for m in ('tensorflow', "
         "'onnx', 'onnxruntime') if u.find_spec(m)])"], capture_output=True, text=True,
        timeout=120, cwd=tmp_path)
    assert absent.stdout.strip() == "[]", absent.stdout + absent.stderr
    cache, run_dir = tmp_path / "cache", tmp_path / "run"
    in_jax_set(jax_set, "train", "--data-dir", grid_dir, "--limit", 12, "--run-dir", run_dir,
               "--cache-dir", tmp_path / "crops", "--max-steps", 2, "--batch-size", 2,
               "--epochs", 1, "--verbose", 2, cache=cache)
    weights = run_dir / "best.weights.h5"
    assert weights.is_file()
    names = tmp_path / "names.txt"
    names.write_text("\n".join(test_names[:3]) + "\n")
    in_jax_set(jax_set, "evaluate", "--data-dir", grid_dir, "--names", names, "--weights",
               weights, "--decoder", "grammar", "--json", tmp_path / "eval.json", cache=cache)
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["clips"] == 3 and len(result["per_clip"]) == 3
    assert not (cache / "onnx").exists() or not list((cache / "onnx").iterdir())
    clip = grid.video_path(grid_dir, READ_RIGHT)
    read = in_jax_set(jax_set, "predict", clip, cache=cache)
    assert read.stdout.strip() == grid.load_sentence(grid.alignment_path(grid_dir, READ_RIGHT))
