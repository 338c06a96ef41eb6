"""The `lipread` command: `lipread <verb> [flags]`, each verb a module of this package."""
from __future__ import annotations

import importlib
import sys

from lipread.cli import common

PROG = "lipread"
VERBS = ("predict", "evaluate", "enroll", "train", "download", "preprocess", "splits", "bench",
         "refilm", "export")


def verb_module(verb: str):
    return importlib.import_module(f"lipread.cli.{verb}")


def usage() -> str:
    """`lipread --help`: every verb with the first line of its module's docstring."""
    width = max(map(len, VERBS))
    lines = [f"usage: {PROG} <verb> [flags]   ({PROG} <verb> --help for a verb's flags)", "",
             "Read lips in GRID-style videos: predict, evaluate, train, and the tools around "
             "them.", "", "verbs:"]
    for verb in VERBS:
        doc = (verb_module(verb).__doc__ or "").strip().splitlines()[0]
        lines.append(f"  {verb:<{width}}  {doc}")
    lines += ["", "exit status: 0 success, 1 a failure while running, 2 bad input or usage"]
    return "\n".join(lines)


def main(argv=None) -> int:
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
