"""What a visitor of a shared server sees when something breaks, and where `make run`
listens: an error the app did not catch is shown without its message, type or traceback
(the project's .streamlit/config.toml), and `make run` serves this machine only.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UNCAUGHT = """
import json, sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=60).run()
print(json.dumps([{"message": e.proto.message, "type": e.proto.type,
                   "trace": list(e.proto.stack_trace)} for e in at.exception]))
"""


def test_an_uncaught_error_shows_visitors_no_path_or_traceback(tmp_path):
    """Under the project's settings (run from its folder, as `streamlit run app.py` is), a
    page that raises with a server path in its message shows the generic line only."""
    page = tmp_path / "page.py"
    page.write_text("raise ValueError('/srv/lipread/profiles/alice/reader.weights.h5')\n")
    proc = subprocess.run([sys.executable, "-c", UNCAUGHT, str(page)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items()
                               if not k.startswith("STREAMLIT_")})
    assert proc.returncode == 0, proc.stderr
    (shown,) = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "/srv/lipread" not in json.dumps(shown)
    assert shown["type"] == "" and shown["trace"] == []
    assert "original error message is redacted" in shown["message"]
    assert "reader.weights.h5" in proc.stdout + proc.stderr  # the whole of it: the log


def test_make_run_listens_on_this_machine_only():
    proc = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "MAKEFLAGS": ""})
    assert proc.returncode == 0, proc.stderr
    (run,) = [line for line in proc.stdout.splitlines() if "streamlit run app.py" in line]
    assert run.split("app.py", 1)[1].split() == ["--server.headless", "true",
                                                 "--server.address", "localhost"]
