"""Run `lipread <verb>` (or a script) with `import tensorflow` failing, as where it is not
installed.

    KERAS_BACKEND=jax python tests/no_tensorflow.py -m lipread train --data-dir ... [args]
    KERAS_BACKEND=jax python tests/no_tensorflow.py script.py [args]

On exit it prints `NO_TENSORFLOW modules=<n>` on stderr: how many tensorflow modules got
loaded anyway (0, or the hook failed).
"""
import atexit
import importlib.abc
import os
import runpy
import sys


class NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def report():
    loaded = [m for m in sys.modules if m == "tensorflow" or m.startswith("tensorflow.")]
    print(f"NO_TENSORFLOW modules={len(loaded)}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.meta_path.insert(0, NoTensorFlow())
    atexit.register(report)
    if sys.argv[1] == "-m":
        module = sys.argv[2]
        sys.argv = [module, *sys.argv[3:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        script = sys.argv[1]
        sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
        sys.argv = sys.argv[1:]
        runpy.run_path(script, run_name="__main__")
