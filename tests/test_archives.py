"""lipread/corpus/archives.py's checks called in this process, on small real zips written
into tmp_path: check_zip's word for each kind of bad download (exact message and class),
check_members' caps at their edges (the caps monkeypatched small), _data_end read from the
local header, extract, and glob_escape. The subprocess tests (test_download.py,
test_hostile_archives.py) show the same refusals end to end; these pin every detail.
"""
from __future__ import annotations

import math
import struct
import warnings
import zipfile

import pytest
from test_hostile_archives import overlapping

from lipread.corpus import archives

DRIVE = ("Google Drive may have hit its daily download quota for this file: try again "
         "later, or download https://drive.google.com/uc?id=abc123 in a browser and pass it "
         "with --zip")
QUOTA = ("a quota, login or error page? Check the URL, or download the file in a browser and "
         "pass it with --zip")


def make_zip(path, members, method=zipfile.ZIP_STORED):
    """A zip of `members` ({name: bytes}), in that order."""
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def patch(path, at, new):
    """Overwrite the zip's bytes from offset `at` with `new`."""
    data = bytearray(path.read_bytes())
    data[at:at + len(new)] = new
    path.write_bytes(bytes(data))
    return path


def set_compress_size(path, index, size):
    """Rewrite member `index`'s compressed size in the central directory only."""
    data = path.read_bytes()
    eocd = data.rindex(b"PK\x05\x06")
    at = struct.unpack("<I", data[eocd + 16:eocd + 20])[0]
    for _ in range(index):
        at += 46 + sum(struct.unpack("<3H", data[at + 28:at + 34]))
    return patch(path, at + 20, struct.pack("<I", size))


def packed_size(path):
    """The first member's compressed size."""
    with zipfile.ZipFile(path) as zf:
        return zf.infolist()[0].compress_size


def error(fn, *args):
    """The class and message of the DownloadError fn(*args) raises."""
    with pytest.raises(archives.DownloadError) as info:
        fn(*args)
    return type(info.value), str(info.value)


def members_check(path):
    """check_members on the zip at path."""
    with zipfile.ZipFile(path) as zf:
        return archives.check_members(path, zf)


def refused(path, what):
    """The class and message of check_members' refusal for `what`."""
    return archives.Refused, (f"{path.name}: refused, nothing extracted: {what}; this is not "
                              "the archive it should be (check --url or --zip)")


@pytest.mark.parametrize("members", [{"a.txt": b"alpha", "b/c.txt": b"gamma" * 99}, {}])
def test_a_good_zip_passes(tmp_path, members):
    path = make_zip(tmp_path / "good.zip", members, zipfile.ZIP_DEFLATED)
    assert archives.check_zip(path, "abc123") is None


def test_an_empty_download(tmp_path):
    (tmp_path / "e.zip").write_bytes(b"")
    assert error(archives.check_zip, tmp_path / "e.zip", "abc123") == (
        archives.DownloadError, "e.zip: the download is empty (0 bytes)")


@pytest.mark.parametrize("page, url, hint, said", [
    (b"\r\n <!DOCTYPE html>\n<head><title>Quota</title></head>", None, None, DRIVE),
    (b"\n  <?xml version='1.0'?>\n<HTML lang=en><body>", "http://x/d.zip", None, QUOTA),
    (b"<html><body>Sign in</body></html>", "http://x/d.zip", "log in first", "log in first"),
    (b"x" * 251 + b"<html>", None, None, DRIVE),  # "<html" ends at byte 256: still seen
])
def test_an_html_page(tmp_path, page, url, hint, said):
    (tmp_path / "d.zip").write_bytes(page)
    assert error(archives.check_zip, tmp_path / "d.zip", "abc123", url, hint) == (
        archives.DownloadError, f"d.zip: got an HTML page, not the zip; {said}")


@pytest.mark.parametrize("data, kind, start", [
    (b"GIF89a\x01\x00\x01\x00\x00", "not a zip archive", r"b'GIF89a\x01\x00'"),
    (b"x" * 252 + b"<html>", "not a zip archive", "b'xxxxxxxx'"),  # past the first 256
    (b" " * 1020 + b"<html>", "not a zip archive", "b'        '"),  # past the 1024 read
    (b"PK\x03\x04\n\x00\x00\x00\x00\x00", "truncated or corrupt zip",
     r"b'PK\x03\x04\n\x00\x00\x00'"),
])
def test_not_a_zip(tmp_path, data, kind, start):
    (tmp_path / "d.zip").write_bytes(data)
    assert error(archives.check_zip, tmp_path / "d.zip", "abc123") == (
        archives.DownloadError, f"d.zip: {kind} ({len(data)} bytes, starting {start})")


def test_a_member_failing_its_crc(tmp_path):
    path = make_zip(tmp_path / "crc.zip", {"a.txt": b"alpha", "b.txt": b"bravo"})
    patch(path, 40 + 30 + 5, b"B")  # b.txt's first byte: after a.txt, a header, a name
    assert error(archives.check_zip, path, None) == (
        archives.DownloadError, "crc.zip: corrupt zip: b.txt fails its CRC check")


def test_a_member_without_its_local_header(tmp_path):
    path = make_zip(tmp_path / "hdr.zip", {"a.txt": b"alpha", "b.txt": b"bravo"})
    patch(path, 40, b"XXXX")  # b.txt's local header signature
    assert error(archives.check_zip, path, None) == (
        archives.DownloadError, "hdr.zip: corrupt zip (b.txt: no local header at offset 40)")


def test_a_damaged_deflate_stream(tmp_path):
    path = make_zip(tmp_path / "z.zip", {"a.txt": b"alpha" * 50}, zipfile.ZIP_DEFLATED)
    patch(path, 30 + 5, b"\xff")  # the first block's type: 3, reserved
    assert error(archives.check_zip, path, None) == (
        archives.DownloadError, "z.zip: corrupt zip (error: Error -3 while decompressing "
                                "data: invalid block type)")


def test_check_zip_passes_a_refusal_on(tmp_path):
    path = make_zip(tmp_path / "dup.zip", {"a/": b"", "a": b"x"})
    assert error(archives.check_zip, path, None) == refused(path, "'a' is in it twice")


def test_as_many_members_as_allowed(tmp_path, monkeypatch):
    monkeypatch.setattr(archives, "MAX_MEMBERS", 1000)
    path = make_zip(tmp_path / "m.zip", {f"{i}": b"" for i in range(1000)})
    assert members_check(path) is None
    path = make_zip(path, {f"{i}": b"" for i in range(1001)})
    assert error(members_check, path) == refused(
        path, "1,001 members, more than the 1,000 allowed")


def test_a_member_as_big_as_allowed(tmp_path, monkeypatch):
    monkeypatch.setattr(archives, "MAX_MEMBER_BYTES", 99_999)
    assert members_check(make_zip(tmp_path / "b.zip", {"big": bytes(99_999)})) is None
    path = make_zip(tmp_path / "b.zip", {"big": bytes(100_000)})
    assert error(members_check, path) == refused(
        path, "big would unpack to 0.1 MB, more than the 100 kB one member may")


def test_small_members_may_compress_as_they_like(tmp_path, monkeypatch):
    monkeypatch.setattr(archives, "RATIO_FROM_BYTES", 100_000)
    path = make_zip(tmp_path / "r.zip", {"zeros": bytes(100_000)}, zipfile.ZIP_DEFLATED)
    assert members_check(path) is None  # ~1000x, but not over RATIO_FROM_BYTES
    path = make_zip(tmp_path / "r.zip", {"zeros": bytes(100_001)}, zipfile.ZIP_DEFLATED)
    ratio = 100_001 // packed_size(path)
    assert error(members_check, path) == refused(
        path, f"zeros would unpack {ratio:,} times its size (a zip bomb; at most 100x)")


def test_a_ratio_of_max_ratio_passes(tmp_path, monkeypatch):
    """Stored members unpack exactly 1x their size: at MAX_RATIO 1, not over it."""
    monkeypatch.setattr(archives, "RATIO_FROM_BYTES", 0)
    monkeypatch.setattr(archives, "MAX_RATIO", 1)
    assert members_check(make_zip(tmp_path / "s.zip", {"a": b"stored", "b": b"too"})) is None


def test_a_ratio_just_over_max_ratio(tmp_path, monkeypatch):
    path = make_zip(tmp_path / "r.zip", {"zeros": bytes(3000)}, zipfile.ZIP_DEFLATED)
    packed = packed_size(path)
    edge = math.ceil(3000 / packed)  # the least MAX_RATIO that lets it through
    monkeypatch.setattr(archives, "RATIO_FROM_BYTES", 0)
    monkeypatch.setattr(archives, "MAX_RATIO", edge - 1)
    assert error(members_check, path) == refused(
        path, f"zeros would unpack {3000 // packed} times its size (a zip bomb; at most "
              f"{edge - 1}x)")


def test_no_compressed_bytes_count_as_one(tmp_path, monkeypatch):
    monkeypatch.setattr(archives, "RATIO_FROM_BYTES", 100)
    path = set_compress_size(make_zip(tmp_path / "z.zip", {"a": bytes(150)}), 0, 0)
    assert error(members_check, path) == refused(
        path, "a would unpack 150 times its size (a zip bomb; at most 100x)")


def test_members_as_big_as_allowed_in_all(tmp_path, monkeypatch):
    monkeypatch.setattr(archives, "MAX_TOTAL_BYTES", 3000)
    three = {f"{i}": bytes(1000) for i in range(3)}
    assert members_check(make_zip(tmp_path / "t.zip", three)) is None
    path = make_zip(tmp_path / "t.zip", {**three, "one more": b"x"})
    assert error(members_check, path) == refused(
        path, "its members would unpack to more than 3 kB")


def test_a_name_twice(tmp_path):
    path = tmp_path / "dup.zip"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate: that is the point
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("a.txt", b"one")
            zf.writestr("a.txt", b"two")
    assert error(members_check, path) == refused(path, "'a.txt' is in it twice")


def test_a_name_twice_but_for_a_trailing_slash(tmp_path):
    """Only the '/' comes off before names are compared: BOX keeps its X."""
    path = make_zip(tmp_path / "dup.zip", {"data/BOX": b"x", "data/BOX/": b""})
    assert error(members_check, path) == refused(path, "'data/BOX' is in it twice")


def test_overlapping_members(tmp_path):
    path = overlapping(tmp_path / "o.zip", ["b.mpg", "a.mpg"], bytes(4096))
    assert error(members_check, path) == refused(
        path, "members a.mpg and b.mpg share bytes (an overlapping zip)")


def test_a_member_running_into_the_central_directory(tmp_path):
    path = make_zip(tmp_path / "cd.zip", {"a": b"1", "b": b"2", "c": b"3"})
    set_compress_size(path, 2, 2)
    assert error(members_check, path) == refused(
        path, "member c runs into the central directory")


def test_data_end_reads_the_local_header(tmp_path):
    """A member streamed with force_zip64 has a 20-byte zip64 extra field in its local
    header only: its end, and the next member's start, count it."""
    path = tmp_path / "e.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("plain", b"12345")
        with zf.open("zip64", "w", force_zip64=True) as f:
            f.write(b"abcdefg")
    with zipfile.ZipFile(path) as zf:
        plain, big = zf.infolist()
        assert big.extra == b"" and path.read_bytes()[40 + 28:40 + 30] == b"\x14\x00"
        assert archives._data_end(zf, plain) == 0 + 30 + 5 + 0 + 5 == big.header_offset
        assert archives._data_end(zf, big) == 40 + 30 + 5 + 20 + 7 == zf.start_dir


def test_extract_lands_the_files_in_the_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = make_zip(tmp_path / "x.zip", {"a.txt": b"alpha", "sub/b.txt": b"bravo"})
    archives.extract(path, tmp_path / "into")
    landed = {p.relative_to(tmp_path).as_posix(): p.read_bytes()
              for p in tmp_path.rglob("*") if p.is_file()}
    assert landed == {"x.zip": path.read_bytes(), "into/a.txt": b"alpha",
                      "into/sub/b.txt": b"bravo"}


def test_extract_a_corrupt_zip(tmp_path):
    (tmp_path / "t.zip").write_bytes(b"PK\x03\x04 and then nothing")
    assert error(archives.extract, tmp_path / "t.zip", tmp_path / "into") == (
        archives.DownloadError, "t.zip: corrupt zip (File is not a zip file)")
    assert not (tmp_path / "into").exists()


@pytest.mark.parametrize("text, escaped", [
    ("a*b?c[d]e", "a[*]b[?]c[[]d]e"), ("lipread-s1-", "lipread-s1-"), ("", "")])
def test_glob_escape(text, escaped):
    assert archives.glob_escape(text) == escaped


def test_glob_escape_matches_the_literal_name_only(tmp_path):
    for name in ("p[1]*?", "p1xx", "p[1]ab"):
        (tmp_path / name).touch()
    assert sorted(p.name for p in tmp_path.glob("p[1]*?")) == ["p1xx"]
    assert [p.name for p in tmp_path.glob(archives.glob_escape("p[1]*?"))] == ["p[1]*?"]
