"""lipnet's weights (`.weights.h5`) as an ONNX graph that ONNX Runtime runs: no TensorFlow,
Keras or JAX, here or when it is read.

The graph is written from the weights file itself (h5py and NumPy), layer for layer as
lipread/model/networks.py builds the network: each batch norm folded into its convolution,
each 3-D convolution run as a 2-D one over all the frames at once, its input a frame's
three neighbours in time side by side as channels (the same sums; ONNX Runtime runs 2-D
convolutions with its blocked kernels, about twice as fast here as its 3-D ones), conv1 as
the plain strided convolution that fastconv.py computes another way, the bidirectional GRUs
as ONNX GRU nodes (Keras's reset_after is ONNX's linear_before_reset), the softmax. Frames
in as the network takes them, (N, 75, 46, 140, 1) float32; per-frame probabilities out,
(N, 75, 41).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lipread.constants import INPUT_SHAPE
from lipread.model import networks

OPSET = 17  # ONNX Runtime >= 1.12 runs it; Conv, GRU and Softmax unchanged since
GRAPH_VERSION = 2  # raised whenever the graph is laid out anew (cached exports are named by it)
BN_EPSILON = 1e-3  # keras.layers.BatchNormalization's default, as lipnet was trained
INPUT_NAME, OUTPUT_NAME = "frames", "probs"


class ExportError(ValueError):
    """A weights file that is not lipnet's."""


def read_weights(path) -> dict[str, list[np.ndarray]]:
    """{layer path in the file: its variables, in order} from a Keras 3 `.weights.h5`."""
    import h5py

    out: dict[str, list[np.ndarray]] = {}
    try:
        with h5py.File(path, "r") as f:
            def keep(name, obj):
                if isinstance(obj, h5py.Dataset) and "/vars/" in name:
                    layer, index = name.rsplit("/vars/", 1)
                    out.setdefault(layer, {})[int(index)] = np.asarray(obj, np.float32)
            f.visititems(keep)
    except OSError as err:
        raise ExportError(f"{path}: not a Keras weights file ({err})") from None
    return {k: [v[i] for i in sorted(v)] for k, v in out.items()}


def _layer(weights: dict, name: str, count: int) -> list[np.ndarray]:
    got = weights.get(f"layers/{name}")
    if got is None or len(got) != count:
        raise ExportError(f"does not fit the lipnet network (no layer {name} with {count} "
                          f"variables; layers found: {', '.join(sorted(weights))[:300]}); pass "
                          "weights trained for --arch lipnet")
    return got


def layer_names(adapters: bool = False, prompt: bool = False) -> dict[str, str]:
    """{lipnet's layer: its name in a .weights.h5}. Keras 3 names a file's layers by class,
    numbered in the model's layer order, so a person's adapters (1x1x1 Conv3Ds after each
    batch norm) shift the convolutions' numbers: conv3d_1 is adapter1 in a profile."""
    counts: dict[str, int] = {}

    def name(cls: str) -> str:
        n = counts.get(cls, 0)
        counts[cls] = n + 1
        return cls if n == 0 else f"{cls}_{n}"
    out = {"prompt": name("input_prompt")} if prompt else {}
    for i in (1, 2, 3):
        out[f"conv{i}"] = name("conv3d")
        out[f"bn{i}"] = name("batch_normalization")
        if adapters:
            out[f"adapter{i}"] = name("conv3d")
    for i in (1, 2):
        out[f"bigru{i}"] = name("bidirectional")
    out["chars"] = name("dense")
    return out


def expected_layers(names: dict[str, str]) -> set[str]:
    """The paths a .weights.h5 with these layers holds variables under."""
    paths = set()
    for layer, name in names.items():
        if layer.startswith("bigru"):
            paths |= {f"layers/{name}/{d}/cell" for d in ("forward_layer", "backward_layer")}
        else:
            paths.add(f"layers/{name}")
    return paths


def fold_adapter(weight: np.ndarray, bias: np.ndarray, adapter: np.ndarray):
    """A folded conv, then x + adapter(x) (a (1, 1, 1, C, C) kernel), as one conv: the
    output channels mixed by (I + A)."""
    mix = np.eye(adapter.shape[-1], dtype=np.float64) + adapter.reshape(adapter.shape[-2:])
    folded = np.tensordot(mix.T, weight.astype(np.float64), axes=1)  # [o', o] . [o, ...]
    return folded.astype(np.float32), (mix.T @ bias.astype(np.float64)).astype(np.float32)


def fold_batch_norm(kernel: np.ndarray, bn: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """A channels-last Conv3D kernel (t, h, w, in, out) without bias, then BatchNormalization
    (gamma, beta, mean, variance), as one ONNX Conv: weight (out, in, t, h, w) and bias."""
    gamma, beta, mean, variance = bn
    scale = gamma / np.sqrt(variance + BN_EPSILON)
    weight = np.transpose(kernel, (4, 3, 0, 1, 2)) * scale[:, None, None, None, None]
    return weight.astype(np.float32), (beta - mean * scale).astype(np.float32)


def _gru_arrays(weights: dict, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ONNX GRU's W, R, B (forward, backward) from a Keras Bidirectional(GRU): the gates in
    the same order (z, r, h), the input and recurrent biases side by side."""
    ws, rs, bs = [], [], []
    for direction in ("forward_layer", "backward_layer"):
        kernel, recurrent, bias = _layer(weights, f"{name}/{direction}/cell", 3)
        ws.append(kernel.T)
        rs.append(recurrent.T)
        bs.append(np.concatenate([bias[0], bias[1]]))
    return np.stack(ws), np.stack(rs), np.stack(bs)


def _neighbours_as_channels(x: str, shape: tuple[int, int, int], taps: int, frames: int,
                            node, const, name: str) -> str:
    """(N, frames + taps - 1, C, H, W), `shape` = (C, H, W), as (N * frames, taps * C, H, W):
    frame t's channels are frames t .. t + taps - 1's, tap by tap (one Gather)."""
    index = np.arange(frames)[:, None] + np.arange(taps)[None]  # (frames, taps)
    x = node("Gather", [x, const(f"{name}_index", index.astype(np.int64))], f"{name}_taps",
             axis=1)
    channels, rows, cols = shape
    return node("Reshape", [x, const(f"{name}_shape", np.array(
        [-1, taps * channels, rows, cols], np.int64))], f"{name}_frames")


def _fitted(weights_path, adapters: bool = False, prompt: bool = False):
    """The variables of `weights_path` and the names of lipnet's layers in it, checked:
    every layer the graph takes is there with its variables, and no other (ExportError)."""
    weights = read_weights(weights_path)
    names = layer_names(adapters, prompt)
    extra = sorted(set(weights) - expected_layers(names))
    if extra:  # layers this graph would leave out: never read a network in part
        raise ExportError(f"{weights_path}: layers lipnet's graph has no place for "
                          f"({', '.join(extra)[:200]}); read it with --runtime keras")
    counts = {"bn": 4, "chars": 2}  # variables a layer holds; conv, adapter, prompt: 1
    for layer, name in names.items():
        if layer.startswith("bigru"):
            _gru_arrays(weights, name)
        else:
            _layer(weights, name, counts.get(layer.rstrip("123"), 1))
    convs = [_layer(weights, names[f"conv{i}"], 1)[0] for i in (1, 2, 3)]
    if convs[0].shape[:3] != networks.CONV_KERNELS[0] or \
            tuple(c.shape[-1] for c in convs) != networks.CONV_FILTERS:
        raise ExportError(f"{weights_path}: convolutions of another shape than lipnet's")
    return weights, names


def check(weights_path, adapters: bool = False, prompt: bool = False, tempo: float = 1.0):
    """ExportError where `weights_path` is not lipnet's (with these layers of a person's),
    as build would find, in milliseconds: nothing is said of an export that cannot be."""
    _fitted(weights_path, adapters, prompt)


def build(weights_path, adapters: bool = False, prompt: bool = False, tempo: float = 1.0):
    """The ONNX model (an onnx.ModelProto) of lipnet's weights at `weights_path`; with a
    person's layers (lipread/model/personal.py, a profile's method and tempo): adapters
    folded into the convolutions, the prompt added to the padded input, the tempo's frames
    gathered."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights, names = _fitted(weights_path, adapters, prompt)
    convs = [_layer(weights, names[f"conv{i}"], 1)[0] for i in (1, 2, 3)]
    bns = [_layer(weights, names[f"bn{i}"], 4) for i in (1, 2, 3)]
    dense_w, dense_b = _layer(weights, names["chars"], 2)
    units = _layer(weights, f"{names['bigru1']}/forward_layer/cell", 3)[1].shape[0]

    inits, nodes = [], []

    def const(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(op, inputs, output, **attrs):
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    x = INPUT_NAME
    if tempo != 1.0:  # personal.Tempo: output frame t is input frame round(t * tempo)
        frames = np.clip(np.round(np.arange(INPUT_SHAPE[0]) * tempo), 0, INPUT_SHAPE[0] - 1)
        x = node("Gather", [x, const("tempo_frames", frames.astype(np.int64))], "tempo",
                 axis=1)
    # Frames side by side: (N, T, C, H, W), each 3-D convolution run as a 2-D one over the
    # N*T frames, whose input is each frame's three neighbours in time as channels (ONNX
    # Runtime's 2-D convolutions use its blocked kernels; its 3-D ones do not)
    frames, rows, cols, channels = INPUT_SHAPE
    assert channels == 1  # grey frames: channels last to first is a reshape
    x = node("Reshape", [x, const("ntchw_shape", np.array([-1, frames, 1, rows, cols],
                                                          np.int64))], "ntchw")
    (pt, ph, pw) = networks.CONV1_PADDING
    # conv1's rows and columns: padded by its Conv, or here when a prompt covers the border
    border = [ph[0], pw[0], ph[1], pw[1]]
    space, conv1_pads = (border, [0] * 4) if prompt else ([0] * 4, border)
    pads = [0, pt[0], 0, *space[:2], 0, pt[1], 0, *space[2:]]
    x = node("Pad", [x, const("pad1_pads", np.array(pads, np.int64))], "pad1")
    rows, cols = rows + space[0] + space[2], cols + space[1] + space[3]
    if prompt:  # personal.InputPrompt: one (rows, cols, 1) image added to every frame
        image = _layer(weights, names["prompt"], 1)[0]
        x = node("Add", [x, const("prompt_image", np.transpose(image, (2, 0, 1)))], "prompt")
    for i, (kernel, bn) in enumerate(zip(convs, bns), start=1):
        weight, bias = fold_batch_norm(kernel, bn)
        if adapters:
            weight, bias = fold_adapter(weight, bias, _layer(weights, names[f"adapter{i}"], 1)[0])
        out, channels, taps, kh, kw = weight.shape
        if i == 1:  # time padded above, rows and columns by the Conv (or above: a prompt)
            stride, pads = networks.CONV1_STRIDES[1], conv1_pads
        else:  # "same": kernel 3, stride 1; time padded here, rows and columns by the Conv
            stride, pads = 1, [kh // 2, kw // 2] * 2
            x = node("Pad", [x, const(f"pad{i}_pads", np.array(
                [0, taps // 2, 0, 0, 0, 0, taps // 2, 0, 0, 0], np.int64))], f"pad{i}")
        conv = dict(strides=[stride, stride], pads=pads)
        x = _neighbours_as_channels(x, (channels, rows, cols), taps, frames, node, const,
                                    f"conv{i}_in")
        weight2d = weight.transpose(0, 2, 1, 3, 4).reshape(out, taps * channels, kh, kw)
        x = node("Conv", [x, const(f"conv{i}_w", weight2d), const(f"conv{i}_b", bias)],
                 f"conv{i}", **conv)
        x = node("Relu", [x], f"relu{i}")
        x = node("MaxPool", [x], f"pool{i}", kernel_shape=[2, 2], strides=[2, 2])
        rows = ((rows + pads[0] + pads[2] - kh) // stride + 1) // 2  # after conv and pool
        cols = ((cols + pads[1] + pads[3] - kw) // stride + 1) // 2
        x = node("Reshape", [x, const(f"pool{i}_shape", np.array(
            [-1, frames, out, rows, cols], np.int64))], f"pool{i}_ntchw")
    # Keras flattens each frame channels last: (N, T, C, H, W) -> (T, N, H*W*C), time first
    x = node("Transpose", [x], "tnhwc", perm=[1, 0, 3, 4, 2])
    x = node("Reshape", [x, const("flat_shape", np.array([0, 0, -1], np.int64))], "flatten")
    for i in (1, 2):
        w, r, b = _gru_arrays(weights, names[f"bigru{i}"])
        y = f"bigru{i}_y"
        nodes.append(helper.make_node(
            "GRU", [x, const(f"gru{i}_w", w), const(f"gru{i}_r", r), const(f"gru{i}_b", b)],
            [y], name=f"bigru{i}", hidden_size=int(units), direction="bidirectional",
            linear_before_reset=1))
        # (T, 2, N, units) -> (T, N, 2 * units): forward then backward, as Keras concatenates
        x = node("Transpose", [y], f"bigru{i}_t", perm=[0, 2, 1, 3])
        x = node("Reshape", [x, "flat_shape"], f"bigru{i}_out")
    x = node("MatMul", [x, const("dense_w", dense_w)], "dense_mm")
    x = node("Add", [x, const("dense_b", dense_b)], "dense")
    x = node("Softmax", [x], "softmax", axis=-1)
    node("Transpose", [x], OUTPUT_NAME, perm=[1, 0, 2])

    frames = helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", *INPUT_SHAPE])
    probs = helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT,
                                          ["batch", INPUT_SHAPE[0], dense_w.shape[1]])
    graph = helper.make_graph(nodes, "lipnet", [frames], [probs], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="lipread")
    model.ir_version = 8  # what ONNX Runtime >= 1.14 reads
    helper.set_model_props(model, {"weights_sha256": _sha256(weights_path),
                                   "person": json.dumps({"adapters": adapters,
                                                         "prompt": prompt, "tempo": tempo})})
    onnx.checker.check_model(model)
    return model


def _sha256(path) -> str:
    import hashlib

    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def export(weights_path, onnx_path, **person) -> Path:
    """Write the ONNX graph of `weights_path` (`person`: build's adapters, prompt, tempo)
    to `onnx_path` (a temp file, then renamed)."""
    import os
    import tempfile


    model = build(weights_path, **person)
    onnx_path = Path(onnx_path)
    fd, tmp = tempfile.mkstemp(prefix=f".{onnx_path.name}.", dir=onnx_path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(model.SerializeToString())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as an ordinary file, not mkstemp's 0600
        os.replace(tmp, onnx_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return onnx_path
