"""The shipped weights, and any weights file loaded into its network: a Keras 3
`.weights.h5` of either architecture, or the LipNet tutorial's Keras 2 TF checkpoint
(imported variable by variable, by name).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from lipread import cache
from lipread.model import networks
from lipread.model.networks import GRU_UNITS

ARCHS = ("lipnet", "tutorial")
RUNTIMES = ("onnx", "keras")  # reading: ONNX Runtime (lipnet's default), or the Keras network
ONNX_TOOLING = ("onnxruntime", "onnx")  # what reading with ONNX Runtime imports (requirements.txt)


def models_dir() -> Path:
    """The shipped weights' folder: the repository's models/ in a checkout (an editable
    install too), else the copy an installed wheel carries as lipread/models (pyproject.toml
    maps the one into the other)."""
    here = Path(__file__).resolve()
    packaged = here.parents[1] / "models"
    return packaged if packaged.is_dir() else here.parents[2] / "models"


MODELS_DIR = models_dir()
DEFAULT_WEIGHTS = {"lipnet": MODELS_DIR / "lipnet.weights.h5",
                   "tutorial": MODELS_DIR / "checkpoint"}


class WeightsError(ValueError):
    """Weights that are missing or don't fit the network."""


def gru_units_in(path) -> int | None:
    """The GRU width of a lipnet .weights.h5 (None where the file has no lipnet GRU)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            recurrent = f.get("layers/bidirectional/forward_layer/cell/vars/1")
            return None if recurrent is None else int(recurrent.shape[0])
    except OSError:
        return None  # not HDF5: load_weights says what is wrong with it


def build_model(arch: str = "lipnet", gru_units=GRU_UNITS):
    if arch == "lipnet":
        return networks.build_lipnet(gru_units)
    if arch == "tutorial":
        return networks.build_tutorial()
    raise ValueError(f"unknown architecture {arch!r}: choose one of {', '.join(ARCHS)}")


def is_tf_checkpoint(path) -> bool:
    """A TF object-based checkpoint: `prefix.index` next to it, or its `checkpoint` file."""
    path = Path(path)
    return (Path(f"{path}.index").is_file() or path.suffix == ".index"
            or (path.name == "checkpoint" and path.is_file() and not path.suffix))


def _checkpoint_prefix(path: Path) -> str:
    import tensorflow as tf

    if path.suffix == ".index":
        return str(path.with_suffix(""))
    if Path(f"{path}.index").is_file():
        return str(path)
    # The `checkpoint` state file names the prefix, relative to its folder.
    prefix = tf.train.latest_checkpoint(str(path.parent))
    if prefix is None:
        raise WeightsError(f"{path}: names no checkpoint whose .index exists")
    return prefix


def checkpoint_weight_names(model) -> list[list[str]]:
    """For each layer with weights, the TF-checkpoint names of its weights, in Keras order.

    Keras 2's object-based checkpoints number the layers that hold weights
    (layer_with_weights-N); a Bidirectional LSTM's are its forward_layer/cell and
    backward_layer/cell kernel, recurrent_kernel and bias.
    """
    names = []
    suffix = "/.ATTRIBUTES/VARIABLE_VALUE"
    for n, layer in enumerate(l for l in model.layers if l.weights):
        base = f"layer_with_weights-{n}"
        if layer.__class__.__name__ == "Bidirectional":
            parts = [f"{d}_layer/cell/{w}" for d in ("forward", "backward")
                     for w in ("kernel", "recurrent_kernel", "bias")]
        else:
            parts = ["kernel", "bias"]
        names.append([f"{base}/{p}{suffix}" for p in parts])
    return names


def load_tf_checkpoint(model, path) -> None:
    """Import a Keras 2 TF-format checkpoint into a Keras 3 model, by variable name."""
    import tensorflow as tf

    prefix = _checkpoint_prefix(Path(path))
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as err:
        raise WeightsError(f"{path}: unreadable TF checkpoint ({err})") from None
    stored = reader.get_variable_to_shape_map()
    layers = [l for l in model.layers if l.weights]
    for layer, names in zip(layers, checkpoint_weight_names(model)):
        values = []
        for name, weight in zip(names, layer.weights):
            if name not in stored:
                raise WeightsError(f"{path}: the checkpoint has no variable {name}")
            if tuple(stored[name]) != tuple(weight.shape):
                raise WeightsError(f"{path}: {name} has shape {stored[name]}, "
                                   f"the network needs {tuple(weight.shape)}")
            values.append(reader.get_tensor(name))
        layer.set_weights(values)


def load_model(arch: str = "lipnet", weights=None):
    """The inference network of `arch` with its weights (.weights.h5 or a TF checkpoint)."""
    if arch not in ARCHS:
        raise WeightsError(f"unknown architecture {arch!r}: choose one of {', '.join(ARCHS)}")
    weights = Path(weights) if weights else DEFAULT_WEIGHTS[arch]
    if not weights.exists() and not Path(f"{weights}.index").exists():
        how = ("download the tutorial's checkpoint with `make checkpoint` (lipread download "
               "checkpoint)" if arch == "tutorial" else "train one with lipread train")
        raise WeightsError(f"{weights}: no such weights file; {how}, or pass --weights")
    if weights.is_dir():
        raise WeightsError(f"{weights}: is a directory; pass a .weights.h5 file "
                           "(or a TF checkpoint's prefix)")
    wide = arch == "lipnet" and weights.name.endswith(".weights.h5") and gru_units_in(weights)
    model = build_model(arch, wide or GRU_UNITS)
    if is_tf_checkpoint(weights):
        load_tf_checkpoint(model, weights)
    elif weights.name.endswith(".weights.h5"):
        # Keras only warns when parts of a file don't match the network and leaves
        # those layers untrained: treat any such warning as the mismatch it is.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                model.load_weights(weights)
            except (ValueError, OSError) as err:
                first = (str(err).strip().splitlines() or ["unreadable"])[0].rstrip(" :")
                raise WeightsError(f"{weights}: does not fit the {arch} network ({first}); "
                                   f"pass weights trained for --arch {arch}") from None
        skipped = [w for w in caught if "saving" in w.filename]
        if skipped:
            raise WeightsError(f"{weights}: does not fit the {arch} network "
                               f"({str(skipped[0].message).splitlines()[0]})")
    else:
        raise WeightsError(f"{weights}: expected a Keras 3 .weights.h5 file or a TF "
                           "checkpoint (checkpoint, .index, .data-*)")
    return model


def has_onnx_tooling() -> bool:
    """Whether ONNX Runtime and onnx are installed: requirements.txt carries them; the JAX
    set (requirements-jax.txt) does not, and reads with Keras."""
    import importlib.util

    try:
        return all(importlib.util.find_spec(m) is not None for m in ONNX_TOOLING)
    except (ImportError, ValueError):
        return False


def default_runtime(arch: str = "lipnet") -> str:
    """ONNX Runtime for lipnet, or Keras where the ONNX tooling is not installed
    ($LIPREAD_RUNTIME may say either: the page's switch); the tutorial's network (LSTMs) is
    read with Keras."""
    if arch != "lipnet":
        return "keras"
    return os.environ.get("LIPREAD_RUNTIME") or ("onnx" if has_onnx_tooling() else "keras")


def load_network(arch: str = "lipnet", weights=None, runtime: str | None = None):
    """The network to read with: `runtime` "onnx" (lipnet's default: ONNX Runtime, no
    TensorFlow imported) or "keras" (load_model). Either goes to pipeline.predict_probs.

    What reading builds on its first use is built here, all of it said on one line of
    stderr (cache.preparing): the ONNX export of these weights, dlib's face models in
    their quickly loaded forms."""
    with cache.preparing():
        reader = _network(arch, weights, runtime)
        _prepare_faces()
    return reader


def _prepare_faces() -> None:
    """dlib's face models in the cache, built now if they are not yet there."""
    from lipread import face

    try:
        face.prepare()
    except (OSError, ValueError, ImportError):
        pass  # said where a video is read: face.py's own message, with what to do


def _network(arch: str, weights, runtime: str | None):
    runtime = runtime or default_runtime(arch)
    if runtime not in RUNTIMES:
        raise WeightsError(f"unknown runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
    if runtime == "keras":
        return load_model(arch, weights)
    if arch != "lipnet":
        raise WeightsError(f"--arch {arch} is read with Keras only: pass --runtime keras")
    if not has_onnx_tooling():
        raise WeightsError(f"--runtime onnx needs {' and '.join(ONNX_TOOLING)}, which this "
                           "install lacks: pip install -r requirements.txt, or read with "
                           "--runtime keras")
    weights = Path(weights) if weights else DEFAULT_WEIGHTS[arch]
    if not weights.is_file() or not weights.name.endswith(".weights.h5"):
        if is_tf_checkpoint(weights) or not weights.exists():
            return load_model(arch, weights)  # its own message; a checkpoint reads in Keras
        if weights.is_dir():
            raise WeightsError(f"{weights}: is a directory; pass a .weights.h5 file "
                               "(or a TF checkpoint's prefix)")
        raise WeightsError(f"{weights}: expected a Keras 3 .weights.h5 file or a TF "
                           "checkpoint (checkpoint, .index, .data-*)")
    from lipread.model import onnx_export, onnx_reader

    try:
        return onnx_reader.load(weights)
    except onnx_export.ExportError as err:  # every message names the file
        said = str(err)
        raise WeightsError(said if said.startswith(str(weights)) else f"{weights}: {said}") \
            from None
