"""LipRead: read GRID sentences from the lips alone, with a LipNet network.

    import lipread
    reading = lipread.read("lbwy9a.mpg")              # the shipped reader
    print(reading.sentence, reading.confidence)      # lay blue with y nine again 0.74
    alice = lipread.load_reader("alice")             # a face taught with lipread.teach
    print(lipread.read("alice-1.mp4", alice).sentence)

    lipread.teach("alice", ["alice-1.mp4", ...], ["bin blue at f two now", ...])
    lipread.train(data_dir="data", run_dir="runs/lipnet", epochs=60)

The verbs: read (a video to a Reading), load_reader (the shipped reader, a weights file or
a taught profile), teach (a person's clips and sentences to a profile), train (a network on
GRID). The stages, one module each, are in docs/architecture.md; `lipread <verb>` is the
command.
"""
from lipread.readers import load_reader
from lipread.reading import Reading, read

__all__ = ["Reading", "load_reader", "read", "teach", "train"]
_LATER = {"teach": "lipread.enroll.teach", "train": "lipread.training.run"}  # imported
# when first used: a reading does not pay for teaching's and training's modules


def __getattr__(name: str):
    if name in _LATER:
        import importlib

        return getattr(importlib.import_module(_LATER[name]), name)
    raise AttributeError(f"module 'lipread' has no attribute {name!r}")
