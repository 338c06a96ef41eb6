"""lipread train --strategy multiworker: two worker processes on 127.0.0.1 (TF_CONFIG with two
local ports), each reading its own shard, train two steps; the chief alone writes the run;
both go on with --resume after a restart."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def run_workers(args, timeout=900):
    hosts = [f"127.0.0.1:{p}" for p in free_ports(2)]
    procs = []
    for i in range(2):
        config = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}}
        env = {**os.environ, "TF_CONFIG": json.dumps(config)}
        procs.append(subprocess.Popen([sys.executable, "-m", "lipread", "train",
                                       *map(str, args)], cwd=ROOT, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=timeout) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, out[-3000:] + err[-3000:]
    return [out for out, _ in outs]


def test_two_workers_train_on_their_shards_and_the_chief_writes(grid_dir, tmp_path):
    run_dir = tmp_path / "run"
    common = ["--data-dir", grid_dir, "--limit", 12, "--val-fraction", 0.34, "--run-dir",
              run_dir, "--cache-dir", tmp_path / "cache", "--max-steps", 2, "--batch-size", 4,
              "--strategy", "multiworker", "--verbose", 2]
    chief, other = run_workers([*common, "--epochs", 2, "--stop-after", 1])
    # 12 names: 8 to train, 4 to validate; each worker reads half of each.
    assert "4 training clips, 2 validation clips" in chief and "worker 1 of 2" in chief
    assert "4 training clips, 2 validation clips" in other and "worker 2 of 2" in other
    assert "2 replica(s)" in chief
    state = json.loads((run_dir / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 1
    written = sorted(p.name for p in run_dir.iterdir())
    assert written[:2] == ["best.weights.h5", "checkpoint"], written
    assert written[2].startswith("checkpoint-1-") and written[3:] == ["log.csv", "val.txt"]
    assert sorted(p.name for p in (run_dir / "checkpoint").iterdir()) == [
        "last.weights.h5", "optimizer.npz", "state.json"]
    assert len((run_dir / "log.csv").read_text().splitlines()) == 2  # header, one epoch

    from lipread.model import networks
    first = networks.build_lipnet_training()
    first.load_weights(run_dir / "checkpoint" / "last.weights.h5")

    # Both workers restart and go on from the chief's state.
    chief, other = run_workers([*common, "--epochs", 2, "--resume"])
    assert "resumed" in chief and "after epoch 1" in chief and "after epoch 1" in other
    assert json.loads((run_dir / "checkpoint" / "state.json").read_text())["epoch"] == 2
    assert len((run_dir / "log.csv").read_text().splitlines()) == 3
    second = networks.build_lipnet_training()
    second.load_weights(run_dir / "checkpoint" / "last.weights.h5")
    import numpy as np
    assert any(not np.array_equal(a.numpy(), b.numpy())
               for a, b in zip(first.weights, second.weights))
