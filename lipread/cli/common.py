"""What every verb of `lipread` shares: the command-line convention and its flags, in one
place.

- `--json PATH` writes the results as JSON, `-` to stdout; the file is written whole or
  not at all (a temp name beside it, then renamed).
- Exit status: 0 success, 1 a failure while running, 2 bad input or usage.
- Numeric flags are checked by argparse (`positive_int`, `non_negative`, ...), so a bad
  value is one `<script>: error: ...` line and exit 2, like every other usage error.
- Shared flags come from helpers here (`add_data_dir`, `add_crop`, `add_json`, ...), each
  default the library constant that it is.
- TensorFlow's C++ log level is set here, before anything imports TensorFlow.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import uuid
from pathlib import Path

from lipread import decoding, video
from lipread.cli.flagtypes import fraction as fraction  # the flags' types, as common.<type>
from lipread.cli.flagtypes import non_negative as non_negative
from lipread.cli.flagtypes import non_negative_int as non_negative_int
from lipread.cli.flagtypes import positive as positive
from lipread.cli.flagtypes import positive_int as positive_int
from lipread.cli.flagtypes import probability as probability
from lipread.model import loader

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
TF_LOG_LEVEL = "3"  # errors only: TensorFlow's info and warning lines would bury ours


def quiet_tensorflow() -> None:
    """Call before TensorFlow is imported (every script's cli() does, first thing)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", TF_LOG_LEVEL)


def import_keras(warm: bool = True):
    """Import Keras and its backend with the backend's start-up chatter silenced.

    TensorFlow 2.21 writes absl lines to stderr while it loads and first looks for a GPU
    ("All log messages before absl::InitializeLog() ...", "cudart_stub.cc ... Could not
    find cuda drivers", "cuInit"), whatever TF_CPP_MIN_LOG_LEVEL says. They would come
    between a script's own error lines, so file descriptor 2 points at /dev/null while
    that happens. Python errors raised meanwhile still reach the caller.
    """
    quiet_tensorflow()
    if "keras" in sys.modules:
        import keras

        return keras
    import importlib.util

    backend = os.environ.get("KERAS_BACKEND") or "tensorflow"  # Keras's own default
    missing = []
    for module in ("keras", backend):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        missing += [] if found else [module]
    if missing:  # a reading-only install (requirements.txt): say so, in one line
        prog = "lipread " + (sys.argv[1] if len(sys.argv) > 1 else "")
        error(prog.strip(), f"this needs {' and '.join(missing)}, which this install lacks "
                            "(it reads with ONNX Runtime only): pip install -r "
                            "requirements-train.txt")
        raise SystemExit(EXIT_BAD_INPUT)
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras

        if warm:  # not before tf.distribute.MultiWorkerMirroredStrategy: it must come first
            keras.ops.convert_to_numpy(keras.ops.zeros((1,)))  # the device search is here
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return keras


class ShowDefaults(argparse.HelpFormatter):
    """--help gives every option's default, helped or not (unless its help names it), and
    wraps at spaces only: a path (a checkout in /srv/lip-app), a flag or a name with a
    hyphen is never cut in two."""

    def _split_lines(self, text, width):
        text = self._whitespace_matcher.sub(" ", text).strip()
        return textwrap.wrap(text, width, break_on_hyphens=False, break_long_words=False)

    def _fill_text(self, text, width, indent):
        text = self._whitespace_matcher.sub(" ", text).strip()
        return textwrap.fill(text, width, initial_indent=indent, subsequent_indent=indent,
                             break_on_hyphens=False, break_long_words=False)

    def _get_help_string(self, action):
        text = action.help or ""
        if ("default" in text or not action.option_strings
                or action.default in (None, False, argparse.SUPPRESS)):
            return text
        return f"{text} (default: %(default)s)".strip()


class Parser(argparse.ArgumentParser):
    """Options without help text still list their default in --help."""

    def add_argument(self, *args, **kwargs):
        if args and str(args[0]).startswith("-") and not kwargs.get("help"):
            default = kwargs.get("default")
            if default not in (None, False, argparse.SUPPRESS):
                kwargs["help"] = "default: %(default)s"
        return super().add_argument(*args, **kwargs)

    def error(self, message):
        """One line, `<prog>: error: ...`, exit 2 (argparse prints its usage first)."""
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parser(prog: str, doc: str) -> argparse.ArgumentParser:
    """An ArgumentParser that shows every default in --help."""
    return Parser(prog=prog, description=doc.strip().split("\n")[0],
                  formatter_class=ShowDefaults)


def add_data_dir(p: argparse.ArgumentParser) -> None:
    """--data-dir, with the fallback every verb shares (grid.resolve_data_dir)."""
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="GRID folder (s1/, alignments/s1/); default: $LIPREAD_DATA_DIR, "
                        "then data/")


def add_speakers(p, help: str, metavar: str = "SPEAKERS"):
    """--speakers, as grid.parse_speakers reads it (s26, s1-s34, s1,s26)."""
    return p.add_argument("--speakers", default=None, metavar=metavar,
                          help=f"{help}, e.g. s1-s34 or s1,s26")


def add_crop(p: argparse.ArgumentParser) -> None:
    p.add_argument("--crop", choices=video.CROPS, default=video.DEFAULT_CROP,
                   help="how the mouth is found: "
                        + "; ".join(f"{k}, {v}" for k, v in video.CROP_HELP.items()))


def add_decoder(p: argparse.ArgumentParser) -> None:
    p.add_argument("--decoder", choices=decoding.DECODERS, default=decoding.DEFAULT,
                   help="; ".join(f"{k}: {decoding.describe(k)}" for k in decoding.DECODERS))


def add_model(p: argparse.ArgumentParser, ensemble: bool = False) -> None:
    """--arch and --weights (several with `ensemble`: their probabilities averaged)."""
    p.add_argument("--arch", choices=loader.ARCHS, default=loader.ARCHS[0])
    p.add_argument("--weights", default=None, metavar="WEIGHTS", **(
        {"nargs": "+", "help": "default: the shipped weights of --arch; several: an "
                               "ensemble, their per-frame probabilities averaged"}
        if ensemble else {"help": "default: the shipped weights of --arch"}))
    p.add_argument("--runtime", choices=loader.RUNTIMES, default=None,
                   help="what runs the network: onnx (ONNX Runtime, no TensorFlow) or keras; "
                        "default: onnx for lipnet, keras for the tutorial's network")
    p.add_argument("--profile", default=None, metavar="NAME",
                   help="read with a person's profile (made by lipread enroll) instead of "
                        "the general reader (default: none)")


def uses_keras(args) -> bool:
    """Whether reading with these flags needs Keras: --runtime keras, the tutorial's
    network. Otherwise ONNX Runtime reads (a profile too) and TensorFlow is never imported."""
    return (getattr(args, "runtime", None) or loader.default_runtime(args.arch)) == "keras"


def load_models(args, ensemble: bool = False):
    """The network --profile, or --arch and --weights, name (a list with `ensemble`).
    Raises ValueError (WeightsError, ProfileError) saying what is wrong."""
    from lipread import readers

    runtime = getattr(args, "runtime", None)
    if args.profile is not None:
        if args.weights or args.arch != loader.ARCHS[0]:
            raise ValueError("--profile is a lipnet reader of its own: give it without "
                             "--weights and --arch")
        model = readers.load_reader(readers.profiles.check_name(args.profile), runtime=runtime)
        return [model] if ensemble else model
    if ensemble:
        return [readers.load_reader(w, arch=args.arch, runtime=runtime)
                for w in args.weights or [None]]
    return readers.load_reader(args.weights, arch=args.arch, runtime=runtime)


def add_json(p: argparse.ArgumentParser, what: str = "the results") -> None:
    p.add_argument("--json", default=None, metavar="PATH",
                   help=f"write {what} as JSON here; '-': stdout (the report goes to stderr) "
                        "(default: none)")


def error(prog: str, message) -> None:
    print(f"{prog}: error: {message}", file=sys.stderr)


def check_writable(path) -> None:
    """Fail before an hour of work, not after it ('-' is stdout: always fine)."""
    if path is None or str(path) == "-":
        return
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        problem = "is not a folder" if parent.exists() else "does not exist"
        raise FileNotFoundError(f"{path}: {parent} {problem}")
    if Path(path).is_dir():
        raise IsADirectoryError(f"{path}: is a folder; name a file to write")
    if not os.access(parent, os.W_OK):
        raise PermissionError(f"{path}: cannot write there")


def write_json(path, data) -> None:
    """`data` as JSON to `path` (whole, or not at all), or to stdout for '-'."""
    text = json.dumps(data, indent=1)
    if str(path) == "-":
        print(text, flush=True)
        return
    tmp = Path(path).with_name(f".{Path(path).name}.{uuid.uuid4().hex}.partial")
    try:
        tmp.write_text(text + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
