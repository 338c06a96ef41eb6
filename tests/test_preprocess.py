"""lipread preprocess and the crop cache (cropcache.py fills it, cropstore.py reads it) on a
small corpus of three speakers with one unreadable video in it: the report names it, every
other clip is cached, bit for bit the crops training would compute, and a second run
computes nothing."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import in_ci

ROOT = Path(__file__).resolve().parents[1]
# Beside ../shared/grid (conftest.GRID_DIR): ten clips each of GRID speakers s26 and s31.
OTHERS_DIR = Path(os.environ.get("LIPREAD_OTHERS_DIR") or ROOT.parent / "shared" / "others")
BAD = "s26/bbbbzz"  # random bytes under a GRID name, with a valid alignment
N_S1 = 3


def link_clip(src_dir: Path, dst_dir: Path, speaker: str, src_name: str,
              stem: str | None = None) -> None:
    from lipread import grid

    video = grid.video_path(src_dir, src_name)
    stem = stem or grid.split_name(src_name)[1]
    (dst_dir / speaker).mkdir(parents=True, exist_ok=True)
    (dst_dir / "alignments" / speaker).mkdir(parents=True, exist_ok=True)
    (dst_dir / speaker / f"{stem}{video.suffix}").symlink_to(video)
    (dst_dir / "alignments" / speaker / f"{stem}.align").symlink_to(
        grid.alignment_path(src_dir, src_name))


@pytest.fixture(scope="module")
def corpus(grid_dir, test_names, tmp_path_factory) -> Path:
    """DIR/sN/<name>.* and DIR/alignments/sN/<name>.align: three s1 test clips, s26's and
    s31's clips, and one unreadable video."""
    others = sorted(OTHERS_DIR.glob("s*/*.mpg"))
    if not others:
        message = f"no clips of other speakers in {OTHERS_DIR} (set LIPREAD_OTHERS_DIR)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    root = tmp_path_factory.mktemp("corpus") / "grid"
    for name in test_names[:N_S1]:
        link_clip(grid_dir, root, "s1", name)
    for video in others:
        speaker = video.parent.name
        link_clip(OTHERS_DIR, root, speaker, f"{speaker}/{video.stem}")
    bad_speaker, bad_stem = BAD.split("/")
    (root / bad_speaker / f"{bad_stem}.mpg").write_bytes(np.random.default_rng(0).bytes(4096))
    good = next((root / "alignments" / bad_speaker).glob("*.align"))
    (root / "alignments" / bad_speaker / f"{bad_stem}.align").write_text(good.read_text())
    return root


def run_preprocess(*args):
    proc = subprocess.run([sys.executable, "-m", "lipread", "preprocess", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    return proc


@pytest.fixture(scope="module")
def first_run(corpus, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    summary, proc = preprocess_into(corpus, cache, "run1")
    return cache, summary, proc


def preprocess_into(corpus, cache, tag):
    """lipread preprocess over the corpus into `cache`: its JSON summary and the process."""
    out = cache.parent / f"{cache.name}-{tag}.json"
    proc = run_preprocess("--data-dir", corpus, "--cache-dir", cache, "--workers", 2,
                          "--json", out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text()), proc


def test_unreadable_video_is_reported_and_the_rest_cached(corpus, first_run):
    from lipread import grid, video
    from lipread.training import cropstore

    cache, summary, proc = first_run
    names = grid.list_clips(corpus)
    assert BAD in names and {grid.speaker_of(n) for n in names} == {"s1", "s26", "s31"}
    assert summary["clips"] == len(names) and summary["workers"] == 2
    assert summary["skipped"] == 1 and summary["cached"] == summary["new"] == len(names) - 1
    # The report: the unreadable clip, and why (its file named), after '#' summary lines.
    report = Path(summary["report"])
    assert report.parent == cropstore.cache_root(corpus, cache, "landmarks")
    lines = [l for l in report.read_text().splitlines() if not l.startswith("#")]
    assert len(lines) == 1, report.read_text()
    name, reason = lines[0].split("\t")
    assert name == BAD and f"{BAD.split('/')[1]}.mpg" in reason and "not a video" in reason
    assert cropstore.read_report(report) == summary["failures"] == {BAD: reason}
    assert "1 skipped" in proc.stdout and str(report) in proc.stdout
    assert "clips/s" in proc.stdout and "Traceback" not in proc.stderr
    # Every other clip is cached, as the crops training computes: bit for bit.
    root = report.parent
    cached = sorted(str(p.relative_to(root).with_suffix("")) for p in root.glob("s*/*.npy"))
    assert cached == sorted(n if "/" in n else f"s1/{n}" for n in names if n != BAD)
    for name in (names[0], "s31/" + Path(cached[-1]).name):  # an s1 clip, an s31 clip
        crops = np.load(cropstore.clip_path(root, name))
        fresh = video.read_mouth(grid.video_path(corpus, name), margin=cropstore.MARGIN).crops
        assert crops.dtype == np.uint8 and crops.shape == cropstore.CLIP_SHAPE
        np.testing.assert_array_equal(crops, fresh)
    assert not [p for p in root.rglob("*") if ".tmp" in p.name]  # no half-written file


def test_a_second_run_computes_nothing(corpus, first_run):
    cache, first, _ = first_run
    summary, proc = preprocess_into(corpus, cache, "run2")
    assert summary["new"] == 0 and summary["cached"] == first["cached"]
    # The unreadable video is known from the first run: not decoded again, still reported.
    assert summary["skipped"] == summary["remembered"] == 1
    assert summary["failures"] == first["failures"]
    assert "(0 new" in proc.stdout and "nothing new to crop" in proc.stdout
    assert "cropping" not in proc.stdout  # no pool started, nothing decoded


def test_training_reads_the_cache_lazily_or_whole(corpus, first_run):
    from lipread import grid
    from lipread.training import cropstore, dataset

    cache = first_run[0]
    names = grid.list_clips(corpus)
    lazy = dataset.load_clip_arrays(corpus, names, cache, log=None, lazy=True)
    frames, labels, words = dataset.load_clip_arrays(corpus, names, cache, log=None)
    assert lazy.names == [n for n in names if n != BAD] and BAD in lazy.failures
    assert lazy.report is not None and BAD in cropstore.read_report(lazy.report)
    store = lazy.frames
    assert isinstance(store, cropstore.ClipStore) and len(store) == len(frames) == len(names) - 1
    assert store.shape == frames.shape and frames.dtype == np.uint8
    for i in range(len(store)):
        item = store[i]
        assert isinstance(item, np.ndarray) and not isinstance(item, np.memmap)
        np.testing.assert_array_equal(item, frames[i])
    np.testing.assert_array_equal(store[-1], frames[-1])
    with pytest.raises(IndexError):
        store[len(store)]
    np.testing.assert_array_equal(np.stack(list(store[1:3])), frames[1:3])
    np.testing.assert_array_equal(lazy.labels, labels)
    np.testing.assert_array_equal(lazy.words, words)
    # Spliced sentences read a store as they read the array.
    spans = [dataset.word_spans(row) for row in words]
    whole = [i for i, s in enumerate(spans) if len(s) == dataset.N_SLOTS][:6]
    sources = whole[::-1] + whole[:6 - len(whole)]
    for a, b in zip(dataset.splice(store, words, spans, sources),
                    dataset.splice(frames, words, spans, sources)):
        np.testing.assert_array_equal(a, b)


# A worker process that dies (as a segfault in a native decoder would) on one clip.
CRASHING_WORKER = '''
import os
from lipread.training import cropcache

def work(data_dir, name, crop, path):
    if name == {name!r}:
        os._exit(3)
    return cropcache.crop_clip(data_dir, name, crop, path)
'''


def test_a_worker_that_dies_costs_only_its_clip(corpus, tmp_path, monkeypatch):
    from lipread import grid
    from lipread.training import cropcache, cropstore

    names = [n for n in grid.list_clips(corpus) if grid.speaker_of(n) == "s31"][:4]
    (tmp_path / "crashing_worker.py").write_text(CRASHING_WORKER.format(name=names[1]))
    monkeypatch.syspath_prepend(str(tmp_path))  # the spawned workers import it from here
    import crashing_worker

    done = cropcache.preprocess(corpus, names, tmp_path / "cache", "landmarks", workers=2,
                                log=None, progress=False, _work=crashing_worker.work)
    assert done.names == [n for n in names if n != names[1]]
    assert list(done.failures) == [names[1]] and "died" in done.failures[names[1]]
    assert all(cropstore.clip_path(done.root, n).is_file() for n in done.names)
    assert names[1] in cropstore.read_report(done.report)


@pytest.mark.parametrize("case, args, fragments", [
    ("no such data folder", ["--data-dir", "{tmp}/nowhere"], ("nowhere", "no such data folder")),
    ("no clips", ["--data-dir", "{tmp}"], ("no speaker folders",)),
    ("a speaker not there", ["--data-dir", "{corpus}", "--speakers", "s2"], ("of s2",)),
    ("not a speaker", ["--data-dir", "{corpus}", "--speakers", "s99"], ("s99",)),
    ("no workers", ["--data-dir", "{corpus}", "--workers", "0"], ("--workers", "1 or more")),
])
def test_bad_input_is_one_line_and_exit_2(corpus, tmp_path, case, args, fragments):
    args = [a.format(tmp=tmp_path, corpus=corpus) for a in args]
    proc = run_preprocess(*args, "--cache-dir", tmp_path / "cache")
    assert proc.returncode == 2, (case, proc.stdout, proc.stderr)
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("lipread preprocess: error: "), proc.stderr
    assert all(f in lines[0] for f in fragments), lines[0]
    assert not (tmp_path / "cache").exists()
