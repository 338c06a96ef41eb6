"""What the read page shows: a data clip or an upload, and the picker's train/test labels.

A data clip's truth is its alignment; an upload's truth is only what the user types
("what was said"), never a data clip's alignment, whatever the file is called.
"""
from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from lipread import grid
from lipread.app import files

SPLITS = ("test", "train")  # the data folder's splits/<split>.txt, as the CLI reads them
MAX_LABEL = 80  # characters of an upload's file name shown


@dataclass
class Source:
    """The video on show: a data clip (a path) or an upload (bytes)."""
    label: str
    digest: str
    truth_name: str | None  # a data clip whose alignment holds the truth
    path: Path | None = None
    data: bytes | None = None
    suffix: str = ".bin"
    typed_truth: str | None = None  # an upload's "what was said"

    @property
    def upload(self) -> bool:
        return self.data is not None

    @contextlib.contextmanager
    def file(self):
        if self.path is not None:
            yield self.path
        else:
            with files.temp_copy(self.data, self.suffix) as path:
                yield path


def upload_label(filename: str | None) -> str:
    """The upload's file name as shown: its last part, printable, at most MAX_LABEL long."""
    name = os.path.basename((filename or "").replace("\\", "/"))
    name = re.sub(r"[^\w .,()+-]", "_", name).strip() or "your upload"
    return name if len(name) <= MAX_LABEL else name[:MAX_LABEL - 1] + "…"


def typed_truth(text: str | None) -> str | None:
    """What the user says was said, as the truth: lower case, single spaces; None if empty."""
    words = re.sub(r"[^a-z ]", " ", (text or "").lower()).split()
    return " ".join(words) or None


def split_labels(data_dir) -> dict[str, str]:
    """{clip name: "test" | "train"} from the folder's splits (names as in the split files:
    `bbaf2n` for s1, `s26/bbaf2n` for others); {} when it has none."""
    labels: dict[str, str] = {}
    for split in SPLITS:
        path = Path(data_dir) / "splits" / f"{split}.txt"
        try:
            names = grid.read_names(path) if path.is_file() else []
        except (OSError, ValueError):  # a broken split file: its clips go unlabelled
            names = []
        for name in names:
            labels.setdefault(name, split)
    return labels
