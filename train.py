"""Train LipNet on GRID s1 with CTC, holding out a validation slice of the training clips.

    python train.py --data-dir ../shared/grid --run-dir runs/lipnet --epochs 60
    python train.py --data-dir ../shared/grid --run-dir runs/lipnet --epochs 60 --resume

Every epoch writes the run's state (weights, optimizer, epoch) to --run-dir, so a run
stopped at any point goes on with --resume; best.weights.h5 there holds the inference
network of the epoch with the lowest validation CTC loss so far.
"""
from __future__ import annotations

import contextlib
import math
import sys
from pathlib import Path

import cliutil

# --- defaults (each one a flag) ---------------------------------------------
DATA_DIR = None  # None: $LIPREAD_DATA_DIR, then data/
TRAIN_NAMES = None  # None: <data-dir>/splits/train.txt
RUN_DIR = "runs/lipnet"
CROP = "landmarks"  # mouth found by face landmarks; "fixed": the tutorial's window
EPOCHS = 60
BATCH_SIZE = 8
PEAK_LR = 5e-4  # 1e-3 kept the full-resolution network near chance from scratch
MIN_LR = 1e-5
WARMUP_EPOCHS = 2
CLIPNORM = 5.0
WEIGHT_DECAY = 0.0  # decoupled (AdamW-style), on kernels only
WORD_LOSS_WEIGHT = 2.0  # the per-frame word head's share of the loss
VAL_FRACTION = 0.1  # of the training clips, held out for checkpoint choice
PATIENCE = 15  # epochs without a better validation loss before stopping
SEED = 1234
SPATIAL_DROPOUT = 0.0  # the paper's 0.2/0.5 from scratch kept runs at chance: start at 0,
GRU_DROPOUT = 0.0  # turn them on with --resume once training loss runs away from validation
SPLICE_PROB = 0.0  # share of training samples rebuilt from other clips' words (measured:
# 0.5 for 25 epochs did not beat plain fine-tuning on validation; models/README.md)
TIME_MASKS = 0  # time masks per training clip, each up to dataset.MAX_MASK_FRAMES frames
STOP_AFTER = None  # end after this epoch, keeping the --epochs schedule (to change flags
# midway with --resume, as the recipe in models/README.md does)
MAX_STEPS = None  # cut each epoch short (smoke tests)
LIMIT = None  # train (and hold out) on the first N names only (quick checks)
JSON = None  # a path for the run's summary as JSON; "-": stdout

PROG = "train.py"


def parse_args(argv=None):
    c = cliutil
    p = c.parser(PROG, __doc__)
    cliutil.add_data_dir(p, DATA_DIR)
    p.add_argument("--names", default=TRAIN_NAMES,
                   help="file of training clip names; default: <data-dir>/splits/train.txt")
    p.add_argument("--run-dir", default=RUN_DIR)
    p.add_argument("--cache-dir", default=None, help="decoded crops cache; default: .cache")
    p.add_argument("--crop", choices=("landmarks", "fixed"), default=CROP,
                   help="how the mouth is cut: face landmarks, or the tutorial's fixed window")
    p.add_argument("--epochs", type=c.positive_int, default=EPOCHS)
    p.add_argument("--batch-size", type=c.positive_int, default=BATCH_SIZE)
    p.add_argument("--lr", type=c.positive, default=PEAK_LR, help="peak learning rate")
    p.add_argument("--clipnorm", type=c.positive, default=CLIPNORM)
    p.add_argument("--weight-decay", type=c.non_negative, default=WEIGHT_DECAY)
    p.add_argument("--word-loss-weight", type=c.non_negative, default=WORD_LOSS_WEIGHT)
    p.add_argument("--val-fraction", type=c.fraction, default=VAL_FRACTION)
    p.add_argument("--patience", type=c.positive_int, default=PATIENCE)
    p.add_argument("--seed", type=c.non_negative_int, default=SEED)
    p.add_argument("--spatial-dropout", type=c.fraction, default=SPATIAL_DROPOUT)
    p.add_argument("--gru-dropout", type=c.fraction, default=GRU_DROPOUT)
    p.add_argument("--splice-prob", type=c.probability, default=SPLICE_PROB,
                   help="share of training samples spliced from several clips' words")
    p.add_argument("--time-masks", type=c.non_negative_int, default=TIME_MASKS,
                   help="runs of frames blanked in each training clip (SpecAugment-style)")
    p.add_argument("--stop-after", type=c.positive_int, default=STOP_AFTER,
                   help="stop after this epoch; the learning-rate schedule still spans --epochs")
    p.add_argument("--max-steps", type=c.positive_int, default=MAX_STEPS,
                   help="cut each epoch short (smoke tests)")
    p.add_argument("--limit", type=c.positive_int, default=LIMIT,
                   help="use only the first N clip names (before the validation slice)")
    p.add_argument("--resume", action="store_true", help="go on from --run-dir's last epoch")
    p.add_argument("--strategy", choices=("default", "mirrored"), default="default")
    p.add_argument("--cpu-devices", type=c.non_negative_int, default=0,
                   help="split the CPU into N logical devices (to try --strategy mirrored)")
    p.add_argument("--tensorboard", action="store_true")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                   help="1: progress bar, 2: a line an epoch")
    p.add_argument("--init-weights", default=None,
                   help="start from these lipnet weights (training or inference network)")
    p.add_argument("--json", default=JSON, metavar="PATH",
                   help="write the run's summary as JSON here; '-': stdout")
    args = p.parse_args(argv)
    if args.init_weights and not Path(args.init_weights).is_file():
        what = "is a directory" if Path(args.init_weights).is_dir() else "no such file"
        p.error(f"--init-weights {args.init_weights}: {what}; pass a lipnet .weights.h5 file")
    return args


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


def distribution(args):
    import tensorflow as tf

    if args.cpu_devices > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * args.cpu_devices)
    if args.strategy == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or \
                  [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.get_strategy()


def main(args):
    import keras
    import numpy as np

    import dataset
    import modelutil
    import train_callbacks as cbs
    import utils

    strategy = distribution(args)
    keras.utils.set_random_seed(args.seed)
    data_dir = utils.resolve_data_dir(args.data_dir)
    names_file = Path(args.names) if args.names else data_dir / "splits" / "train.txt"
    names = utils.read_names(names_file)[:args.limit]
    train_names, val_names = dataset.split_validation(names, args.val_fraction, args.seed)
    if not train_names:
        raise ValueError(f"{names_file}: {len(names)} clip(s) are too few to train on and "
                         "hold out a validation slice")
    run_dir = Path(args.run_dir)
    print(f"{len(train_names)} training clips, {len(val_names)} validation clips "
          f"(from {names_file}); {strategy.num_replicas_in_sync} replica(s); run in {run_dir}",
          flush=True)

    cache_dir = args.cache_dir or dataset.DEFAULT_CACHE_DIR
    train_arrays = dataset.load_clip_arrays(data_dir, train_names, cache_dir, crop=args.crop)
    val_arrays = dataset.load_clip_arrays(data_dir, val_names, cache_dir, crop=args.crop)
    train_ds = dataset.make_dataset(*train_arrays, args.batch_size, True, args.seed,
                                    splice_prob=args.splice_prob,
                                    time_masks=args.time_masks)
    replicas = strategy.num_replicas_in_sync
    if replicas > 1:
        # Every replica needs a non-empty share of each batch, the last one too.
        val_batch = max(replicas, min(args.batch_size, len(val_names)) // replicas * replicas)
        if len(val_names) < replicas:
            raise ValueError(f"{len(val_names)} validation clips for {replicas} replicas: "
                             "raise --val-fraction")
        val_ds = dataset.make_dataset(*val_arrays, val_batch, False, drop_remainder=True)
    else:
        val_ds = dataset.make_dataset(*val_arrays, args.batch_size, False)
    if args.max_steps:
        train_ds, val_ds = train_ds.take(args.max_steps), val_ds.take(args.max_steps)

    with strategy.scope():
        model = modelutil.build_lipnet_training(args.spatial_dropout, args.gru_dropout)
        model.compile(
            optimizer=make_optimizer(args.lr, args.clipnorm, args.weight_decay),
            loss=[dataset.ctc_loss,
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True)],
            loss_weights=[1.0, args.word_loss_weight])
    state = cbs.RunState(run_dir)
    initial_epoch = 0
    if args.resume:
        initial_epoch = state.restore(model)
        print(f"resumed {run_dir} after epoch {initial_epoch}", flush=True)
    elif args.init_weights:
        init_weights(model, args.init_weights)
    # Only now that every clip has been read and the weights fit does the run leave
    # anything behind.
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "val.txt").write_text("\n".join(val_names) + "\n")
    last_epoch = min(args.epochs, args.stop_after or args.epochs)
    if initial_epoch >= last_epoch:
        print(f"{run_dir} already trained {initial_epoch} epochs (--epochs {args.epochs}, "
              f"--stop-after {args.stop_after})")
        return run_summary(args, state, len(train_names), len(val_names))

    val_frames = np.stack([dataset._center(f).numpy() for f in val_arrays[0]])
    val_truth = [utils.ids_to_text(l) for l in val_arrays[1]]
    callbacks = [
        keras.callbacks.LearningRateScheduler(lr_schedule(args.epochs, args.lr)),
        cbs.SentencePrinter(val_frames, val_truth),
        cbs.BestInference(run_dir / "best.weights.h5", state),
        keras.callbacks.EarlyStopping(monitor="val_chars_loss", mode="min",
                                      patience=args.patience),
        keras.callbacks.CSVLogger(str(run_dir / "log.csv"), append=args.resume),
        state,
    ]
    if args.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "tensorboard")))
    model.fit(train_ds, validation_data=val_ds, epochs=last_epoch,
              initial_epoch=initial_epoch, callbacks=callbacks, verbose=args.verbose)
    print(f"best validation CTC loss {state.best:.4f}; weights in {run_dir / 'best.weights.h5'}")
    return run_summary(args, state, len(train_names), len(val_names))


def run_summary(args, state, n_train: int, n_val: int) -> dict:
    """What --json writes: where the run is, its best validation loss, how far it got."""
    run_dir = Path(args.run_dir)
    log = run_dir / "log.csv"
    return {"run_dir": str(run_dir), "best_weights": str(run_dir / "best.weights.h5"),
            "best_val_ctc_loss": state.best if math.isfinite(state.best) else None,
            "crop": args.crop,
            "epochs_logged": len(log.read_text().splitlines()[1:]) if log.is_file() else 0,
            "train_clips": n_train, "val_clips": n_val}


def cli(argv=None):
    cliutil.quiet_tensorflow()
    args = parse_args(argv)
    # With --json -, stdout is the JSON's alone: Keras' progress goes to stderr.
    to_stderr = contextlib.redirect_stdout(sys.stderr) if args.json == "-" else \
        contextlib.nullcontext()
    try:
        cliutil.check_writable(args.json)
        with to_stderr:
            cliutil.import_keras()
            summary = main(args)
    except (OSError, ValueError) as err:
        cliutil.error(PROG, err)
        return cliutil.EXIT_BAD_INPUT
    if args.json:
        cliutil.write_json(args.json, summary)
    return cliutil.EXIT_OK


if __name__ == "__main__":
    sys.exit(cli())
