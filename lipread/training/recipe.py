"""How lipnet is trained, as constants and functions: the recipe's defaults, a run's whole
recipe (Recipe: every flag of `lipread train`, every keyword of `lipread.train`), the
learning-rate schedule, the optimizer, starting weights, and the teacher's outputs for
distillation. How each default was chosen: models/README.md.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from lipread.model import loader, networks, widen
from lipread.training import cropstore, losses
from lipread.video import CROPS, DEFAULT_CROP

EPOCHS = 60
BATCH_SIZE = 8
PEAK_LR = 5e-4  # the learning rate after warm-up (1e-3 stalled near chance from scratch)
WARMUP_EPOCHS = 2
MIN_LR = 1e-5
CLIPNORM = 5.0
WEIGHT_DECAY = 0.0  # decoupled (AdamW-style), on kernels only
WORD_LOSS_WEIGHT = 2.0  # the per-frame word head's share of the loss
VAL_FRACTION = 0.1  # of the training clips, held out for checkpoint choice
PATIENCE = 15  # epochs without a better validation loss before stopping
SEED = 1234  # weights' start, shuffles, augmentation draws
LOADER_THREADS = 2  # threads making batches ahead of the network (~250-340 clips/s each here)
WORKERS = 1  # processes cutting the mouth crops not yet cached (`lipread preprocess` first)
VAL_SEED = 1234  # which clips are the validation slice: the same for every seed, so that
# runs of different seeds (an ensemble's members, a student and its teacher) share it
RUN_DIR = "runs/lipnet"  # where a run keeps its weights, optimizer state and log
STRATEGIES = ("default", "mirrored", "multiworker")  # devices.distribution's


@dataclass(kw_only=True)
class Recipe:
    """One training run, every setting with its default: what `lipread train`'s flags set
    (--batch-size is batch_size) and `lipread.train` takes as keywords. Paths may be str or
    Path; None: the default said beside it."""
    # the clips
    data_dir: str | os.PathLike | None = None  # GRID folder; None: $LIPREAD_DATA_DIR, then data/
    names: str | os.PathLike | None = None  # training clip names; None: <data_dir>/splits/train.txt
    speakers: str | None = None  # only these speakers' clips of names, e.g. "s1-s34"
    limit: int | None = None  # only the first N names (before the validation slice)
    val_fraction: float = VAL_FRACTION
    val_seed: int = VAL_SEED
    crop: str = DEFAULT_CROP  # how the mouth is found (video.CROPS)
    cache_dir: str | os.PathLike | None = None  # crops; None: $LIPREAD_CACHE_DIR, then .cache
    workers: int = WORKERS
    loader_threads: int = LOADER_THREADS
    lazy: bool = False  # crops read from the cache clip by clip (corpora bigger than memory)
    # the run
    run_dir: str | os.PathLike = RUN_DIR
    resume: bool = False  # go on from run_dir's last epoch
    init_weights: str | os.PathLike | None = None  # start from these lipnet weights
    epochs: int = EPOCHS
    stop_after: int | None = None  # stop after this epoch (the schedule still spans epochs)
    max_steps: int | None = None  # cut each epoch short (smoke tests)
    patience: int = PATIENCE
    seed: int = SEED
    # the optimizer and the network
    batch_size: int = BATCH_SIZE
    lr: float = PEAK_LR
    clipnorm: float = CLIPNORM
    weight_decay: float = WEIGHT_DECAY
    word_loss_weight: float = WORD_LOSS_WEIGHT
    spatial_dropout: float = networks.SPATIAL_DROPOUT
    gru_dropout: float = networks.GRU_DROPOUT
    gru_units: int | None = None  # None: networks.GRU_UNITS, or on resume the run's
    # augmentation: the share of training clips each touches (time_masks: runs of frames)
    splice_prob: float = 0.0
    time_masks: int = 0
    warp: float = 0.0
    sub_sentences: float = 0.0
    mixup: float = 0.0
    # distillation
    teacher: list[str | os.PathLike] | None = None  # lipnet weights (several: averaged)
    kd_weight: float = losses.KD_WEIGHT
    kd_temperature: float = losses.KD_TEMPERATURE
    # devices and output
    strategy: str = "default"  # or mirrored, multiworker (STRATEGIES)
    cpu_devices: int = 0  # split the CPU into N logical devices (to try mirrored)
    tensorboard: bool = False
    verbose: int = 1  # Keras's: 1 a progress bar, 2 a line an epoch

    def __post_init__(self):
        if isinstance(self.teacher, (str, os.PathLike)):
            self.teacher = [self.teacher]
        if self.crop not in CROPS:
            raise ValueError(f"crop must be one of {', '.join(CROPS)}, not {self.crop!r}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, "
                             f"not {self.strategy!r}")


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
    the earlier lipnet that averaged the crop 2x2 get their conv1 widened to full size,
    those of a network with narrower GRUs their GRUs (`widen.py`). Returns the part of
    `model` the file filled: `model`, or its inference network."""
    import warnings

    import h5py


    units, wide = loader.gru_units_in(path), widen.gru_units_of(model)
    if units and units > wide:
        raise ValueError(f"{path}: a network with GRUs of {units} units, wider than this "
                         f"one's {wide}; pass --gru-units {units}")
    if units and units < wide:
        narrow = networks.build_lipnet_training(gru_units=units)
        filled = init_weights(narrow, path)
        target = model if filled is narrow else networks.inference_model(model)
        widen.widen_lipnet(filled, target)
        print(f"{path}: GRUs widened from {units} to {wide} units", flush=True)
        return target
    for target in (model, networks.inference_model(model)):
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
        target = networks.inference_model(model)
        with h5py.File(path, "r") as f:
            kernel = f.get("layers/conv3d/vars/0")
            kernel = None if kernel is None else kernel[()]
        if kernel is None or kernel.shape != (3, 5, 5, 1, networks.CONV_FILTERS[0]):
            raise ValueError(f"{path}: not lipnet weights (of this network or of the one "
                             "that averaged the crop 2x2); pass a lipnet .weights.h5")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # conv1's shape differs: widened below
            target.load_weights(path, skip_mismatch=True)
        target.get_layer("conv1").kernel.assign(networks.widen_conv1(kernel))
        print(f"{path}: conv1 widened from 5x5 on the 2x2-averaged crop", flush=True)
    if target is not model:
        print(f"{path}: inference network only; the word head starts untrained", flush=True)
    return target


def teacher_probs(paths, frames, batch_size=16, log=print) -> np.ndarray:
    """The teachers' per-frame probabilities on centred training clips, averaged over the
    networks given (an ensemble teacher), float16 (N, 75, 41)."""
    total = None
    for path in paths:
        model = loader.load_model("lipnet", path)
        probs = np.concatenate([  # Keras's compiled forward pass, batch by batch
            np.asarray(model.predict_on_batch(np.stack([cropstore.center(f) for f in
                                                         frames[i:i + batch_size]])))
            for i in range(0, len(frames), batch_size)])
        total = probs if total is None else total + probs
        if log:
            log(f"teacher {path}: read {len(frames)} training clips")
    return (total / len(paths)).astype(np.float16)
