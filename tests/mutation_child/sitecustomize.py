"""Under `make mutate`'s first pass only: a Python child of a test (`lipread download`,
`lipread train`, ...) records which mutated functions it ran, as mutmut records them in
the tests' own process, and writes them to $MUTMUT_CHILD_HITS/<pid>.hits as it exits;
tests/conftest.py adds them to the test that started it. So a function that only a child
runs is still reached by that test, and its mutants are tried against it."""
import os

if os.environ.get("MUTANT_UNDER_TEST") == "stats" and os.environ.get("MUTMUT_CHILD_HITS"):
    try:
        from mutmut.mutation import trampoline
    except ImportError:  # a Python without mutmut (a wheel's venv): nothing to record
        trampoline = None
    if trampoline is not None:
        import atexit

        _hits: set = set()
        trampoline.record_trampoline_hit = lambda name, caller=None: _hits.add(name)

        def _write(folder=os.environ["MUTMUT_CHILD_HITS"]):
            if _hits:
                with open(os.path.join(folder, f"{os.getpid()}.hits"), "a") as f:
                    f.write("".join(f"{name}\n" for name in sorted(_hits)))

        atexit.register(_write)
