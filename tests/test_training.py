"""Short real training runs: two steps, resume, and MirroredStrategy on two CPU devices."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

# lipread train as the CLI runs it, with Model.fit watched: how many replicas the strategy has,
# each trainable variable's copy on every replica before and after training, and the loss
# on one fixed training batch before and after. The last stdout line is the report.
WATCHED_TRAIN = """
import json, sys
import keras
import numpy as np

report, fit = {}, keras.Model.fit

def copies(model):
    out = []
    for v in model.trainable_variables:
        inner = v.value  # a MirroredVariable under MirroredStrategy: one value per replica
        out.append([np.array(c) for c in getattr(inner, "values", (inner,))])
    return out

def devices(model):
    return sorted({str(c.device) for v in model.trainable_variables
                   for c in getattr(v.value, "values", (v.value,))})

def watched_fit(self, x=None, *args, **kwargs):
    strategy = self.distribute_strategy
    inputs, targets = next(iter(x))
    loss = lambda: float(self.evaluate(inputs, targets, verbose=0, return_dict=True)["loss"])
    before, report["loss_before"] = copies(self), loss()
    history = fit(self, x, *args, **kwargs)
    after = copies(self)
    report.update(
        replicas=int(strategy.num_replicas_in_sync),
        strategy=type(strategy).__name__,
        worker_devices=list(strategy.extended.worker_devices),
        variable_devices=devices(self),
        copies=sorted({len(v) for v in after}),
        changed=[sum(not np.array_equal(b, a) for b, a in zip(bv, av))
                 for bv, av in zip(before, after)],
        in_sync=all(np.array_equal(c, v[0]) for v in after for c in v),
        loss_after=loss(),
        epoch_loss=history.history["loss"])
    return history

keras.Model.fit = watched_fit
from lipread.cli import train
code = train.cli(sys.argv[1:])
print("REPORT " + json.dumps(report))
sys.exit(code)
"""


def run_train(*args, cwd=ROOT):
    proc = subprocess.run([sys.executable, "-m", "lipread", "train", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def small_split(grid_dir, tmp_path, n=12):
    from lipread import grid
    names = grid.read_names(grid_dir / "splits" / "train.txt")[:n]
    path = tmp_path / "names.txt"
    path.write_text("\n".join(names) + "\n")
    return path


def test_two_step_training_then_resume(grid_dir, tmp_path):
    names = small_split(grid_dir, tmp_path)  # what --limit 12 takes of splits/train.txt
    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    common = ["--data-dir", grid_dir, "--limit", 12, "--run-dir", run_dir, "--cache-dir",
              cache, "--max-steps", 2, "--batch-size", 2, "--verbose", 2]
    # --stop-after ends the run after epoch 1 of a 2-epoch schedule; --resume goes on.
    out = run_train(*common, "--epochs", 2, "--stop-after", 1)
    assert "Epoch 2/" not in out
    assert "11 training clips, 1 validation clips" in out
    assert "original:" in out and "predicted:" in out  # the sentence printer ran
    assert json.loads((run_dir / "checkpoint" / "state.json").read_text())["epoch"] == 1
    assert (run_dir / "val.txt").read_text().split()[0] in names.read_text()
    # One uint8 .npy of crops a clip, under the crop cache's folder (cropcache.py).
    assert len(list(cache.glob("clips-landmarks-*/s1/*.npy"))) == 12, "crops are cached"

    from lipread.model import loader, networks
    best = loader.load_model("lipnet", run_dir / "best.weights.h5")
    before = [w.numpy() for w in best.weights]

    val_slice = (run_dir / "val.txt").read_text()
    out = run_train(*common, "--epochs", 2, "--resume", "--time-masks", 2, "--loader-threads", 1,
                    "--seed", 7)
    assert "resumed" in out and "after epoch 1" in out
    # Another --seed draws other shuffles, not another validation slice (--val-seed does).
    assert (run_dir / "val.txt").read_text() == val_slice
    rows = list(csv.DictReader((run_dir / "log.csv").open()))
    assert [r["epoch"] for r in rows] == ["0", "1"]
    # One schedule across both runs: warm-up epoch 1 at a third of the peak, epoch 2 at 2/3.
    from lipread.training import recipe
    lrs = [float(r["learning_rate"]) for r in rows]
    assert np.allclose(lrs, [recipe.PEAK_LR / 3, recipe.PEAK_LR * 2 / 3], rtol=1e-4), lrs
    assert {"chars_loss", "val_chars_loss", "val_wer", "learning_rate"} <= set(rows[0])
    # Two steps an epoch: the second one's clips over its time (the first one compiles).
    assert all(float(r["train_clips_per_s"]) > 0 for r in rows), rows
    last = networks.build_lipnet_training()
    last.load_weights(run_dir / "checkpoint" / "last.weights.h5")
    trained = networks.inference_model(last)
    assert any(not np.array_equal(a, b.numpy()) for a, b in zip(before, trained.weights))


def test_mirrored_strategy_on_two_cpu_devices(grid_dir, tmp_path):
    """Two replicas, one per logical CPU device, each updated in step, and the loss falls."""
    names = small_split(grid_dir, tmp_path, n=10)
    proc = subprocess.run(
        [sys.executable, "-c", WATCHED_TRAIN, "--data-dir", str(grid_dir), "--names",
         str(names), "--run-dir", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "cache"),
         "--max-steps", "2", "--batch-size", "4", "--epochs", "2", "--strategy", "mirrored",
         "--cpu-devices", "2", "--val-fraction", "0.2", "--verbose", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1].removeprefix("REPORT "))
    assert report["strategy"] == "MirroredStrategy" and report["replicas"] == 2, report
    cpus = [d for d in report["worker_devices"] if d.endswith(("CPU:0", "CPU:1"))]
    assert len(cpus) == 2 and report["variable_devices"] == sorted(report["worker_devices"])
    # Every trainable variable has a copy on each device; training moved every copy, and
    # the copies agree: the two replicas' gradients were summed and applied on both.
    assert report["copies"] == [2], report["copies"]
    assert report["changed"] and set(report["changed"]) == {2}, report["changed"]
    assert report["in_sync"]
    # Four steps on these clips: the loss on one fixed training batch falls.
    assert report["loss_after"] < report["loss_before"], report
    assert (tmp_path / "run" / "best.weights.h5").is_file()


def test_training_input_is_the_inference_input(grid_dir, test_names, tmp_path):
    """lipread train's validation input (the cached landmark crop with its margin, centred) is
    what lipread predict and the app feed the network for the same clip: mouth.crop warps both
    with the same padding, so they agree to the last bit."""
    from lipread import grid, video
    from lipread.training import cropstore, dataset
    name = test_names[0]
    frames, _, _ = dataset.load_clip_arrays(grid_dir, [name], tmp_path / "cache", log=None)
    assert frames.shape == (1, 75, video.CROP_H + 2 * cropstore.MARGIN,
                            video.CROP_W + 2 * cropstore.MARGIN)
    from lipread.training import cropstore
    centred = cropstore.center(frames[0])
    served = video.load_video(grid.video_path(grid_dir, name))
    assert centred.shape == served.shape == video.INPUT_SHAPE
    inner = frames[0][:, cropstore.MARGIN:-cropstore.MARGIN, cropstore.MARGIN:-cropstore.MARGIN]
    raw = video.read_mouth(grid.video_path(grid_dir, name)).crops
    differ = int((inner != raw).sum())
    assert differ == 0, (f"the margin-{cropstore.MARGIN} crop's centre differs from the "
                         f"margin-0 crop in {differ} of {raw.size} pixels, by up to "
                         f"{int(np.abs(inner.astype(int) - raw).max())} grey level(s)")
    np.testing.assert_array_equal(centred, served)


def test_every_flag_of_lipread_train_is_a_keyword_of_train_with_its_default():
    import inspect

    from lipread.cli import train as train_cli
    from lipread.training import recipe, run

    flags = vars(train_cli.parse_args([]))
    flags.pop("json")  # where the CLI writes the summary that train returns
    keywords = inspect.signature(run.train).parameters
    assert set(keywords) == {"recipe", *flags}
    assert {k: keywords[k].default for k in flags} == flags
    assert recipe.Recipe(**flags) == recipe.Recipe()
    with pytest.raises(TypeError, match="epoch"):
        run.train(epoch=3)
    with pytest.raises(FileNotFoundError, match="teacher .*gone.h5: no such file"):
        run.train(teacher="gone.h5")


def test_ctc_loss_uses_true_label_lengths():
    """Padding must not count: a label padded to 40 scores as the bare label."""
    from lipread import grid
    from lipread.training import dataset, losses
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(grid.NUM_CLASSES), size=(1, 75)).astype("float32")
    label = dataset.label_ids(["bin", "blue"])[None]
    loss = float(losses.ctc_loss(label, probs)[0])
    short = np.array([grid.text_to_ids("bin blue")], dtype=np.int32)
    import keras
    direct = keras.ops.ctc_loss(short, np.log(probs), np.array([8]), np.array([75]),
                                mask_index=grid.BLANK_ID)
    np.testing.assert_allclose(loss, float(direct[0]), rtol=1e-4)


def test_frame_word_targets_follow_the_alignment(grid_dir, test_names):
    """Each word's id on the frames it is spoken on, silence 0, the six words in order."""
    import math

    from lipread import grid
    from lipread.training import dataset
    for name in test_names[:10]:
        segments = grid.load_alignment_segments(grid.alignment_path(grid_dir, name))
        targets = dataset.frame_word_targets(segments)
        assert targets.shape == (75,)
        for start, end, word in segments:
            if word == "sil":  # frames wholly inside a silence
                assert not targets[math.ceil(start):math.floor(end)].any(), (name, start, end)
            elif word != "sp":  # a short pause may lie within a word's rounded frames
                spoken = targets[math.floor(start):math.ceil(end)]
                assert dataset.WORD_ID[word] in spoken, (name, word, start, end)
        words = grid.load_alignments(grid.alignment_path(grid_dir, name))
        assert [targets[a] for a, _ in dataset.word_spans(targets)] == \
            [dataset.WORD_ID[w] for w in words], name


def test_spliced_sentence_takes_each_slot_from_its_source_clip(grid_dir):
    """Slot k of the new sentence is slot k of clip sources[k], frames and words alike."""
    from lipread import grid, video
    from lipread.training import cropstore, dataset
    names = grid.read_names(grid_dir / "splits" / "train.txt")[:6]
    frames = np.stack([video.read_mouth(grid.video_path(grid_dir, n),
                                               margin=cropstore.MARGIN).crops for n in names])
    segments = [grid.load_alignment_segments(grid.alignment_path(grid_dir, n)) for n in names]
    words = np.stack([dataset.frame_word_targets(s) for s in segments])
    spans = [dataset.word_spans(row) for row in words]
    assert all(len(s) == dataset.N_SLOTS for s in spans)
    truths = [grid.load_sentence(grid.alignment_path(grid_dir, n)).split() for n in names]

    sources = [5, 4, 3, 2, 1, 0]
    x, label, w = dataset.splice(frames, words, spans, sources)
    expected = [truths[c][k] for k, c in enumerate(sources)]
    assert grid.ids_to_text(label) == " ".join(expected)
    assert x.shape == frames.shape[1:] and x.dtype == np.uint8 and w.shape == (75,)
    # The per-frame words run through the six slots in order, each from its source.
    runs = [int(w[a]) for a, _ in dataset.word_spans(w)]
    assert runs == [dataset.WORD_ID[word] for word in expected]
    # The letter's frames are (resampled) frames of the letter's source clip.
    first, end = spans[sources[3]][3]
    letter_frames = x[w == dataset.WORD_ID[expected[3]]]
    source_frames = frames[sources[3], first:end]
    assert all(any(np.array_equal(f, s) for s in source_frames) for f in letter_frames)

    # Splicing a clip with itself in every slot gives the clip back.
    x, label, w = dataset.splice(frames, words, spans, [2] * 6)
    assert grid.ids_to_text(label) == " ".join(truths[2])
    np.testing.assert_array_equal(x, frames[2])
