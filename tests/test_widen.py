"""Widening the GRUs of a trained lipnet (widen.py): the same readings, more units to train."""
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT


@pytest.fixture(scope="module")
def clip(grid_dir, test_names):
    from lipread import grid, video

    return video.load_video(grid.video_path(grid_dir, test_names[0]))[None]


def test_widened_shipped_network_reads_a_clip_the_same(clip, tmp_path):
    from lipread.model import loader, networks, widen

    shipped = loader.load_model("lipnet")
    wide = networks.build_lipnet(gru_units=256)
    fresh = wide.predict(clip, verbose=0)
    widen.widen_lipnet(shipped, wide)
    probs = wide.predict(clip, verbose=0)[0]
    assert not np.allclose(fresh[0], probs, atol=1e-3), "the wide network was set"
    assert np.allclose(probs, shipped.predict(clip, verbose=0)[0], atol=1e-5)
    assert wide.count_params() > 2 * shipped.count_params()
    # Saved, its file says its width, and load_model builds the network to fit it.
    path = tmp_path / "wide.weights.h5"
    wide.save_weights(path)
    assert loader.gru_units_in(path) == 256
    assert loader.gru_units_in(loader.DEFAULT_WEIGHTS["lipnet"]) == 128
    again = loader.load_model("lipnet", path)
    assert np.allclose(again.predict(clip, verbose=0)[0], probs, atol=1e-6)


def test_widened_training_network_keeps_both_heads(clip):
    from lipread.model import networks, widen

    narrow = networks.build_lipnet_training(gru_units=16)
    wide = networks.build_lipnet_training(gru_units=40)
    widen.widen_lipnet(narrow, wide)
    for a, b in zip(narrow.predict(clip, verbose=0), wide.predict(clip, verbose=0)):
        assert np.allclose(a, b, atol=1e-5)
    # The new units are silent (every weight out of them is 0) but not dead: their own
    # weights are a fresh network's, so training can grow what they feed.
    out_of_new = wide.get_layer("chars").kernel.numpy()[16:40]
    assert not out_of_new.any()
    new_cols = wide.get_layer("bigru1").forward_layer.cell.kernel.numpy()[:, 16:40]
    assert new_cols.std() > 0.01
    with pytest.raises(ValueError, match="cannot narrow"):
        widen.widen_lipnet(wide, narrow)


def run_train(*args):
    return subprocess.run([sys.executable, "-m", "lipread", "train", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)


def test_train_widens_init_weights_and_resumes_at_that_width(grid_dir, tmp_path):
    from lipread.model import loader

    run_dir = tmp_path / "run"
    common = ["--data-dir", grid_dir, "--limit", 12, "--run-dir", run_dir, "--cache-dir",
              tmp_path / "cache", "--max-steps", 1, "--batch-size", 2, "--verbose", 2,
              "--epochs", 2]
    proc = run_train(*common, "--gru-units", 64, "--stop-after", 1,
                     "--init-weights", loader.DEFAULT_WEIGHTS["lipnet"])
    assert proc.returncode == 2, "the shipped 128-unit GRUs do not fit into 64"
    assert "pass --gru-units 128" in proc.stderr and not run_dir.exists()

    proc = run_train(*common, "--gru-units", 160, "--stop-after", 1,
                     "--init-weights", loader.DEFAULT_WEIGHTS["lipnet"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "GRUs widened from 128 to 160 units" in proc.stdout
    assert loader.gru_units_in(run_dir / "checkpoint" / "last.weights.h5") == 160
    proc = run_train(*common, "--resume")  # no --gru-units: the run's own width
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "after epoch 1" in proc.stdout
    best = loader.load_model("lipnet", run_dir / "best.weights.h5")
    assert best.get_layer("bigru2").forward_layer.units == 160


def test_a_network_widened_to_its_own_width_is_a_copy(clip):
    from lipread.model import networks, widen

    trained, same = (networks.build_lipnet_training(gru_units=16) for _ in range(2))
    widen.widen_lipnet(trained, same)
    for a, b in zip(trained.get_weights(), same.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_widening_a_cell_leaves_the_fresh_weights_it_was_given_as_they_were():
    from lipread.model import widen

    rng = np.random.default_rng(0)
    u0, u1, inputs = 2, 3, 4
    old = [rng.normal(size=s) for s in ((inputs, 3 * u0), (u0, 3 * u0), (2, 3 * u0))]
    new = [rng.normal(size=s) for s in ((inputs, 3 * u1), (u1, 3 * u1), (2, 3 * u1))]
    given = [w.copy() for w in new]
    kernel, recurrent, bias = widen.widen_gru_cell(old, new, np.arange(inputs), u0, u1)
    for w, before in zip(new, given):
        np.testing.assert_array_equal(w, before)
    # each gate's first u0 columns are the old cell's, the new unit's its fresh ones
    for g in range(3):
        np.testing.assert_array_equal(kernel[:, g * u1:g * u1 + u0], old[0][:, g * u0:(g + 1) * u0])
        np.testing.assert_array_equal(kernel[:, g * u1 + u0], given[0][:, g * u1 + u0])
        np.testing.assert_array_equal(recurrent[:u0, g * u1:g * u1 + u0],
                                      old[1][:, g * u0:(g + 1) * u0])
        assert not recurrent[u0:, g * u1:g * u1 + u0].any()
        np.testing.assert_array_equal(bias[:, g * u1:g * u1 + u0], old[2][:, g * u0:(g + 1) * u0])
