"""Train LipNet on GRID with CTC, holding out a validation slice of the training clips.

    lipread train --data-dir data --run-dir runs/lipnet --epochs 60
    lipread train --data-dir data --run-dir runs/lipnet --epochs 60 --resume

Every epoch writes the run's state (weights, optimizer, epoch) to --run-dir, so a run
stopped at any point goes on with --resume; best.weights.h5 there holds the inference
network of the epoch with the lowest validation CTC loss so far. Every flag is a field of
the run's recipe (lipread/training/recipe.py: Recipe), whose default it shows; how each was
chosen: models/README.md. From Python: lipread.train(data_dir=..., epochs=...).
"""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from lipread.cli import common
from lipread.model import networks
from lipread.training import devices
from lipread.training.recipe import STRATEGIES, Recipe

D = Recipe()  # every flag's default
PROG = "lipread train"


def parse_args(argv=None):
    c = common
    p = c.parser(PROG, __doc__)
    c.add_data_dir(p)
    p.add_argument("--names", default=D.names,
                   help="file of training clip names; default: <data-dir>/splits/train.txt")
    p.add_argument("--run-dir", default=D.run_dir)
    p.add_argument("--cache-dir", default=D.cache_dir,
                   help="the crop cache; default: $LIPREAD_CACHE_DIR, then .cache")
    p.add_argument("--workers", type=c.positive_int, default=D.workers,
                   help="processes cutting mouth crops not yet cached (`lipread preprocess` "
                        "fills the cache for a corpus)")
    p.add_argument("--loader-threads", type=c.positive_int, default=D.loader_threads,
                   help="threads making training batches from the crop cache ahead of the "
                        "network (raise it on a GPU)")
    p.add_argument("--lazy", action="store_true",
                   help="read crops from the cache clip by clip, for corpora bigger than memory")
    c.add_crop(p)
    p.add_argument("--epochs", type=c.positive_int, default=D.epochs)
    p.add_argument("--batch-size", type=c.positive_int, default=D.batch_size)
    p.add_argument("--lr", type=c.positive, default=D.lr, help="peak learning rate")
    p.add_argument("--clipnorm", type=c.positive, default=D.clipnorm)
    p.add_argument("--weight-decay", type=c.non_negative, default=D.weight_decay)
    p.add_argument("--word-loss-weight", type=c.non_negative, default=D.word_loss_weight)
    p.add_argument("--val-fraction", type=c.fraction, default=D.val_fraction)
    p.add_argument("--patience", type=c.positive_int, default=D.patience)
    p.add_argument("--seed", type=c.non_negative_int, default=D.seed,
                   help="the weights' start, shuffles and augmentation draws")
    p.add_argument("--val-seed", type=c.non_negative_int, default=D.val_seed,
                   help="which clips form the validation slice (keep it across seeds)")
    p.add_argument("--spatial-dropout", type=c.fraction, default=D.spatial_dropout)
    p.add_argument("--gru-dropout", type=c.fraction, default=D.gru_dropout)
    p.add_argument("--gru-units", type=c.positive_int, default=D.gru_units,
                   help=f"GRU width (default: {networks.GRU_UNITS}, or on --resume the run's); "
                        "--init-weights of a narrower network are widened")
    p.add_argument("--splice-prob", type=c.probability, default=D.splice_prob,
                   help="share of training samples spliced from several clips' words")
    p.add_argument("--time-masks", type=c.non_negative_int, default=D.time_masks,
                   help="runs of frames blanked in each training clip (SpecAugment-style)")
    p.add_argument("--warp", type=c.probability, default=D.warp,
                   help="share of training clips scaled +-8%%, turned +-6 degrees, gamma-bent")
    p.add_argument("--sub-sentences", type=c.probability, default=D.sub_sentences,
                   help="share of training clips cut to a run of their words, the rest blanked")
    p.add_argument("--mixup", type=c.probability, default=D.mixup,
                   help="share of training clips mixed with another clip of the batch")
    p.add_argument("--teacher", nargs="+", default=D.teacher, metavar="WEIGHTS",
                   help="lipnet weights to distil (several: their averaged outputs)")
    p.add_argument("--kd-weight", type=c.positive, default=D.kd_weight,
                   help="weight of the distillation term beside the CTC loss")
    p.add_argument("--kd-temperature", type=c.positive, default=D.kd_temperature)
    p.add_argument("--stop-after", type=c.positive_int, default=D.stop_after,
                   help="stop after this epoch; the learning-rate schedule still spans --epochs")
    p.add_argument("--max-steps", type=c.positive_int, default=D.max_steps,
                   help="cut each epoch short (smoke tests)")
    p.add_argument("--limit", type=c.positive_int, default=D.limit,
                   help="use only the first N clip names (before the validation slice)")
    p.add_argument("--resume", action="store_true", help="go on from --run-dir's last epoch")
    p.add_argument("--strategy", choices=STRATEGIES, default=D.strategy,
                   help="mirrored: every GPU (else logical CPU) here; multiworker: the machines "
                        "of $TF_CONFIG, each reading its shard (README); under JAX both are "
                        "keras.distribution.DataParallel")
    c.add_speakers(p, "only these speakers' clips of --names (default: all)")
    p.add_argument("--cpu-devices", type=c.non_negative_int, default=D.cpu_devices,
                   help="split the CPU into N logical devices (to try --strategy mirrored)")
    p.add_argument("--tensorboard", action="store_true")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=D.verbose,
                   help="1: progress bar, 2: a line an epoch")
    p.add_argument("--init-weights", default=D.init_weights,
                   help="start from these lipnet weights (training or inference network)")
    c.add_json(p, "the run's summary")
    args = p.parse_args(argv)
    for flag, path in [("--init-weights", args.init_weights), *[("--teacher", t) for t in
                                                                 args.teacher or []]]:
        if path and not Path(path).is_file():
            what = "is a directory" if Path(path).is_dir() else "no such file"
            p.error(f"{flag} {path}: {what}; pass a lipnet .weights.h5 file")
    return args


def cli(argv=None):
    common.quiet_tensorflow()
    args = parse_args(argv)
    # With --json -, stdout is the JSON's alone: Keras' progress goes to stderr.
    to_stderr = contextlib.redirect_stdout(sys.stderr) if args.json == "-" else \
        contextlib.nullcontext()
    recipe = Recipe(**{k: v for k, v in vars(args).items() if k != "json"})
    try:
        common.check_writable(args.json)
        devices.force_cpu_devices(recipe.cpu_devices)  # read by JAX when it loads
        with to_stderr:
            common.import_keras(warm=recipe.strategy != "multiworker")
            from lipread.training import run

            summary = run.train(recipe)
    except (OSError, ValueError) as err:
        common.error(PROG, err)
        return common.EXIT_BAD_INPUT
    if args.json:
        common.write_json(args.json, summary)
    return common.EXIT_OK
