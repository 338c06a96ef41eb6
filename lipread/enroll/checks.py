"""A take checked at once, before anyone trains on it: a face found, lips moving, long
enough; with its mouth crops to show."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lipread import formats, mouth, video

MIN_LIP_MOTION = 0.04  # spread of the lips' opening over the take, in mouth widths (GRID
# speakers 0.10-0.26; a still face ~0)
MAX_SECONDS = 4.5  # longer takes: only the first 3 s are read, the sentence may be cut


@dataclass
class Take:
    crops: np.ndarray | None  # (75, 46, 140) uint8, None when no face was found
    seconds: float  # the video's length
    problems: list[str] = field(default_factory=list)  # empty: fit to train on

    @property
    def ok(self) -> bool:
        return not self.problems


def lip_motion(track) -> float:
    """How much the inner lips open and close: the 5th-95th percentile spread of their gap
    over the mouth's width."""
    opening = mouth.lip_opening(track.mouth_points)
    return float(np.percentile(opening, 95) - np.percentile(opening, 5))


def unplaced(message: str, path) -> str:
    """A message about the take at `path` naming the take's file, never where it is: the
    page shows it to a visitor."""
    path = Path(path)
    for where in (str(path.resolve()), str(path), str(path.parent.resolve()), str(path.parent)):
        if where not in ("", "."):
            message = message.replace(where + "/", "").replace(where, path.name)
    return message


def check_take(path) -> Take:
    """What is wrong with a take, in words a person can act on (Take.problems)."""
    try:
        formats.check_file(path)
        clip = video.read_clip(path)
    except (formats.FormatError, video.VideoError) as err:
        said = formats.without_advice(unplaced(str(err), path))
        return Take(None, 0.0, [f"the video can't be read ({said}); record it again"])
    try:
        view = video.cut_mouth(clip, path=path)
    except video.VideoError as err:
        return Take(None, clip.duration,  # the face's own words say what to do
                    [unplaced(str(err), path).removeprefix(f"{Path(path).name}: ")])
    problems = []
    if clip.duration > MAX_SECONDS:
        problems.append(f"it is {clip.duration:.1f} s long; only the first 3 s are read: "
                        "say the sentence at once, in under 3 s")
    if lip_motion(view.track) < MIN_LIP_MOTION:
        problems.append("the lips hardly move: say the sentence clearly")
    if view.track.faces > 1:
        problems.append(f"{view.track.faces} faces: only yours should be in the picture")
    return Take(view.crops, clip.duration, problems)
