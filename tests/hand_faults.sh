#!/bin/bash
# Weak tests, checked: each fault they name made by hand on a scratch worktree of
# HEAD, with the test that must now fail on it. Prints "caught" or "NOT CAUGHT" per fault;
# logs in $OUT. Usage: bash tests/hand_faults.sh  (LIPREAD_DATA_DIR, default ../shared/grid)
set -u
SRC=$(git rev-parse --show-toplevel); W=$(mktemp -d)/wt; OUT=$(mktemp -d)
DATA=${LIPREAD_DATA_DIR:-$SRC/../shared/grid}; OTHERS=${LIPREAD_OTHERS_DIR:-$SRC/../shared/others}
git -C "$SRC" worktree add -q --detach "$W" HEAD
cd "$W"; ln -s "$SRC/.venv" .venv
export LIPREAD_DATA_DIR=$(realpath "$DATA") LIPREAD_OTHERS_DIR=$(realpath "$OTHERS") CI=true
fault() {  # name, file, text to replace, its replacement, tests that must then fail
  local name="$1" file="$2" old="$3" new="$4"; shift 4
  git checkout -q -- .
  if ! timeout 900 .venv/bin/python -m pytest -q -x -p no:cacheprovider "$@" >"$OUT/$name.clean.log" 2>&1; then
    echo "TESTS FAIL WITHOUT THE FAULT: $name"; return
  fi
  python3 - "$file" "$old" "$new" <<'PY' || { echo "NOT MADE (its code changed): $name"; return; }
import sys; p,o,n=sys.argv[1:]; s=open(p).read(); assert o in s, o; open(p,'w').write(s.replace(o,n,1))
PY
  if timeout 900 .venv/bin/python -m pytest -q -x -p no:cacheprovider "$@" >"$OUT/$name.log" 2>&1; then
    echo "NOT CAUGHT: $name"
  else
    echo "caught: $name ($(grep -m1 -o '^FAILED [^ ]*\|^ERROR [^ ]*' "$OUT/$name.log"))"
  fi
}
fault skip-rule lipread/decoding.py "skip = [prev_char] if ids[k - 1] != c else []" "skip = [prev_char]" tests/test_decoding.py::test_a_doubled_letter_needs_a_blank_between_its_frames
fault own-rate lipread/video.py "stamp = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0" "stamp = start if last is None else last + 1.0 / FPS" tests/test_utils.py::test_other_frame_rates_take_the_frame_shown_at_each_25_fps_instant
fault per-frame-norm lipread/video.py "    std = x.std()
    x = (x - x.mean()) / (std if std > 1e-6 else 1.0)" "    std = x.std(axis=(1, 2), keepdims=True)
    x = (x - x.mean(axis=(1, 2), keepdims=True)) / np.maximum(std, 1e-6)" tests/test_utils.py::test_normalize_is_over_the_whole_clip
fault ctc-off lipread/training/losses.py "    return ops.ctc_loss(labels, log_probs," "    return 1.01 * ops.ctc_loss(labels, log_probs," tests/test_batches.py::test_ctc_loss_is_ctcs_definition_on_small_cases
fault warp-per-frame lipread/training/batches.py "cv2.warpAffine(f, m, (w, h)," "cv2.warpAffine(f, cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-WARP_DEGREES, WARP_DEGREES), scale), (w, h)," tests/test_batches.py::test_warp_keeps_the_crop_and_moves_it_a_little
fault crc-ignored lipread/corpus/archives.py "    if bad is not None:
        raise" "    if False:
        raise" tests/test_archives.py::test_a_member_failing_its_crc
fault fraction-of-1 lipread/cli/flagtypes.py "lambda v: 0 <= v < 1, \"from 0" "lambda v: 0 <= v <= 1, \"from 0" "tests/test_bad_input.py::test_flag_types_take_their_range_and_refuse_its_edges[fraction]"
fault unsmoothed lipread/mouth.py "SMOOTH_CENTRE = 9" "SMOOTH_CENTRE = 1" tests/test_mouth.py::test_crop_does_not_jitter
git checkout -q -- .
cd /; git -C "$SRC" worktree remove --force "$W"; echo "logs: $OUT"
