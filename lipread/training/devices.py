"""Where training runs: one device, every GPU (or logical CPU) of this machine, or several
machines, under TensorFlow's tf.distribute or JAX's keras.distribution.

Nothing here imports TensorFlow unless the TensorFlow backend is the one in use: under
KERAS_BACKEND=jax the same training runs where TensorFlow is not installed.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass


def backend() -> str:
    """The Keras backend that will load: $KERAS_BACKEND, else Keras' config, else TF."""
    name = os.environ.get("KERAS_BACKEND")
    if not name:
        import keras

        name = keras.backend.backend()
    return name


@dataclass
class Devices:
    """Where training runs: `scope()` to build the model in, how many replicas, and for
    several machines, how many workers there are and which one this is."""
    num_replicas_in_sync: int = 1
    strategy: object = None  # a tf.distribute strategy, under TensorFlow
    workers: int = 1
    task: int = 0
    chief: bool = True  # writes the run's files; the other workers only train

    def scope(self):
        return self.strategy.scope() if self.strategy else contextlib.nullcontext()

    def distribute(self, make_batches, global_batch: int):
        """Under tf.distribute with several workers: a dataset per worker, each reading
        its own shard, made by make_batches(shard, n_shards, per_replica_batch)."""

        def per_worker(context):
            batches = make_batches(context.input_pipeline_id, context.num_input_pipelines,
                                   context.get_per_replica_batch_size(global_batch))
            return as_tf_dataset(batches)
        return self.strategy.distribute_datasets_from_function(per_worker)


def build_for_multiworker(model, batch) -> None:
    """Keras 3's fit() averages a first batch across the workers to build the model and
    its losses, which fails under MultiWorkerMirroredStrategy (keras-team/keras#20585):
    build them here from one local batch instead, and skip that step."""
    with model.distribute_strategy.scope():
        model._symbolic_build(data_batch=batch)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    _patch_multiworker_mean()


def _patch_multiworker_mean() -> None:
    """Keras 3.15 averages each step's scalar logs across workers with
    strategy.reduce("MEAN", v, axis=0), which a scalar has no axis 0 for (the same
    keras-team/keras#20585): average scalars with axis=None, everything else as Keras does."""
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer

    if getattr(trainer.reduce_per_replica, "_lipread", False):
        return
    original = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("mean", "auto") and trainer._collective_all_reduce_multi_worker(strategy):
            def mean(v):
                rank = getattr(v, "shape", None)
                scalar = rank is not None and len(strategy.experimental_local_results(v)[0].shape) == 0
                return strategy.reduce("MEAN", v, axis=None if scalar else 0)
            return tf.nest.map_structure(mean, values)
        return original(values, strategy, reduction)
    reduce_per_replica._lipread = True
    trainer.reduce_per_replica = reduce_per_replica


def as_tf_dataset(batches):
    """A PyDataset as a tf.data.Dataset, its epochs reshuffled as Keras would."""
    import tensorflow as tf

    x, (chars, words) = batches[0]

    def generate():
        for i in range(len(batches)):
            yield batches[i]
        batches.on_epoch_end()
    spec = (tf.TensorSpec((None, *x.shape[1:]), tf.float32),
            (tf.TensorSpec((None, chars.shape[1]), tf.float32),
             tf.TensorSpec((None, words.shape[1]), tf.float32)))
    ds = tf.data.Dataset.from_generator(generate, output_signature=spec)
    options = tf.data.Options()
    # Each worker reads its own shard already: tf.distribute must not shard it again.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(options).prefetch(2)


def tf_config_task() -> tuple[int, int, bool]:
    """(workers, this worker's index, whether it is the chief) from $TF_CONFIG."""
    import json

    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    cluster, task = config.get("cluster", {}), config.get("task", {})
    kinds = [k for k in ("chief", "worker") if k in cluster]
    order = [(k, i) for k in kinds for i in range(len(cluster[k]))]
    me = (task.get("type", "worker"), int(task.get("index", 0)))
    index = order.index(me) if me in order else 0
    return max(1, len(order)), index, index == 0


def force_cpu_devices(n: int) -> None:
    """Before JAX loads: split the host CPU into n XLA devices (to try data parallelism)."""
    if n > 1:
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()


def _jax_devices(keras) -> list:
    for kind in ("gpu", "cpu"):
        try:
            found = keras.distribution.list_devices(kind)
        except RuntimeError:  # JAX raises for a platform it does not have
            found = []
        if found:
            return found
    return []


def distribution(strategy: str, cpu_devices: int = 0) -> Devices:
    """`default`: one device; `mirrored`: every GPU (else every logical CPU) of this machine,
    by tf.distribute.MirroredStrategy; `multiworker`: several machines, set by $TF_CONFIG,
    by tf.distribute.MultiWorkerMirroredStrategy. Under JAX, `mirrored` and `multiworker`
    are keras.distribution.DataParallel over every device it finds (for several processes,
    keras.distribution.initialize() reads $KERAS_DISTRIBUTION_JOB_ADDRESSES,
    ..._NUM_PROCESSES and ..._PROCESS_ID first)."""
    if backend() != "tensorflow":
        import keras

        if strategy == "default":
            return Devices()
        if strategy == "multiworker" and os.environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES"):
            keras.distribution.initialize()
        devices = _jax_devices(keras)
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        import jax

        return Devices(len(devices), workers=jax.process_count(), task=jax.process_index(),
                       chief=jax.process_index() == 0)
    import tensorflow as tf

    if cpu_devices > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
    if strategy == "multiworker":
        workers, task, chief = tf_config_task()
        s = tf.distribute.MultiWorkerMirroredStrategy()
        return Devices(s.num_replicas_in_sync, s, workers, task, chief)
    if strategy == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or \
                  [d.name for d in tf.config.list_logical_devices("CPU")]
        s = tf.distribute.MirroredStrategy(devices)
    else:
        s = tf.distribute.get_strategy()
    return Devices(s.num_replicas_in_sync, s)
