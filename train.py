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
import training

# --- defaults (each one a flag) ---------------------------------------------
DATA_DIR = None  # None: $LIPREAD_DATA_DIR, then data/
TRAIN_NAMES = None  # None: <data-dir>/splits/train.txt
RUN_DIR = "runs/lipnet"
CROP = "landmarks"  # mouth found by face landmarks; "fixed": the tutorial's window
WORKERS = 1  # processes cutting crops not yet cached (preprocess.py first for a corpus)
LOADER_THREADS = 2  # threads making training batches ahead (~250-340 clips/s each here)
EPOCHS = 60
BATCH_SIZE = 8
PEAK_LR = 5e-4  # 1e-3 kept the full-resolution network near chance from scratch
CLIPNORM = training.CLIPNORM
WEIGHT_DECAY = training.WEIGHT_DECAY  # decoupled (AdamW-style), on kernels only
WORD_LOSS_WEIGHT = 2.0  # the per-frame word head's share of the loss
VAL_FRACTION = 0.1  # of the training clips, held out for checkpoint choice
PATIENCE = 15  # epochs without a better validation loss before stopping
SEED = 1234  # weights' start, shuffles, augmentation draws
VAL_SEED = 1234  # which clips are the validation slice: the same for every seed, so that
# runs of different seeds (an ensemble's members, a student and its teacher) share it
SPATIAL_DROPOUT = 0.0  # the paper's 0.2/0.5 from scratch kept runs at chance: start at 0,
GRU_DROPOUT = 0.0  # turn them on with --resume once training loss runs away from validation
GRU_UNITS = None  # None: modelutil's 128 (on --resume, the run's); 256 is the paper's
SPLICE_PROB = 0.0  # share of training samples rebuilt from other clips' words (measured:
# 0.5 for 25 epochs did not beat plain fine-tuning on validation; models/README.md)
TIME_MASKS = 0  # time masks per training clip, each up to batches.MAX_MASK_FRAMES frames
WARP = 0.0  # share of training clips scaled, turned and gamma-bent a little (batches.warp)
SUB_SENTENCES = 0.0  # share of training clips cut to a run of their words (batches.sub_sentence)
MIXUP = 0.0  # share of training clips mixed with another (ratio ~ Beta(0.4, 0.4)), both losses
TEACHERS = None  # lipnet weights whose averaged outputs the network also learns (distillation)
KD_WEIGHT = 1.0  # the distillation term (per-frame KL, summed over frames) beside CTC
KD_TEMPERATURE = 1.0  # both distributions softened by T, the term scaled by T^2
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
    p.add_argument("--workers", type=c.positive_int, default=WORKERS,
                   help="processes cutting mouth crops not yet cached (preprocess.py does too)")
    p.add_argument("--loader-threads", type=c.positive_int, default=LOADER_THREADS,
                   help="threads making training batches from the crop cache ahead of the "
                        "network (raise it on a GPU)")
    p.add_argument("--lazy", action="store_true",
                   help="read crops from the cache clip by clip, for corpora bigger than memory")
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
    p.add_argument("--seed", type=c.non_negative_int, default=SEED,
                   help="the weights' start, shuffles and augmentation draws")
    p.add_argument("--val-seed", type=c.non_negative_int, default=VAL_SEED,
                   help="which clips form the validation slice (keep it across seeds)")
    p.add_argument("--spatial-dropout", type=c.fraction, default=SPATIAL_DROPOUT)
    p.add_argument("--gru-dropout", type=c.fraction, default=GRU_DROPOUT)
    p.add_argument("--gru-units", type=c.positive_int, default=GRU_UNITS,
                   help="GRU width; --init-weights of a narrower network are widened")
    p.add_argument("--splice-prob", type=c.probability, default=SPLICE_PROB,
                   help="share of training samples spliced from several clips' words")
    p.add_argument("--time-masks", type=c.non_negative_int, default=TIME_MASKS,
                   help="runs of frames blanked in each training clip (SpecAugment-style)")
    p.add_argument("--warp", type=c.probability, default=WARP,
                   help="share of training clips scaled +-8%%, turned +-6 degrees, gamma-bent")
    p.add_argument("--sub-sentences", type=c.probability, default=SUB_SENTENCES,
                   help="share of training clips cut to a run of their words, the rest blanked")
    p.add_argument("--mixup", type=c.probability, default=MIXUP,
                   help="share of training clips mixed with another clip of the batch")
    p.add_argument("--teacher", nargs="+", default=TEACHERS, metavar="WEIGHTS",
                   help="lipnet weights to distil (several: their averaged outputs)")
    p.add_argument("--kd-weight", type=c.positive, default=KD_WEIGHT,
                   help="weight of the distillation term beside the CTC loss")
    p.add_argument("--kd-temperature", type=c.positive, default=KD_TEMPERATURE)
    p.add_argument("--stop-after", type=c.positive_int, default=STOP_AFTER,
                   help="stop after this epoch; the learning-rate schedule still spans --epochs")
    p.add_argument("--max-steps", type=c.positive_int, default=MAX_STEPS,
                   help="cut each epoch short (smoke tests)")
    p.add_argument("--limit", type=c.positive_int, default=LIMIT,
                   help="use only the first N clip names (before the validation slice)")
    p.add_argument("--resume", action="store_true", help="go on from --run-dir's last epoch")
    p.add_argument("--strategy", choices=("default", "mirrored", "multiworker"),
                   default="default",
                   help="mirrored: every GPU (else logical CPU) here; multiworker: the machines "
                        "of $TF_CONFIG, each reading its shard (README); under JAX both are "
                        "keras.distribution.DataParallel")
    p.add_argument("--speakers", default=None,
                   help="only these speakers' clips of --names, e.g. s1-s34 (default: all)")
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
    for flag, path in [("--init-weights", args.init_weights), *[("--teacher", t) for t in
                                                                 args.teacher or []]]:
        if path and not Path(path).is_file():
            what = "is a directory" if Path(path).is_dir() else "no such file"
            p.error(f"{flag} {path}: {what}; pass a lipnet .weights.h5 file")
    return args


def main(args):
    import keras
    import numpy as np

    import batches
    import dataset
    import losses
    import modelutil
    import train_callbacks as cbs
    import utils

    strategy = training.distribution(args.strategy, args.cpu_devices)
    keras.utils.set_random_seed(args.seed)
    data_dir = utils.resolve_data_dir(args.data_dir)
    names_file = Path(args.names) if args.names else data_dir / "splits" / "train.txt"
    names = utils.read_names(names_file)
    if args.speakers:
        import corpus
        wanted = {f"s{n}" for n in corpus.parse_speakers(args.speakers)}
        names = [n for n in names if utils.speaker_of(n) in wanted]
    names = names[:args.limit]
    train_names, val_names = dataset.split_validation(names, args.val_fraction, args.val_seed)
    if not train_names:
        raise ValueError(f"{names_file}: {len(names)} clip(s) are too few to train on and "
                         "hold out a validation slice")
    if strategy.workers > 1:
        # Each worker decodes and reads only its own shard, all shards the same length.
        train_names = train_names[strategy.task::strategy.workers][
            :len(train_names) // strategy.workers]
        val_names = val_names[strategy.task::strategy.workers][
            :max(1, len(val_names) // strategy.workers)]
    run_dir = Path(args.run_dir)
    print(f"{len(train_names)} training clips, {len(val_names)} validation clips "
          f"(from {names_file}); {strategy.num_replicas_in_sync} replica(s) "
          f"({training.backend()}); worker {strategy.task + 1} of {strategy.workers}; "
          f"run in {run_dir}", flush=True)

    cache_dir = args.cache_dir or dataset.DEFAULT_CACHE_DIR
    for name in train_names + val_names:  # a bad alignment fails now, before any decoding
        utils.load_alignment_segments(utils.alignment_path(data_dir, name))
    train_arrays = dataset.load_clip_arrays(data_dir, train_names, cache_dir, crop=args.crop,
                                            workers=args.workers, lazy=args.lazy)
    val_arrays = dataset.load_clip_arrays(data_dir, val_names, cache_dir, crop=args.crop,
                                          workers=args.workers)
    # Unreadable videos are skipped (listed in the cache's report): count what is left.
    train_names, val_names = list(train_arrays.names), list(val_arrays.names)
    teacher = None
    if args.teacher:
        teacher = training.teacher_probs(args.teacher, train_arrays[0])
    def train_batches(shard=0, n_shards=1, batch_size=args.batch_size):
        return batches.ClipBatches(
            *train_arrays, batch_size, True, args.seed + 1000 * shard,
            time_masks=args.time_masks, warp_prob=args.warp, splice_prob=args.splice_prob,
            sub_sentence_prob=args.sub_sentences, mixup_prob=args.mixup, teacher=teacher,
            max_steps=args.max_steps, workers=args.loader_threads)
    train_ds = train_batches()
    replicas = strategy.num_replicas_in_sync
    val_batch, drop = args.batch_size, False
    if replicas > 1:
        # Every replica needs a non-empty share of each batch, the last one too.
        val_batch = max(replicas, min(args.batch_size, len(val_names)) // replicas * replicas)
        drop = True
        if len(val_names) < replicas:
            raise ValueError(f"{len(val_names)} validation clips for {replicas} replicas: "
                             "raise --val-fraction")
    def val_batches(shard=0, n_shards=1, batch_size=val_batch):
        return batches.ClipBatches(*val_arrays, batch_size, False, drop_remainder=drop,
                                   teacher_cols=teacher is not None, max_steps=args.max_steps)
    val_ds = val_batches()
    multiworker_tf = strategy.workers > 1 and strategy.strategy is not None
    if multiworker_tf:
        local_batch = val_ds[0]
        train_ds = strategy.distribute(train_batches, args.batch_size)
        val_ds = strategy.distribute(val_batches, val_batch)

    with strategy.scope():
        units = args.gru_units or (args.resume and modelutil.gru_units_in(
            run_dir / "last.weights.h5")) or modelutil.GRU_UNITS
        model = modelutil.build_lipnet_training(args.spatial_dropout, args.gru_dropout, units)
        model.compile(
            optimizer=training.make_optimizer(args.lr, args.clipnorm, args.weight_decay),
            loss=[losses.chars_loss(args.kd_weight if args.teacher else 0.0,
                                    args.kd_temperature), losses.words_loss],
            loss_weights=[1.0, args.word_loss_weight])
    if multiworker_tf:
        training.build_for_multiworker(model, local_batch)
    state = cbs.RunState(run_dir, write=strategy.chief)
    initial_epoch = 0
    if args.resume:
        initial_epoch = state.restore(model)
        print(f"resumed {run_dir} after epoch {initial_epoch}", flush=True)
    elif args.init_weights:
        training.init_weights(model, args.init_weights)
    # Only now that every clip has been read and the weights fit does the run leave
    # anything behind.
    if strategy.chief:  # the other workers of --strategy multiworker write nothing
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "val.txt").write_text("\n".join(val_names) + "\n")
    last_epoch = min(args.epochs, args.stop_after or args.epochs)
    if initial_epoch >= last_epoch:
        print(f"{run_dir} already trained {initial_epoch} epochs (--epochs {args.epochs}, "
              f"--stop-after {args.stop_after})")
        return run_summary(args, state, len(train_names), len(val_names))

    val_frames = np.stack([batches.center(f) for f in val_arrays[0]])
    val_truth = [utils.ids_to_text(l) for l in val_arrays[1]]
    callbacks = [
        cbs.Throughput(args.batch_size * strategy.workers),
        keras.callbacks.LearningRateScheduler(training.lr_schedule(args.epochs, args.lr)),
        # Decoding needs every prediction in one place: not across several workers.
        *([cbs.SentencePrinter(val_frames, val_truth)] if strategy.workers == 1 else []),
        cbs.BestInference(run_dir / "best.weights.h5", state),
        keras.callbacks.EarlyStopping(monitor="val_chars_loss", mode="min",
                                      patience=args.patience),
        *([keras.callbacks.CSVLogger(str(run_dir / "log.csv"), append=args.resume)]
          if strategy.chief else []),
        state,
    ]
    if args.tensorboard and strategy.chief:
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
        training.force_cpu_devices(args.cpu_devices)  # read by JAX when it loads
        with to_stderr:
            cliutil.import_keras(warm=args.strategy != "multiworker")
            summary = main(args)
    except (OSError, ValueError) as err:
        cliutil.error(PROG, err)
        return cliutil.EXIT_BAD_INPUT
    if args.json:
        cliutil.write_json(args.json, summary)
    return cliutil.EXIT_OK


if __name__ == "__main__":
    sys.exit(cli())
