"""Timing one pipeline, this project's or the LipNet tutorial's, for `python -m benchmarks`.

The benchmark runs each side in a child process of its own (`python -m benchmarks --side
onnx|ours|tutorial|worst`), which calls one measure_* function here and prints the figures
as JSON.
"""

from __future__ import annotations

import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from lipread import face, feeds, grid, pipeline, reading, video
from lipread.grid import BLANK_ID, GRID_SLOTS
from lipread.model import loader, networks
from lipread.training import dataset, losses, recipe


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def timed(fn, runs: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def throughput(model, frame, batches, runs) -> dict[str, float]:
    """clips/s of the compiled forward pass at each batch size (network only)."""
    import numpy as np


    out = {}
    for b in batches:
        x = np.repeat(frame[None], b, axis=0)
        log(f"  throughput at batch {b}")
        seconds = statistics.median(timed(lambda: pipeline.predict_probs(model, x, b), runs))
        out[str(b)] = b / seconds
    return out


def random_labels(batch: int, seed: int = 0):
    """Padded label ids of random GRID sentences, as dataset.py makes them."""
    import numpy as np


    rng = random.Random(seed)
    return np.stack([dataset.label_ids([rng.choice(slot) for slot in GRID_SLOTS])
                     for _ in range(batch)])


def train_rate(model, x, y, steps: int) -> float:
    """Training samples/s: `steps` optimizer steps after a warm-up (compiling) one."""
    seconds = sum(timed(lambda: model.train_on_batch(x, y), steps))
    return len(x) * steps / seconds


# --- this project -------------------------------------------------------------

def file_to_sentence(model, clip: str, crop: str, runs: int) -> dict:
    """reading.read timed with each decoder: medians of the totals and stages."""
    r = {}
    for decoder in ("greedy", "grammar"):
        results = []
        times = timed(lambda: results.append(reading.read(clip, model, decoder, crop=crop)),
                      runs)
        suffix = "" if decoder == "greedy" else "_grammar"
        r[f"clip_latency{suffix}_s"] = statistics.median(times)
        r[f"stages{suffix}_s"] = {k: statistics.median(res.seconds[k] for res in results[1:])
                                  for k in pipeline.STAGES}
        r[f"sentence_{decoder}"] = results[-1].sentence
    return r


def measure_worst(args) -> dict:
    """The largest input read (video.MAX_SIZE): the clip blown up into a 3840x2160 frame
    (ffmpeg, into a private temp folder), read to a sentence once in this fresh process;
    its peak memory is the figure."""
    import tempfile

    import imageio_ffmpeg

    width, height = video.MAX_SIZE
    with tempfile.TemporaryDirectory(prefix="lipread-bench-") as folder:
        big = Path(folder) / "largest.mp4"
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error",
                        "-i", str(args.clip_path), "-vf",
                        f"scale=-2:{height},pad={width}:{height}:(ow-iw)/2:0", "-c:v",
                        "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(big)],
                       check=True, timeout=300)
        model = loader.load_model("lipnet", args.weights)
        result = reading.read(big, model, "grammar")
    return {"size": f"{width}x{height}", "sentence_grammar": result.sentence,
            "seconds": sum(result.seconds.values()), "peak_rss_mb": peak_rss_mb()}


def measure_ours(args) -> dict:
    import keras
    import numpy as np

    face.use_dlib_predictor()  # as measure_reader
    feeds.start_worker()
    clip = str(args.clip_path)
    weights = Path(args.weights or loader.DEFAULT_WEIGHTS["lipnet"])
    if weights.is_file():
        model, weights_used = loader.load_model("lipnet", weights), str(weights)
    else:
        model, weights_used = networks.build_lipnet(), "random (no trained weights found)"
    r = {"weights": weights_used, "parameters": model.count_params()}

    r["crops"] = {}
    for crop in video.CROPS:  # the landmark crop (the default), then the fixed window
        log(f"this project: one clip, file to sentence, {crop} crop")
        r["crops"][crop] = file_to_sentence(model, clip, crop, args.runs)
    frame = video.load_video(clip)
    log("this project: the network alone")
    r["network_s"] = statistics.median(
        timed(lambda: pipeline.predict_probs(model, frame[None]), args.runs))
    r["throughput_clips_per_s"] = throughput(model, frame, args.batches, args.throughput_runs)
    r["peak_rss_inference_mb"] = peak_rss_mb()

    log(f"this project: {args.train_steps} training steps at batch {args.train_batch}")
    trainer = networks.build_lipnet_training()
    trainer.compile(  # as lipread train compiles it
        optimizer=keras.optimizers.Adam(recipe.PEAK_LR, clipnorm=recipe.CLIPNORM),
        loss=[losses.ctc_loss, keras.losses.SparseCategoricalCrossentropy(from_logits=True)],
        loss_weights=[1.0, recipe.WORD_LOSS_WEIGHT])
    rng = np.random.default_rng(0)
    b = args.train_batch
    x = rng.standard_normal((b, *video.INPUT_SHAPE), dtype=np.float32)
    words = rng.integers(0, networks.N_WORD_CLASSES, (b, video.N_FRAMES), dtype=np.int32)
    r["train_batch"] = b
    r["train_samples_per_s"] = train_rate(trainer, x, [random_labels(b), words],
                                          args.train_steps)
    r["peak_rss_mb"] = peak_rss_mb()
    return r


def measure_reader(args) -> dict:
    """This project's reading under ONNX Runtime (the default runtime): file to sentence
    with each crop, the network alone, throughput and peak memory; no TensorFlow, Keras or
    JAX imported (said in the figures)."""
    import onnxruntime

    clip = str(args.clip_path)
    model = loader.load_network("lipnet", args.weights, "onnx")
    face.use_dlib_predictor()  # as the page's server, evaluate and Live read: many videos
    feeds.start_worker()  # as the page's server starts it (and any process's second reading)
    r = {"runtime": "onnx", "onnxruntime": onnxruntime.__version__, "crops": {}}
    for crop in video.CROPS:
        log(f"this project, ONNX Runtime: one clip, file to sentence, {crop} crop")
        r["crops"][crop] = file_to_sentence(model, clip, crop, args.runs)
    frame = video.load_video(clip)
    log("this project, ONNX Runtime: the network alone")
    r["network_s"] = statistics.median(
        timed(lambda: pipeline.predict_probs(model, frame[None]), args.runs))
    r["throughput_clips_per_s"] = throughput(model, frame, args.batches, args.throughput_runs)
    r["peak_rss_inference_mb"] = peak_rss_mb()
    r["training_stack_imported"] = sorted(m for m in ("tensorflow", "keras", "jax")
                                          if m in sys.modules)
    return r


# --- the tutorial -------------------------------------------------------------

def tutorial_load_video(path: str):
    """The tutorial's load_video, line for line (its BGR-as-RGB and uint8 mean included)."""
    import cv2
    import tensorflow as tf

    cap = cv2.VideoCapture(path)
    frames = []
    for _ in range(int(cap.get(cv2.CAP_PROP_FRAME_COUNT))):
        ret, frame = cap.read()
        frame = tf.image.rgb_to_grayscale(frame)
        frames.append(frame[190:236, 80:220, :])
    cap.release()

    mean = tf.math.reduce_mean(frames)
    std = tf.math.reduce_std(tf.cast(frames, tf.float32))
    return tf.cast((frames - mean), tf.float32) / std


def tutorial_ctc_loss(y_true, y_pred):
    """The tutorial's CTCLoss (ctc_batch_cost with full-length labels), in Keras 3 ops."""
    import keras
    from keras import ops


    batch = ops.shape(y_true)[0]
    input_length = ops.full((batch,), ops.shape(y_pred)[1], dtype="int32")
    label_length = ops.full((batch,), ops.shape(y_true)[1], dtype="int32")
    log_probs = ops.log(ops.clip(y_pred, 1e-7, 1.0))
    return keras.ops.ctc_loss(ops.cast(y_true, "int32"), log_probs, label_length,
                              input_length, mask_index=BLANK_ID)


def measure_tutorial(args) -> dict:
    import keras
    import numpy as np
    import tensorflow as tf


    clip = str(args.clip_path)
    model = networks.build_tutorial()  # random weights: speed does not depend on them
    _, num_to_char = grid.string_lookups()
    r = {"weights": "random (speed does not depend on them)",
         "parameters": model.count_params()}

    def tutorial_pipeline():
        t0 = time.perf_counter()
        frames = tutorial_load_video(clip)
        t1 = time.perf_counter()
        yhat = model.predict(tf.expand_dims(frames, axis=0), verbose=0)
        t2 = time.perf_counter()
        decoded = keras.ops.ctc_decode(yhat, [video.N_FRAMES], strategy="greedy",
                                       mask_index=grid.BLANK_ID)[0][0][0]
        sentence = tf.strings.reduce_join(num_to_char(decoded)).numpy().decode("utf-8")
        t3 = time.perf_counter()
        stages.append({"load": t1 - t0, "network": t2 - t1, "decode": t3 - t2})
        return sentence

    log("tutorial: one clip, file to sentence")
    stages: list[dict] = []
    sentences = []
    times = timed(lambda: sentences.append(tutorial_pipeline()), args.runs)
    r["clip_latency_s"] = statistics.median(times)
    r["stages_s"] = {k: statistics.median(s[k] for s in stages[1:])
                     for k in ("load", "network", "decode")}
    r["sentence_greedy"] = sentences[-1]

    frame = tutorial_load_video(clip).numpy()
    log("tutorial: the network alone")
    r["network_s"] = statistics.median(
        timed(lambda: pipeline.predict_probs(model, frame[None]), args.runs))
    r["throughput_clips_per_s"] = throughput(model, frame, args.tutorial_batches,
                                             args.throughput_runs)
    r["peak_rss_inference_mb"] = peak_rss_mb()

    b = args.tutorial_train_batch
    log(f"tutorial: {args.tutorial_train_steps} training steps at batch {b}")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.0001), loss=tutorial_ctc_loss)
    x = np.random.default_rng(0).standard_normal((b, *video.INPUT_SHAPE), dtype=np.float32)
    r["train_batch"] = b
    r["train_samples_per_s"] = (train_rate(model, x, random_labels(b), args.tutorial_train_steps)
                                if args.tutorial_train_steps else None)
    r["peak_rss_mb"] = peak_rss_mb()
    return r
