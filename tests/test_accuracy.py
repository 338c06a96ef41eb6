"""The shipped weights read held-out GRID test clips: an accuracy floor a regression breaks."""
from __future__ import annotations

import pytest

import decoding
import modelutil
import transcribe
import utils

# The targets on the test split; the floor checks the shipped weights keep them.
WER_TARGET = {"greedy": 0.02, "grammar": 0.01}
CER_TARGET = 0.01
N_CLIPS = 40  # of the 100 test clips: enough for 240 words, a few seconds on 2 cores


@pytest.fixture(scope="module")
def test_probs(grid_dir, test_names):
    if not modelutil.DEFAULT_WEIGHTS["lipnet"].is_file():
        pytest.fail(f"{modelutil.DEFAULT_WEIGHTS['lipnet']} is missing: the shipped weights")
    import numpy as np
    model = modelutil.load_model("lipnet")
    names = test_names[:N_CLIPS]
    frames = np.stack([utils.load_video(utils.video_path(grid_dir, n)) for n in names])
    truths = [utils.load_sentence(utils.alignment_path(grid_dir, n)) for n in names]
    return transcribe.predict_probs(model, frames), truths


@pytest.mark.parametrize("decoder", ["greedy", "grammar"])
def test_shipped_weights_meet_the_wer_target(test_probs, decoder):
    probs, truths = test_probs
    predictions = decoding.decode_batch(probs, decoder)
    wer, cer = decoding.error_rates(truths, predictions)
    wrong = [(t, p) for t, p in zip(truths, predictions) if t != p]
    assert wer <= WER_TARGET[decoder], f"{decoder} WER {wer:.2%}, e.g. {wrong[:3]}"
    assert cer <= CER_TARGET, f"{decoder} CER {cer:.2%}"


def test_predict_cli_reads_a_test_clip(grid_dir, test_names):
    import json
    import subprocess
    import sys
    name = test_names[1]
    proc = subprocess.run([sys.executable, "predict.py", str(utils.video_path(grid_dir, name)),
                           "--decoder", "grammar", "--json"], cwd=modelutil.MODELS_DIR.parent,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert len(result["tokens"]) == 75
    assert result["sentence"] == utils.load_sentence(utils.alignment_path(grid_dir, name))
