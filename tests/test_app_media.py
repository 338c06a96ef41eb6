"""What the page is made of, without the page: the browser's copy of a video (H.264, upright,
bounded), the word diff between truth and reading, and the model card's figures."""
from __future__ import annotations

import json
import os
import subprocess
import threading

import numpy as np
import pytest

from conftest import ffmpeg_exe
from lipread import grid, scoring
from lipread.app import browser, files, modelcard


def test_browser_copy_is_h264_with_sound_and_shared(grid_dir, test_names, tmp_path,
                                                    monkeypatch):
    monkeypatch.setenv("LIPREAD_CACHE_DIR", str(tmp_path))
    src = grid.video_path(grid_dir, test_names[0])  # the test clips are GRID's own, with sound
    digest = files.sha256_file(src)
    results = []
    threads = [threading.Thread(target=lambda: results.append(browser.to_browser_mp4(src, digest)))
               for _ in range(2)]  # two users converting the same clip at once
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and results[0][0] == results[1][0] == tmp_path / f"{digest}.mp4"
    assert [p.name for p in tmp_path.iterdir()] == [f"{digest}.mp4"]  # no leftovers
    probe = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(results[0][0])],
                           capture_output=True, text=True).stderr
    assert "Video: h264" in probe and "yuv420p" in probe and "Audio: aac" in probe
    assert browser.to_browser_mp4(src, digest) == (results[0][0], False)  # cached
    silent = tmp_path / "silent.mkv"
    subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(src),
                    "-an", "-c:v", "mpeg4", str(silent)], check=True)
    out, _ = browser.to_browser_mp4(silent, files.sha256_file(silent))
    probe = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(out)],
                           capture_output=True, text=True).stderr
    assert "Video: h264" in probe and "Audio:" not in probe


def first_frame(path):
    import av

    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
        return frame.to_ndarray(format="rgb24").astype(np.int16), frame.rotation, c.duration


def test_browser_copy_stands_a_phones_video_upright(tmp_path, monkeypatch):
    """A phone films sideways and says so in the file (a display matrix): the copy is
    turned as the reader (OpenCV) turns it, and carries no rotation of its own."""
    import cv2

    monkeypatch.setenv("LIPREAD_CACHE_DIR", str(tmp_path / "cache"))
    land, phone = tmp_path / "land.mp4", tmp_path / "phone.mp4"
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=s=160x90:r=25:d=2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    str(land)], check=True, timeout=60)
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-display_rotation:v:0",
                    "90", "-i", str(land), "-c", "copy", str(phone)], check=True, timeout=60)
    copy, _ = browser.to_browser_mp4(phone, files.sha256_file(phone))
    shown, rotation, _ = first_frame(copy)
    ok, read = cv2.VideoCapture(str(phone)).read()
    read = read[..., ::-1].astype(np.int16)  # as the page reads it: upright, 90 wide
    assert ok and shown.shape == read.shape == (160, 90, 3) and rotation == 0
    assert np.abs(shown - read).mean() < 10 < np.abs(shown - read[::-1, ::-1]).mean()


def test_browser_copy_of_odd_sized_long_video_is_even_and_a_minute(tmp_path, monkeypatch):
    monkeypatch.setenv("LIPREAD_CACHE_DIR", str(tmp_path / "cache"))
    long = tmp_path / "long.mkv"
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=s=75x49:r=10:d=75", "-c:v", "mpeg4", str(long)],
                   check=True, timeout=120)
    copy, _ = browser.to_browser_mp4(long, files.sha256_file(long))
    shown, _, duration = first_frame(copy)
    assert shown.shape == (48, 74, 3)  # yuv420p takes even sizes
    assert browser.MAX_VIDEO_SECONDS <= duration / 1e6 <= browser.MAX_VIDEO_SECONDS + 0.5


def test_a_file_ffmpeg_cannot_decode_gets_one_line_and_no_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("LIPREAD_CACHE_DIR", str(tmp_path / "cache"))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x20ftypisom" + os.urandom(5000))
    with pytest.raises(browser.ConversionError) as err:
        browser.to_browser_mp4(broken, files.sha256_file(broken))
    said = str(err.value)
    assert said.startswith("could not convert the video for the browser: ") and "\n" not in said
    assert "broken.mp4" in said
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]  # nothing left


def test_word_diff_marks_the_differing_words():
    truth, read = scoring.word_diff("bin blue at f two now", "bin red at two now")
    assert truth == [("bin", True), ("blue", False), ("at", True), ("f", False),
                     ("two", True), ("now", True)]
    assert read == [("bin", True), ("red", False), ("at", True), ("two", True), ("now", True)]


def test_a_word_said_often_in_a_long_reading_still_matches_the_truth():
    """However long the two sides, a word they share is matched: no word is skipped for
    being common (difflib's "autojunk" heuristic drops words over 1% of a 200-word side)."""
    long_read = " ".join([f"w{i}" for i in range(200)] + ["now"] * 5)
    truth, read = scoring.word_diff("bin now", long_read)
    assert truth == [("bin", False), ("now", True)]
    assert [(i, w) for i, (w, ok) in enumerate(read) if ok] == [(200, "now")]


def test_model_card_from_json_readme_or_nothing(tmp_path):
    assert modelcard.read_model_card(tmp_path) == {}
    (tmp_path / "README.md").write_text(
        "# Model\n\n| decoder | test WER | test CER |\n|---|---|---|\n"
        "| greedy | 12.5% | 5.0% |\n| **grammar** | 3.1 % | 1.2 % |\n")
    assert modelcard.read_model_card(tmp_path) == {
        "greedy": {"wer": 0.125, "cer": 0.05}, "grammar": {"wer": 0.031, "cer": 0.012}}
    (tmp_path / "metrics.json").write_text(json.dumps({"beam": {"wer": 0.1, "cer": 0.04}}))
    assert modelcard.read_model_card(tmp_path) == {"beam": {"wer": 0.1, "cer": 0.04}}
    (tmp_path / "metrics.json").write_text("{not json")
    (tmp_path / "README.md").write_bytes(b"\xff\xfe junk")
    assert modelcard.read_model_card(tmp_path) == {}
