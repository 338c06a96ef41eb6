"""`python -m benchmarks [--live] [flags]`, from the repository's root (benchmarks/speed.py;
--live: benchmarks/live.py)."""
import sys

from benchmarks import speed

sys.exit(speed.cli())
