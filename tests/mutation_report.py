"""`make mutate`'s summary: mutmut's results per module, and every mutant that survived.

A survivor listed in tests/mutation-equivalent.txt (its name and the fingerprint of its
diff, `name@1a2b3c4d`, then why it changes nothing a test could see) is reported as
equivalent; any other survivor is a test missing, printed with its diff (`mutmut show
NAME`), and the report exits 1. mutmut numbers a function's mutants in order, so after the
function changes a listed name may be another mutant: its fingerprint then differs and it
is reported as missing too. `--pin` writes the fingerprints of listed names that have none
(after checking each by hand); `--retry [PATTERN...]` forgets survivors' verdicts so that
the next run tries them with the tests written since. Run from the project root after
`mutmut run`.
"""
from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTMUT = Path(sys.executable).with_name("mutmut")
EQUIVALENT = Path(__file__).with_name("mutation-equivalent.txt")
LINE = re.compile(r"^\s+(\S+): (.+)$")


def results() -> dict[str, str]:
    """{mutant name: mutmut's status} for every mutant of the last run."""
    out = subprocess.run([str(MUTMUT), "results", "--all", "true"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return {m[1]: m[2] for m in map(LINE.match, out.splitlines()) if m}


def equivalents() -> dict[str, tuple[str, str]]:
    """{mutant name: (fingerprint or "", why it is equivalent)} from EQUIVALENT
    ("name@fingerprint reason" lines, # comments)."""
    out = {}
    for line in EQUIVALENT.read_text().splitlines():
        line = "" if line.startswith("#") else line.strip()
        if line:
            key, _, why = line.partition(" ")
            name, _, pin = key.partition("@")
            out[name] = (pin, why.strip())
    return out


def diff(name: str) -> str:
    return subprocess.run([str(MUTMUT), "show", name], cwd=ROOT, capture_output=True,
                          text=True).stdout


def fingerprint(name: str, root: Path = ROOT / "mutants") -> str:
    """8 hex digits of the mutant's own function in mutmut's mutated copy of its module:
    its name and its one change (mutmut numbers a function's mutants in order, so after the
    function changes a name may be another change)."""
    import ast

    module, _, function = name.rpartition(".")
    path = root.joinpath(*module.split(".")).with_suffix(".py")
    if not path.is_file():
        return ""
    source = path.read_text()
    for node in ast.walk(ast.parse(source)):  # a method's mutants sit in its class
        if isinstance(node, ast.FunctionDef) and node.name == function:
            return hashlib.sha1(ast.get_source_segment(source, node).encode()).hexdigest()[:8]
    return ""


def pinned_equivalent(name: str, root: Path = ROOT / "mutants") -> bool:
    """Whether `name` is listed in EQUIVALENT with the fingerprint it has now."""
    pin = equivalents().get(name, ("", ""))[0]
    return bool(pin) and pin == fingerprint(name, root)


def pin() -> int:
    """Add the fingerprint of each listed mutant that has none."""
    lines = EQUIVALENT.read_text().splitlines()
    for i, line in enumerate(lines):
        key, sep, why = line.partition(" ")
        if line.startswith("#") or not key or "@" in key:
            continue
        lines[i] = f"{key}@{fingerprint(key)}{sep}{why}"
    EQUIVALENT.write_text("\n".join(lines) + "\n")
    return 0


def module_of(mutant: str) -> str:
    """lipread.decoding.x_collapse__mutmut_3 -> lipread.decoding (methods: xǁClassǁname)."""
    return re.split(r"\.x[_ǁ]", mutant, maxsplit=1)[0]


def main() -> int:
    found = results()
    if not found:
        print("no mutmut results: run `mutmut run` first (make mutate)")
        return 2
    known = equivalents()
    by_module: dict[str, Counter] = defaultdict(Counter)
    missing = []
    for name, status in sorted(found.items()):
        if status == "survived" and pinned_equivalent(name):
            status = "equivalent"
        elif status == "survived":
            missing.append(name)
        if status == "segfault":  # the tests' process killed (e.g. out of memory): caught
            status = "timeout"
        by_module[module_of(name)][status] += 1
    print(f"{'module':26} {'mutants':>7} {'killed':>6} {'timeout':>7} {'equiv.':>6} "
          f"{'survived':>8} {'no test':>7} {'not run':>7} {'kill rate':>9}")
    for module, c in sorted(by_module.items()):
        dead = c["killed"] + c["timeout"]
        told = dead + c["survived"]  # the mutants a test could tell apart
        rate = f"{dead / told:9.1%}" if told else f"{'-':>9}"
        print(f"{module:26} {sum(c.values()):7} {c['killed']:6} {c['timeout']:7} "
              f"{c['equivalent']:6} {c['survived']:8} {c['no tests']:7} {c['not checked']:7} "
              f"{rate}")
    stale = sorted(set(known) - set(found))
    if stale:
        print(f"\n{len(stale)} names in {EQUIVALENT.name} are no longer mutants (the code "
              f"changed): {', '.join(stale)}")
    for name in missing:
        said = ("listed as equivalent, but no longer the mutant listed (its fingerprint "
                "differs): check it again" if name in known else "no test tells it apart")
        print(f"\nsurvived, {said}: {name}\n{diff(name).strip()}")
    return 1 if missing else 0


def retry(patterns: list[str]) -> int:
    """Forget the verdicts "survived" and "no tests" (of the mutants matching `patterns`,
    mutmut's name patterns; all when none), so that the next `mutmut run` tries them again
    with the tests written since: mutmut itself re-runs a mutant only when its function
    changes, and a new test does not change it."""
    import fnmatch
    import json

    forgotten = 0
    for meta in (ROOT / "mutants").rglob("*.meta"):
        data = json.loads(meta.read_text())
        codes = data.get("exit_code_by_key", {})
        for name, code in codes.items():
            if code in (0, 33) and (not patterns or any(fnmatch.fnmatch(name, p)
                                                         for p in patterns)):
                codes[name] = None  # 0: survived, 33: no tests (mutmut's codes)
                forgotten += 1
        meta.write_text(json.dumps(data, indent=4))
    print(f"{forgotten} survivors and untested mutants to try again")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--pin"]:
        sys.exit(pin())
    if sys.argv[1:2] == ["--retry"]:
        sys.exit(retry(sys.argv[2:]))
    sys.exit(main())
