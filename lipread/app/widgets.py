"""The app's widgets and panels: each sidebar piece returns the user's choice, each panel
shows one thing. The page itself (what is read, cached and when) is app.py.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from lipread import decoding, face, grid, scoring, video
from lipread.app import cached, modelcard, pictures, stopwatch

ARCH = "lipnet"
MAX_UPLOAD_MB = 50  # also server.maxUploadSize in .streamlit/config.toml
UPLOAD_TYPES = [ext.lstrip(".") for ext in video.VIDEO_EXTS]


@st.cache_data(ttl=30, show_spinner=False)
def model_card(models_dir: str) -> dict:
    return modelcard.read_model_card(models_dir)


def by_speaker(clips: list[str]) -> dict[str, list[str]]:
    """{speaker: its clip names}, in the order of `clips` (grid.list_clips: by speaker)."""
    groups: dict[str, list[str]] = {}
    for name in clips:
        groups.setdefault(grid.speaker_of(name), []).append(name)
    return groups


def clip_caption(name: str, labels: dict[str, str], short: bool = False) -> str:
    """A picker entry: the clip's name and its split, "bbaf2n (test)"."""
    shown = grid.split_name(name)[1] if short else name
    return f"{shown} ({labels[name]})" if name in labels else shown


def pick_clip(data_dir: Path, clips: list[str], labels: dict[str, str]) -> str | None:
    """A clip name; with several speakers, a speaker first, then one of its clips. Each is
    marked train or test (`labels`, from the folder's splits); the first pick is a test
    clip, and a button picks a random one: the training clips read near perfectly and
    overstate what the reader can do."""
    if not clips:
        st.caption(f"No clips in `{grid.video_dir(data_dir)}`.")
        return None
    groups = by_speaker(clips)
    speaker = next(iter(groups))
    if len(groups) > 1:
        speaker = st.selectbox(f"Speaker ({len(groups)} in `{data_dir}`)", list(groups),
                               key="speaker",
                               format_func=lambda s: f"{s} ({len(groups[s])} clips)")
    options = groups[speaker]
    tests = [c for c in options if labels.get(c) == "test"]
    if st.session_state.get("clip") not in options:  # first visit, or another speaker
        st.session_state["clip"] = cached.first_clip(options, labels)

    def random_test_clip():
        st.session_state["clip"] = str(np.random.default_rng().choice(tests))

    held_out = f"; {len(tests)} held out for testing" if tests else ""
    clip = st.selectbox(f"GRID clip ({len(options)} in `{grid.video_dir(data_dir, speaker)}`"
                        f"{held_out})", options, key="clip",
                        format_func=lambda n: clip_caption(n, labels, short=len(groups) > 1),
                        help="train: the reader learned this clip, so it reads it near "
                             "perfectly; test: never seen in training, an honest reading")
    st.button("Random test clip", key="random_clip", on_click=random_test_clip,
              disabled=not tests)  # no tooltip: it would cover the picker above it
    return clip


def upload_box():
    """(the upload or None, what the user says was said, as typed)."""
    uploaded = st.file_uploader(
        f"…or your own video (up to {MAX_UPLOAD_MB} MB)", type=UPLOAD_TYPES,
        max_upload_size=MAX_UPLOAD_MB, key="upload",
        help="An upload is shown instead of the picked clip; remove it to go back.")
    st.caption(f"Film one frontal face, well lit, at least {face.MIN_FACE_PX} pixels wide, "
               "saying a GRID sentence (e.g. \"bin blue at f two now\"); any size and frame "
               "rate. 3 s are read, from the start you choose.")
    if uploaded is not None:
        st.caption("Showing your upload, not the clip picked above: remove the upload "
                   "(its ✕) to go back to the clips.")
    upload_id = uploaded.file_id if uploaded is not None else None
    if st.session_state.get("upload_truth_for") != upload_id:  # the truth is its upload's
        st.session_state["upload_truth_for"] = upload_id
        st.session_state["upload_truth"] = ""
    said = st.text_input("What was said (optional)", key="upload_truth",
                         disabled=uploaded is None, placeholder="bin blue at f two now",
                         help="Type the sentence said in your upload to see the reading "
                              "scored against it; an upload has no other truth.")
    return uploaded, said


def pick_crop() -> str:
    return st.radio("Mouth crop", video.CROPS, key="crop", horizontal=True,
                    help="; ".join(f"{k}: {v}" for k, v in video.CROP_HELP.items()))


def pick_decoder() -> str:
    return st.radio("Decoder", decoding.DECODERS, key="decoder", horizontal=True,
                    index=decoding.DECODERS.index(decoding.DEFAULT),
                    help="; ".join(f"{k}: {decoding.describe(k)}" for k in decoding.DECODERS))


def pick_reader(names: list[str]) -> str | None:
    """The general reader (None) or a person's profile; "reader_choice" in the session
    state survives a visit to another page (the teach page sets it)."""
    if not names:
        st.session_state.pop("reader_choice", None)
        return None
    options = [None, *names]
    chosen = st.session_state.get("reader_choice")
    index = options.index(chosen) if chosen in options else 0

    def keep():
        st.session_state["reader_choice"] = st.session_state["reader"]
    return st.selectbox("Reader", options, index=index, key="reader", on_change=keep,
                        format_func=lambda n: "general (GRID speaker s1)" if n is None
                        else f"{n}'s profile",
                        help="A profile is the reader adapted to one person (Teach it your "
                             "face); the general one learned GRID's speaker s1")


def model_panel(weights: Path, stamp: tuple | None, profile: str | None = None) -> None:
    st.subheader("Model")
    if profile is not None:
        from lipread.enroll import profiles

        try:
            card = profiles.card(profile)
            taught = card.get("trained_on")
            st.markdown(f"Reader: **{profile}'s profile** (`{weights.name}`), adapted from "
                        f"the general one by `{card['method']}`"
                        + (f" on {len(taught)} clips" if isinstance(taught, list) else ""))
        except profiles.ProfileError as err:
            st.caption(profiles.page_reason(err))
        return
    size = f", {stamp[2] / 1e6:.1f} MB" if stamp else ", **missing**"
    st.markdown(f"Architecture: `{ARCH}` (LipNet: 3D convolutions, 2 bidirectional GRUs)  \n"
                f"Weights: `{weights.name}`{size}")
    card = model_card(str(weights.parent))
    if not card:
        st.caption("Test WER / CER: not measured yet.")
    for name, rates in card.items():
        st.caption(f"Test {name}: WER {rates['wer']:.1%}, CER {rates['cer']:.1%}")


def marked(words: list[tuple[str, bool]], colour: str) -> str:
    return " ".join(w if ok else f":{colour}-background[**{w}**]" for w, ok in words) or "—"


def code_line(text: str) -> None:
    """`text` in a code font, as markdown: st.code would first load its 1.5 MB syntax
    highlighter into the browser, holding back a first visit's sentence by a second."""
    st.markdown(f"`{text.replace('`', chr(39))}`" if text else "")


def show_reading(said, truth: str | None, clock: stopwatch.Stopwatch,
                 truth_from: str = "the alignment", profile: str | None = None) -> None:
    """A Reading (lipread/reading.py): its tokens, sentence, confidence, and the truth."""
    tokens, sentence, decoder = said.tokens, said.sentence, said.decoder
    st.markdown("**Raw CTC tokens**: the network's class id at each of the 75 frames "
                f"({grid.BLANK_ID} is the CTC blank), then the same as characters (`_` blank)")
    with st.container(key="tokens"):
        code_line(" ".join(map(str, tokens)))
        code_line(pictures.token_chars(tokens))
    st.markdown(f"**Sentence** ({decoder} decoder)")
    with st.container(key="sentence"):
        code_line(sentence)
    clock.mark("sentence shown")
    show_confidence(said, profile=profile)
    if not sentence:
        st.info("The network emitted only blanks: it read nothing in this video.")
    if truth is None:
        return
    ref, hyp = scoring.word_diff(truth, sentence)
    with st.container(key="truth"):
        st.markdown(f"**Truth** (from {truth_from}): " + marked(ref, "orange"))
        st.markdown("**Read**: " + marked(hyp, "red"))
        wer, cer = scoring.error_rates([truth], [sentence])
        left, right = st.columns(2)
        left.metric("WER", f"{wer:.1%}", help="word edits / words in the truth")
        right.metric("CER", f"{cer:.1%}", help="character edits / characters in the truth")


def confidence_colour(value: float) -> str:
    return "green" if value >= 0.9 else "orange" if value >= 0.6 else "red"


def show_confidence(judged, key: str = "confidence", profile: str | None = None):
    """The grammar reading's words shaded by confidence, the sentence's figure, and a plain
    warning when it is unreliable (`judged`: a Reading, read by `profile` or the general
    reader)."""
    words = " ".join(f":{confidence_colour(w.confidence)}-background[{w.word} "
                     f"{w.confidence:.0%}]" for w in judged.words)
    with st.container(key=key):
        st.markdown(f"**How sure** (each word of the grammar reading; green 90% and up): "
                    f"{words}  \nSentence: {judged.confidence:.0%} that every word is right")
        if not judged.reliable:
            said = judged.unsure(profile)
            st.warning(said[0].upper() + said[1:] + ".")
    return judged


def load_truth(data_dir: Path, name: str | None, upload: bool = False) -> str | None:
    if upload:
        st.info("No truth for an upload unless you type what was said (sidebar, under the "
                "upload): the reading is shown alone.")
        return None
    path = grid.alignment_path(data_dir, name) if name else None
    if path is None or not path.is_file():
        missing = f" (`{path}` does not exist)" if path else ""
        st.info(f"No alignment for this video{missing}, so there's no truth to compare "
                "with. GRID clips have theirs in `alignments/sN/<name>.align`.")
        return None
    try:
        return grid.load_sentence(path)
    except grid.AlignmentError as err:
        st.info(f"The alignment of {name} can't be used ({err}): the reading is shown alone.")
        return None


def show_where(view: dict, crop: str) -> None:
    width, height = view["size"]
    if crop == "landmarks":
        caption = (f"Where the mouth was found ({width}x{height}, {view['fps']:g} fps): the "
                   "face box (green), the 20 lip points (red), the crop (yellow)")
        if view["faces"] > 1:
            caption += f"; {view['faces']} faces in the picture, the largest one is read"
    else:
        caption = f"The tutorial's fixed window (yellow) on the first frame ({width}x{height})"
    with st.container(key="where"):
        st.image(view["picture"], caption=caption, width="stretch")


def show_timings(clock: stopwatch.Stopwatch) -> None:
    with st.container(key="timings"):
        st.caption(f"Time taken: {clock.summary()}")
