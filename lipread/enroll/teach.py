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

from lipread.enroll import adapt, choose, methods, profiles
from lipread.enroll.judge import held_out, no_better, read_take, trains_again, verdict
from lipread.enroll.clips import Clip, crops, gather

WRITE_S = 5.0  # seconds to write the profile and build its ONNX export, in the time left
PACE_STEPS = 5  # the time left is paced by the median of the last 5 epochs' steps


class NoBetter(ValueError):
    """The taught reader read the held-out takes no better than the general one: no profile
    is made (the general reader stays); `card` says what was measured."""

    def __init__(self, message: str, card: dict):
        super().__init__(message)
        self.card = card


def _sha(path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()[:16]


def teach(name: str, videos, sentences=None, *, force: bool = False,
          method: str = adapt.METHOD, lr: float | None = adapt.LEARNING_RATE,
          max_epochs: int | None = adapt.MAX_EPOCHS, patience: int | None = adapt.PATIENCE,
          tempo: float | None = adapt.TEMPO, seed: int = adapt.SEED, keep_clips: bool = False,
          keep_anyway: bool = False, log=print, progress=None, owner: str | None = None) -> dict:
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
    into the profile; `log` takes its lines, progress(fraction, what, seconds left or None)
    how far it is. The last takes (judge.held_out) are held out: when the taught reader reads
    them no better than the general one, no profile is made and NoBetter (a ValueError whose
    .card says what was measured) is raised, unless `keep_anyway`.
    Raises ValueError (EnrollError, ProfileError, NoBetter) saying what is wrong.
    """
    profiles.check_name(name)
    settings = settings_of(method, lr, max_epochs, patience, tempo, seed)
    clips = gather(videos, sentences)
    held = held_out(len(clips))
    if method == choose.AUTO:
        log(f"{len(clips)} clip(s) of {name}: "
            + (f"choosing the method by {clips[-1].name}, then training on all"
               if held else "too few to choose a method or hold one out"))
    else:
        n, again = len(clips), trains_again(settings, len(clips) - len(held), len(clips), held)
        log(f"{n} clip(s) of {name}: training on {n - len(held)}"
            + (f", holding out {', '.join(clips[i].name for i in held)} to check it" if held
               else " (too few to hold one out)")
            + (", then on all of them if it passes" if again else ""))
    return enroll(name, clips, settings, force, keep_clips, log, progress, keep_anyway, owner)


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
           keep_clips: bool = False, log=print, progress=None, keep_anyway: bool = False,
           owner: str | None = None) -> dict:
    """Adapt the shipped reader to `clips`; write profile `name`; return its card.
    `settings`: one adapt.Settings, or several to choose from on the person's clips
    (choose.py). The last takes (held_out()) stay out of training and judge it: a taught
    reader that reads them no better than the general one raises NoBetter and no profile
    is written (unless `keep_anyway`). progress(fraction done, what, seconds left or None)
    as it goes. Raises EnrollError / ProfileError / NoBetter."""
    from lipread.model import loader

    t0 = time.perf_counter()
    say = progress or (lambda fraction, what, eta=None: None)
    with profiles.writing(name, force) as folder:  # the lock first: a second one fails now
        frames = []
        for i, clip in enumerate(clips):
            say(0.2 * i / len(clips), f"finding the mouth in {clip.name}")
            frames.append(crops(clip))
        frames = np.stack(frames)
        say(0.2, "loading the general reader")
        weights = loader.DEFAULT_WEIGHTS["lipnet"]
        base = loader.load_model("lipnet", weights)
        sentences = [c.sentence for c in clips]
        taught = learn(frames, sentences, settings, base, log, _timed(say, 0.25, 0.95))
        result, trials, train, held = taught.adapted, taught.trials, taught.train, taught.held
        judged = taught.verdict
        takes = [{"name": clips[i].name, "sentence": sentences[i], "before": b, "after": a}
                 for i, b, a in zip(held, taught.before, taught.after)]
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
            # the last take held out, read by the general reader and by one trained without
            # it (the profile, or, when the profile trained on it too, the chosen trial)
            "held_out": {**takes[-1], "after_by": "trial" if held[-1] in train else "profile"}
            if takes else None,
            "held_out_takes": takes, "verdict": judged,
            # the check read a reader trained without them; the profile then trained on them
            "trained_again_on_every_take": bool(held) and set(held) <= set(train)
            and isinstance(settings, adapt.Settings),
            "best_epoch": result.best_epoch, "epochs": result.epochs,
            "held_out_losses": [round(x, 3) for x in result.held_losses],
            "adapt_seconds": round(result.seconds + sum(t.adapted.seconds
                                                        for t in trials.values()), 1),
        }
        info["seconds"] = round(time.perf_counter() - t0, 1)
        if owner:  # made on the page, by this visitor (profiles.py: whose a profile is)
            info["owner"] = owner
        if not (judged["kept"] or keep_anyway):
            raise NoBetter(no_better(name, judged), info)
        judged["kept_anyway"] = not judged["kept"]  # kept when asked to, however it reads
        say(0.95, "writing the profile", WRITE_S)
        if keep_clips:
            (folder / profiles.RECORDINGS).mkdir()
            for clip in clips:
                shutil.copy2(clip.path, folder / profiles.RECORDINGS / clip.path.name)
                (folder / profiles.RECORDINGS / f"{clip.path.stem}.txt").write_text(
                    clip.sentence + "\n")
        profiles.save(folder, result.model, methods.get(result.settings.method), info)
    say(1.0, "done", 0.0)
    return info


@dataclasses.dataclass
class Taught:
    adapted: adapt.Adapted  # the person's reader
    trials: dict  # method -> choose.Trial, for settings to choose from
    train: list[int]  # the takes it trained on
    held: list[int]  # the takes held out to judge it
    before: list[dict]  # their readings by the general reader
    after: list[dict]  # and by the taught one (or the chosen trial)
    verdict: dict  # verdict(before, after)
    declined: adapt.Adapted | None = None  # the taught reader that failed, when STATS passed


def learn(frames, sentences, settings, base, log=print, progress=None) -> Taught:
    """The general reader `base` taught the takes (uint8 crops with margin) saying
    `sentences`, all but those held_out(), which judge it; a reader that passes trains
    again on every take when that is cheap (trains_again). `settings`: one adapt.Settings,
    or several to choose from (choose.py: then the last take alone is held out, and the
    chosen method trains again on every take). progress(fraction, what, runs still to
    start)."""
    progress = progress or (lambda fraction, what, starts=0: None)
    n = len(frames)
    held = held_out(n) if isinstance(settings, adapt.Settings) else held_out(n)[-1:]
    before = [read_take(base, frames[i], sentences[i]) for i in held]
    if isinstance(settings, adapt.Settings):
        train = [i for i in range(n) if i not in held]
        again = trains_again(settings, len(train), n, held)
        first = adapt.samples(settings, len(train))  # the share of the work the check's run is
        share = first / (first + (adapt.samples(settings, n) if again else 0))
        result, trials, after = _one(frames, sentences, settings, base, held, log,
                                     lambda f, what: progress(share * f, what, int(again)))
        judged, declined = verdict(before, after), None
        if not judged["kept"] and held and settings.method not in methods.UNTRAINED:
            progress(share, "measuring your face's statistics instead", 0)
            tried, read = _statistics(frames, sentences, settings, base, held, log)
            second = verdict(before, read)
            if second["kept"]:  # then measured on every take: seconds
                declined, after, judged = result, read, {**second, "taught": judged}
                result = adapt.adapt(frames, sentences, dataclasses.replace(
                    tried.settings, tempo=tried.tempo), base, log=log)
                result.settings = dataclasses.replace(  # the tempo as asked (None: chosen)
                    result.settings, tempo=tried.settings.tempo)
                result.seconds += declined.seconds + tried.seconds  # all three runs'
                train = list(range(n))
            else:
                judged = {**judged, "statistics": second}
        if again and judged["kept"] and declined is None:  # checked: now on every take
            checked = result  # the reader judged: its tempo kept, whatever all takes say
            same = dataclasses.replace(settings, tempo=checked.tempo)
            result = adapt.adapt(frames, sentences, same, base, log=log,
                                 progress=lambda epoch, epochs: progress(
                                     share + (1 - share) * epoch / epochs,
                                     f"teaching every take: epoch {epoch} of {epochs}"))
            result.held_losses = checked.held_losses  # the check's, epoch by epoch
            # the card says the tempo asked for (None: chosen), and the one read at
            result.settings = dataclasses.replace(result.settings, tempo=settings.tempo)
            result.seconds += checked.seconds
            train = list(range(n))
        return Taught(result, trials, train, held, before, after, judged, declined)
    else:
        choice = choose.choose(frames, sentences, settings, base, log, progress)
        result, trials, train = choice.adapted, choice.trials, list(range(n))
        # The held-out reading: the chosen method's trial, trained without that take.
        after = [read_take(trials[choice.picked.method].adapted.model, frames[i], sentences[i])
                 for i in held]
    return Taught(result, trials, train, held, before, after, verdict(before, after))


def _statistics(frames, sentences, settings, base, held, log):
    """For a taught reader that failed its check: the general reader with the batch norms'
    statistics of the takes it trained on (methods.STATS: seconds, nothing trained).
    Returns (adapted, its readings of the `held` takes)."""
    stats = dataclasses.replace(settings, method=methods.STATS, lr=None, max_epochs=None,
                                patience=None, average_from=None, rehearse=0,
                                schedule=adapt.SCHEDULE)
    train = [i for i in range(len(frames)) if i not in held]
    tried = adapt.adapt(frames[train], [sentences[i] for i in train], stats, base, log=log)
    return tried, [read_take(tried.model, frames[i], sentences[i]) for i in held]


def _timed(say, start: float, end: float):
    """progress(fraction, what, starts=0) of one stage, mapped onto [start, end] of the
    whole, with the time left (time_left) from the reports so far; `starts`: runs still to
    start after this one (each pays a start-up again)."""
    t0 = time.perf_counter()
    seen = []  # (seconds into the stage, fraction) of each report

    def progress(fraction, what, starts=0):
        seen.append((time.perf_counter() - t0, fraction))
        say(start + (end - start) * fraction, what, time_left(seen, starts))
    return progress


def time_left(seen: list[tuple[float, float]], starts: int = 0) -> float | None:
    """Seconds left, from the reports (seconds, fraction done) so far: what is left at the
    pace of the latest epochs (the median step of the last PACE_STEPS, so that a run's
    start-up, a one-off, is not taken for its pace), a start-up for each run still to
    start (the first report's seconds beyond one step at that pace: reading the held-out
    takes, building and tracing the network), and writing. None before two steps."""
    steps = [(t1 - t0) / (f1 - f0) for (t0, f0), (t1, f1) in zip(seen, seen[1:]) if f1 > f0]
    if len(steps) < 2:
        return None
    pace = float(np.median(steps[-PACE_STEPS:]))  # seconds per whole stage
    (first_s, first_f), (_, done) = seen[0], seen[-1]
    start_up = max(0.0, first_s - pace * first_f)
    return pace * (1 - done) + starts * start_up + WRITE_S


def _one(frames, sentences, settings, base, held, log, progress):
    """One method: trained on every clip but those `held` (the last of them stops it early,
    --patience), which are read after. Returns (adapted, no trials, the held-out readings)."""
    if not held and settings.patience is not None:  # nothing to stop on
        epochs = settings.max_epochs or methods.get(settings.method).epochs
        settings = dataclasses.replace(settings, max_epochs=min(epochs, adapt.FIXED_EPOCHS))
    train = [i for i in range(len(frames)) if i not in held]
    stop_on = (frames[held[-1]], sentences[held[-1]]) if held else None
    result = adapt.adapt(frames[train], [sentences[i] for i in train], settings, base,
                         stop_on, log=log,
                         progress=lambda epoch, epochs: progress(
                             epoch / epochs, f"adapting: epoch {epoch} of at most {epochs}"))
    after = [read_take(result.model, frames[i], sentences[i]) for i in held]
    return result, {}, after
