"""Hostile archives: a zip bomb, many small members that add up, overlapping members,
duplicate names and an oversized alignment, through `lipread download data --zip` and
through `lipread download grid` from an HTTP server of our own on 127.0.0.1: refused
before anything is extracted, one line, exit 2, nothing landed, nothing left behind,
in bounded memory.
"""
from __future__ import annotations

import functools
import http.server
import os
import struct
import subprocess
import sys
import threading
import warnings
import zipfile
from pathlib import Path

import pytest

from lipread.corpus import archives

ROOT = Path(__file__).resolve().parents[1]
GIB = 1 << 30
MAX_RSS_MB = 600


def zeros_member(zf: zipfile.ZipFile, name: str, size: int) -> None:
    """`size` zero bytes as one deflated member, written as a stream (never in memory)."""
    block = bytes(1 << 20)
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED  # ~1 MB on disk a GiB
    with zf.open(info, "w", force_zip64=True) as f:
        for _ in range(size // len(block)):
            f.write(block)


def overlapping(path: Path, names: list[str], payload: bytes) -> Path:
    """One member's bytes listed under every name of `names`: central directory entries
    that all point at the same local header (the CVE-2024-0450 shape)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(names[0], payload)
    data = path.read_bytes()
    eocd = data.rindex(b"PK\x05\x06")
    cd_size, cd_offset = struct.unpack("<II", data[eocd + 12:eocd + 20])
    entry = data[cd_offset:cd_offset + cd_size]
    name_len = struct.unpack("<H", entry[28:30])[0]
    entries = b"".join(entry[:28] + struct.pack("<H", len(n.encode())) + entry[30:46]
                       + n.encode() + entry[46 + name_len:] for n in names)
    end = bytearray(data[eocd:eocd + 22])
    end[8:12] = struct.pack("<HH", len(names), len(names))
    end[12:20] = struct.pack("<II", len(entries), cd_offset)
    path.write_bytes(data[:cd_offset] + entries + bytes(end))
    return path


@pytest.fixture(scope="module")
def bad_zips(tmp_path_factory, grid_dir, test_names):
    root = tmp_path_factory.mktemp("bad-zips")
    clip = test_names[0]
    made = {}
    with zipfile.ZipFile(root / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zeros_member(zf, f"data/s1/{clip}.mpg", GIB)
        zeros_member(zf, f"data/alignments/s1/{clip}.align", GIB)
    made["bomb"] = root / "bomb.zip"
    made["overlap"] = overlapping(root / "overlap.zip",
                                  [f"data/s1/{clip}{i}.mpg" for i in range(10)], bytes(4096))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate: that is the point
        with zipfile.ZipFile(root / "twice.zip", "w") as zf:
            zf.write(grid_dir / "s1" / f"{clip}.mpg" if (grid_dir / "s1" / f"{clip}.mpg")
                     .exists() else next((grid_dir / "s1").iterdir()), f"data/s1/{clip}.mpg")
            zf.writestr(f"data/s1/{clip}.mpg", b"the second one would win")
    made["twice"] = root / "twice.zip"
    made["many"] = many_small(root / "many.zip", "data/s1", 1100)
    for kind, order in (("clash", (0, 1)), ("clash-after", (1, 0))):
        with zipfile.ZipFile(root / f"{kind}.zip", "w") as zf:  # a file where a folder must be
            members = [("data/s1", b"not a folder"), (f"data/s1/{clip}.mpg", bytes(100))]
            for i in order:
                zf.writestr(*members[i])
        made[kind] = root / f"{kind}.zip"
    return made


def many_small(path: Path, folder: str, count: int) -> Path:
    """`count` members of 999,999 zero bytes: each under the size a member's own ratio is
    checked from, ~1 GB all together from ~1 MB."""
    block = bytes(999_999)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(count):
            zf.writestr(f"{folder}/c{i:04d}.mpg", block)
    return path


def download(*args, cwd=ROOT):
    """`lipread download ...` from a fresh Python whose only child it is, with that child's
    peak RSS (MB) as the last line of stdout."""
    probe = ("import resource, subprocess, sys; "
             "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "sys.stderr.write(p.stderr); sys.stdout.write(p.stdout); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024); "
             "sys.exit(p.returncode)")
    env = {k: v for k, v in os.environ.items()
           if k not in ("LIPREAD_DATA_URL", "LIPREAD_GRID_URL", "LIPREAD_DATA_DIR")}
    proc = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "lipread",
                           "download", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env=env, stdin=subprocess.DEVNULL)
    return proc, int(proc.stdout.strip().splitlines()[-1])


def assert_refused(proc, peak, *fragments):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lipread download: error: "), proc.stderr
    assert "refused, nothing extracted" in lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert peak < MAX_RSS_MB, f"peak RSS {peak} MB"


@pytest.mark.parametrize("kind, fragments", [
    ("bomb", ("would unpack to 1.07 GB", "more than the 250.0 MB")),
    ("overlap", ("share bytes", "an overlapping zip")),
    ("twice", ("is in it twice",)),
    ("many", ("its members would unpack to more than 1.00 GB", "more than it should hold")),
    ("clash", ("member 'data/s1' is a file where other members need a folder",)),
    ("clash-after", ("member 'data/s1' is a file where other members need a folder",)),
])
def test_a_hostile_data_zip_is_refused(bad_zips, tmp_path, kind, fragments):
    assert bad_zips[kind].stat().st_size < 5_000_000  # small on disk: harm only unpacked
    dest = tmp_path / "grid"
    proc, peak = download("data", "--zip", bad_zips[kind], "--data-dir", dest)
    assert_refused(proc, peak, bad_zips[kind].name, *fragments)
    assert list(tmp_path.iterdir()) == []  # nothing landed, no work folder left


def test_members_over_the_archive_budget_are_refused_before_extraction(tmp_path):
    """Members that do not compress, each small, but more than the archive should hold
    all together: refused from the central directory, nothing written."""
    path = tmp_path / "big.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(3):
            zf.writestr(f"data/s1/c{i}.mpg", os.urandom(400_000))
    with pytest.raises(archives.Refused) as caught:
        archives.check_zip(path, None, budget=1_000_000)
    assert "would unpack to more than 1.0 MB, more than it should hold" in str(caught.value)
    archives.check_zip(path, None, budget=2_000_000)  # within its budget: passes


def test_the_caps_hold_what_real_archives_hold(grid_dir, test_names, tmp_path):
    """A zip of real clips and alignments, deflated as the record's are, passes."""
    path = tmp_path / "real.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in test_names[:5]:
            from lipread import grid

            zf.write(grid.video_path(grid_dir, name), f"data/s1/{name}.mpg")
            zf.write(grid.alignment_path(grid_dir, name), f"data/alignments/s1/{name}.align")
    archives.check_zip(path, None)


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def record(tmp_path_factory, bad_zips, grid_dir, test_names):
    """GRID's record as a hostile server has it: s1.zip a bomb of a clip, s26.zip one
    stream listed ten times, alignments.zip honest but for a 300 KB alignment of s31."""
    from lipread import grid

    root = tmp_path_factory.mktemp("record")
    clip = test_names[0]
    with zipfile.ZipFile(root / "s1.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zeros_member(zf, f"s1/{clip}.mpg", GIB)
    overlapping(root / "s26.zip", [f"s26/{clip}{i}.mpg" for i in range(10)], bytes(4096))
    with zipfile.ZipFile(root / "s31.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(grid.video_path(grid_dir, clip), f"s31/{clip}.mpg")
    many_small(root / "s4.zip", "s4", 300)
    with zipfile.ZipFile(root / "alignments.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for spk in ("s1", "s26", "s4"):
            zf.write(grid.alignment_path(grid_dir, clip), f"alignments/{spk}/{clip}.align")
        zf.writestr(f"alignments/s31/{clip}.align", b"0 1000 sil\n" * 30_000)
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("speaker, fragments", [
    ("s1", ("s1.zip", "would unpack to 1.07 GB")),
    ("s26", ("s26.zip", "share bytes")),
    ("s31", ("alignments.zip", "over 64 KB, not a GRID alignment")),
    ("s4", ("s4.zip", "its 300 members would unpack to", "a zip bomb")),
])
def test_a_hostile_grid_record_is_refused(record, tmp_path, speaker, fragments):
    dest = tmp_path / "grid"
    proc, peak = download("grid", "--speakers", speaker, "--url", record, "--data-dir", dest)
    assert_refused(proc, peak, *fragments)
    landed = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert landed == [], landed  # no sN/, no .complete, no .downloads/
