"""Augmentation (batches.augment, warp, time_mask): what a training clip may become."""
from __future__ import annotations

import numpy as np
import pytest

from lipread.training import cropstore


class Drawn:
    """An rng whose uniform() draws are given: the warp's scale, turn and gamma."""

    def __init__(self, *values):
        self.values = list(values)

    def uniform(self, low, high):
        assert low <= self.values[0] <= high
        return self.values.pop(0)


def _bar_moments(frame):
    """(centre x, centre y, slope, spread along x) of a frame's grey, weighted."""
    ys, xs = np.indices(frame.shape)
    g = frame.astype(float)
    cx, cy = (g * xs).sum() / g.sum(), (g * ys).sum() / g.sum()
    var_x = (g * (xs - cx) ** 2).sum() / g.sum()
    cov = (g * (xs - cx) * (ys - cy)).sum() / g.sum()
    return cx, cy, cov / var_x, np.sqrt(var_x)


def test_a_warp_turns_and_scales_the_clip_about_the_crops_centre():
    """A bar through the middle of the crop: turned, it tilts by the angle drawn; scaled, it
    grows by the scale drawn; either way its middle stays where it was."""
    from lipread.training import batches
    frame = np.zeros((54, 148), np.uint8)
    frame[26:28, 34:114] = 200  # 80 px long, centred
    clip = np.repeat(frame[None], 3, axis=0)
    cx, cy, slope, spread = _bar_moments(frame)
    turned = batches.warp(clip, Drawn(0.0, batches.WARP_DEGREES, 0.0))[1]
    tx, ty, tslope, _ = _bar_moments(turned)
    assert abs(tx - cx) < 0.6 and abs(ty - cy) < 0.6
    assert abs(abs(tslope) - np.tan(np.radians(batches.WARP_DEGREES))) < 0.01
    grown = batches.warp(clip, Drawn(batches.WARP_SCALE, 0.0, 0.0))[2]
    gx, gy, gslope, gspread = _bar_moments(grown)
    assert abs(gx - cx) < 0.6 and abs(gy - cy) < 0.6 and abs(gslope) < 1e-3
    assert gspread / spread == pytest.approx(1 + batches.WARP_SCALE, abs=0.01)
    bent = batches.warp(clip, Drawn(0.0, 0.0, 1.0))[0]  # gamma 1.25: greys darkened
    assert bent[26, 70] == round(255 * (200 / 255) ** 1.25) and bent[0, 0] == 0


class Spy:
    """A NumPy generator that notes whether the warp drew (it alone draws uniform())."""

    def __init__(self, seed):
        self.rng, self.warped = np.random.default_rng(seed), False

    def uniform(self, *args, **kwargs):
        self.warped = True
        return self.rng.uniform(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.rng, name)


def test_augmentation_jitters_the_crop_over_the_whole_margin_mirrors_half_and_warps_its_share():
    """Frames dark but for two marks, a bright one and, 10 px right of it, a dim one: where
    the bright one lands in the crop says the crop's offset, their order the mirroring."""
    from lipread.training import batches
    m = cropstore.MARGIN
    frame = np.zeros((46 + 2 * m, 140 + 2 * m), np.uint8)
    frame[30, 70], frame[30, 80] = 250, 120
    frames = np.repeat(frame[None], 75, axis=0)
    words = np.zeros(75, np.int32)
    offsets, mirrored, warped = set(), [], []
    for seed in range(200):
        spy = Spy(seed)
        x, _, _ = batches.augment(frames, words, spy, warp_prob=0.5)
        warped.append(spy.warped)
        if spy.warped:
            continue
        crop = x[0, :, :, 0]
        (row,), (col,) = np.nonzero(crop == crop.max())
        (_,), (dim,) = np.nonzero(crop == np.unique(crop)[-2])
        mirrored.append(dim < col)
        offsets.add((30 - row, 70 - (139 - col if dim < col else col)))
    assert 0.3 < np.mean(warped) < 0.7  # warp_prob 0.5: about half, not all
    assert 0.3 < np.mean(mirrored) < 0.7  # mirrored about half the time
    assert {dy for dy, _ in offsets} == {dx for _, dx in offsets} == set(range(2 * m + 1))


def test_a_warp_replicates_the_crops_edges_into_the_corners_it_turns_in():
    from lipread.training import batches
    clip = np.full((2, 54, 148), 90, np.uint8)
    turned = batches.warp(clip, Drawn(0.0, batches.WARP_DEGREES, 0.0))
    assert (turned == 90).all()  # no black corners


class Recorder:
    """A NumPy generator whose integers() draws are noted."""

    def __init__(self, seed):
        self.rng, self.drawn = np.random.default_rng(seed), []

    def integers(self, *args, **kwargs):
        value = self.rng.integers(*args, **kwargs)
        self.drawn.append(int(value))
        return value


def test_a_time_mask_blanks_a_run_of_up_to_its_width_anywhere_in_the_clip():
    from lipread.training import batches
    clip = np.ones((75, 2, 3, 1), np.float32)
    widths, firsts, lasts = set(), set(), set()
    for seed in range(400):
        rng = Recorder(seed)
        blanked = np.flatnonzero((batches.time_mask(clip, 1, rng, max_width=3) == 0).all((1, 2, 3)))
        width, start = rng.drawn
        np.testing.assert_array_equal(blanked, np.arange(start, start + width))  # all inside
        widths.add(width)
        if width:
            firsts.add(blanked[0])
            lasts.add(blanked[-1])
    assert widths == {0, 1, 2, 3} and 0 in firsts and 74 in lasts


def test_time_jitter_drops_up_to_three_frames_and_repeats_as_many_others_once_each():
    from lipread.training import batches
    frames = np.zeros((75, 54, 148), np.uint8)
    seen = set()
    for seed in range(60):
        _, source, _ = batches.augment(frames, np.arange(75), np.random.default_rng(seed))
        counts = np.bincount(source, minlength=75)
        assert (np.diff(source) >= 0).all() and counts.max() <= 2  # in order; once more at most
        assert (counts == 0).sum() == (counts == 2).sum()  # as many dropped as repeated
        seen.add(int((counts == 0).sum()))
    assert seen == set(range(batches.MAX_TIME_JITTER + 1))
