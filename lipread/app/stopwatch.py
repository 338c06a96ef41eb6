"""One page run's seconds per step, and when it reached its milestones."""
from __future__ import annotations

import contextlib
import time


class Stopwatch:
    """One run's seconds per step, and when the run reached its milestones."""

    def __init__(self):
        self.start = time.perf_counter()
        self.steps: dict[str, float] = {}
        self.marks: dict[str, float] = {}
        self.notes: list[str] = []

    @contextlib.contextmanager
    def step(self, name: str):
        begun = time.perf_counter()
        try:
            yield
        finally:
            self.steps[name] = self.steps.get(name, 0.0) + time.perf_counter() - begun

    def mark(self, name: str) -> None:
        self.marks[name] = time.perf_counter() - self.start

    def note(self, text: str) -> None:
        self.notes.append(text)

    def summary(self) -> str:
        return " · ".join([f"{k} {v:.2f} s" for k, v in self.steps.items()]
                          + [f"{k} after {v:.2f} s" for k, v in self.marks.items()]
                          + self.notes)
