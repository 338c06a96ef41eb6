"""What train.py runs, as functions: the learning-rate schedule, the optimizer, starting
weights, the teacher's outputs for distillation, and the devices to train on.

Nothing here imports TensorFlow unless the TensorFlow backend is the one in use: under
KERAS_BACKEND=jax the same training runs where TensorFlow is not installed.
"""
from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass

import numpy as np

WARMUP_EPOCHS = 2
MIN_LR = 1e-5
CLIPNORM = 5.0
WEIGHT_DECAY = 0.0  # decoupled (AdamW-style), on kernels only


def backend() -> str:
    """The Keras backend that will load: $KERAS_BACKEND, else Keras' config, else TF."""
    name = os.environ.get("KERAS_BACKEND")
    if not name:
        import keras

        name = keras.backend.backend()
    return name


def lr_schedule(epochs, peak, warmup=WARMUP_EPOCHS, floor=MIN_LR):
    """Linear warm-up to `peak`, then a cosine decay to `floor` at the last epoch."""
    def schedule(epoch, lr=None):
        if epoch < warmup:
            return peak * (epoch + 1) / (warmup + 1)
        progress = (epoch - warmup) / max(1, epochs - warmup)
        return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * min(progress, 1.0)))
    return schedule


def make_optimizer(lr, clipnorm=CLIPNORM, weight_decay=WEIGHT_DECAY):
    """Adam; with weight_decay, decoupled decay (AdamW) of kernels only."""
    import keras

    optimizer = keras.optimizers.Adam(lr, clipnorm=clipnorm, weight_decay=weight_decay or None)
    if weight_decay:
        # Batch norm scales and shifts and the biases are not what overfits.
        optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    return optimizer


def init_weights(model, path):
    """A run's last.weights.h5 (with the word head) or an inference network; weights of
    the earlier lipnet that averaged the crop 2x2 get their conv1 widened to full size."""
    import warnings

    import h5py

    import modelutil

    for target in (model, modelutil.inference_model(model)):
        # Keras only warns when parts of a file don't fit: such a load is a failed one.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                target.load_weights(path)
            except ValueError:
                continue
        if not [w for w in caught if "saving" in w.filename]:
            break
    else:
        target = modelutil.inference_model(model)
        with h5py.File(path, "r") as f:
            kernel = f.get("layers/conv3d/vars/0")
            kernel = None if kernel is None else kernel[()]
        if kernel is None or kernel.shape != (3, 5, 5, 1, modelutil.CONV_FILTERS[0]):
            raise ValueError(f"{path}: not lipnet weights (of this network or of the one "
                             "that averaged the crop 2x2); pass a lipnet .weights.h5")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # conv1's shape differs: widened below
            target.load_weights(path, skip_mismatch=True)
        target.get_layer("conv1").kernel.assign(modelutil.widen_conv1(kernel))
        print(f"{path}: conv1 widened from 5x5 on the 2x2-averaged crop", flush=True)
    if target is not model:
        print(f"{path}: inference network only; the word head starts untrained", flush=True)


def teacher_probs(paths, frames, batch_size=16, log=print) -> np.ndarray:
    """The teachers' per-frame probabilities on centred training clips, averaged over the
    networks given (an ensemble teacher), float16 (N, 75, 41)."""
    import batches
    import modelutil
    import transcribe

    total = None
    for path in paths:
        model = modelutil.load_model("lipnet", path)
        probs = np.concatenate([
            transcribe.predict_probs(model, np.stack([batches.center(f) for f in
                                                      frames[i:i + batch_size]]), batch_size)
            for i in range(0, len(frames), batch_size)])
        total = probs if total is None else total + probs
        if log:
            log(f"teacher {path}: read {len(frames)} training clips")
    return (total / len(paths)).astype(np.float16)


@dataclass
class Devices:
    """Where training runs: `scope()` to build the model in, and how many replicas."""
    num_replicas_in_sync: int = 1
    strategy: object = None  # a tf.distribute strategy, under TensorFlow

    def scope(self):
        return self.strategy.scope() if self.strategy else contextlib.nullcontext()


def force_cpu_devices(n: int) -> None:
    """Before JAX loads: split the host CPU into n XLA devices (to try data parallelism)."""
    if n > 1:
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()


def _jax_devices(keras) -> list:
    for kind in ("gpu", "cpu"):
        try:
            found = keras.distribution.list_devices(kind)
        except RuntimeError:  # JAX raises for a platform it does not have
            found = []
        if found:
            return found
    return []


def distribution(strategy: str, cpu_devices: int = 0) -> Devices:
    """`default`: one device; `mirrored`: every GPU (else every logical CPU) of this machine,
    by tf.distribute.MirroredStrategy, or keras.distribution.DataParallel under JAX."""
    if backend() != "tensorflow":
        import keras

        if strategy == "default":
            return Devices()
        devices = _jax_devices(keras)
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        return Devices(len(devices))
    import tensorflow as tf

    if cpu_devices > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
    if strategy == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or \
                  [d.name for d in tf.config.list_logical_devices("CPU")]
        s = tf.distribute.MirroredStrategy(devices)
    else:
        s = tf.distribute.get_strategy()
    return Devices(s.num_replicas_in_sync, s)
