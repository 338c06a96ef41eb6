"""`python -m experiments <study> [flags]`, from the repository's root: each study is a
module of this folder with a main(argv)."""
import importlib
import sys

STUDIES = {"enroll": ("enroll_study", "adaptation methods compared on other speakers"),
           "confidence": ("confidence", "the confidence curve fitted, and how well it says "
                                        "a reading is right"),
           "face": ("face_reference", "the face the reader learned, and how far others are"),
           "curve": ("teach_curve", "teaching a stranger: held-out WER by sentences taught"),
           "crops": ("crop_drift", "how far the landmark crops moved: test clips' corners, "
                                   "saved and compared"),
           "eta": ("time_left", "how right teaching's time left is, against the time it "
                                "took"),
           "times": ("word_times", "where a reading says each word is, against when it "
                                   "is said")}
USAGE = "usage: python -m experiments {" + ",".join(STUDIES) + "} [flags]  (<study> --help)"


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print("\n".join([USAGE, "", *(f"  {k:<11} {v[1]}" for k, v in STUDIES.items())]),
              file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    if argv[0] not in STUDIES:
        print(f"{USAGE}\npython -m experiments: error: unknown study {argv[0]!r}",
              file=sys.stderr)
        return 2
    module = importlib.import_module(f"experiments.{STUDIES[argv[0]][0]}")
    return module.main(argv[1:])


sys.exit(main(sys.argv[1:]))
