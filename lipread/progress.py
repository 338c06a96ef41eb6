"""Progress of a long run: one line redrawn on a terminal (`\\r`, on stderr), plain lines
now and then in a log. Either items counted to a total (clips cropped: their rate and the
time left), or bytes per file and overall (downloads, each in a thread). Sizes and times
the way people read them (megabytes, clock).
"""
from __future__ import annotations

import shutil
import sys
import threading
import time

REDRAW_S = 0.2  # a live line is redrawn at most this often
PLAIN_EVERY = 0.1  # without a terminal, a count's line at each tenth of the way
PLAIN_MIN_TOTAL = 50  # ... for runs this long; shorter ones get the closing line only
FILE_STEPS = 4  # without a terminal, a file's line at each quarter of it


def megabytes(n: int | None) -> str:
    if n is None or n < 1e5:
        return "? MB" if n is None else f"{n / 1e3:.0f} kB"
    return f"{n / 1e6:.1f} MB" if n < 1e9 else f"{n / 1e9:.2f} GB"


def clock(seconds: float) -> str:
    """MM:SS, or H:MM:SS from an hour on."""
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60:02d}:{rest % 60:02d}"


class Progress:
    """Work done of `total`, thread-safe, fed one of two ways:

    - what="cropped" (a verb): count(done, failed) of `total` items (`unit`); the line is
      done/total, items/s and the time left, and close() says how long it took. Without a
      terminal, a plain line at each tenth of the way (runs of PLAIN_MIN_TOTAL items or
      more) and one at the end.
    - what=None: begin/update/end(name, ...) as `total` files are fetched; the line is a
      bar per file being fetched, then all of them. Without a terminal, a plain line per
      file at each quarter, and one with the files done so far at the end of each.

    The live line goes to `stream` (stderr); plain lines and say() to `log`, a print-like
    function (None: print on the stream).
    """

    def __init__(self, total: int, log=None, live: bool | None = None, *, stream=None,
                 what: str | None = None, unit: str = "clips"):
        self.total, self.what, self.unit, self.stream = total, what, unit, stream
        self.log = log or (lambda *args, **kwargs: print(*args, file=self.out, **kwargs))
        self.live = self.out.isatty() if live is None else live
        self.lock, self.start, self.drawn = threading.Lock(), time.monotonic(), 0.0
        self.done = self.failed = self.shown = 0
        self.size, self.got, self.steps, self.active = {}, {}, {}, []

    @property
    def out(self):
        """Where the live line goes: `stream`, or stderr as it is now."""
        return self.stream or sys.stderr

    # --- items counted ---------------------------------------------------------------

    def count(self, done: int, failed: int = 0) -> None:
        """`done` items of the total so far, `failed` of them skipped."""
        with self.lock:
            self.done, self.failed = done, failed
            if self.live:
                if time.monotonic() - self.drawn >= REDRAW_S or done == self.total:
                    self._draw()
            elif self.total >= PLAIN_MIN_TOTAL:
                step = int(done / self.total / PLAIN_EVERY)
                if step > self.shown and done < self.total:
                    self.shown = step
                    self.log(self.line(), flush=True)

    def _count_line(self, end: bool) -> str:
        elapsed = time.monotonic() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else None
        failed = f", {self.failed} skipped" if self.failed else ""
        head = (f"{self.what} {self.done}/{self.total} {self.unit} "
                f"({self.done / self.total:.0%}){failed}  {rate:.1f} {self.unit}/s")
        if end:
            return f"{head}  in {clock(elapsed)}"
        return f"{head}  ETA {'--:--' if left is None else clock(left)}"

    # --- files fetched, bytes by bytes ---------------------------------------------------

    def begin(self, name: str, have: int, total: int | None) -> None:
        """File `name` starts (or resumes at `have` bytes) of `total` bytes (None: unknown)."""
        with self.lock:
            self.size[name], self.got[name] = total, have
            self.steps[name] = FILE_STEPS * have // total if total else 0
            self.active.append(name)
            if not self.live:
                start = f"resuming at {megabytes(have)} of" if have else "downloading"
                self.log(f"{name}: {start} {megabytes(total)}", flush=True)

    def update(self, name: str, n: int) -> None:
        """`n` more bytes of file `name`."""
        with self.lock:
            self.got[name] += n
            got, total = self.got[name], self.size[name]
            if self.live and time.monotonic() - self.drawn >= REDRAW_S:
                self._draw()
            elif not self.live and total and \
                    self.steps[name] < FILE_STEPS * got // total < FILE_STEPS:
                self.steps[name] = FILE_STEPS * got // total
                self.log(f"{name}: {100 * self.steps[name] // FILE_STEPS}% ({megabytes(got)} "
                         f"of {megabytes(total)})", flush=True)

    def end(self, name: str, ok: bool = True) -> None:
        """File `name` is done (ok) or given up."""
        with self.lock:
            if name not in self.active:  # it ended before it began (an error answer)
                return
            self.active.remove(name)
            self.done += ok
            if self.live:
                self._draw()
            elif ok:
                self.log(f"{name}: {megabytes(self.got[name])} | all: {self.done} of "
                         f"{self.total} files, {megabytes(sum(self.got.values()))}", flush=True)

    def _files_line(self) -> str:
        def bar(got, total):
            return f"{got / total:4.0%} [{'#' * (10 * got // total):10}]" if total else \
                megabytes(got)

        known = sum(s or 0 for s in self.size.values())
        line = "  ".join([*(f"{n} {bar(self.got[n], self.size[n])}" for n in self.active),
                          f"| all: {self.done} of {self.total} files "
                          f"{bar(sum(self.got.values()), known)}"])
        return line[-(shutil.get_terminal_size().columns - 1):]

    # --- either ------------------------------------------------------------------------

    def line(self, end: bool = False) -> str:
        """The line as it stands (end: a count's closing line)."""
        return self._count_line(end) if self.what else self._files_line()

    def _draw(self) -> None:
        self.drawn = time.monotonic()
        self.out.write(f"\r{self.line()}\x1b[K")
        self.out.flush()

    def say(self, *args, **kwargs) -> None:
        """log(), without running into the line being redrawn."""
        with self.lock:
            if self.live and self.drawn:
                self.out.write("\r\x1b[K")
            self.log(*args, **kwargs)
            if self.live and self.drawn:
                self._draw()

    def close(self) -> None:
        """Ends the live line; a count's closing line says how long it took."""
        with self.lock:
            if self.what:
                end = self.line(end=True)
                if self.live:
                    self.out.write(f"\r{end}\x1b[K\n")
                else:
                    self.log(end)
            elif self.live and self.drawn:
                self.out.write("\n")
            self.out.flush()
