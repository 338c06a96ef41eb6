"""LipRead: read GRID sentences from the lips alone, with a LipNet network.

    import lipread
    model = lipread.load_model()                      # the shipped lipnet weights
    print(lipread.transcribe(model, "bbaf2n.mpg", decoder="grammar").sentence)

The stages, one module each: video (a file to mouth crops), mouth (face landmarks), grid
(vocabulary, clip names, alignments), model/ (networks and weights), pipeline (the
per-video pipeline), decoding and scoring; training/, corpus/ (downloads), app/ (the
page's parts), bench/ and cli/ (`lipread <verb>`) build on them.
"""
from lipread.model.loader import load_model
from lipread.pipeline import transcribe
from lipread.video import load_video

__all__ = ["load_model", "load_video", "transcribe"]
