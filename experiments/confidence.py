"""How well confidence.py's figures say a reading is right: fitted on the validation slice,
reported on the test split and on other faces.

    python -m experiments confidence fit --data-dir "$LIPREAD_DATA_DIR"
    python -m experiments confidence report --data-dir "$LIPREAD_DATA_DIR" \\
        --others "$LIPREAD_OTHERS_DIR" --json artifacts/confidence.json

fit: the logistic curve from a word's margin to whether it was read right (the 80 clips of
the validation slice, training's VAL_FRACTION and VAL_SEED), and the reliable threshold
(the validation clips' 5th percentile of sentence confidence: 95% of them reliable, so that
90% holds on new clips of that speaker, ~3 points of sampling noise on 80 clips): the
numbers to put in lipread/confidence.py (WORD_SLOPE, WORD_BIAS, RELIABLE_AT), printed and
written to --json; nothing is changed at run time. report: the word confidence's AUROC as
a predictor of a word being right, the share right among words of confidence >= 0.9, the
share of clips reliable and the WER of those, on the test split; and on s26/s31 (--others)
the share unreliable; with the shipped numbers, or a candidate's (--slope, --bias,
--reliable-at).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from lipread import confidence, grid, pipeline, video

HIGH = 0.9  # "confident" words: the share right among them is reported
RELIABLE_PERCENTILE = 5  # of the validation clips' sentence confidences: the threshold


def clip_words(model, data_dir: Path, names: list[str]) -> list[list[tuple[float, bool]]]:
    """Per clip, (margin, read right) for each word of the grammar reading."""
    frames, truths = [], []
    for name in names:
        frames.append(video.load_video(grid.video_path(data_dir, name)))
        truths.append(grid.load_sentence(grid.alignment_path(data_dir, name)).split())
    probs = pipeline.predict_probs(model, np.stack(frames))
    return [[(m, w == t) for (w, m, _, _), t in zip(confidence.margins(p), truth)]
            for p, truth in zip(probs, truths)]


def fit_logistic(margin: np.ndarray, right: np.ndarray) -> tuple[float, float]:
    """(slope, bias) of P(right) = sigmoid(slope * margin + bias), by Newton's method."""
    w = np.zeros(2)
    x = np.stack([margin, np.ones_like(margin)], 1)
    for _ in range(100):
        p = 1 / (1 + np.exp(-x @ w))
        hess = x.T @ (x * (p * (1 - p))[:, None]) + 1e-6 * np.eye(2)
        w -= np.linalg.solve(hess, x.T @ (p - right))
    return float(w[0]), float(w[1])


def auroc(scores, labels) -> float:
    scores, labels = np.asarray(scores), np.asarray(labels, bool)
    pos, neg = scores[labels], scores[~labels]
    if not len(pos) or not len(neg):
        return float("nan")
    return float(((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum())
                 / (len(pos) * len(neg)))


def sentence_confidences(clips, slope=confidence.WORD_SLOPE,
                         bias=confidence.WORD_BIAS) -> np.ndarray:
    return np.array([np.prod([confidence.word_confidence(m, slope, bias) for m, _ in c])
                     for c in clips])


def report_on(clips, slope=confidence.WORD_SLOPE, bias=confidence.WORD_BIAS,
              reliable_at=confidence.RELIABLE_AT) -> dict:
    """The figures above for `clips` (clip_words), with this curve and threshold."""
    margin = np.array([m for c in clips for m, _ in c])
    right = np.array([r for c in clips for _, r in c])
    conf = np.array([confidence.word_confidence(m, slope, bias) for m in margin])
    sentence = sentence_confidences(clips, slope, bias)
    reliable = sentence >= reliable_at
    errors = np.array([sum(not r for _, r in c) for c in clips])
    words = np.array([len(c) for c in clips])
    return {"clips": len(clips), "words": len(right), "words_right": float(right.mean()),
            "auroc": auroc(conf, right), "high_words": int((conf >= HIGH).sum()),
            "high_right": float(right[conf >= HIGH].mean()) if (conf >= HIGH).any() else None,
            "reliable_share": float(reliable.mean()),
            "reliable_wer": float(errors[reliable].sum() / words[reliable].sum())
            if reliable.any() else None,
            "unreliable_wer": float(errors[~reliable].sum() / words[~reliable].sum())
            if (~reliable).any() else None}


def main(argv=None) -> int:
    from lipread.model import loader
    from lipread.training import dataset, recipe

    p = argparse.ArgumentParser(prog="python -m experiments confidence",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("step", choices=("fit", "report"))
    p.add_argument("--data-dir", type=Path, default=grid.resolve_data_dir(None),
                   help="the GRID folder (default: $LIPREAD_DATA_DIR, then data/)")
    p.add_argument("--others", type=Path, help="a folder of other speakers (s26, s31)")
    p.add_argument("--slope", type=float, default=confidence.WORD_SLOPE,
                   help="report: the word curve's slope (default: the shipped one)")
    p.add_argument("--bias", type=float, default=confidence.WORD_BIAS,
                   help="report: the word curve's bias (default: the shipped one)")
    p.add_argument("--reliable-at", type=float, default=confidence.RELIABLE_AT,
                   help="report: the sentence threshold (default: the shipped one)")
    p.add_argument("--json", help="write the figures here as JSON")
    args = p.parse_args(argv)
    model = loader.load_model("lipnet")
    if args.step == "fit":
        train = grid.read_names(args.data_dir / "splits" / "train.txt")
        _, val = dataset.split_validation(train, recipe.VAL_FRACTION, seed=recipe.VAL_SEED)
        clips = clip_words(model, args.data_dir, val)
        slope, bias = fit_logistic(np.array([m for c in clips for m, _ in c]),
                                   np.array([r for c in clips for _, r in c], float))
        threshold = float(np.percentile(sentence_confidences(clips, slope, bias),
                                        RELIABLE_PERCENTILE))
        result = {"validation_clips": len(clips), "word_slope": round(slope, 4),
                  "word_bias": round(bias, 4), "reliable_at": round(threshold, 2)}
    else:
        test = grid.read_names(args.data_dir / "splits" / "test.txt")
        curve = {"slope": args.slope, "bias": args.bias, "reliable_at": args.reliable_at}
        result = {**curve, "test": report_on(clip_words(model, args.data_dir, test), **curve)}
        if args.others:
            names = grid.list_clips(args.others, ("s26", "s31"))
            result["others"] = report_on(clip_words(model, args.others, names), **curve)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")
    return 0

