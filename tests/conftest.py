"""Shared fixtures: the real GRID data beside the project, and the repo on sys.path.

Tests that read GRID data take the `grid_dir` fixture and get the `grid` marker from it
(pytest_collection_modifyitems below), so `pytest -m grid` runs exactly them: CI runs
them a second time on a copy laid out the way lipread download lands the data
(tests/make_download_layout.py). They must hold on any folder laid out like the
tutorial's data.zip: clips are picked from its splits, never by name or extension.
Under CI=true a missing data folder fails them instead of skipping them.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# `python -m lipread ...` in a subprocess finds the package from any folder, installed or not.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Absolute: CI passes a relative LIPREAD_DATA_DIR, and tests link to it from tmp folders.
GRID_DIR = Path(os.environ.get("LIPREAD_DATA_DIR") or ROOT.parent / "shared" / "grid").resolve()
OTHERS_DIR = Path(os.environ.get("LIPREAD_OTHERS_DIR")
                  or ROOT.parent / "shared" / "others").resolve()
# The tutorial checkpoint's index: ../shared beside the project, or (under `make mutate`, whose
# tests run from mutants/) beside the other speakers' folder
LEGACY_DIR = next((d / "legacy_checkpoint" for d in (ROOT.parent / "shared", OTHERS_DIR.parent)
                   if (d / "legacy_checkpoint").is_dir()), ROOT.parent / "shared" / "legacy_checkpoint")
GRID_MARKER = "grid"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", f"{GRID_MARKER}: reads GRID data (set automatically on every test that "
                   "uses the grid_dir fixture; select with -m grid)")


def pytest_collection_modifyitems(config, items):
    # fixturenames is the closure: a test that reaches grid_dir through another fixture
    # (test_names, shipped_probs, a module's own fixture) is marked too.
    for item in items:
        if "grid_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(GRID_MARKER)
    if "MUTANT_UNDER_TEST" in os.environ:  # mutmut's passes: its selection alone
        _only_the_mutation_set(config, items)
    if os.environ.get("MUTANT_UNDER_TEST") == "" and os.environ.get("MUTATE_PARTS"):
        _only_the_parts_tests(config, items, os.environ["MUTATE_PARTS"].split())
    mutant = _kept_under_mutation() and os.environ["MUTANT_UNDER_TEST"]
    if mutant:
        _not_a_listed_equivalent(mutant)
        _only_the_modules_tests(config, items, mutant)
        _fastest_first(items)


# `make mutate`: each mutated module against the test files that cover it (mutmut is given
# tests/ and pytest_ignore_collect leaves out the other files; mutmut then runs, of these,
# the tests that reach the mutated function). A test elsewhere that merely passes through
# the module is not asked.
MUTATION_TESTS = {
    "lipread.decoding": ("test_decoding.py", "test_onnx.py"),
    "lipread.beam": ("test_decoding.py", "test_onnx.py"),
    "lipread.video": ("test_video.py", "test_utils.py", "test_hostile_video.py", "test_mouth.py"),
    "lipread.mouth": ("test_crop.py", "test_mouth.py", "test_utils.py"),
    "lipread.training.losses": ("test_batches.py",),
    "lipread.corpus.archives": ("test_archives.py", "test_workspaces.py",
                                "test_hostile_archives.py", "test_download.py"),
    "lipread.cli.flagtypes": ("test_bad_input.py",),
    "lipread.confidence": ("test_confidence.py", "test_decoding.py"),
    "lipread.feeds": ("test_feeds.py",),
    "lipread.worker": ("test_feeds.py",),
    "lipread.scoring": ("test_decoding.py", "test_app_media.py"),
    "lipread.formats": ("test_bad_input.py", "test_hostile_video.py", "test_video.py"),
    "lipread.budget": ("test_decode_budget.py", "test_hostile_video.py", "test_video.py"),
    "lipread.grid": ("test_utils.py",),
    "lipread.live.segment": ("test_live.py",),
    "lipread.enroll.prompts": ("test_teach_page.py",),
    "lipread.enroll.expect": ("test_teach_page.py",),
    "lipread.live.frames": ("test_live.py",),
    "lipread.live.capture": ("test_live.py",),
    "lipread.live.tracker": ("test_live.py",),
    "lipread.corpus.protocols": ("test_splits.py",),
    "lipread.training.checkpoint": ("test_checkpoint.py",),
    "lipread.cache": ("test_private_cache.py",),
    "lipread.enroll.profiles": ("test_profiles.py",),
    "lipread.enroll.cards": ("test_profiles.py",),
    "lipread.face": ("test_tracking.py",),
    "lipread.encode": ("test_encode.py",),
    "lipread.landmarks": ("test_landmarks.py",),
    "lipread.corpus.transfer": ("test_download.py", "test_hostile_servers.py",
                                "test_corpus_download.py"),
    "lipread.corpus.zenodo": ("test_corpus_download.py", "test_hostile_servers.py"),
    # (test_download.py runs the same through `lipread download`, a child process each)
    "lipread.corpus.tutorial": ("test_tutorial_checkpoint.py", "test_tutorial_data.py"),
    "lipread.enroll.checks": ("test_takes.py",),
    "lipread.enroll.clips": ("test_takes.py",),
    "lipread.enroll.jobs": ("test_jobs.py",),
    "lipread.reading": ("test_reading.py",),
    "lipread.pipeline": ("test_reading.py",),
    "lipread.live.session": ("test_live.py",),
    "lipread.live.window": ("test_live_window.py",),
    "lipread.model.onnx_reader": ("test_onnx.py", "test_private_cache.py", "test_profiles.py"),
    "lipread.enroll.adapt": ("test_adapt_parts.py",),
    "lipread.enroll.methods": ("test_adapt_parts.py",),
    "lipread.training.batches": ("test_batches.py", "test_clip_batches.py", "test_augment.py",
                                 "test_adapt_parts.py"),
    "lipread.training.dataset": ("test_batches.py", "test_clip_batches.py",
                                 "test_training_loader.py", "test_adapt_parts.py"),
    "lipread.model.personal": ("test_adapt_parts.py",),
    "lipread.model.loader": ("test_modelutil.py", "test_reading.py"),
    "lipread.model.onnx_export": ("test_onnx.py", "test_profiles.py"),
    "lipread.enroll.teach": ("test_teach_parts.py",),
    "lipread.enroll.judge": ("test_teach_parts.py",),
    "lipread.enroll.choose": ("test_teach_parts.py",),
    "lipread.training.recipe": ("test_recipe.py", "test_modelutil.py"),
    "lipread.model.widen": ("test_widen.py", "test_recipe.py"),
    "lipread.model.fastconv": ("test_fastconv.py",),
    "lipread.model.networks": ("test_modelutil.py", "test_fastconv.py", "test_widen.py",
                               "test_recipe.py", "test_adapt_parts.py"),
    "lipread.likeness": ("test_readers.py", "test_confidence.py"),
    "lipread.readers": ("test_readers.py",),
}


# Of a file in MUTATION_TESTS, only these tests (the file's others are slow and reach
# nothing of the mutated modules that its quick ones do not).
MUTATION_ONLY = {
    "test_onnx.py": ("test_the_numpy_beam_search_is_tensorflows",
                     "test_weights_with_layers_the_graph_lacks_are_refused",
                     "test_each_shape_of_a_persons_reader_has_an_export_of_its_own",
                     "test_a_corrupt_export_is_rebuilt_or_refused",
                     "test_the_export_is_named_by_the_weights_so_new_weights_get_a_new_one"),
    "test_widen.py": ("test_widened_shipped_network_reads_a_clip_the_same",
                      "test_widened_training_network_keeps_both_heads",
                      "test_a_network_widened_to_its_own_width_is_a_copy",
                      "test_widening_a_cell_leaves_the_fresh_weights_it_was_given_as_they_were"),
}
MUTATION_FILES = frozenset(f for files in MUTATION_TESTS.values() for f in files)


def pytest_ignore_collect(collection_path, config):
    """Under mutmut (pyproject.toml selects tests/ whole, so that a test file joining the
    set changes no setting of mutmut's and keeps its results) a test file outside
    MUTATION_TESTS is not even imported."""
    if "MUTANT_UNDER_TEST" in os.environ and collection_path.suffix == ".py" \
            and collection_path.name.startswith("test_"):
        return collection_path.name not in MUTATION_FILES or None
    return None


def _only_the_mutation_set(config, items) -> None:
    """mutmut's first pass, its list of the tests and each run: the tests of MUTATION_TESTS'
    files (of those in MUTATION_ONLY, the ones named), the others deselected."""
    def kept(item):
        file = item.nodeid.split("::")[0].rsplit("/", 1)[-1]
        only = MUTATION_ONLY.get(file)
        return file in MUTATION_FILES and (only is None or item.originalname in only)
    dropped = [i for i in items if not kept(i)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [i for i in items if kept(i)]


def _only_the_parts_tests(config, items, patterns: list[str]) -> None:
    """mutmut's clean run (every test that reaches a mutant of the run, unmutated) cut to the
    test files the mutants will be tried against: MUTATION_TESTS' files of the modules that
    `make mutate`'s MUTANTS patterns select (mutmut's mutant names: module.function)."""
    import fnmatch

    files = {f for module, names in MUTATION_TESTS.items()
             if any(fnmatch.fnmatchcase(f"{module}.x_f__mutmut_1", p) for p in patterns)
             for f in names}
    dropped = [i for i in items if i.nodeid.split("::")[0].rsplit("/", 1)[-1] not in files]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [i for i in items if i not in dropped]


def _not_a_listed_equivalent(mutant: str) -> None:
    """A mutant that tests/mutation-equivalent.txt lists as equivalent, pinned by the
    fingerprint of its code, survived every test when it was listed: it is not run again
    (a survivor, reported as equivalent) unless MUTATE_EQUIVALENTS=1. A mutant whose code
    changed no longer matches its pin and runs."""
    from mutation_report import pinned_equivalent

    if os.environ.get("MUTATE_EQUIVALENTS") != "1" and pinned_equivalent(mutant, ROOT):
        pytest.exit(f"{mutant}: listed as equivalent", returncode=0)


def _only_the_modules_tests(config, items, mutant: str) -> None:
    module = mutant.rsplit(".", 1)[0]  # lipread.video.x_read_clip__mutmut_3 -> lipread.video
    files = MUTATION_TESTS.get(module)
    assert files is not None, f"conftest.MUTATION_TESTS names no test files for {module}"
    kept = [i for i in items if i.nodeid.split("::")[0].rsplit("/", 1)[-1] in files]
    if not kept:  # mutmut's code for "no tests": not a kill
        pytest.exit(f"no test of {', '.join(files)} reaches {mutant}", returncode=33)
    config.hook.pytest_deselected(items=[i for i in items if i not in kept])
    items[:] = kept


def _fastest_first(items) -> None:
    """Under a mutant (mutmut runs its tests with -x), the tests that reach it run quickest
    first, by the durations of mutmut's first pass: a mutant is killed by its first failing
    test, so most are killed in a second or two instead of after the slow ones."""
    import json

    stats = Path("mutmut-stats.json")  # mutmut runs the tests from its mutants/ folder
    if not stats.is_file():
        return
    durations = json.loads(stats.read_text()).get("duration_by_test", {})
    items.sort(key=lambda item: durations.get(item.nodeid, float("inf")))


def pytest_collection_finish(session):
    """mutmut's fork server collects the tests once and forks each mutant's run from it:
    TensorFlow imported there (3-4 s) is imported for every mutant. Importing is safe to
    fork; running it is not (its thread pools start on the first op)."""
    if session.config.option.collectonly and "mutmut" in sys.modules:
        import tensorflow  # noqa: F401


def _grid_problem(folder: Path) -> str | None:
    for need in ("s1", "alignments/s1"):
        if not (folder / need).is_dir():
            return f"no {need}/ folder"
    for need in ("splits/train.txt", "splits/test.txt"):
        if not (folder / need).is_file():
            return f"no {need}"
    return None


CHILD_HITS = None  # under mutmut's first pass: where children write the functions they ran


def _children_with_mutmut_stats() -> None:
    """mutmut's first pass ("stats": which tests reach which function) is traced in this
    process; a Python child (a `lipread` command a test runs) records its own through
    tests/mutation_child/sitecustomize.py, and pytest_runtest_teardown below adds them
    to the test. Under a mutant, children run the mutant, as this process does. (mutmut
    collects the tests before its first pass, in this process: this conftest is imported
    once, before MUTANT_UNDER_TEST says "stats", so the pass is told apart at each start.)"""
    import tempfile

    site = str(Path(__file__).with_name("mutation_child"))
    real_init = subprocess.Popen.__init__

    def init(self, *args, env=None, **kwargs):
        global CHILD_HITS
        if os.environ.get("MUTANT_UNDER_TEST") == "stats":
            CHILD_HITS = CHILD_HITS or tempfile.mkdtemp(prefix="lipread-mutmut-hits-")
            env = dict(os.environ if env is None else env)
            env["MUTMUT_CHILD_HITS"], env["MUTANT_UNDER_TEST"] = CHILD_HITS, "stats"
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [site, env.get("PYTHONPATH")]))
        real_init(self, *args, env=env, **kwargs)
    subprocess.Popen.__init__ = init


FIXTURE_SECONDS: dict = {}  # under mutmut's first pass: each fixture's longest setup


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
    begun = time.perf_counter()
    yield
    if os.environ.get("MUTANT_UNDER_TEST") == "stats":
        spent = time.perf_counter() - begun
        FIXTURE_SECONDS[fixturedef.argname] = max(FIXTURE_SECONDS.get(fixturedef.argname, 0),
                                                  spent)


@pytest.hookimpl(trylast=True)
def pytest_runtest_makereport(item, call):
    """mutmut times a test by its call alone, and under a mutant runs the quickest first
    with a time limit from those times: a test whose module fixture trains for minutes
    (paid by whichever of its tests runs first in a mutant's process) looked quick, ran
    first and hit the limit. Each test's time here includes its fixtures' setups."""
    if call.when == "call" and os.environ.get("MUTANT_UNDER_TEST") == "stats":
        from mutmut.state import state

        durations = state().duration_by_test
        if item.nodeid in durations:
            durations[item.nodeid] += sum(FIXTURE_SECONDS.get(name, 0.0)
                                          for name in item.fixturenames)


def pytest_runtest_logreport(report):
    """A test that fails in mutmut's first pass stops it ("failed to collect stats"), and
    mutmut shows no test output: the failure goes to mutants/stats-failures.txt."""
    if report.failed and os.environ.get("MUTANT_UNDER_TEST") == "stats":
        with open("stats-failures.txt", "a", encoding="utf-8") as f:
            f.write(f"{report.nodeid} ({report.when})\n{report.longreprtext}\n\n")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item):
    """The functions this test's children ran, handed to mutmut before it files the
    test's own (its teardown hook runs after this one)."""
    if CHILD_HITS is None:
        return
    from mutmut.state import state

    for path in Path(CHILD_HITS).glob("*.hits"):
        state()._stats.update(path.read_text().split())
        path.unlink()


if os.environ.get("MUTANT_UNDER_TEST"):
    _children_with_mutmut_stats()
    # mutmut forks a process per mutant: a decoding process started before the fork would
    # be shared by them; readings decode in a thread (test_feeds starts its own workers)
    os.environ["LIPREAD_DECODE_PROCESS"] = "0"


LOADERS = ("lipread.face", "lipread.mouth", "lipread.landmarks", "lipread.pipeline")  # their caches load models


@pytest.fixture(autouse=True)
def fresh_caches_under_mutation():
    """Under `make mutate`, every test starts with lipread's functools caches empty: a graph
    or a model cached by an earlier test would hide which tests reach the code that builds
    it (mutmut's first pass) and, in a process that ran the unchanged code, hide a mutant."""
    if os.environ.get("MUTANT_UNDER_TEST"):
        for name, module in list(sys.modules.items()):
            if name in LOADERS:  # models read from files, by code never mutated: kept
                continue
            if name == "lipread" or name.startswith("lipread."):
                for value in list(vars(module).values()):
                    if callable(getattr(value, "cache_clear", None)):
                        value.cache_clear()
    yield


@pytest.fixture(scope="session", autouse=True)
def quick_face_models():
    """dlib's face models in their quickly loaded forms (face._models: the detector saved,
    the 68-point predictor converted, ~5 s once) built in the user's default cache, where
    runs whose LIPREAD_CACHE_DIR is a test's fresh folder also find them (cache.find)."""
    from lipread import face

    saved = os.environ.pop("LIPREAD_CACHE_DIR", None)
    try:
        face._detector()
        face.landmark_model(face.predictor_path())
    finally:
        if saved is not None:
            os.environ["LIPREAD_CACHE_DIR"] = saved


@pytest.fixture(scope="session")
def grid_dir() -> Path:
    problem = _grid_problem(GRID_DIR)
    if problem:
        message = (f"GRID data not found at {GRID_DIR} ({problem}): set LIPREAD_DATA_DIR "
                   "to a folder laid out like the tutorial's data (s1/, alignments/s1/, "
                   "splits/), or fetch one with `lipread download data`")
        if in_ci():  # CI must never pass by skipping every test that reads data
            pytest.fail(f"CI=true: {message}", pytrace=False)
        pytest.skip(message)
    return GRID_DIR


@pytest.fixture(scope="session")
def others_dir() -> Path:
    """../shared/others: ten clips each of GRID speakers s26 and s31, with alignments."""
    if not sorted(OTHERS_DIR.glob("s*/*.mpg")):
        message = f"no clips of other speakers in {OTHERS_DIR} (set LIPREAD_OTHERS_DIR)"
        if in_ci():
            pytest.fail(f"CI=true: {message}", pytrace=False)
        pytest.skip(message)
    return OTHERS_DIR


@pytest.fixture(scope="session")
def test_names(grid_dir) -> list[str]:
    from lipread import grid

    return grid.read_names(grid_dir / "splits" / "test.txt")


@pytest.fixture(scope="session")
def train_names(grid_dir) -> list[str]:
    from lipread import grid

    return grid.read_names(grid_dir / "splits" / "train.txt")


def ffmpeg_exe() -> str:
    """The ffmpeg binary of imageio-ffmpeg (the test set's): tests make and probe videos
    with it, beside the PyAV the project writes with."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@pytest.fixture(scope="session")
def ffmpeg_encode():
    """encode(src, dst, *codec args) -> dst: imageio-ffmpeg's ffmpeg, an argument list."""
    import imageio_ffmpeg

    exe = imageio_ffmpeg.get_ffmpeg_exe()

    def encode(src, dst, *args) -> Path:
        proc = subprocess.run([exe, "-nostdin", "-loglevel", "error", "-y", "-i", str(src),
                               *map(str, args), str(dst)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"ffmpeg {src} -> {dst} failed: {proc.stderr[-2000:]}"
        return Path(dst)
    return encode


@pytest.fixture(scope="session")
def shipped_probs(grid_dir, test_names) -> dict:
    """The shipped network's (75, 41) output for each test clip, through the CLI's pipeline."""
    import numpy as np

    from lipread import grid, pipeline, video
    from lipread.model import loader

    if not loader.DEFAULT_WEIGHTS["lipnet"].is_file():
        pytest.fail(f"{loader.DEFAULT_WEIGHTS['lipnet']} is missing: the shipped weights")
    kept = _kept_under_mutation()
    if kept is not None and kept.is_file():
        with np.load(kept) as saved:
            return {n: saved[n] for n in test_names}
    model = loader.load_model("lipnet")
    frames = np.stack([video.load_video(grid.video_path(grid_dir, n)) for n in test_names])
    probs = dict(zip(test_names, pipeline.predict_probs(model, frames)))
    if os.environ.get("MUTANT_UNDER_TEST") == "stats":  # the unchanged code's, kept
        np.savez(MUTATION_PROBS, **probs)
    return probs


# Under `make mutate`: shipped_probs of the first pass (the unchanged code), reused by every
# mutant. Tests that take them judge what is done with the probabilities (the decoders, the
# scores); the reading pipeline's mutants are judged by the tests that read videos themselves
# (reading all 100 test clips again for each of them would take hours).
MUTATION_PROBS = ROOT / "mutmut-shipped-probs.npz"


def _kept_under_mutation() -> Path | None:
    """MUTATION_PROBS while a mutant runs (mutmut names its other passes "stats", "fail",
    "list_all_tests", ...)."""
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    return MUTATION_PROBS if "__mutmut_" in mutant else None


def made_once(name: str, tmp_path_factory, make) -> Path:
    """A folder of test inputs that `make(folder)` writes with ffmpeg, never with the code
    under test. Under `make mutate` the first pass (the unchanged code) makes it and every
    mutant reuses it: re-encoding the same clips for each mutant would take hours."""
    import shutil

    kept = ROOT / "mutmut-made" / name
    if _kept_under_mutation() and (kept / ".complete").is_file():
        return kept
    folder = tmp_path_factory.mktemp(name)
    make(folder)
    if os.environ.get("MUTANT_UNDER_TEST") == "stats":
        shutil.rmtree(kept, ignore_errors=True)
        shutil.copytree(folder, kept)
        (kept / ".complete").touch()
    return folder


@pytest.fixture(scope="session")
def shipped_readings(shipped_probs) -> dict[str, str]:
    """What the shipped network reads (the default decoder) in each test clip: the page
    must show it."""
    from lipread import decoding

    return {n: decoding.decode(p, decoding.DEFAULT) for n, p in shipped_probs.items()}


@pytest.fixture(scope="session")
def read_right_clip(grid_dir, shipped_probs) -> tuple[str, str]:
    """(clip, decoder): a test clip the shipped network reads right, greedy first."""
    from lipread import decoding, grid

    for decoder in decoding.DECODERS:
        for name, probs in shipped_probs.items():
            truth = grid.load_sentence(grid.alignment_path(grid_dir, name))
            if decoding.decode(probs, decoder) == truth:
                return name, decoder
    pytest.fail("the shipped weights read no test clip right with any decoder, where "
                "models/README.md measures ~90% of their words right: they are broken")


def open_page(view: str, timeout: int = 300, visitor: str | None = None):
    """AppTest of app.py switched to `view` (views/<page>.py), run without an exception;
    `visitor`: the browser's token in the address (a reload of that browser)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    if visitor is not None:
        at.query_params["visitor"] = visitor
    at.run()
    at.switch_page(view).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def webrtc_in_apptest(monkeypatch):
    """streamlit-webrtc's component under AppTest, whose Runtime is a Mock without
    sessions: the component's own answer when there is no Runtime (no session info)."""
    from lipread.live.webrtc import streamlit_webrtc

    streamlit_webrtc()  # imported safely beside TensorFlow
    monkeypatch.setattr("streamlit_webrtc.component.get_this_session_info", lambda: None)


# --- the app served on 127.0.0.1, for the browser tests ------------------------------------

APP_START_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_url(grid_dir, tmp_path):
    """`streamlit run app.py` with the data directory set; always stopped afterwards."""
    port = free_port()
    env = {**os.environ, "LIPREAD_DATA_DIR": str(grid_dir),
           "LIPREAD_CACHE_DIR": str(tmp_path / "videos"), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("LIPREAD_WEIGHTS", None)
    # the machine's own profiles never show in a test's page (a test may set its own)
    env.setdefault("LIPREAD_PROFILES_DIR", str(tmp_path / "profiles"))
    log = open(tmp_path / "streamlit.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + APP_START_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("streamlit did not come up:\n"
                            + (tmp_path / "streamlit.log").read_text(errors="replace"))
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
