"""What GRID's own archive holds (Zenodo record 3625687, which corpus.py downloads), read
from each zip's list of members, and which alignments go with a speaker's videos.

sN.zip holds speaker N's videos, alignments.zip every speaker's alignments. Their inner
layout as public code that downloads the record reads it (checked in a code library):
lhotse-speech/lhotse's lhotse/recipes/grid.py unzips every file into one folder, then
reads <folder>/sN/*.mpg and <folder>/alignments/sN/<name>.align; scripts that read single
members of sN.zip read "sN/<name>.mpg" and skip __MACOSX/ entries; all skip speaker 21.
The lhotse recipe (pull requests #1501, #1502, 2025) also found alignments.zip filing
many speakers' alignments under another's folder (s5 and s6 swapped, ...). So a speaker's
alignments come from its own folder when that names its videos, else from the folder that
does, else none (each with a note): never a set that does not match.
"""
from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

from lipread.corpus.archives import DownloadError

ALIGNMENTS_ZIP = "alignments.zip"
MATCH = 0.5  # the share of a speaker's videos its alignment folder must name
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")  # a clip name: GRID's are like bbaf2n


def _members(path: Path, suffix: str):
    """(folder, clip name, member) for each `suffix` file of the zip, macOS litter aside."""
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    for member in names:
        parts = member.split("/")
        stem, ext = os.path.splitext(parts[-1])
        if ext.lower() == suffix and len(parts) > 1 and "__MACOSX" not in parts \
                and NAME.fullmatch(stem):
            yield parts[-2], stem, member


def speaker_videos(path: Path, spk: str) -> dict[str, str]:
    """{clip name: member} of the videos in sN.zip: sN/<name>.mpg (whatever lies above)."""
    found = {stem: member for folder, stem, member in _members(path, ".mpg") if folder == spk}
    if not found:
        raise DownloadError(f"{path.name}: holds no {spk}/<name>.mpg videos (not GRID's "
                            f"{spk}.zip?)")
    return found


def alignment_index(path: Path) -> dict[str, dict[str, str]]:
    """{folder: {clip name: member}} of alignments.zip's alignments/sN/<name>.align."""
    index: dict[str, dict[str, str]] = {}
    for folder, stem, member in _members(path, ".align"):
        if re.fullmatch(r"s\d+", folder):
            index.setdefault(folder, {})[stem] = member
    if not index:
        raise DownloadError(f"{path.name}: holds no alignments/sN/<name>.align files (not "
                            "GRID's alignments.zip?)")
    return index


def pick_alignments(spk: str, videos, index) -> tuple[str | None, str | None]:
    """(folder of alignments.zip holding spk's alignments or None, a note or None)."""
    def share(folder):
        return len(set(videos) & index.get(folder, {}).keys()) / max(1, len(videos))

    if share(spk) >= MATCH:
        return spk, None
    best = max(index, key=share)
    if share(best) >= MATCH:
        return best, (f"{spk}: its alignments are under {best}/ in {ALIGNMENTS_ZIP} (the "
                      "Zenodo record mixes some speakers' folders up); taken from there")
    return None, (f"{spk}: no folder of {ALIGNMENTS_ZIP} names its videos (best: {best}/, "
                  f"{share(best):.0%}); its videos land without alignments")
