"""A person's reader trained from the general one on a few of their clips: CTC on whole
sentences only (recordings have no word timings), augmented, stopped early on a clip held
out of training, best weights kept.

Clips come as uint8 mouth crops with training's margin (cropstore.MARGIN), so that each
step can jitter the crop; a held-out clip is read centred, as inference reads it.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

import numpy as np

from lipread.enroll import methods

# The defaults: chosen on GRID's s26 with nine clips, leave-one-out, and reported on s31
# (experiments/enroll_study.py): every weight fine-tuned with the method's own
# learning rate and epochs (methods.py: 2e-4, 80), the person's tempo, no early stopping.
METHOD = "full"
LEARNING_RATE = None  # None: the method's own (methods.py)
MAX_EPOCHS = None  # None: the method's own (methods.py); an epoch: SAMPLES_PER_EPOCH clips
SAMPLES_PER_EPOCH = 8
MAX_SAMPLES = 2048  # clips a run trains on when its epochs are the method's own: 40 takes
# (32 trained, 8 held out) run 64 epochs, not 80, to teach within 3 minutes on 2 cores
PATIENCE = None  # epochs without a lower held-out loss before stopping (None: never stop)
STUDY_PATIENCE = 8  # the early-stopping rule the study compares
FIXED_EPOCHS = 15  # run when too few clips were given to hold one out (under 3)
BATCH_SIZE = 4
TIME_MASKS = 1  # per clip (batches.time_mask)
WARP_PROB = 0.5  # share of clips scaled, turned and gamma-bent (batches.warp)
CLIPNORM = 5.0
SEED = 0
TEMPO = None  # None: chosen from TEMPOS on the person's clips (estimate_tempo)
REHEARSE = 0  # clips of the general reader's own speaker mixed into each epoch (0: none)
AVERAGE_FROM = None  # from this epoch on the weights are averaged, epoch by epoch (None: the last)
SCHEDULE = "constant"  # or "cosine": the learning rate falls to zero over the run
TEMPOS = (1.0, 1.1, 1.2, 1.3)  # GRID's s1 says a sentence in ~33 frames, s26 and s31 in ~48
START_TEMPO = 1.2  # the tempo a person is read at unless their takes clearly say otherwise:
# the general reader's loss cannot tell 1.1 from 1.2 on s26, s31 or s4, and s26 taught at
# 1.2 read its held-out takes better than at 1.1 (chosen on s26 and s4's folds 0 and 1)
SURE = 2.0  # standard errors by which another tempo's loss must be lower to be taken


@dataclass(frozen=True)
class Settings:
    method: str = METHOD
    lr: float | None = LEARNING_RATE
    max_epochs: int | None = MAX_EPOCHS
    patience: int | None = PATIENCE
    batch_size: int = BATCH_SIZE
    time_masks: int = TIME_MASKS
    warp_prob: float = WARP_PROB
    seed: int = SEED
    tempo: float | None = TEMPO
    average_from: int | None = AVERAGE_FROM
    rehearse: int = REHEARSE
    schedule: str = SCHEDULE


@dataclass
class Adapted:
    model: object  # the person's inference network
    settings: Settings
    best_epoch: int  # 0: the general reader was best on the held-out clip
    epochs: int  # epochs run
    held_losses: list[float] = field(default_factory=list)  # epoch 0 (before) first
    seconds: float = 0.0
    tempo: float = 1.0  # the one the network reads at (model/personal.Tempo)


def labels_of(sentences) -> np.ndarray:
    """Sentences to padded CTC label rows (float32, as Keras feeds targets)."""
    from lipread.training import dataset

    return np.stack([dataset.label_ids(s.split()) for s in sentences]).astype(np.float32)


def estimate_tempo(base, clips, labels, tempos=TEMPOS, start=START_TEMPO) -> float:
    """How much faster than GRID's s1 the person is read, from their sentences alone (no
    timings): `start`, unless the general reader's CTC loss on the clips is lower at another
    of `tempos` by more than SURE standard errors of the clips' log-ratios; then the tempo
    where it is lowest (`start` not among `tempos`: that one, however sure)."""
    from lipread.model import personal
    from lipread.training import losses
    from lipread.training.cropstore import center

    frames = np.stack([center(c) for c in clips])
    loss = {}
    for tempo in tempos:
        x = frames[:, personal.tempo_frames(frames.shape[1], tempo)]
        probs = np.concatenate([np.asarray(base.predict_on_batch(x[i:i + BATCH_SIZE]))
                                for i in range(0, len(x), BATCH_SIZE)])
        loss[tempo] = np.log(np.asarray(losses.ctc_loss(labels, probs), np.float64)
                             .reshape(-1))
    best = min(loss, key=lambda tempo: loss[tempo].mean())
    if start not in loss:
        return best
    gain = loss[start] - loss[best]  # per clip: by what factor `best` is surer of it (log)
    spread = gain.std(ddof=1) / math.sqrt(len(gain)) if len(gain) > 1 else math.inf
    return best if gain.mean() > SURE * spread else start


def epoch_batches(clips, labels, rng, settings: Settings, rehearsal=0):
    """One epoch: SAMPLES_PER_EPOCH of the person's clips cycled in a fresh order, and
    `settings.rehearse` drawn from the `rehearsal` clips after them in `clips`, shuffled
    together, augmented, in batches."""
    from lipread.training import batches

    n = len(clips) - rehearsal
    order = np.concatenate([rng.permutation(n) for _ in range(math.ceil(SAMPLES_PER_EPOCH / n))])
    order = order[:max(SAMPLES_PER_EPOCH, n)]
    if settings.rehearse:  # (adapt refuses it without the rehearsal clips)
        order = rng.permutation(np.concatenate(
            [order, n + rng.choice(rehearsal, settings.rehearse, replace=False)]))
    blank = np.zeros(len(clips[0]), np.int32)  # no word timings: augment() moves none
    for i in range(0, len(order), settings.batch_size):
        ids = order[i:i + settings.batch_size]
        xs = [batches.augment(clips[k], blank, rng, settings.time_masks, settings.warp_prob)[0]
              for k in ids]
        yield np.stack(xs).astype(np.float32), labels[ids]


def slowed(clips, tempo: float) -> np.ndarray:
    """Clips of the general reader's speaker slowed by `tempo`, so that a person's network,
    which speeds its input up by `tempo` (model/personal.Tempo), sees them at their pace."""
    n = clips.shape[1]
    return clips[:, np.minimum(np.round(np.arange(n) / tempo), n - 1).astype(np.int32)]


def default_epochs(method: methods.Method, n_clips: int) -> int:
    """The method's own epochs, fewer where they would train on more than MAX_SAMPLES
    clips (an epoch: SAMPLES_PER_EPOCH clips, or every clip when there are more)."""
    return max(1, min(method.epochs, MAX_SAMPLES // max(SAMPLES_PER_EPOCH, n_clips)))


def per_epoch(settings: Settings, n_clips: int) -> int:
    """Clips an epoch on `n_clips` draws (epoch_batches): SAMPLES_PER_EPOCH, or every clip
    when there are more, and the rehearsal's."""
    return max(SAMPLES_PER_EPOCH, n_clips) + settings.rehearse


def samples(settings: Settings, n_clips: int) -> int:
    """Clips a run on `n_clips` trains on: its epochs (settings.max_epochs, or the
    method's own) of per_epoch() clips."""
    epochs = settings.max_epochs or default_epochs(methods.get(settings.method), n_clips)
    return epochs * per_epoch(settings, n_clips)


def learning_rate(settings: Settings, n_clips: int):
    """The optimizer's learning rate: settings.lr throughout, or falling from it to zero
    along a cosine over every step of the run (schedule "cosine")."""
    import keras

    if settings.schedule == "constant":
        return settings.lr
    if settings.schedule != "cosine":
        raise ValueError(f"unknown schedule {settings.schedule!r}: constant or cosine")
    steps = math.ceil(per_epoch(settings, n_clips) / settings.batch_size) * settings.max_epochs
    return keras.optimizers.schedules.CosineDecay(settings.lr, max(1, steps))


def batchnorm_statistics(model, clips) -> None:
    """Each batch norm's moving mean and variance set to those of its input over every
    frame of `clips` (uint8 crops with margin, read centred), layer by layer, each measured
    with the ones before it already set (AdaBN): the general reader told the person's light,
    contrast and shape from their clips alone, no sentence needed. Summed batch by batch, so
    that memory stays that of one batch."""
    import keras

    from lipread.training.cropstore import center

    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        upto = keras.Model(model.inputs, layer.input)
        count, total, squares = 0, 0.0, 0.0
        for i in range(0, len(clips), BATCH_SIZE):
            x = np.stack([center(c) for c in clips[i:i + BATCH_SIZE]]).astype(np.float32)
            out = np.asarray(upto.predict_on_batch(x), np.float64)
            out = out.reshape(-1, out.shape[-1])
            count, total, squares = count + len(out), total + out.sum(0), squares + (out ** 2).sum(0)
        mean = total / count
        gamma, beta = layer.get_weights()[:2]
        layer.set_weights([gamma, beta, mean.astype(np.float32),
                           np.maximum(squares / count - mean ** 2, 0).astype(np.float32)])


def stop_epoch(losses, patience: int) -> int:
    """The epoch early stopping keeps, given the held-out losses (epoch 0 first) in order."""
    best = 0
    for epoch, loss in enumerate(losses):
        if epoch - best > patience:
            break
        if loss < losses[best]:
            best = epoch
    return best


def adapt(clips, sentences, settings: Settings = Settings(), base=None, held=None,
          log=print, progress=None, watch=None, rehearsal=None) -> Adapted:
    """The general reader (`base`, the shipped one if None) adapted to `clips` (uint8 crops
    with margin) saying `sentences`. `held`: (clip, sentence) kept out of training, read
    after every epoch; training stops when its loss has not fallen for `patience` epochs
    and the best epoch's weights are kept (without one, or with patience None, all
    `max_epochs` run and the last weights are kept).
    progress(epoch, max_epochs) after each epoch; watch(epoch, model) before the first
    (epoch 0) and after each (the study reads its clips there). `rehearsal`: (uint8 crops
    with margin, sentences) of the general reader's own speaker, `settings.rehearse` of
    them mixed into each epoch (their speech must end before frame 75 / tempo)."""
    import keras

    from lipread.model import loader
    from lipread.training import losses
    from lipread.training.cropstore import center

    t0 = time.perf_counter()
    keras.utils.set_random_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    base = base or loader.load_model("lipnet")
    labels = labels_of(sentences)
    tempo = settings.tempo or estimate_tempo(base, clips, labels)
    method = methods.get(settings.method)
    settings = dataclasses.replace(settings, lr=settings.lr or method.lr,
                                   max_epochs=settings.max_epochs
                                   or default_epochs(method, len(clips)))
    model = methods.build(method, base, tempo)
    extra = 0
    if settings.rehearse and rehearsal is None:
        raise ValueError(f"rehearse={settings.rehearse} needs the general reader's own clips "
                         "(rehearsal.own_clips)")
    if settings.rehearse:
        extra = len(rehearsal[0])
        clips = np.concatenate([clips, slowed(np.asarray(rehearsal[0]), tempo)])
        labels = np.concatenate([labels, labels_of(rehearsal[1])])
    model.compile(optimizer=keras.optimizers.Adam(
        learning_rate(settings, len(clips) - extra), clipnorm=CLIPNORM),
        loss=losses.ctc_loss)
    if method.statistics:
        batchnorm_statistics(model, clips[:len(clips) - extra])
    if not model.trainable_weights:  # the tempo (and statistics) alone: nothing to train
        settings = dataclasses.replace(settings, max_epochs=0)
    held_x = held_y = None
    if held is not None:
        # A full batch of copies: one batch shape for every call (the loss is the same).
        held_x = np.repeat(center(held[0])[None], settings.batch_size, axis=0)
        held_y = np.repeat(labels_of([held[1]]), settings.batch_size, axis=0)

    def held_loss():
        return float(np.asarray(model.test_on_batch(held_x, held_y)).reshape(-1)[0])

    stops = held is not None and settings.patience is not None
    losses_seen = [held_loss()] if held is not None else []
    best, best_epoch, best_weights = (losses_seen or [math.inf])[0], 0, model.get_weights()
    epoch, averaged, summed = 0, 0, None
    if watch:
        watch(0, model)
    for epoch in range(1, settings.max_epochs + 1):
        for x, y in epoch_batches(clips, labels, rng, settings, extra):
            model.train_on_batch(x, y)
        if held is not None:
            losses_seen.append(held_loss())
            if stops and losses_seen[-1] < best:
                best, best_epoch, best_weights = losses_seen[-1], epoch, model.get_weights()
        if settings.average_from is not None and epoch >= settings.average_from:
            weights = model.get_weights()
            summed = weights if summed is None else [a + w for a, w in zip(summed, weights)]
            averaged += 1
        if watch:
            watch(epoch, model)
        if progress:
            progress(epoch, settings.max_epochs)
        if stops and epoch - best_epoch >= settings.patience:
            break
    if stops:
        model.set_weights(best_weights)
    else:
        best_epoch = epoch
        if averaged > 1:  # the mean of the weights after each epoch from average_from on
            model.set_weights([w / averaged for w in summed])
    seconds = time.perf_counter() - t0
    if log:
        log(f"adapted ({settings.method}, lr {settings.lr:g}, tempo {tempo:g}) on "
            f"{len(clips) - extra} clip(s): best epoch {best_epoch} of {epoch}, {seconds:.0f} s")
    return Adapted(model, settings, best_epoch, epoch, losses_seen, seconds, tempo)
