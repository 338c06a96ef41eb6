"""Callbacks of lipread train: the run's checkpoint each epoch, best-weights export,
sentence printing, training throughput."""
from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import keras
import numpy as np

from lipread import decoding, scoring
from lipread.model import networks
from lipread.training import checkpoint


def _save_weights_atomically(model, path: Path) -> None:
    # A run killed mid-save must not leave a truncated file under the real name.
    tmp = path.with_name(f".{path.name[:-len('.weights.h5')]}-{uuid.uuid4().hex}.weights.h5")
    try:
        model.save_weights(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class RunState(keras.callbacks.Callback):
    """Checkpoints weights, optimizer state and epoch after every epoch, as one step
    (checkpoint.py); restores them."""

    def __init__(self, run_dir: Path, write: bool = True):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.best = float("inf")
        self.write = write  # False on the workers of a multi-worker run other than the chief

    def on_epoch_end(self, epoch, logs=None):
        if not self.write:
            return
        arrays = {f"v{i}": np.asarray(v) for i, v in enumerate(self.model.optimizer.variables)}
        checkpoint.save(self.run_dir, epoch + 1, {"best_val_chars_loss": self.best},
                        self.model.save_weights, arrays)

    def restore(self, model) -> int:
        """The run's last whole epoch into `model` and its optimizer; that epoch."""
        folder, state = checkpoint.read_state(self.run_dir)
        model.optimizer.build(model.trainable_variables)  # first: the weights file has its too
        checkpoint.load_weights(model, folder)
        checkpoint.load_optimizer(model.optimizer.variables, folder)
        self.best = float(state["best_val_chars_loss"])
        return int(state["epoch"])


class BestInference(keras.callbacks.Callback):
    """Writes the inference network (no word head) when validation CTC loss improves."""

    def __init__(self, path: Path, state: RunState, monitor="val_chars_loss"):
        super().__init__()
        self.path, self.state, self.monitor = Path(path), state, monitor

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and value < self.state.best:
            print(f"\nepoch {epoch + 1}: {self.monitor} improved from "
                  f"{self.state.best:.4f} to {value:.4f}; saving {self.path}", flush=True)
            self.state.best = float(value)
            if self.state.write:
                _save_weights_atomically(networks.inference_model(self.model), self.path)


class SentencePrinter(keras.callbacks.Callback):
    """Decodes the validation clips each epoch: prints a few, logs WER and CER."""

    def __init__(self, frames: np.ndarray, truths: list[str], show: int = 3):
        super().__init__()
        self.frames, self.truths, self.show = frames, truths, show
        self._net = None  # cut once: it shares the training network's variables

    def on_epoch_end(self, epoch, logs=None):
        if self._net is None:  # a new model each epoch would trace predict() anew
            self._net = networks.inference_model(self.model)
        probs = self._net.predict(self.frames, batch_size=16, verbose=0)
        for decoder in ("greedy", "grammar"):
            texts = decoding.decode_batch(probs, decoder)
            wer, cer = scoring.error_rates(self.truths, texts)
            suffix = "" if decoder == "greedy" else f"_{decoder}"
            if logs is not None:
                logs[f"val_wer{suffix}"], logs[f"val_cer{suffix}"] = wer, cer
            if decoder == "greedy":
                shown = texts[: self.show]
        print(f"\nepoch {epoch + 1}: validation WER {logs['val_wer']:.2%} CER "
              f"{logs['val_cer']:.2%} (grammar WER {logs['val_wer_grammar']:.2%})")
        for truth, text in zip(self.truths, shown):
            print(f"  original:  {truth}\n  predicted: {text}")


class Throughput(keras.callbacks.Callback):
    """Training clips per second of each epoch, logged as `train_clips_per_s`: from the end
    of its first step (which compiles, in the first epoch) to the end of its last, so input
    waits count and validation does not. Goes before the loggers in the callback list."""

    def __init__(self, clips_per_step: int):
        super().__init__()
        self.clips_per_step = clips_per_step
        self.start = self.end = None
        self.steps = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.start, self.steps = None, 0

    def on_train_batch_end(self, batch, logs=None):
        self.end = time.perf_counter()
        if self.start is None:
            self.start = self.end
        else:
            self.steps += 1

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self.steps:
            logs["train_clips_per_s"] = self.steps * self.clips_per_step / (self.end - self.start)
