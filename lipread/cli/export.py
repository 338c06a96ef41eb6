"""Export lipnet's weights to ONNX, the graph reading runs on (ONNX Runtime), and check it.

    lipread export                                   # the shipped weights, into the cache
    lipread export --weights runs/lipnet/best.weights.h5 --out /tmp/lipnet.onnx
    lipread export --check --data-dir data # and compare it with Keras on clips

Reading builds what it loads by itself the first time, into the per-user cache: the ONNX
export (0.4 s; in $LIPREAD_CACHE_DIR/onnx, else ~/.cache/lipread/onnx, named by the weights'
sha256: a changed weights file gets a new export, never a stale one) and dlib's face models
in their quickly loaded forms (~5 s; face.py), said on one line of stderr ("preparing the
reader once: ..."). This verb builds both ahead of time (`make setup-run` runs it), or writes the graph elsewhere (--out), and with --check reads clips of
the data folder's test split (or --names) with both the export and the Keras network: the
largest difference of a per-frame probability, and the sentences that differ, with every
decoder.

Exit status: 0 written (and, with --check, equal within --tolerance with the same
sentences), 1 the check found a difference, 2 bad input (weights missing or not lipnet's).
"""
from __future__ import annotations

import sys
from pathlib import Path

from lipread import decoding, grid
from lipread.cli import common
from lipread.model import loader

PROG = "lipread export"
TOLERANCE = 1e-4  # the largest per-frame probability difference the check accepts


def parse_args(argv=None):
    p = common.parser(PROG, __doc__)
    p.add_argument("--weights", default=None,
                   help="a lipnet .weights.h5 (default: the shipped weights)")
    p.add_argument("--out", default=None, metavar="PATH",
                   help="write the graph here (default: the cache, where reading looks)")
    p.add_argument("--check", action="store_true",
                   help="read clips with the export and with Keras, and compare")
    common.add_data_dir(p)
    p.add_argument("--names", default=None,
                   help="with --check: the clips (default: the data folder's test split)")
    p.add_argument("--tolerance", type=common.positive, default=TOLERANCE,
                   help="with --check: the largest probability difference accepted")
    common.add_json(p, "what was written (and, with --check, the comparison)")
    return p.parse_args(argv)


def check(reader, weights, names: list[str], data_dir: Path, tolerance: float) -> dict:
    """Both runtimes on `names`, reported on stderr: the comparison's figures."""
    import numpy as np

    from lipread import pipeline, video

    common.import_keras()
    keras_model = loader.load_model("lipnet", weights)
    worst, differ = 0.0, []
    for name in names:
        frames = video.normalize(pipeline.look(grid.video_path(data_dir, name))[0].crops)
        a = pipeline.predict_probs(reader, frames)[0]
        b = pipeline.predict_probs(keras_model, frames)[0]
        worst = max(worst, float(np.abs(a - b).max()))
        differ += [f"{name} ({d})" for d in decoding.DECODERS
                   if decoding.decode(a, d) != decoding.decode(b, d)]
    print(f"{PROG}: {len(names)} clips: largest probability difference {worst:.2e} "
          f"(tolerance {tolerance:g}); sentences that differ: "
          f"{', '.join(differ) or 'none'} ({', '.join(decoding.DECODERS)})", file=sys.stderr)
    return {"clips": len(names), "largest_difference": worst, "tolerance": tolerance,
            "decoders": list(decoding.DECODERS), "sentences_that_differ": differ,
            "equal": worst <= tolerance and not differ}


def cli(argv=None) -> int:
    args = parse_args(argv)
    from lipread.model import onnx_export, onnx_reader

    weights = Path(args.weights) if args.weights else loader.DEFAULT_WEIGHTS["lipnet"]
    try:
        common.check_writable(args.json)
        if not weights.is_file():
            raise loader.WeightsError(f"{weights}: no such weights file; train one with "
                                      "lipread train, or pass --weights")
        if args.out is not None:
            common.check_writable(args.out)
            path = onnx_export.export(weights, args.out)
            reader = onnx_reader.load(weights, path)
        else:  # what reading builds on its first use, all of it: one line on stderr
            from lipread import cache, face

            with cache.preparing():
                reader = onnx_reader.load(weights)
                face.prepare()
            path = reader.path
        names = []
        if args.check:
            data_dir = grid.resolve_data_dir(args.data_dir)
            names = grid.read_names(args.names or data_dir / "splits" / "test.txt")
    except (OSError, ValueError) as err:  # ExportError, OnnxError, WeightsError too
        common.error(PROG, err)
        return common.EXIT_BAD_INPUT
    print(f"{PROG}: {weights} -> {path} ({path.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
    result = {"weights": str(weights), "onnx": str(path), "bytes": path.stat().st_size}
    if args.out is None:  # the cache: the face models' quick forms too
        print(f"{PROG}: dlib's face models ready in the cache", file=sys.stderr)
    if args.check:
        result["check"] = check(reader, weights, names, data_dir, args.tolerance)
    if args.json:
        common.write_json(args.json, result)
    ok = not args.check or result["check"]["equal"]
    return common.EXIT_OK if ok else common.EXIT_FAILED
