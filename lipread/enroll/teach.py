"""One enrollment, start to end: a person's clips cut to mouth crops, the general reader
adapted to them (adapt.py; or the method chosen on their clips, choose.py), and the
profile written whole (profiles.py) with its card: what was done, how long it took, and the
last clip read before and after by a reader trained without it. `teach` is the verb
(lipread.teach); what `lipread enroll` and the page's "Teach" run.
"""
from __future__ import annotations

import dataclasses
import hashlib
import shutil
import time
from datetime import datetime, timezone

import numpy as np

from lipread import reading, scoring
from lipread.constants import CROP_H, CROP_W
from lipread.enroll import adapt, choose, methods, profiles
from lipread.enroll.clips import Clip, crops, gather

MIN_HELD_OUT = 3  # clips needed before one is held out to stop training and to score it


def _read(model, frames, truth: str) -> dict:
    """A clip's crops (with training's margin) read as any video is read, and scored."""
    from lipread.training.cropstore import MARGIN

    crops = frames[:, MARGIN:MARGIN + CROP_H, MARGIN:MARGIN + CROP_W]
    said = reading.read_crops(crops, model, "grammar").sentence
    edits, words = scoring.error_counts(truth, said)[:2]
    return {"said": said, "word_errors": edits, "words": words}


def _sha(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def teach(name: str, videos, sentences=None, *, force: bool = False,
          method: str = adapt.METHOD, lr: float | None = adapt.LEARNING_RATE,
          max_epochs: int | None = adapt.MAX_EPOCHS, patience: int | None = adapt.PATIENCE,
          tempo: float | None = adapt.TEMPO, seed: int = adapt.SEED, keep_clips: bool = False,
          log=print, progress=None) -> dict:
    """Teach the reader a person's face: the shipped reader adapted to their clips, kept as
    profile `name` (profiles.path(name); `force` replaces one), never in place of the general
    reader. Returns the profile's card (its profile.json).

        import lipread
        card = lipread.teach("alice", ["a1.mp4", "a2.mp4", "a3.mp4"], ["bin blue at f two now",
                             "lay red by g one please", "set white in a nine again"])
        print(lipread.read("talk.mp4", lipread.load_reader("alice")).sentence)

    `videos`: paths of the person's clips (a folder: every clip in it), each saying a GRID
    sentence: `sentences` in the same order, or None to find each as `lipread enroll` does
    (its alignment in GRID's layout, else <stem>.txt beside it). The settings are `lipread
    enroll`'s flags, with its defaults: `method` one of methods.REGISTRY or "auto" (chosen on
    the clips, choose.py); `lr` and `max_epochs` None: the method's own; `patience` None or
    0: no early stopping; `tempo` None: chosen on the clips. `keep_clips` copies the clips
    into the profile; `log` takes its lines, progress(fraction, what) how far it is.
    Raises ValueError (EnrollError, ProfileError) saying what is wrong.
    """
    profiles.check_name(name)
    settings = settings_of(method, lr, max_epochs, patience, tempo, seed)
    clips = gather(videos, sentences)
    held = len(clips) >= MIN_HELD_OUT
    if method == choose.AUTO:
        log(f"{len(clips)} clip(s) of {name}: "
            + (f"choosing the method by {clips[-1].name}, then training on all"
               if held else "too few to choose a method or hold one out"))
    else:
        log(f"{len(clips)} clip(s) of {name}: training on {len(clips) - held}"
            + (f", holding out {clips[-1].name}" if held else " (too few to hold one out)"))
    return enroll(name, clips, settings, force, keep_clips, log, progress)


def settings_of(method: str = adapt.METHOD, lr: float | None = adapt.LEARNING_RATE,
                max_epochs: int | None = adapt.MAX_EPOCHS, patience: int | None = adapt.PATIENCE,
                tempo: float | None = adapt.TEMPO, seed: int = adapt.SEED):
    """teach's settings as enroll takes them: one adapt.Settings, or for method "auto" the
    candidates to choose from (lr and patience are then each candidate's own)."""
    if method == choose.AUTO:
        if lr is not None or patience:
            raise ValueError("lr and patience set one method's training; with method auto "
                             "each candidate trains its own way")
        return choose.candidates(max_epochs, tempo, seed)
    methods.get(method)  # a ValueError naming the methods for one that is none of them
    return adapt.Settings(method=method, lr=lr, max_epochs=max_epochs, patience=patience or None,
                          tempo=tempo, seed=seed)


def enroll(name: str, clips: list[Clip], settings=adapt.Settings(), force: bool = False,
           keep_clips: bool = False, log=print, progress=None) -> dict:
    """Adapt the shipped reader to `clips`; write profile `name`; return its card.
    `settings`: one adapt.Settings, or several to choose from on the person's clips
    (choose.py). progress(fraction done, what) as it goes.
    Raises EnrollError / ProfileError."""
    from lipread.model import loader

    t0 = time.perf_counter()
    say = progress or (lambda fraction, what: None)
    with profiles.writing(name, force) as folder:  # the lock first: a second one fails now
        frames = []
        for i, clip in enumerate(clips):
            say(0.2 * i / len(clips), f"finding the mouth in {clip.name}")
            frames.append(crops(clip))
        frames = np.stack(frames)
        say(0.2, "loading the general reader")
        weights = loader.DEFAULT_WEIGHTS["lipnet"]
        base = loader.load_model("lipnet", weights)
        n = len(clips)
        held = n - 1 if n >= MIN_HELD_OUT else None
        sentences = [c.sentence for c in clips]
        before = None if held is None else _read(base, frames[held], sentences[held])

        def adapting(fraction, what):
            say(0.25 + 0.7 * fraction, what)
        if isinstance(settings, adapt.Settings):
            result, trials, after = _one(frames, sentences, settings, base, held, log,
                                         adapting)
            train = [i for i in range(n) if i != held]
        else:
            choice = choose.choose(frames, sentences, settings, base, log, adapting)
            result, trials, train = choice.adapted, choice.trials, list(range(n))
            # The held-out reading: the chosen method's trial, trained without that clip.
            after = None if held is None else _read(
                trials[choice.picked.method].adapted.model, frames[held], sentences[held])
        say(0.95, "writing the profile")
        info = {
            "name": name, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "method": result.settings.method, "tempo": result.tempo,
            "settings": dataclasses.asdict(result.settings),
            "chosen_from": None if isinstance(settings, adapt.Settings) else {
                t.adapted.settings.method: {"lr": t.adapted.settings.lr,
                                            "held_out_loss": round(t.held_loss, 3),
                                            "seconds": round(t.adapted.seconds, 1)}
                for t in trials.values()},
            "base_weights": {"path": weights.name, "sha256_16": _sha(weights)},
            "clips": [{"name": c.name, "sentence": c.sentence} for c in clips],
            "trained_on": [clips[i].name for i in train],
            "held_out": None if held is None else {
                "name": clips[held].name, "sentence": sentences[held],
                "before": before, "after": after,
                # who read it after: the profile, or (when the profile trained on it too)
                # the chosen method's trial, trained without it
                "after_by": "trial" if held in train else "profile"},
            "best_epoch": result.best_epoch, "epochs": result.epochs,
            "held_out_losses": [round(x, 3) for x in result.held_losses],
            "adapt_seconds": round(result.seconds + sum(t.adapted.seconds
                                                        for t in trials.values()), 1),
        }
        if keep_clips:
            (folder / profiles.RECORDINGS).mkdir()
            for clip in clips:
                shutil.copy2(clip.path, folder / profiles.RECORDINGS / clip.path.name)
                (folder / profiles.RECORDINGS / f"{clip.path.stem}.txt").write_text(
                    clip.sentence + "\n")
        info["seconds"] = round(time.perf_counter() - t0, 1)
        profiles.save(folder, result.model, methods.get(result.settings.method), info)
    say(1.0, "done")
    return info


def _one(frames, sentences, settings, base, held, log, progress):
    """One method: trained on every clip but `held`, which stops it early (--patience) and
    is read after. Returns (adapted, no trials, the held-out reading)."""
    if held is None and settings.patience is not None:  # nothing to stop on
        epochs = settings.max_epochs or methods.get(settings.method).epochs
        settings = dataclasses.replace(settings, max_epochs=min(epochs, adapt.FIXED_EPOCHS))
    train = [i for i in range(len(frames)) if i != held]
    result = adapt.adapt(frames[train], [sentences[i] for i in train], settings, base,
                         None if held is None else (frames[held], sentences[held]), log=log,
                         progress=lambda epoch, epochs: progress(
                             epoch / epochs, f"adapting: epoch {epoch} of at most {epochs}"))
    after = None if held is None else _read(result.model, frames[held], sentences[held])
    return result, {}, after
