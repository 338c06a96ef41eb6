"""A teaching from start to end (enroll/teach.py) and its check (enroll/judge.py), directly:
which takes are held out, how the general reader's and the taught one's readings of them
become the verdict, when a teaching that passed trains again on every take, the card a
profile gets, no profile when the taught reader is no better, the progress said on the
way, and settings refused. The training (adapt.adapt) and the readings of the held-out
takes are played by stand-ins that record what they were given, so that every take's
part is seen; test_enroll.py teaches for real, and the check's reading (`read_take`) is
run here on a real clip with the shipped reader.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from lipread.enroll import adapt, choose, judge, profiles, teach
from lipread.enroll.clips import Clip
from lipread.model import loader

SENTENCES = ["bin blue at f two now", "lay red by g one please", "set white in a nine again",
             "place green with b four soon", "bin red at c five now", "lay white by d six again",
             "set blue in e seven please", "place red with h eight soon",
             "bin green at j zero now", "lay blue by k three again", "set red in l one soon",
             "place white with m two please", "bin white at n three again",
             "lay green by o four now", "set green in p five soon"]


# --- the check: judge.py ---------------------------------------------------------------

@pytest.mark.parametrize("n, held", [
    (0, []), (1, []), (2, []),  # too few to hold one out
    (3, [2]), (5, [4]),  # one judges a teaching of three to five takes
    (6, [4, 5]), (9, [7, 8]), (10, [8, 9]), (14, [12, 13]),  # two from six takes on
    (15, [12, 13, 14]), (40, list(range(32, 40))),  # then the last fifth
])
def test_the_last_fifth_of_the_takes_is_held_out_at_least_two_from_six_takes_on(n, held):
    assert judge.held_out(n) == held


def _reading(errors, loss, words=6):
    return {"said": "", "word_errors": errors, "words": words, "loss": loss}


def test_a_taught_reader_is_kept_when_surer_of_the_true_sentences_and_not_wronger():
    before = [_reading(3, 10.0), _reading(2, 8.0)]
    judged = judge.verdict(before, [_reading(4, 6.0), _reading(3, 5.0)])  # a word a take worse
    assert judged == {"takes": 2, "words": 12, "general_errors": 5, "taught_errors": 7,
                      "general_loss": 18.0, "taught_loss": 11.0, "kept": True}
    # three words worse on two takes: not kept, however sure
    assert not judge.verdict(before, [_reading(5, 1.0), _reading(3, 1.0)])["kept"]
    # one take: one word worse is kept, two are not
    assert judge.verdict(before[:1], [_reading(4, 6.0)])["kept"]
    assert not judge.verdict(before[:1], [_reading(5, 6.0)])["kept"]
    # fewer words wrong but less sure of the true sentences: not kept
    assert not judge.verdict(before, [_reading(0, 9.0), _reading(0, 9.5)])["kept"]


def test_a_taught_reader_as_sure_as_the_general_one_to_two_places_is_not_kept():
    judged = judge.verdict([_reading(2, 5.004)], [_reading(0, 5.001)])
    assert (judged["general_loss"], judged["taught_loss"], judged["kept"]) == (5.0, 5.0, False)
    assert judge.verdict([_reading(2, 5.01)], [_reading(2, 5.0)])["kept"]


def test_no_held_out_takes_is_never_a_pass():
    assert judge.verdict([], []) == {"takes": 0, "words": 0, "general_errors": 0,
                                     "taught_errors": 0, "general_loss": 0.0,
                                     "taught_loss": 0.0, "kept": False}


def test_a_passed_teaching_learns_its_held_out_takes_too_while_both_runs_fit_the_budget():
    assert judge.trains_again(adapt.Settings(), 8, 10, [8, 9])  # 640 + 800 clips
    assert not judge.trains_again(adapt.Settings(), 8, 10, [])  # nothing was held out
    assert not judge.trains_again(adapt.Settings(patience=3), 8, 10, [8, 9])  # stopped early
    assert not judge.trains_again(adapt.Settings(), 32, 40, list(range(32, 40)))  # 2048 + 2040
    # at the budget exactly (2048 clips: 113 x 8 + 113 x 10 = 2034, 114 x 18 = 2052)
    assert judge.trains_again(adapt.Settings(max_epochs=113), 8, 10, [8, 9])
    assert not judge.trains_again(adapt.Settings(max_epochs=114), 8, 10, [8, 9])


def test_why_no_profile_was_made_says_what_was_measured_and_what_to_do():
    judged = judge.verdict([_reading(3, 10.0), _reading(2, 8.0)],
                           [_reading(4, 11.0), _reading(2, 9.0)])
    assert judge.no_better("ann", judged) == (
        "ann: the taught reader read the 2 held-out take(s) no better than the general one "
        "(6 of 12 words wrong, against 5; CTC loss 20.0 against 18.0); no profile made, the "
        "general reader stays. Teach it more sentences: 20 or more help most")
    assert judge.no_better("ann", judge.verdict([], [])) == (
        "ann: too few takes to check that teaching helps (held out: none; give 3 or more); "
        "no profile made, the general reader stays")


def test_a_profile_of_the_faces_statistics_says_why_it_is_not_the_taught_reader():
    taught = judge.verdict([_reading(3, 10.0)], [_reading(4, 11.0)])
    judged = {**judge.verdict([_reading(3, 10.0)], [_reading(2, 7.0)]), "taught": taught}
    assert judge.instead(judged) == (
        "the taught reader read the 1 held-out take(s) no better than the general one (4 of 6 "
        "words wrong, against 3), so the profile is the general reader told the face's "
        "statistics (method stats), which read them better (2 wrong). Teach it more "
        "sentences: 20 or more help most")


def test_a_take_is_read_from_its_crops_without_their_margin_and_scored_against_its_truth(
        grid_dir, test_names):
    import lipread
    from lipread import grid, scoring
    from lipread.enroll.clips import crops

    name = test_names[0]
    path = grid.video_path(grid_dir, name)
    truth = grid.load_sentence(grid.alignment_path(grid_dir, name))
    wrong = max(("lay red by g one please", "bin blue at f two now"),
                key=lambda s: scoring.error_counts(truth, s)[0])  # unlike the truth
    base = loader.load_model("lipnet")
    frames = crops(Clip(name, path, truth))
    said = lipread.read(path, base).sentence
    right = judge.read_take(base, frames, truth)
    assert (right["said"], right["word_errors"], right["words"]) == (
        said, *scoring.error_counts(truth, said)[:2])
    off = judge.read_take(base, frames, wrong)
    assert (off["said"], off["word_errors"]) == (said, scoring.error_counts(wrong, said)[0])
    assert 0 <= right["loss"] < off["loss"]
    # whichever reader it is given (a small untrained one reads another sentence)
    from lipread.model import networks

    small = networks.build_lipnet(gru_units=16)
    other = judge.read_take(small, frames, truth)
    assert other["said"] == lipread.read(path, small).sentence != said
    # the loss a method is chosen by is the same measure, of the crops read centred
    assert choose.held_loss(base, frames, truth) == pytest.approx(
        right["loss"], rel=1e-3, abs=1e-3)


# --- the teaching: teach.py, with stand-ins for training and reading ----------------------

class Reader:
    """A reader whose every reading of a take has `errors` words wrong at CTC loss `loss`."""

    def __init__(self, who, errors=0, loss=1.0):
        self.who, self.errors, self.loss = who, errors, loss


def _takes(n):
    """n takes' crops, each filled with its number so that a stand-in can say which it got."""
    return np.stack([np.full((2, 3, 3), i, np.uint8) for i in range(n)])


def _ids(frames):
    return [int(f[0, 0, 0]) for f in frames]


@pytest.fixture
def played(monkeypatch):
    """teach.py's training and held-out readings played: .runs has each adapt.adapt call
    (the takes it trained on, its held-out take, its settings), .reads each reading (reader,
    take, truth); the nth run returns a reader named taught<n>."""
    class Played:
        runs, reads = [], []

    def read_take(model, frames, truth):
        Played.reads.append((model.who, int(frames[0, 0, 0]), truth))
        return _reading(model.errors, model.loss, len(truth.split()))

    def fake_adapt(clips, sentences, settings=adapt.Settings(), base=None, held=None,
                   log=print, progress=None):
        epochs = settings.max_epochs or 4
        Played.runs.append({"takes": _ids(clips), "sentences": list(sentences),
                            "held": None if held is None else (int(held[0][0, 0, 0]), held[1]),
                            "settings": settings, "base": base.who, "log": log})
        for epoch in range(1, epochs + 1):
            if progress:
                progress(epoch, epochs)
        return adapt.Adapted(model=Reader(f"taught{len(Played.runs)}", 1, 4.0),
                             settings=settings, best_epoch=epochs - 1, epochs=epochs,
                             held_losses=[9.25, 7.5, 6.1254], seconds=2.04, tempo=1.2)

    monkeypatch.setattr(teach, "read_take", read_take)
    monkeypatch.setattr(teach.adapt, "adapt", fake_adapt)
    return Played


def test_a_teaching_is_judged_on_its_last_takes_then_learns_them_too(played):
    said = []

    def log(line):  # where both runs' lines go
        pass
    taught = teach.learn(_takes(10), SENTENCES[:10], adapt.Settings(max_epochs=4),
                         Reader("general", 2, 10.0), log=log,
                         progress=lambda f, what, starts=0: said.append((f, what, starts)))
    first, again = played.runs
    assert first["log"] is log and again["log"] is log
    assert first["takes"] == list(range(8)) and first["sentences"] == SENTENCES[:8]
    assert first["held"] == (9, SENTENCES[9])  # the last take stops it early
    assert again["takes"] == list(range(10)) and again["held"] is None
    assert again["sentences"] == SENTENCES[:10] and first["base"] == again["base"] == "general"
    # taught every take at the tempo of the reader judged (not one chosen again on them all)
    assert first["settings"] == adapt.Settings(max_epochs=4)
    assert again["settings"] == adapt.Settings(max_epochs=4, tempo=1.2)
    assert taught.adapted.settings.tempo is None  # the card's settings: as asked (chosen)
    # the held-out takes read by the general reader, then by the one trained without them
    assert played.reads == [("general", 8, SENTENCES[8]), ("general", 9, SENTENCES[9]),
                            ("taught1", 8, SENTENCES[8]), ("taught1", 9, SENTENCES[9])]
    assert (taught.train, taught.held) == (list(range(10)), [8, 9])
    assert taught.adapted.model.who == "taught2" and taught.verdict["kept"]
    assert taught.adapted.held_losses == [9.25, 7.5, 6.1254]
    assert taught.adapted.seconds == pytest.approx(4.08)
    assert [r["word_errors"] for r in taught.before] == [2, 2]
    assert [r["word_errors"] for r in taught.after] == [1, 1]
    # progress: the check's run, then teaching every take, shared by their clips (32, 40)
    share = 32 / 72
    assert [f for f, _, _ in said] == pytest.approx(
        [share * e / 4 for e in (1, 2, 3, 4)] + [share + (1 - share) * e / 4 for e in (1, 2, 3, 4)])
    assert said[0][1:] == ("adapting: epoch 1 of at most 4", 1)  # one more run to start
    assert said[-1][1] == "teaching every take: epoch 4 of 4"


def test_a_teaching_needs_no_progress_callback(played):
    taught = teach.learn(_takes(10), SENTENCES[:10], adapt.Settings(max_epochs=4),
                         Reader("general", 2, 10.0), log=None)
    assert len(played.runs) == 2 and taught.adapted.model.who == "taught2"


def test_a_teaching_that_fails_its_check_is_not_trained_again_nor_are_its_statistics_kept(
        played):
    said = []
    taught = teach.learn(_takes(10), SENTENCES[:10], adapt.Settings(max_epochs=4),
                         Reader("general", 0, 0.5), log=None,
                         progress=lambda f, what, starts=0: said.append((what, starts)))
    first, stats = played.runs  # the teaching, then the statistics of the same takes
    assert stats["takes"] == first["takes"] == list(range(8)) and stats["held"] is None
    assert stats["settings"].method == "stats" and stats["settings"].max_epochs is None
    assert ("measuring your face's statistics instead", 0) in said
    assert not taught.verdict["kept"] and not taught.verdict["statistics"]["kept"]
    assert taught.verdict["statistics"]["taught_errors"] == 2  # taught2's, on both takes
    assert (taught.train, taught.held, taught.declined) == (list(range(8)), [8, 9], None)
    assert taught.adapted.model.who == "taught1" and taught.adapted.seconds == 2.04


def test_a_teaching_that_fails_its_check_keeps_the_takes_statistics_when_they_read_better(
        played, monkeypatch):
    taught_adapt = teach.adapt.adapt

    def stats_read_better(clips, sentences, settings=adapt.Settings(), *args, **kwargs):
        result = taught_adapt(clips, sentences, settings, *args, **kwargs)
        if settings.method == "stats":
            result.model = Reader(f"stats{len(played.runs)}", 1, 2.0)
        return result
    monkeypatch.setattr(teach.adapt, "adapt", stats_read_better)
    taught = teach.learn(_takes(10), SENTENCES[:10], adapt.Settings(max_epochs=4, lr=1e-3),
                         Reader("general", 1, 3.0), log=None, progress=lambda *a: None)
    first, check, final = played.runs  # taught1 fails (loss 4 > 3); stats2 passes (2 < 3)
    assert check["takes"] == list(range(8)) and final["takes"] == list(range(10))
    assert check["settings"].method == final["settings"].method == "stats"
    assert check["settings"].lr is None and first["settings"].lr == 1e-3
    assert check["settings"].tempo is None and final["settings"].tempo == 1.2  # as judged
    assert taught.adapted.settings.tempo is None and taught.adapted.tempo == 1.2
    assert taught.adapted.model.who == "stats3" and taught.declined.model.who == "taught1"
    assert taught.verdict["kept"] and not taught.verdict["taught"]["kept"]
    assert (taught.verdict["taught_loss"], taught.verdict["taught"]["taught_loss"]) == (4.0, 8.0)
    assert taught.train == list(range(10)) and taught.held == [8, 9]
    assert taught.adapted.seconds == pytest.approx(3 * 2.04)  # the three runs' time
    assert [r["loss"] for r in taught.after] == [2.0, 2.0]  # read by the statistics' check
    assert [who for who, _, _ in played.reads] == ["general"] * 2 + ["taught1"] * 2 + ["stats2"] * 2


@pytest.mark.parametrize("method", ["stats", "tempo"])
def test_a_teaching_that_trains_nothing_tries_nothing_else(played, method):
    taught = teach.learn(_takes(10), SENTENCES[:10], adapt.Settings(method=method),
                         Reader("general", 0, 0.5), log=None, progress=lambda *a: None)
    assert len(played.runs) == 1 and not taught.verdict["kept"]
    assert "statistics" not in taught.verdict and taught.declined is None


def test_a_teaching_stopped_early_is_not_trained_again(played):
    said = []
    taught = teach.learn(_takes(10), SENTENCES[:10], adapt.Settings(max_epochs=4, patience=2),
                         Reader("general", 2, 10.0), log=None,
                         progress=lambda f, what, starts=0: said.append((f, starts)))
    assert len(played.runs) == 1 and taught.verdict["kept"] and taught.train == list(range(8))
    assert said == [(0.25, 0), (0.5, 0), (0.75, 0), (1.0, 0)]  # one run: all of the stage


@pytest.mark.parametrize("patience, epochs", [(3, 15), (None, None)])
def test_two_takes_train_on_both_with_nothing_held_out(played, patience, epochs):
    taught = teach.learn(_takes(2), SENTENCES[:2], adapt.Settings(patience=patience),
                         Reader("general"), log=None, progress=lambda *a: None)
    (run,) = played.runs
    assert run["takes"] == [0, 1] and run["held"] is None and played.reads == []
    # early stopping with nothing to stop on: a fixed number of epochs instead
    assert run["settings"].max_epochs == epochs
    assert (taught.held, taught.train, taught.verdict["kept"]) == ([], [0, 1], False)


def test_a_method_chosen_on_the_takes_is_judged_by_its_trial_on_the_last_take(
        played, monkeypatch):
    trial = choose.Trial(adapt.Adapted(Reader("trial", 0, 2.0), adapt.Settings(), 3, 5), 2.0)
    other = choose.Trial(adapt.Adapted(Reader("other", 5, 9.0), adapt.Settings(), 3, 5), 9.0)
    picked = adapt.Settings(method="full")
    chose = []

    def fake_choose(frames, sentences, settings, base, log, progress):
        chose.append((_ids(frames), list(sentences), settings))
        return choose.Choice(adapt.Adapted(Reader("picked"), picked, 3, 5), picked,
                             {"full": trial, "adapters": other})

    monkeypatch.setattr(teach.choose, "choose", fake_choose)
    options = choose.candidates()
    taught = teach.learn(_takes(10), SENTENCES[:10], options, Reader("general", 3, 10.0),
                         log=None)
    assert chose == [(list(range(10)), SENTENCES[:10], options)]
    assert taught.held == [9] and taught.train == list(range(10))
    assert played.reads == [("general", 9, SENTENCES[9]), ("trial", 9, SENTENCES[9])]
    assert taught.adapted.model.who == "picked" and taught.verdict["kept"]


@pytest.fixture
def judged_by(monkeypatch):
    """choose.held_loss played: each trial's loss on the last take by its reader's name."""
    asked = []

    def held_loss(model, clip, sentence):
        asked.append((model.who, int(clip[0, 0, 0]), sentence))
        return {"taught1": 4.0, "taught2": 2.0, "taught3": 2.0}[model.who]
    monkeypatch.setattr(choose, "held_loss", held_loss)
    return asked


def test_each_candidate_tries_all_takes_but_the_last_and_the_surest_of_it_learns_them_all(
        played, judged_by):
    options = (adapt.Settings(method="adapters", max_epochs=2),
               adapt.Settings(method="full", max_epochs=2))
    lines, said = [], []
    choice = choose.choose(_takes(6), SENTENCES[:6], options, Reader("general"),
                           log=lines.append, progress=lambda f, what: said.append((f, what)))
    assert [r["takes"] for r in played.runs] == [list(range(5))] * 2 + [list(range(6))]
    assert [r["sentences"] for r in played.runs] == [SENTENCES[:5]] * 2 + [SENTENCES[:6]]
    assert [r["log"] for r in played.runs] == [lines.append] * 3  # their lines said too
    assert [r["settings"] for r in played.runs] == [options[0], options[1], options[1]]
    assert [r["held"] for r in played.runs] == [None] * 3
    assert judged_by == [("taught1", 5, SENTENCES[5]), ("taught2", 5, SENTENCES[5])]
    assert choice.picked == options[1] and choice.adapted.model.who == "taught3"
    assert {m: (t.adapted.model.who, t.held_loss) for m, t in choice.trials.items()} == {
        "adapters": ("taught1", 4.0), "full": ("taught2", 2.0)}
    assert lines == ["chose full by the loss on the last clip (adapters 4.0, full 2.0)"]
    assert said == [(pytest.approx(f), what) for f, what in [
        (1 / 6, "trying adapters (1 of 2): epoch 1 of 2"),
        (2 / 6, "trying adapters (1 of 2): epoch 2 of 2"),
        (3 / 6, "trying full (2 of 2): epoch 1 of 2"), (4 / 6, "trying full (2 of 2): epoch 2 of 2"),
        (5 / 6, "adapting (full) on every clip: epoch 1 of 2"),
        (1.0, "adapting (full) on every clip: epoch 2 of 2")]]


def test_of_candidates_as_sure_the_first_is_chosen(played, judged_by):
    options = (adapt.Settings(method="adapters", max_epochs=1),
               adapt.Settings(method="full", max_epochs=1),
               adapt.Settings(method="batchnorm", max_epochs=1))
    said = []
    choice = choose.choose(_takes(3), SENTENCES[:3], options, Reader("general"), log=None,
                           progress=lambda f, what: said.append(f))
    assert choice.picked == options[1]  # taught2 and taught3 both 2.0: the earlier
    assert choice.adapted.model.who == "taught4" and played.runs[-1]["takes"] == [0, 1, 2]
    assert said == pytest.approx([0.25, 0.5, 0.75, 1.0])  # one epoch a run, four runs


@pytest.mark.parametrize("methods_given, picked", [(("adapters", "full"), "full"),
                                                  (("adapters", "batchnorm"), "adapters")])
def test_too_few_takes_to_choose_train_the_defaults_method_on_them(played, judged_by,
                                                                  methods_given, picked):
    options = tuple(adapt.Settings(method=m, max_epochs=2) for m in methods_given)
    lines, said = [], []
    choice = choose.choose(_takes(2), SENTENCES[:2], options, Reader("general"),
                           log=lines.append, progress=lambda f, what: said.append((f, what)))
    (run,) = played.runs
    assert run["takes"] == [0, 1] and run["settings"].method == picked and judged_by == []
    assert choice.picked.method == picked and choice.trials == {}
    assert choice.adapted.model.who == "taught1" and run["log"] == lines.append
    assert run["sentences"] == SENTENCES[:2]
    assert lines == [f"2 clip(s): too few to choose a method; {picked}"]
    assert said == [(0.5, f"adapting ({picked}): epoch 1 of 2"),
                    (1.0, f"adapting ({picked}): epoch 2 of 2")]


def test_the_candidates_take_what_the_command_line_sets_for_all_of_them():
    assert choose.candidates() == choose.CANDIDATES  # their own epochs, tempo chosen
    given = choose.candidates(12, 1.2, 3)
    assert [(c.method, c.lr) for c in given] == [(c.method, c.lr) for c in choose.CANDIDATES]
    assert {(c.max_epochs, c.tempo, c.seed) for c in given} == {(12, 1.2, 3)}
    assert {(c.max_epochs, c.tempo, c.seed) for c in choose.candidates(None, None, 5)} == {
        (40, None, 5)}


def test_settings_are_one_methods_or_the_candidates_to_choose_from():
    assert teach.settings_of() == adapt.Settings()
    assert teach.settings_of("adapters", 1e-3, 7, 0, 1.1, 5) == adapt.Settings(
        method="adapters", lr=1e-3, max_epochs=7, patience=None, tempo=1.1, seed=5)
    assert teach.settings_of("full", None, None, 4).patience == 4
    assert teach.settings_of("auto", None, 12, None, 1.2, 3) == choose.candidates(12, 1.2, 3)
    with pytest.raises(ValueError, match="unknown adaptation method 'sideways'"):
        teach.settings_of("sideways")
    for lr, patience in ((1e-3, None), (None, 5)):
        with pytest.raises(ValueError, match="with method auto each candidate trains its own"):
            teach.settings_of("auto", lr, None, patience)
    assert teach.settings_of("auto", None, None, 0) == choose.candidates()  # 0: no stopping


# --- a whole enrollment, the profile and its card -------------------------------------------

@pytest.fixture(scope="module")
def shipped():
    """Two copies of the shipped network: the general reader and the one taught."""
    return loader.load_model("lipnet"), loader.load_model("lipnet")


@pytest.fixture
def enrolling(played, monkeypatch, tmp_path, shipped):
    """enroll() on n clips (files in tmp_path) whose crops are their numbers, the general
    reader the shipped network (2 words of each held-out take wrong at loss 10), the taught
    reader another copy of it (1 wrong at loss 4), so that its profile is saved and loads."""
    general, taught = shipped
    general.who, general.errors, general.loss = "general", 2, 10.0
    taught.who, taught.errors, taught.loss = "taught", 1, 4.0
    monkeypatch.setenv("LIPREAD_PROFILES_DIR", str(tmp_path / "profiles"))
    monkeypatch.setattr(teach, "crops", lambda clip: np.full((2, 3, 3), int(clip.name[1:]),
                                                           np.uint8))
    monkeypatch.setattr(loader, "load_model", lambda arch, weights=None: general)
    played_adapt = teach.adapt.adapt

    def adapt_to_network(*args, **kwargs):
        result = played_adapt(*args, **kwargs)
        result.model = taught
        return result
    monkeypatch.setattr(teach.adapt, "adapt", adapt_to_network)

    def clips(n):
        made = []
        for i in range(n):
            path = tmp_path / "takes" / f"t{i}.mp4"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(b"take %d" % i)
            made.append(Clip(f"t{i}", path, SENTENCES[i]))
        return made
    return clips


def test_an_enrollment_writes_the_profile_with_a_card_of_what_was_done(enrolling, played):
    said = []
    card = teach.enroll("ann", enrolling(10), adapt.Settings(max_epochs=4), owner="v1",
                        keep_clips=True, log=None, progress=lambda *a: said.append(a))
    weights = loader.DEFAULT_WEIGHTS["lipnet"]
    assert card["name"] == "ann" and card["owner"] == "v1" and card["method"] == "full"
    assert card["tempo"] == 1.2 and card["settings"]["max_epochs"] == 4
    assert card["chosen_from"] is None
    assert card["base_weights"] == {"path": weights.name, "sha256_16": hashlib.sha256(
        weights.read_bytes()).hexdigest()[:16]}
    assert card["clips"] == [{"name": f"t{i}", "sentence": SENTENCES[i]} for i in range(10)]
    assert card["trained_on"] == [f"t{i}" for i in range(10)]
    assert card["held_out_takes"] == [
        {"name": f"t{i}", "sentence": SENTENCES[i], "before": _reading(2, 10.0), "after": _reading(1, 4.0)}
        for i in (8, 9)]
    # the last held-out take, read after by the trial trained without it
    assert card["held_out"] == {**card["held_out_takes"][-1], "after_by": "trial"}
    assert card["verdict"]["kept"] and not card["verdict"]["kept_anyway"]
    assert card["trained_again_on_every_take"] is True
    assert (card["best_epoch"], card["epochs"]) == (3, 4)
    assert card["held_out_losses"] == [9.25, 7.5, 6.125] and card["adapt_seconds"] == 4.1
    from datetime import datetime, timedelta
    created = datetime.fromisoformat(card["created"])
    assert created.utcoffset() == timedelta(0) and created.microsecond == 0
    assert card["seconds"] >= 0
    # the card on disk is the one returned; the weights load as the profile's reader
    folder = profiles.path("ann")
    assert json.loads((folder / profiles.CARD_FILE).read_text()) == card
    assert sorted(p.name for p in (folder / profiles.RECORDINGS).iterdir()) == sorted(
        [f"t{i}.mp4" for i in range(10)] + [f"t{i}.txt" for i in range(10)])
    assert (folder / profiles.RECORDINGS / "t3.txt").read_text() == SENTENCES[3] + "\n"
    assert (folder / profiles.RECORDINGS / "t3.mp4").read_bytes() == b"take 3"
    # progress: each clip's mouth, the reader, the teaching, writing, done
    assert [a[:2] for a in said[:11]] == [(pytest.approx(0.02 * i), f"finding the mouth in t{i}")
                                          for i in range(10)] + [(0.2, "loading the general reader")]
    assert all(0.25 <= a[0] <= 0.95 for a in said[11:-2])
    assert said[-2:] == [(0.95, "writing the profile", teach.WRITE_S), (1.0, "done", 0.0)]


def test_a_taught_reader_no_better_than_the_general_one_makes_no_profile(enrolling, shipped):
    shipped[0].errors, shipped[0].loss = 0, 0.5  # the general reader reads the takes right
    with pytest.raises(teach.NoBetter, match="ann: the taught reader read the 2 held-out") as err:
        teach.enroll("ann", enrolling(10), adapt.Settings(max_epochs=4), log=None)
    assert not err.value.card["verdict"]["kept"] and "owner" not in err.value.card
    assert err.value.card["trained_on"] == [f"t{i}" for i in range(8)]
    assert err.value.card["held_out"]["after_by"] == "profile"
    assert not profiles.path("ann").exists()
    assert [p.name for p in profiles.root().iterdir() if not p.name.endswith(".lock")] == []
    # kept when asked to, and its card says so
    card = teach.enroll("ann", enrolling(10), adapt.Settings(max_epochs=4), log=None,
                        keep_anyway=True)
    assert card["verdict"]["kept_anyway"] and profiles.path("ann").is_dir()
    assert not (profiles.path("ann") / profiles.RECORDINGS).exists()


def test_a_teaching_that_failed_but_whose_statistics_passed_makes_their_profile(
        enrolling, shipped, monkeypatch):
    from lipread.model import networks

    stats = networks.build_lipnet()
    stats.who, stats.errors, stats.loss = "stats", 1, 2.0
    taught_adapt = teach.adapt.adapt

    def statistics_pass(clips, sentences, settings=adapt.Settings(), *args, **kwargs):
        result = taught_adapt(clips, sentences, settings, *args, **kwargs)
        if settings.method == "stats":
            result.model = stats
        return result
    monkeypatch.setattr(teach.adapt, "adapt", statistics_pass)
    shipped[0].errors, shipped[0].loss = 1, 3.5  # the taught reader (4.0 a take) fails
    card = teach.enroll("ann", enrolling(10), adapt.Settings(max_epochs=4), log=None)
    assert card["method"] == "stats" and card["verdict"]["kept"]
    assert not card["verdict"]["taught"]["kept"] and card["verdict"]["taught"]["taught_loss"] == 8.0
    assert card["trained_on"] == [f"t{i}" for i in range(10)]  # their statistics: every take
    assert [t["after"]["loss"] for t in card["held_out_takes"]] == [2.0, 2.0]
    assert profiles.card("ann")["method"] == "stats"
    assert profiles.path("ann").is_dir()


def test_teach_says_what_it_will_train_on_and_hold_out(monkeypatch, tmp_path):
    given = []
    monkeypatch.setattr(teach, "enroll", lambda *args: given.append(args) or {"name": args[0]})
    videos = []
    for i in range(10):
        videos.append(tmp_path / f"take{i}.mp4")
        videos[-1].write_bytes(b"x")
    lines = []
    teach.teach("ann", videos, SENTENCES[:10], log=lines.append)
    assert lines == ["10 clip(s) of ann: training on 8, holding out take8, take9 to check "
                     "it, then on all of them if it passes"]
    name, clips, settings, force, keep_clips, log, progress, keep_anyway, owner = given[-1]
    assert (name, settings, force, keep_clips, keep_anyway, owner) == (
        "ann", adapt.Settings(), False, False, False, None)
    assert [c.sentence for c in clips] == SENTENCES[:10]
    teach.teach("ann", videos[:2], SENTENCES[:2], patience=3, log=lines.append)
    assert lines[-1] == "2 clip(s) of ann: training on 2 (too few to hold one out)"
    teach.teach("ann", videos, SENTENCES[:10], patience=3, log=lines.append, force=True)
    assert lines[-1] == ("10 clip(s) of ann: training on 8, holding out take8, take9 to "
                         "check it") and given[-1][3] is True
    teach.teach("ann", videos, SENTENCES[:10], method="auto", lr=None, log=lines.append)
    assert lines[-1] == "10 clip(s) of ann: choosing the method by take9, then training on all"
    teach.teach("ann", videos[:2], SENTENCES[:2], method="auto", lr=None, log=lines.append)
    assert lines[-1] == "2 clip(s) of ann: too few to choose a method or hold one out"
    with pytest.raises(profiles.ProfileError):
        teach.teach("../ann", videos, SENTENCES[:10], log=lines.append)


def test_the_time_left_is_paced_by_the_latest_epochs_not_by_start_ups(monkeypatch):
    """Teaching's progress maps its stage onto [start, end] of the whole. The time left is
    said from the second step on: what is left at the median pace of the latest steps
    (a run's start-up, one long step, is not its pace), a start-up for each run still to
    start (as long as the first run's), and writing."""
    from lipread.enroll import teach

    clock = iter([100.0, 110.0, 111.0, 112.0, 130.0, 131.0, 132.0])  # the stage: from 100 s
    monkeypatch.setattr(teach.time, "perf_counter", lambda: next(clock))
    said = []
    progress = teach._timed(lambda f, what, eta: said.append((f, what, eta)), 0.25, 0.95)
    for fraction, starts in ((0.05, 1), (0.1, 1), (0.15, 1), (0.5, 0), (0.55, 0)):
        progress(fraction, f"at {fraction}", starts)
    assert [f for f, _, _ in said] == pytest.approx([0.285, 0.32, 0.355, 0.6, 0.635])
    assert said[0][2] is None and said[1][2] is None  # one step: no pace yet
    # 20 s a stage (1 s a 5% step); the first report came 9 s beyond one step: start-up
    assert said[2][2] == pytest.approx(20 * 0.85 + 9 + teach.WRITE_S)
    # the step from 0.15 to 0.5 took 18 s (a second run's start-up): the pace stays 20 s
    assert said[3][2] == pytest.approx(20 * 0.5 + teach.WRITE_S)
    assert said[4][2] == pytest.approx(20 * 0.45 + teach.WRITE_S)
    progress(0.6, "a report that says no runs to start (choosing a method's)")
    assert said[5][2] == pytest.approx(20 * 0.4 + teach.WRITE_S)  # no start-up to come
    assert teach.time_left([(5.0, 0.1), (5.0, 0.1), (6.0, 0.2)]) is None  # a step of nothing


def test_teach_hands_its_settings_log_and_progress_to_the_enrollment(monkeypatch, tmp_path):
    given = []
    monkeypatch.setattr(teach, "enroll", lambda *args: given.append(args) or {})
    videos = []
    for i in range(13):
        videos.append(tmp_path / f"take{i}.mp4")
        videos[-1].write_bytes(b"x")
    lines, progress = [], (lambda *a: None)
    teach.teach("ann", videos[:10], SENTENCES[:10], method="adapters", lr=1e-3, max_epochs=7,
                patience=2, tempo=1.2, seed=3, keep_clips=True, keep_anyway=True,
                log=lines.append, progress=progress, owner="v1")
    name, clips, settings, force, keep_clips, log, said, keep_anyway, owner = given[-1]
    assert settings == adapt.Settings(method="adapters", lr=1e-3, max_epochs=7, patience=2,
                                      tempo=1.2, seed=3)
    assert (keep_clips, keep_anyway, owner, log, said) == (True, True, "v1", lines.append,
                                                           progress)
    # 13 takes: 11 trained (880 clips) and all 13 (1040) fit 2048: trained again
    teach.teach("ann", videos, SENTENCES[:13], log=lines.append)
    assert lines[-1].endswith("to check it, then on all of them if it passes")


def test_the_last_of_several_held_out_takes_stops_the_training(played):
    lines = []
    teach.learn(_takes(15), SENTENCES, adapt.Settings(max_epochs=2, patience=3),
                Reader("general", 2, 10.0), log=lines.append, progress=lambda *a: None)
    (run,) = played.runs  # patience: no second run
    assert run["held"] == (14, SENTENCES[14]) and run["takes"] == list(range(12))
    assert run["log"] == lines.append


def test_an_enrollment_loads_the_shipped_reader_and_replaces_a_profile_only_when_forced(
        enrolling, played, monkeypatch):
    asked = []
    real = loader.load_model
    monkeypatch.setattr(loader, "load_model", lambda *args: asked.append(args) or real(*args))
    teach.enroll("ann", enrolling(3), adapt.Settings(max_epochs=1), log=None, keep_anyway=True)
    assert asked == [("lipnet", loader.DEFAULT_WEIGHTS["lipnet"])]
    with pytest.raises(profiles.ProfileError, match="exists"):
        teach.enroll("ann", enrolling(3), adapt.Settings(max_epochs=1), log=None,
                     keep_anyway=True)
    card = teach.enroll("ann", enrolling(3), adapt.Settings(max_epochs=2), force=True, log=None,
                        keep_anyway=True)
    assert json.loads((profiles.path("ann") / profiles.CARD_FILE).read_text()) == card
    assert card["settings"]["max_epochs"] == 2


def test_the_card_of_a_method_chosen_on_the_takes_says_what_each_candidate_measured(
        enrolling, played, monkeypatch, shipped):
    taught = shipped[1]
    trials = {"adapters": choose.Trial(adapt.Adapted(Reader("a"), adapt.Settings(
        method="adapters", lr=1e-3), 3, 5, seconds=1.26), 2.123456),
        "full": choose.Trial(adapt.Adapted(Reader("f"), adapt.Settings(lr=1e-4), 3, 5,
                                           seconds=3.04), 1.98765)}
    picked = adapt.Settings(lr=1e-4)
    monkeypatch.setattr(teach.choose, "choose", lambda *a: choose.Choice(
        adapt.Adapted(taught, picked, 5, 5, seconds=2.5, tempo=1.1), picked, trials))
    monkeypatch.setattr(teach, "read_take", lambda model, frames, truth: _reading(
        0 if model.who == "f" else 3, 1.0 if model.who == "f" else 9.0))
    card = teach.enroll("ann", enrolling(5), choose.candidates(), log=None)
    assert card["chosen_from"] == {
        "adapters": {"lr": 1e-3, "held_out_loss": 2.123, "seconds": 1.3},
        "full": {"lr": 1e-4, "held_out_loss": 1.988, "seconds": 3.0}}
    assert card["adapt_seconds"] == 6.8 and card["trained_again_on_every_take"] is False
    assert card["held_out"]["after_by"] == "trial" and card["method"] == "full"
