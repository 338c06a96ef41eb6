"""Teach it your face: `lipread enroll` on real clips of another GRID speaker (s26) with the
real network, the profile it writes, `predict`/`evaluate --profile`, and what enroll refuses.

Enrollment here runs a few epochs on four clips to keep the suite's time; how well the
chosen method does with nine clips is the study's (experiments/enroll_study.py).
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lipread import scoring
from lipread.enroll import adapt, methods, profiles
from lipread.model import loader

ROOT = Path(__file__).resolve().parents[1]
ENROLL = ["s26/bgbsza", "s26/bwaq8s", "s26/lbbo3n", "s26/lrbi7p"]  # the last is held out
EPOCHS = "8"  # enough to fit three clips, not to generalise
MAX_PROFILE_BYTES = 4_000_000


def lipread(*args, env=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "lipread", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, **(env or {})})


def sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def leftovers(folder: Path) -> list[str]:
    """What a profiles folder holds besides complete profiles and lock files."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir()
                  if not (p.name.endswith(".lock") or (p / profiles.CARD_FILE).is_file()))


@pytest.fixture(scope="module")
def enrolled(others_dir, tmp_path_factory):
    """Profile s26 made by the CLI from ENROLL, its card, and the general weights' hash."""
    tmp = tmp_path_factory.mktemp("enroll")
    names = tmp / "names.txt"
    names.write_text("\n".join(ENROLL) + "\n")
    env = {"LIPREAD_PROFILES_DIR": str(tmp / "profiles")}
    general = sha(loader.DEFAULT_WEIGHTS["lipnet"])
    proc = lipread("enroll", "--name", "s26", "--data-dir", others_dir, "--names", names,
                   "--max-epochs", EPOCHS, "--json", tmp / "card.json", "--keep-anyway",
                   "--progress-file", tmp / "progress.json", env=env)
    assert proc.returncode == 0, proc.stderr
    return {"env": env, "dir": tmp / "profiles", "card": json.loads((tmp / "card.json")
                                                                     .read_text()),
            "general": general, "stdout": proc.stdout, "tmp": tmp,
            "progress": json.loads((tmp / "progress.json").read_text())}


def test_enroll_writes_a_whole_profile_and_leaves_the_general_reader(enrolled):
    folder = enrolled["dir"] / "s26"
    assert sorted(p.name for p in folder.iterdir()) == [profiles.CARD_FILE,
                                                        profiles.WEIGHTS_FILE]
    assert (folder / profiles.WEIGHTS_FILE).stat().st_size <= MAX_PROFILE_BYTES
    assert leftovers(enrolled["dir"]) == []
    card = enrolled["card"]
    assert json.loads((folder / profiles.CARD_FILE).read_text()) == card
    assert [c["name"] for c in card["clips"]] == ENROLL
    # The default: every weight fine-tuned at 2e-4 on the first three, the last held out to
    # check it; having passed, trained again on all four (few takes: cheap); every epoch
    # run and the last kept; the tempo chosen.
    assert card["trained_on"] == ENROLL and card["held_out"]["name"] == ENROLL[-1]
    assert card["trained_again_on_every_take"] and card["verdict"]["kept"]
    assert card["held_out"]["sentence"] == "lay red by i seven please"
    assert card["held_out"]["after_by"] == "trial" and card["chosen_from"] is None
    assert card["method"] == "full" and card["settings"]["lr"] == 2e-4
    assert card["epochs"] == int(EPOCHS)
    assert 0 < card["seconds"] and card["adapt_seconds"] <= card["seconds"]
    assert card["best_epoch"] == card["epochs"] and card["settings"]["patience"] is None
    assert card["tempo"] in adapt.TEMPOS and card["settings"]["tempo"] is None
    assert len(card["held_out_losses"]) == card["epochs"] + 1  # before, then each epoch
    assert enrolled["progress"]["fraction"] == 1.0
    assert "lipread predict --profile s26" in enrolled["stdout"]
    assert sha(loader.DEFAULT_WEIGHTS["lipnet"]) == enrolled["general"]


def read(others_dir, names, *flags, env=None):
    proc = lipread("predict", "--data-dir", others_dir, *names, "--decoder", "grammar",
                   "--json", "-", *flags, env=env)
    assert proc.returncode == 0, proc.stderr
    return {r["name"]: r["sentence"] for r in json.loads(proc.stdout)["results"]}


def test_predict_with_the_profile_reads_its_clips_better(enrolled, others_dir):
    """Trained on the four clips, the profile reads them better than the general reader
    does; the general reader reads the held-out clip as the card says."""
    from lipread import grid

    truth = {n: grid.load_sentence(grid.alignment_path(others_dir, n)) for n in ENROLL}
    general = read(others_dir, ENROLL, env=enrolled["env"])
    person = read(others_dir, ENROLL, "--profile", "s26", env=enrolled["env"])
    trained = ENROLL
    wer = {k: scoring.error_rates([truth[n] for n in trained], [r[n] for n in trained])[0]
           for k, r in (("general", general), ("profile", person))}
    assert wer["profile"] < wer["general"], wer
    held = enrolled["card"]["held_out"]
    assert general[ENROLL[-1]] == held["before"]["said"]


def test_evaluate_with_the_profile(enrolled, others_dir):
    names = enrolled["tmp"] / "eval.txt"
    names.write_text("s26/lbbo3n\n")
    proc = lipread("evaluate", "--data-dir", others_dir, "--names", names, "--decoder",
                   "grammar", "--profile", "s26", "--json", "-", env=enrolled["env"])
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["profile"] == "s26" and out["weights"].endswith("s26/reader.weights.h5")
    assert "profile s26" in proc.stderr


@pytest.mark.parametrize("flags, says", [
    (["--profile", "nobody"], "no such profile"),
    (["--profile", "Bad/Name"], "use 1-32 of a-z"),
    (["--profile", "s26", "--weights", "models/lipnet.weights.h5"], "without --weights"),
])
def test_predict_profile_errors(enrolled, others_dir, flags, says):
    proc = lipread("predict", "--data-dir", others_dir, "s26/lbbo3n", *flags,
                   env=enrolled["env"])
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lipread predict: error:") \
        and says in lines[0], proc.stderr


def test_a_broken_card_is_one_line(enrolled, others_dir, tmp_path):
    broken = tmp_path / "profiles" / "broken"
    broken.mkdir(parents=True)
    (broken / profiles.CARD_FILE).write_text("{not json")
    proc = lipread("predict", "--data-dir", others_dir, "s26/lbbo3n", "--profile", "broken",
                   env={"LIPREAD_PROFILES_DIR": str(tmp_path / "profiles")})
    assert proc.returncode == 2 and "not a profile card" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


# --- what enroll refuses ------------------------------------------------------------

@pytest.fixture(scope="module")
def bad_folders(others_dir, tmp_path_factory, ffmpeg_encode):
    """Flat folders of videos with sentences beside them, each wrong in one way."""
    import imageio_ffmpeg

    root = tmp_path_factory.mktemp("bad")
    good = others_dir / "s26" / "bgbsza.mpg"

    def folder(name, files):
        d = root / name
        d.mkdir()
        for stem, (src, sentence) in files.items():
            (d / f"{stem}.mpg").write_bytes(src.read_bytes())
            if sentence is not None:
                (d / f"{stem}.txt").write_text(sentence + "\n")
        return d

    wall = root / "wall.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", "color=c=0x9a9080:s=360x288:r=25:d=3", "-c:v",
                    "libx264", "-pix_fmt", "yuv420p", str(wall)], check=True, timeout=120)
    faceless = folder("faceless", {"a": (good, "bin green by s zero again")})
    (faceless / "b.mp4").write_bytes(wall.read_bytes())
    (faceless / "b.txt").write_text("bin blue at f two now\n")
    return {
        "faceless": faceless,
        "off_grammar": folder("off_grammar", {"a": (good, "hello there world how are you")}),
        "bad_word": folder("bad_word", {"a": (good, "bin green by w zero again")}),
        "no_sentence": folder("no_sentence", {"a": (good, None)}),
        "empty": folder("empty", {}),
    }


@pytest.mark.parametrize("case, name, says", [
    ("faceless", "alice", "no face"),
    ("off_grammar", "alice", "'hello' is no GRID command"),
    ("bad_word", "alice", "'w' is no GRID letter"),
    ("no_sentence", "alice", "no sentence for it"),
    ("empty", "alice", "no videos"),
    ("missing", "alice", "no such folder"),
    ("faceless", "Alice", "use 1-32 of a-z"),
    ("faceless", "a" * 33, "use 1-32 of a-z"),
    ("faceless", "../x", "use 1-32 of a-z"),
    ("faceless", "general", "general reader's"),
])
def test_enroll_refuses_with_one_line_and_writes_nothing(bad_folders, tmp_path, case, name,
                                                         says):
    data = bad_folders.get(case, tmp_path / "missing")
    out = tmp_path / "profiles"
    proc = lipread("enroll", "--name", name, "--data-dir", data,
                   env={"LIPREAD_PROFILES_DIR": str(out)})
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("lipread enroll: error:") \
        and says in errors[0], proc.stderr
    assert not (out / name).exists() and leftovers(out) == []


def test_enroll_speakers_not_in_the_folder(others_dir, tmp_path):
    proc = lipread("enroll", "--name", "alice", "--data-dir", others_dir, "--speakers", "s5",
                   env={"LIPREAD_PROFILES_DIR": str(tmp_path)})
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "--speakers: none of s5 has videos" in proc.stderr and "s26, s31" in proc.stderr


def test_enroll_does_not_replace_a_profile_without_force(enrolled, others_dir):
    before = sha(enrolled["dir"] / "s26" / profiles.WEIGHTS_FILE)
    proc = lipread("enroll", "--name", "s26", "--data-dir", others_dir, "--names",
                   enrolled["tmp"] / "names.txt", env=enrolled["env"])
    assert proc.returncode == 2 and "pass --force" in proc.stderr, proc.stderr
    assert sha(enrolled["dir"] / "s26" / profiles.WEIGHTS_FILE) == before


def test_two_enrollments_of_one_name_at_once(others_dir, tmp_path, monkeypatch):
    names, folders = tmp_path / "names.txt", tmp_path / "profiles"
    names.write_text("\n".join(ENROLL) + "\n")
    monkeypatch.setenv("LIPREAD_PROFILES_DIR", str(folders))
    with profiles.writing("bob") as folder:  # an enrollment of bob, running
        proc = lipread("enroll", "--name", "bob", "--data-dir", others_dir, "--names", names,
                       env={"LIPREAD_PROFILES_DIR": str(folders)})
        (folder / profiles.CARD_FILE).write_text('{"method": "full"}')
    assert proc.returncode == 2 and "another enrollment of it is running" in proc.stderr
    assert (folders / "bob" / profiles.CARD_FILE).is_file() and leftovers(folders) == []


def test_a_failed_write_leaves_the_old_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("LIPREAD_PROFILES_DIR", str(tmp_path))
    with profiles.writing("carol") as folder:
        (folder / profiles.CARD_FILE).write_text('{"method": "full", "v": 1}')
    with pytest.raises(RuntimeError):
        with profiles.writing("carol", force=True) as folder:
            (folder / profiles.CARD_FILE).write_text('{"method": "full", "v": 2}')
            raise RuntimeError("stopped half way")
    assert profiles.card("carol")["v"] == 1 and leftovers(tmp_path) == []
    with profiles.writing("carol", force=True) as folder:
        (folder / profiles.CARD_FILE).write_text('{"method": "full", "v": 3}')
    assert profiles.card("carol")["v"] == 3 and leftovers(tmp_path) == []
    assert profiles.names() == ["carol"]


def test_teach_from_python_takes_videos_and_their_sentences(others_dir, tmp_path, monkeypatch):
    """lipread.teach: the videos' paths with their sentences (or None: found as enroll finds
    them), the profile written and its card returned; what is wrong, one ValueError first."""
    from lipread.enroll import clips, teach

    monkeypatch.setenv("LIPREAD_PROFILES_DIR", str(tmp_path))
    paths = [others_dir / f"{name}.mpg" for name in ENROLL[:3]]
    found = clips.gather(paths)
    assert found == clips.find(others_dir, None, ["s26"])[:3]
    said = [f" {c.sentence.upper()} " for c in found]  # any case and spacing
    assert clips.gather(paths, said) == found
    for videos, sentences, says in [
            (paths, said[:2], "3 videos and 2 sentences"),
            (paths, ["bin blue"] * 3, "is not a GRID sentence"),
            (paths[:2] + [tmp_path / "gone.mp4"], None, "gone.mp4: no such video file")]:
        with pytest.raises(clips.EnrollError, match=says):
            teach.teach("amy", videos, sentences)
    with pytest.raises(ValueError, match="with method auto each candidate"):
        teach.teach("amy", paths, method="auto", lr=1e-3)
    lines = []
    card = teach.teach("amy", paths, said, max_epochs=1, tempo=1.0, log=lines.append,
                       keep_anyway=True)
    assert card == profiles.card("amy") and card["epochs"] == 1
    assert card["clips"] == [{"name": c.name, "sentence": c.sentence} for c in found]
    assert card["held_out"]["name"] == ENROLL[2]
    again = card["verdict"]["kept"]  # (kept anyway when it did not pass: not taught again)
    assert card["trained_again_on_every_take"] == again
    assert card["trained_on"] == (ENROLL[:3] if again else ENROLL[:2])
    assert lines[0] == (f"3 clip(s) of amy: training on 2, holding out {ENROLL[2]} to check "
                        "it, then on all of them if it passes")
    with pytest.raises(profiles.ProfileError, match="exists"):
        teach.teach("amy", paths, max_epochs=1)


# --- never worse than untaught -------------------------------------------------------

def test_few_takes_that_pass_the_check_are_taught_again_all_of_them():
    from lipread.enroll import judge

    default = adapt.Settings()
    assert judge.trains_again(default, 8, 9, [8])  # 640 + 720 clips
    assert judge.trains_again(default, 11, 13, [11, 12])  # 880 + 1,040
    assert not judge.trains_again(default, 12, 14, [12, 13])  # 960 + 1,120: over 2,048
    assert not judge.trains_again(default, 32, 40, list(range(32, 40)))
    assert not judge.trains_again(default, 2, 2, [])  # nothing held out: nothing checked
    assert not judge.trains_again(adapt.Settings(patience=8), 8, 9, [8])  # stopped early
    assert judge.trains_again(adapt.Settings(max_epochs=8), 32, 40, list(range(32, 40)))


def test_the_verdict_keeps_a_reader_surer_of_the_true_sentences_and_no_worse_in_words():
    from lipread.enroll import judge

    def reads(errors, loss):
        return [{"said": "x", "word_errors": errors, "words": 6, "loss": loss}]
    judged = judge.verdict(reads(3, 65.8), reads(3, 32.5))
    assert judged["kept"] and (judged["general_loss"], judged["taught_loss"]) == (65.8, 32.5)
    assert judge.verdict(reads(4, 81.8), reads(5, 58.5))["kept"]  # one word more: noise
    assert not judge.verdict(reads(4, 81.8), reads(6, 58.5))["kept"]  # two: not
    assert not judge.verdict(reads(3, 32.5), reads(1, 65.8))["kept"]  # less sure: not
    assert not judge.verdict(reads(3, 32.5), reads(3, 32.501))["kept"]  # the same reader
    assert not judge.verdict([], [])["kept"]  # nothing to check it on
    two = judge.verdict(reads(3, 10.0) + reads(2, 10.0), reads(2, 9.0) + reads(2, 9.0))
    assert two["kept"] and (two["general_errors"], two["taught_errors"]) == (5, 4)
    assert (two["general_loss"], two["taught_loss"]) == (20.0, 18.0)


def test_a_taught_reader_no_better_than_the_general_one_makes_no_profile(others_dir,
                                                                        tmp_path):
    """Teaching that changes nothing (the tempo method at 1.0 trains nothing) reads the
    held-out take as the general reader does: no profile, one line, exit 1, the card kept
    in --json; --keep-anyway keeps it."""
    names = tmp_path / "names.txt"
    names.write_text("\n".join(ENROLL) + "\n")
    env = {"LIPREAD_PROFILES_DIR": str(tmp_path / "profiles")}
    flags = ["--name", "gus", "--data-dir", others_dir, "--names", names, "--method", "tempo",
             "--tempo", "1.0", "--json", tmp_path / "card.json"]
    proc = lipread("enroll", *flags, env=env)
    assert proc.returncode == 1, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("lipread enroll: error: gus: the taught "
                                                     "reader read the 1 held-out take(s) no "
                                                     "better than the general one")
    assert "no profile made, the general reader stays" in errors[0]
    card = json.loads((tmp_path / "card.json").read_text())
    judged = card["verdict"]
    assert not judged["kept"] and judged["taught_errors"] == judged["general_errors"]
    assert card["held_out_takes"][0]["name"] == ENROLL[-1]
    assert not (tmp_path / "profiles" / "gus").exists() and leftovers(tmp_path / "profiles") == []
    proc = lipread("enroll", *flags, "--keep-anyway", env=env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "profiles" / "gus" / profiles.CARD_FILE).is_file()


# --- the methods ---------------------------------------------------------------------

TRAINS = {"full": ("conv", "bn", "bigru", "chars"), "body": ("conv", "bn", "bigru"),
          "frontend": ("conv", "bn"),
          "batchnorm": ("bn",), "adapters": ("adapter", "bn"), "prompt": ("prompt",),
          "tempo": (), "stats": ()}


@pytest.mark.parametrize("name", list(methods.REGISTRY))
def test_each_method_starts_as_the_general_reader_and_trains_its_part(name, others_dir):
    from lipread import video

    base = loader.load_model("lipnet")
    model = methods.build(methods.get(name), base)
    frames = video.load_video(others_dir / "s26" / "lbbo3n.mpg")[None]
    np.testing.assert_allclose(model.predict_on_batch(frames), base.predict_on_batch(frames),
                               atol=1e-5)
    trained = {layer.name for layer in model.layers if layer.trainable_weights}
    assert {t.rstrip("0123456789") for t in trained} == set(TRAINS[name]), trained


def test_tempo_resamples_frames_in_time():
    from lipread.model import networks, personal

    assert personal.tempo_frames(6, 1.0).tolist() == [0, 1, 2, 3, 4, 5]
    assert personal.tempo_frames(6, 1.5).tolist() == [0, 2, 3, 4, 5, 5]  # round half even
    x = np.arange(75, dtype=np.float32).reshape(1, 75, 1, 1, 1) * np.ones((1, 1, 46, 140, 1),
                                                                        np.float32)
    layer = personal.Tempo(1.2)
    out = np.asarray(layer(x))
    assert out[0, :, 0, 0, 0].tolist() == personal.tempo_frames(75, 1.2).tolist()
    assert out[0, 10, 0, 0, 0] == 12 and out[0, -1, 0, 0, 0] == 74
    assert "tempo" not in [l.name for l in networks.build_lipnet().layers]
    assert "tempo" in [l.name for l in networks.build_lipnet(tempo=1.2).layers]


def test_the_tempo_chosen_for_a_slower_speaker(others_dir):
    """s31 says a sentence in ~48 frames where s1 takes ~33: the general reader's CTC loss
    on her clips is lowest read faster than 1.0."""
    from experiments import enroll_study as study

    names, crops, sentences = study.speaker_clips(others_dir, "s31")
    base = loader.load_model("lipnet")
    assert adapt.estimate_tempo(base, crops[:6], adapt.labels_of(sentences[:6])) > 1.0


@pytest.mark.parametrize("flags, says", [
    (["--tempo", "3"], "must be auto or from 0.5 to 2"),
    (["--tempo", "fast"], "not a number"),
    (["--patience", "-1"], "must be 0 or more"),
    (["--lr", "0"], "must be more than 0"),
    (["--method", "auto", "--lr", "1e-3"], "with --method auto each candidate trains"),
    (["--method", "auto", "--patience", "3"], "with --method auto each candidate trains"),
    (["--max-epochs", "0"], "must be 1 or more"),
    (["--method", "magic"], "invalid choice"),
    (["--speakers", "s99"], "--speakers: s99: GRID's speakers are s1 to s34"),
])
def test_enroll_flags_are_checked(flags, says, tmp_path):
    proc = lipread("enroll", "--name", "alice", "--data-dir", tmp_path, *flags,
                   env={"LIPREAD_PROFILES_DIR": str(tmp_path / "profiles")})
    assert proc.returncode == 2 and says in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("lipread enroll: error:")
    assert not (tmp_path / "profiles").exists()


def test_stopping_rule():
    assert adapt.stop_epoch([5, 4, 3, 4, 5, 6], patience=2) == 2
    assert adapt.stop_epoch([5, 4, 3, 4, 5, 6, 1], patience=2) == 2  # stopped before 6
    assert adapt.stop_epoch([5, 4, 3, 4, 5, 6, 1], patience=4) == 6
    assert adapt.stop_epoch([5, 6, 7], patience=8) == 0  # the general reader was best


def test_early_stopping_keeps_the_best_epoch(others_dir, tmp_path, monkeypatch):
    """--patience: the weights of the epoch with the lowest held-out loss are kept."""
    names = tmp_path / "names.txt"
    names.write_text("\n".join(ENROLL[:3]) + "\n")
    out = tmp_path / "card.json"
    proc = lipread("enroll", "--name", "erin", "--data-dir", others_dir, "--names", names,
                   "--method", "full", "--lr", "3e-4", "--max-epochs", "4", "--patience", "2",
                   "--tempo", "1.0", "--json", out, "--keep-anyway",
                   env={"LIPREAD_PROFILES_DIR": str(tmp_path / "profiles")})
    assert proc.returncode == 0, proc.stderr
    card = json.loads(out.read_text())
    losses = card["held_out_losses"]
    assert card["tempo"] == 1.0 and card["method"] == "full"
    assert card["best_epoch"] == int(np.argmin(losses)) and len(losses) == card["epochs"] + 1
    # One method: the last clip held out of training, read after by the profile itself.
    assert card["trained_on"] == ENROLL[:2] and card["chosen_from"] is None
    assert card["held_out"]["after_by"] == "profile"
    env = {"LIPREAD_PROFILES_DIR": str(tmp_path / "profiles")}
    assert read(others_dir, [ENROLL[2]], "--profile", "erin", env=env)[ENROLL[2]] == \
        card["held_out"]["after"]["said"]


def test_enroll_method_auto_card(others_dir, tmp_path):
    """--method auto: adapters and full fine-tuning each trained on the first three clips and
    judged on the last; the lower trained again on all four; the card says so."""
    names = tmp_path / "names.txt"
    names.write_text("\n".join(ENROLL) + "\n")
    out = tmp_path / "card.json"
    proc = lipread("enroll", "--name", "finn", "--data-dir", others_dir, "--names", names,
                   "--method", "auto", "--max-epochs", "2", "--json", out, "--keep-anyway",
                   env={"LIPREAD_PROFILES_DIR": str(tmp_path / "profiles")})
    assert proc.returncode == 0, proc.stderr
    card = json.loads(out.read_text())
    tried = card["chosen_from"]
    assert sorted(tried) == ["adapters", "full"]
    assert {m: t["lr"] for m, t in tried.items()} == {"adapters": 1e-3, "full": 1e-4}
    assert card["method"] == min(tried, key=lambda m: tried[m]["held_out_loss"])
    assert card["settings"]["lr"] == tried[card["method"]]["lr"] and card["epochs"] == 2
    assert f"chose {card['method']} by the loss on the last clip" in proc.stdout
    assert card["trained_on"] == ENROLL and card["held_out"]["after_by"] == "trial"
    assert card["held_out_losses"] == []  # the last run trains on every clip
    assert card["adapt_seconds"] > sum(t["seconds"] for t in tried.values())  # and the last


def test_auto_picks_the_lower_loss_on_the_last_clip_and_trains_on_all(others_dir):
    """choose.choose: each candidate trained on all clips but the last and scored there;
    the pick trained again on every clip (its weights differ from its trial's)."""
    from experiments import enroll_study as study
    from lipread.enroll import choose

    names, crops, sentences = study.speaker_clips(others_dir, "s26")
    base = loader.load_model("lipnet")
    options = choose.candidates(max_epochs=1, tempo=1.0)
    got = choose.choose(crops[:3], sentences[:3], options, base, log=None)
    assert sorted(got.trials) == ["adapters", "full"]
    for method, trial in got.trials.items():
        assert trial.adapted.settings.method == method and trial.adapted.epochs == 1
        assert trial.held_loss == pytest.approx(
            choose.held_loss(trial.adapted.model, crops[2], sentences[2]), rel=1e-4)
    losses = {m: t.held_loss for m, t in got.trials.items()}
    assert got.picked.method == min(losses, key=losses.get)
    assert got.adapted.settings.method == got.picked.method
    trial = got.trials[got.picked.method].adapted.model
    assert any(not np.allclose(a, b) for a, b in zip(trial.get_weights(),
                                                     got.adapted.model.get_weights()))
    # Two clips are too few to choose by: the fallback alone, trained on both.
    two = choose.choose(crops[:2], sentences[:2], options, base, log=None)
    assert two.trials == {} and two.picked.method == choose.FALLBACK.method == adapt.METHOD


def test_study_folds_configurations_and_summary(tmp_path):
    """The study's folds, how a configuration reads, and its tally of auto folds."""
    from experiments import enroll_study as study
    from experiments import enroll_tally as tally

    assert study.fold(10, 9, 3) == ([3, 4, 5, 6, 7, 8, 9, 0, 1], [2])
    assert study.fold(10, 3, 9) == ([9, 0, 1], [2, 3, 4, 5, 6, 7, 8])
    s = study.settings_of("full:2e-4:auto:80")
    assert (s.method, s.lr, s.tempo, s.max_epochs, s.patience) == ("full", 2e-4, None, 80, None)
    s = study.settings_of("adapters:1e-3")  # no tempo named: 1.0; the study's epochs
    assert (s.tempo, s.max_epochs) == (1.0, study.STUDY_EPOCHS)
    assert study.settings_of("tempo:0:1.2").tempo == 1.2
    out = tmp_path / "study.jsonl"
    rows = [{"tag": "report-s31", "config": "auto", "n": 9, "fold": f, "edits_by_epoch": [b, a],
             "edits_before": b, "edits_after": a, "words": 6, "seconds": 10.0}
            for f, (b, a) in enumerate([(3, 1), (4, 2)])]
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (t,) = tally.summary(out)
    assert (t["folds"], t["words"]) == (2, 12)
    assert t["wer_before"] == pytest.approx(7 / 12) and t["wer_after"] == pytest.approx(3 / 12)
    assert "| report-s31 | auto | 9 | 2 | 12 | 58.3% | 25.0% |" in tally.table(out)


def test_enroll_shows_its_progress_on_a_terminal_only():
    import io

    from lipread.cli import enroll

    class Terminal(io.StringIO):
        def isatty(self):
            return True
    assert enroll.progress_line(io.StringIO()) is None  # a log or a pipe: no redrawn line
    screen = Terminal()
    show = enroll.progress_line(screen)
    show(0.1, "finding the mouth in s4/bbaf2a")
    show(0.5, "adapting: epoch 32 of at most 64", 75.0)
    show(1.0, "done", 0.0)
    lines = screen.getvalue().split("\r")[1:]
    assert [line.split()[:2] for line in lines] == [["teaching:", "10%"], ["teaching:", "50%"],
                                                     ["teaching:", "100%"]]
    assert "adapting: epoch 32 of at most 64, about 01:15 left" in lines[1]
    assert not lines[1].endswith("\n") and lines[2].endswith("\n")  # redrawn, then ended
