"""The `lipread` command: `lipread <verb> [flags]`, each verb a module of this package."""
from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import sys
from pathlib import Path

from lipread.cli import common

PROG = "lipread"
VERBS = ("predict", "evaluate", "enroll", "train", "download", "preprocess", "splits", "bench",
         "refilm", "export")


def verb_module(verb: str):
    return importlib.import_module(f"lipread.cli.{verb}")


def summary(verb: str) -> str:
    """A verb's line in `lipread --help`: the first paragraph of its module's docstring, on
    one line, read from the module's source without importing it (fast, and a verb whose
    imports fail is still listed); "" where there is none."""
    doc = None
    try:
        spec = importlib.util.find_spec(f"{__package__}.{verb}")
        if spec is not None and str(spec.origin).endswith(".py"):
            doc = ast.get_docstring(ast.parse(Path(spec.origin).read_text(encoding="utf-8")))
        else:
            doc = verb_module(verb).__doc__
    except (ImportError, OSError, SyntaxError, ValueError):
        pass
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def usage() -> str:
    """`lipread --help`: every verb with its summary, a whole sentence on one line."""
    width = max(map(len, VERBS))
    lines = [f"usage: {PROG} <verb> [flags]   ({PROG} <verb> --help for a verb's flags)", "",
             "Read lips in GRID-style videos: predict, evaluate, train, and the tools around "
             "them.", "", "verbs:"]
    lines += [f"  {verb:<{width}}  {summary(verb)}".rstrip() for verb in VERBS]
    lines += ["", "exit status: 0 success, 1 a failure while running, 2 bad input or usage"]
    return "\n".join(lines)


def main(argv=None) -> int:
    """Run a verb; stdout closed early (`lipread --help | head -1`) ends it without a
    traceback, exit status 1."""
    try:
        try:
            return run(argv)
        finally:
            sys.stdout.flush()  # here, where a closed pipe can be caught
    except BrokenPipeError:
        # What is still buffered goes nowhere, instead of failing again at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return common.EXIT_FAILED


def run(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(usage())
        return common.EXIT_OK
    if not argv or argv[0] not in VERBS:
        said = f"unknown verb {argv[0]!r}" if argv else "no verb given"
        print(usage(), file=sys.stderr)
        common.error(PROG, f"{said}: choose one of {', '.join(VERBS)}")
        return common.EXIT_BAD_INPUT
    return verb_module(argv[0]).cli(argv[1:])
