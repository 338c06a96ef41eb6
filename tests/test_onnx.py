"""Reading with ONNX Runtime (lipread/model/onnx_export.py, onnx_reader.py, beam.py): the
export equals the Keras network on every test clip, the NumPy beam search equals
TensorFlow's, reading imports no TensorFlow, Keras or JAX, and a missing, corrupt or
stale export is never read."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lipread import decoding, grid, pipeline, video
from lipread.model import loader, onnx_export, onnx_reader

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = loader.DEFAULT_WEIGHTS["lipnet"]
TOLERANCE = 1e-4  # the issue's: per-frame probabilities within this of Keras's
NO_TRAINING_STACK = """
import runpy, sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "jax", "imageio_ffmpeg", "ffmpeg"):
            raise ImportError(f"{name} may not be imported while reading")
sys.meta_path.insert(0, Refuse())
sys.argv = ["lipread", *sys.argv[1:]]
runpy.run_module("lipread", run_name="__main__")
"""
# The read page and the teach page through AppTest, the training stack refused likewise.
PAGES_WITHOUT_TRAINING = """
import json, sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "jax", "imageio_ffmpeg", "ffmpeg"):
            raise ImportError(f"{name} may not be imported while reading")
sys.meta_path.insert(0, Refuse())
from streamlit.testing.v1 import AppTest
from lipread.live.webrtc import streamlit_webrtc
import streamlit_webrtc.component as component
streamlit_webrtc()
component.get_this_session_info = lambda: None  # AppTest has no sessions (conftest.py)
read = AppTest.from_file(sys.argv[1], default_timeout=300).run()
teach = AppTest.from_file(sys.argv[1], default_timeout=300).run()
teach.switch_page("views/teach.py").run()
print(json.dumps({
    "errors": [str(e.value) for e in [*read.exception, *teach.exception]],
    "sentence": read.container("sentence").markdown[0].value.strip("`"),
    "teach_disabled": teach.button(key="teach_go").disabled,
    "teach_says": [c.value for c in teach.caption if c.value.startswith("Teach needs")],
    "imported": sorted({m.split(".")[0] for m in sys.modules} & {"tensorflow", "keras", "jax"}),
}))
"""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh cache: the user's default one (cache.find also looks there) out of sight."""
    monkeypatch.setenv("LIPREAD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    return tmp_path / "cache" / "onnx"


@pytest.fixture(scope="module")
def onnx_probs(grid_dir, test_names, tmp_path_factory) -> dict:
    """ONNX Runtime's output for each test clip, from the frames shipped_probs reads."""
    reader = onnx_reader.load(WEIGHTS, onnx_export.export(
        WEIGHTS, tmp_path_factory.mktemp("onnx") / "lipnet.onnx"))
    frames = np.stack([video.load_video(grid.video_path(grid_dir, n)) for n in test_names])
    return dict(zip(test_names, pipeline.predict_probs(reader, frames)))


def test_the_export_reads_every_test_clip_as_keras_does(shipped_probs, onnx_probs):
    worst = max(float(np.abs(shipped_probs[n] - onnx_probs[n]).max()) for n in shipped_probs)
    assert worst < TOLERANCE
    for decoder in decoding.DECODERS:
        assert [decoding.decode(onnx_probs[n], decoder) for n in shipped_probs] == \
            [decoding.decode(shipped_probs[n], decoder) for n in shipped_probs], decoder


@pytest.mark.parametrize("person", [dict(adapters=True), dict(prompt=True),
                                    dict(adapters=True, prompt=True, tempo=1.15)])
def test_a_persons_export_reads_as_their_keras_network(grid_dir, test_names, tmp_path, person):
    """A profile's layers (model/personal.py), not zero as enrollment starts them: adapters
    folded into the convolutions, a prompt over the padded border, a tempo, in the graph."""
    from lipread.model import networks

    shipped = loader.load_model("lipnet")
    net = networks.build_lipnet(**person)
    rng = np.random.default_rng(5)
    for layer in net.layers:
        if layer.weights and layer.name in {l.name for l in shipped.layers}:
            layer.set_weights(shipped.get_layer(layer.name).get_weights())
        elif layer.weights:  # the person's own: adapters and the prompt
            layer.set_weights([0.05 * rng.standard_normal(w.shape).astype("float32")
                               for w in layer.get_weights()])
    weights = tmp_path / "person.weights.h5"
    net.save_weights(weights)
    reader = onnx_reader.load(weights, onnx_export.export(weights, tmp_path / "person.onnx",
                                                          **person))
    frames = np.stack([video.load_video(grid.video_path(grid_dir, n)) for n in test_names[:2]])
    keras_probs = np.asarray(net.predict(frames, verbose=0))
    assert np.abs(keras_probs - pipeline.predict_probs(shipped, frames)).max() > 0.01  # it moved
    assert np.abs(pipeline.predict_probs(reader, frames) - keras_probs).max() < TOLERANCE


def test_the_numpy_beam_search_is_tensorflows(shipped_probs):
    """Every test clip, and each clip with its frames shuffled (other, harder paths)."""
    rng = np.random.default_rng(0)
    for probs in shipped_probs.values():
        for p in (probs, probs[rng.permutation(len(probs))]):
            assert decoding.beam_ids(p) == decoding.keras_beam_ids(p)
    # and random frames, every fourth led by class 0 (the vocabulary's ''), kept by both
    for seed in range(3):
        p = np.random.default_rng(seed).dirichlet(np.ones(probs.shape[1]) * 0.2, size=30)
        p[::4, 0] += 2.0
        p /= p.sum(axis=1, keepdims=True)
        assert 0 in decoding.beam_ids(p)
        assert decoding.beam_ids(p) == decoding.keras_beam_ids(p)
    # and frames where many prefixes compete: what a beam of 32 keeps and drops (a beam of
    # 100 reads each of these otherwise)
    for seed in (0, 1, 4):
        p = np.random.default_rng(seed).dirichlet(np.ones(probs.shape[1]) * 0.5, size=40)
        assert decoding.beam_ids(p) == decoding.keras_beam_ids(p)


def test_reading_imports_no_training_stack(grid_dir, cache, shipped_probs, test_names):
    """`lipread predict` with every decoder, TensorFlow, Keras and JAX refused: it reads
    what the Keras network reads."""
    clips = [str(grid.video_path(grid_dir, n)) for n in test_names[:2]]
    for decoder in decoding.DECODERS:
        out = subprocess.run([sys.executable, "-c", NO_TRAINING_STACK, "predict", *clips,
                              "--decoder", decoder], cwd=ROOT, capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        said = [line.split("\t", 1)[1] for line in out.stdout.strip().splitlines()]
        assert said == [decoding.decode(shipped_probs[n], decoder) for n in test_names[:2]]


def test_pages_read_without_the_training_stack(grid_dir, tmp_path, shipped_readings):
    """The read page reads its first clip, and the teach page says why Teach waits, in a
    process where TensorFlow, Keras and JAX cannot be imported (a reading-only install)."""
    import json
    import os

    env = {**os.environ, "LIPREAD_DATA_DIR": str(grid_dir),
           "LIPREAD_CACHE_DIR": str(tmp_path / "cache"),
           "LIPREAD_PROFILES_DIR": str(tmp_path / "profiles")}
    env.pop("LIPREAD_WEIGHTS", None)
    run = subprocess.run([sys.executable, "-c", PAGES_WITHOUT_TRAINING, str(ROOT / "app.py")],
                         capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    said = json.loads(run.stdout.strip().splitlines()[-1])
    assert said["errors"] == [] and said["imported"] == []
    first = grid.read_names(grid_dir / "splits" / "test.txt")[0]
    assert said["sentence"] == shipped_readings[first]
    assert said["teach_disabled"]
    assert any("TensorFlow and Keras (pip install -r requirements-train.txt)" in c
               for c in said["teach_says"]), said


def requirement_lines(path: Path) -> list[str]:
    """A requirements file's packages, its -r includes followed."""
    out = []
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            out += requirement_lines(path.parent / line[3:].strip())
        elif line:
            out.append(line.split("==")[0].split("[")[0].lower())
    return out


def test_requirements_are_split_by_use():
    """Reading installs no training stack; training adds TensorFlow (CPU) and Keras on top
    of reading; tests add JAX and the test tools on top of training; make run installs
    reading and training only."""
    reading = requirement_lines(ROOT / "requirements.txt")
    train = requirement_lines(ROOT / "requirements-train.txt")
    test = requirement_lines(ROOT / "requirements-test.txt")
    assert {"onnxruntime", "numpy", "streamlit", "dlib-bin"} <= set(reading)
    assert not {p for p in reading if p.startswith(("tensorflow", "keras", "jax"))}
    assert set(train) - set(reading) == {"tensorflow-cpu", "keras"}
    assert set(train) <= set(test) and {"jax", "pytest", "playwright"} <= set(test)
    # Video is written by PyAV's FFmpeg (lipread/encode.py): no ffmpeg binary to read with;
    # the tests make their clips with imageio-ffmpeg's.
    assert "av" in reading and not {"imageio-ffmpeg", "ffmpeg-python"} & set(reading)
    assert "imageio-ffmpeg" in test
    make = (ROOT / "Makefile").read_text()
    assert "$(RUN_STAMP): requirements.txt requirements-train.txt pyproject.toml\n\t$(call " \
           "make_venv,requirements-train.txt)" in make
    assert "\nrun: setup-run" in make


def test_the_export_is_named_by_the_weights_so_new_weights_get_a_new_one(cache, tmp_path,
                                                                         grid_dir, test_names):
    import h5py

    changed = tmp_path / "changed.weights.h5"
    changed.write_bytes(WEIGHTS.read_bytes())
    with h5py.File(changed, "r+") as f:  # the blank made likelier: the readings change
        f["layers/dense/vars/1"][-1] += 3.0
    first, second = onnx_reader.load(WEIGHTS), onnx_reader.load(changed)
    assert first.path != second.path and first.path.parent == second.path.parent == cache
    frames = video.load_video(grid.video_path(grid_dir, test_names[0]))[None]
    keras_changed = loader.load_model("lipnet", changed)
    assert np.abs(pipeline.predict_probs(second, frames)
                  - pipeline.predict_probs(keras_changed, frames)).max() < TOLERANCE
    assert np.abs(pipeline.predict_probs(first, frames)
                  - pipeline.predict_probs(second, frames)).max() > 0.01
    # an export given by path, from other weights: refused, in one line
    with pytest.raises(onnx_reader.OnnxError, match="other weights than these .stale."):
        onnx_reader.load(changed, first.path)


def test_the_readers_idle_threads_sleep():
    """ONNX Runtime's threads spin after each run by default, holding a core that the next
    video's decoding and landmark fits need (a warm clip ~11 ms slower on 2 cores)."""
    options = onnx_reader.load(WEIGHTS).session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.intra_op_num_threads == onnx_reader.THREADS == 0  # one per core


def test_a_corrupt_export_is_rebuilt_or_refused(cache, tmp_path):
    path = onnx_reader.load(WEIGHTS).path
    path.write_bytes(b"not onnx")  # in the cache: built again
    again = onnx_reader.load(WEIGHTS)
    assert again.path == path and path.stat().st_size > 1_000_000
    given = tmp_path / "given.onnx"
    given.write_bytes(path.read_bytes()[: 1000])  # given by path: said, with the fix
    with pytest.raises(onnx_reader.OnnxError) as err:
        onnx_reader.load(WEIGHTS, given)
    assert "not a usable ONNX export" in str(err.value) and "lipread export" in str(err.value)
    assert "\n" not in str(err.value)


def test_weights_with_layers_the_graph_lacks_are_refused(tmp_path):
    import h5py

    extra = tmp_path / "adapted.weights.h5"
    extra.write_bytes(WEIGHTS.read_bytes())
    with h5py.File(extra, "r+") as f:
        f.create_dataset("layers/conv3d_3/vars/0", data=np.zeros((1, 1, 1, 32, 32), "f4"))
    with pytest.raises(onnx_export.ExportError, match="--runtime keras"):
        onnx_export.build(extra)


@pytest.mark.parametrize("args, said", [
    (["--weights", "missing.weights.h5"], "no such weights file"),
    (["--weights", __file__], "not a Keras weights file"),
    (["--out", "/no/such/folder/x.onnx"], "does not exist"),
    (["--json", "/no/such/folder/x.json"], "does not exist"),
])
def test_export_bad_input_is_one_line(args, said, cache):
    out = subprocess.run([sys.executable, "-m", "lipread", "export", *args], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lipread export: error:") and said in lines[0]


def test_export_check_compares_the_runtimes(grid_dir, test_names, tmp_path, cache):
    names = tmp_path / "names.txt"
    names.write_text("\n".join(test_names[:3]) + "\n")
    out = subprocess.run([sys.executable, "-m", "lipread", "export", "--check", "--data-dir",
                          str(grid_dir), "--names", str(names), "--json", "-"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "3 clips: largest probability difference" in out.stderr
    assert "sentences that differ: none" in out.stderr
    import json

    said = json.loads(out.stdout)
    assert said["onnx"].endswith(".onnx") and said["bytes"] > 1_000_000
    check = said["check"]
    assert check["clips"] == 3 and check["equal"] and check["sentences_that_differ"] == []
    assert 0 < check["largest_difference"] < TOLERANCE == check["tolerance"]


def test_an_unknown_runtime_is_one_line(grid_dir, test_names):
    """LIPREAD_RUNTIME (the page's switch) and --runtime: an unknown one is refused in one
    line, exit 2."""
    import os

    clip = grid.video_path(grid_dir, test_names[0])
    env = {**os.environ, "LIPREAD_RUNTIME": "tensorrt"}
    run = subprocess.run([sys.executable, "-m", "lipread", "predict", str(clip)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    [line] = run.stderr.strip().splitlines()
    assert line.startswith("lipread predict: error: ") and "unknown runtime 'tensorrt'" in line


def test_each_shape_of_a_persons_reader_has_an_export_of_its_own(cache, monkeypatch):
    """A person's reader (adapters, a prompt, a tempo) is another graph from the same
    weights: each is exported under its own name, never read through another's."""
    import shutil

    general = onnx_reader.load(WEIGHTS)
    made = []

    def export(weights, out, **person):  # the general graph, filed under the name asked
        made.append((out.name, person))
        shutil.copyfile(general.path, out)

    monkeypatch.setattr(onnx_export, "check", lambda weights, **person: None)
    monkeypatch.setattr(onnx_export, "export", export)
    stem = f"lipnet-{onnx_reader.weights_sha256(WEIGHTS)[:32]}"
    graph = f"-g{onnx_export.GRAPH_VERSION}.onnx"
    shapes = [({"adapters": True, "prompt": False, "tempo": 1.0}, "-adapters"),
              ({"adapters": False, "prompt": True, "tempo": 1.0}, "-prompt"),
              ({"adapters": True, "prompt": True, "tempo": 1.0}, "-adapters-prompt"),
              ({"adapters": False, "prompt": False, "tempo": 1.25}, "-tempo1.25"),
              ({"adapters": True, "prompt": False, "tempo": 0.8}, "-adapters-tempo0.8")]
    for person, shape in shapes:
        assert onnx_reader.load(WEIGHTS, **person).path == cache / f"{stem}{shape}{graph}"
    assert [name for name, _ in made] == [f"{stem}{shape}{graph}" for _, shape in shapes]
    plain = onnx_reader.load(WEIGHTS, adapters=False, prompt=False, tempo=1.0)
    assert plain.path == general.path == cache / f"{stem}{graph}" and len(made) == 5
    again = onnx_reader.load(WEIGHTS, adapters=True, prompt=False, tempo=1.0)  # kept
    assert again.path == cache / f"{stem}-adapters{graph}" and len(made) == 5
