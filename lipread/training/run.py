"""One training run: the clips read (from the crop cache), the network built and compiled,
resumed or started, and fitted with the callbacks that keep the run's state; what
`lipread train` and `lipread.train` run. Keras is imported when a run starts.
"""
from __future__ import annotations

import dataclasses
import inspect
import math
import os
from pathlib import Path

import numpy as np

from lipread import grid
from lipread.model import loader, networks
from lipread.training import checkpoint, cropstore, dataset, devices, losses
from lipread.training.recipe import (
    Recipe,
    init_weights,
    lr_schedule,
    make_optimizer,
    teacher_probs,
)


def train(recipe: Recipe | None = None, /, **settings) -> dict:
    """Train lipnet on GRID's clips, one run: `recipe`, or its fields as keywords (every flag
    of `lipread train`, --batch-size as batch_size; each default is Recipe's). Returns the
    run's summary, what `lipread train --json` writes; the weights are in run_dir.

        import lipread
        lipread.train(data_dir="data", run_dir="runs/lipnet", epochs=60)
        lipread.train(data_dir="data", run_dir="runs/lipnet", epochs=60, resume=True)
    """
    recipe = dataclasses.replace(recipe, **settings) if recipe else Recipe(**settings)
    for what, path in [("init_weights", recipe.init_weights),
                       *[("teacher", t) for t in recipe.teacher or []]]:
        if path and not Path(path).is_file():
            problem = "is a directory" if Path(path).is_dir() else "no such file"
            raise FileNotFoundError(f"{what} {path}: {problem}; give a lipnet .weights.h5 file")
    devices.force_cpu_devices(recipe.cpu_devices)  # before JAX loads
    return _run(recipe)


# help(train) and signature(train) list every keyword with its default, from Recipe.
train.__signature__ = inspect.Signature(
    [inspect.Parameter("recipe", inspect.Parameter.POSITIONAL_ONLY, default=None,
                       annotation="Recipe | None")]
    + [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default,
                         annotation=f.type) for f in dataclasses.fields(Recipe)],
    return_annotation="dict")


def _run(recipe: Recipe) -> dict:
    """train's run, its recipe whole."""
    import keras

    from lipread.training import batches
    from lipread.training import callbacks as cbs

    strategy = devices.distribution(recipe.strategy, recipe.cpu_devices)
    keras.utils.set_random_seed(recipe.seed)
    data_dir = grid.resolve_data_dir(recipe.data_dir)
    names_file = Path(recipe.names) if recipe.names else data_dir / "splits" / "train.txt"
    names = grid.read_names(names_file)
    if recipe.speakers:
        wanted = {f"s{n}" for n in grid.parse_speakers(recipe.speakers)}
        names = [n for n in names if grid.speaker_of(n) in wanted]
    names = names[:recipe.limit]
    train_names, val_names = dataset.split_validation(names, recipe.val_fraction, recipe.val_seed)
    if not train_names:
        raise ValueError(f"{names_file}: {len(names)} clip(s) are too few to train on and "
                         "hold out a validation slice")
    if strategy.workers > 1:
        # Each worker decodes and reads only its own shard, all shards the same length.
        train_names = train_names[strategy.task::strategy.workers][
            :len(train_names) // strategy.workers]
        val_names = val_names[strategy.task::strategy.workers][
            :max(1, len(val_names) // strategy.workers)]
    run_dir = Path(recipe.run_dir)
    print(f"{len(train_names)} training clips, {len(val_names)} validation clips "
          f"(from {names_file}); {strategy.num_replicas_in_sync} replica(s) "
          f"({devices.backend()}); worker {strategy.task + 1} of {strategy.workers}; "
          f"run in {run_dir}", flush=True)

    cache_dir = recipe.cache_dir or cropstore.DEFAULT_CACHE_DIR
    for name in train_names + val_names:  # a bad alignment fails now, before any decoding
        grid.load_alignment_segments(grid.alignment_path(data_dir, name))
    train_arrays = dataset.load_clip_arrays(data_dir, train_names, cache_dir, crop=recipe.crop,
                                            workers=recipe.workers, lazy=recipe.lazy)
    val_arrays = dataset.load_clip_arrays(data_dir, val_names, cache_dir, crop=recipe.crop,
                                          workers=recipe.workers)
    # Unreadable videos are skipped (listed in the cache's report): count what is left.
    train_names, val_names = list(train_arrays.names), list(val_arrays.names)
    teacher = None
    if recipe.teacher:
        teacher = teacher_probs(recipe.teacher, train_arrays[0])
    def train_batches(shard=0, n_shards=1, batch_size=recipe.batch_size):
        return batches.ClipBatches(
            *train_arrays, batch_size, True, recipe.seed + 1000 * shard,
            time_masks=recipe.time_masks, warp_prob=recipe.warp, splice_prob=recipe.splice_prob,
            sub_sentence_prob=recipe.sub_sentences, mixup_prob=recipe.mixup, teacher=teacher,
            max_steps=recipe.max_steps, workers=recipe.loader_threads)
    train_ds = train_batches()
    replicas = strategy.num_replicas_in_sync
    val_batch, drop = recipe.batch_size, False
    if replicas > 1:
        # Every replica needs a non-empty share of each batch, the last one too.
        val_batch = max(replicas, min(recipe.batch_size, len(val_names)) // replicas * replicas)
        drop = True
        if len(val_names) < replicas:
            raise ValueError(f"{len(val_names)} validation clips for {replicas} replicas: "
                             "raise --val-fraction")
    def val_batches(shard=0, n_shards=1, batch_size=val_batch):
        return batches.ClipBatches(*val_arrays, batch_size, False, drop_remainder=drop,
                                   teacher_cols=teacher is not None, max_steps=recipe.max_steps)
    val_ds = val_batches()
    multiworker_tf = strategy.workers > 1 and strategy.strategy is not None
    if multiworker_tf:
        local_batch = val_ds[0]
        train_ds = strategy.distribute(train_batches, recipe.batch_size)
        val_ds = strategy.distribute(val_batches, val_batch)

    with strategy.scope():
        last = recipe.resume and checkpoint.weights(run_dir)
        units = recipe.gru_units or (last and loader.gru_units_in(last)) or networks.GRU_UNITS
        model = networks.build_lipnet_training(recipe.spatial_dropout, recipe.gru_dropout, units)
        model.compile(
            optimizer=make_optimizer(recipe.lr, recipe.clipnorm, recipe.weight_decay),
            loss=[losses.chars_loss(recipe.kd_weight if recipe.teacher else 0.0,
                                    recipe.kd_temperature), losses.words_loss],
            loss_weights=[1.0, recipe.word_loss_weight])
    if multiworker_tf:
        devices.build_for_multiworker(model, local_batch)
    state = cbs.RunState(run_dir, write=strategy.chief)
    initial_epoch = 0
    if recipe.resume:
        initial_epoch = state.restore(model)
        if strategy.chief:
            keep_log_rows(run_dir / "log.csv", initial_epoch)
        print(f"resumed {run_dir} after epoch {initial_epoch}", flush=True)
    elif recipe.init_weights:
        init_weights(model, recipe.init_weights)
    # Only now that every clip has been read and the weights fit does the run leave
    # anything behind.
    if strategy.chief:  # the other workers of --strategy multiworker write nothing
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "val.txt").write_text("\n".join(val_names) + "\n")
    last_epoch = min(recipe.epochs, recipe.stop_after or recipe.epochs)
    if initial_epoch >= last_epoch:
        print(f"{run_dir} already trained {initial_epoch} epochs (--epochs {recipe.epochs}, "
              f"--stop-after {recipe.stop_after})")
        return run_summary(recipe, state, len(train_names), len(val_names))

    val_frames = np.stack([cropstore.center(f) for f in val_arrays[0]])
    val_truth = [grid.ids_to_text(l) for l in val_arrays[1]]
    callbacks = [
        cbs.Throughput(recipe.batch_size * strategy.workers),
        keras.callbacks.LearningRateScheduler(lr_schedule(recipe.epochs, recipe.lr)),
        # Decoding needs every prediction in one place: not across several workers.
        *([cbs.SentencePrinter(val_frames, val_truth)] if strategy.workers == 1 else []),
        cbs.BestInference(run_dir / "best.weights.h5", state),
        keras.callbacks.EarlyStopping(monitor="val_chars_loss", mode="min",
                                      patience=recipe.patience),
        *([keras.callbacks.CSVLogger(str(run_dir / "log.csv"), append=recipe.resume)]
          if strategy.chief else []),
        state,
    ]
    if recipe.tensorboard and strategy.chief:
        callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "tensorboard")))
    model.fit(train_ds, validation_data=val_ds, epochs=last_epoch,
              initial_epoch=initial_epoch, callbacks=callbacks, verbose=recipe.verbose)
    print(f"best validation CTC loss {state.best:.4f}; weights in {run_dir / 'best.weights.h5'}")
    return run_summary(recipe, state, len(train_names), len(val_names))


def run_summary(recipe: Recipe, state, n_train: int, n_val: int) -> dict:
    """What --json writes: where the run is, its best validation loss, how far it got."""
    run_dir = Path(recipe.run_dir)
    log = run_dir / "log.csv"
    return {"run_dir": str(run_dir), "best_weights": str(run_dir / "best.weights.h5"),
            "best_val_ctc_loss": state.best if math.isfinite(state.best) else None,
            "crop": recipe.crop,
            "epochs_logged": len(log.read_text().splitlines()[1:]) if log.is_file() else 0,
            "train_clips": n_train, "val_clips": n_val}


def keep_log_rows(log, epochs: int) -> None:
    """log.csv as the checkpoint has it: the rows of its `epochs` epochs (a row written
    before a kill that came before the checkpoint would be written again), replaced whole."""
    log = Path(log)
    if not log.is_file():
        return
    lines = log.read_text().splitlines(keepends=True)
    kept = lines[:1] + [l for l in lines[1:] if l.split(",", 1)[0].isdigit()
                        and int(l.split(",", 1)[0]) < epochs]
    if kept != lines:
        tmp = log.with_name(f".{log.name}.partial")
        tmp.write_text("".join(kept))
        os.replace(tmp, log)
