"""The shipped network's test figures, as the app's sidebar shows them: models/metrics.json,
else the figures table of models/README.md. Never raises for a bad file.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from lipread.decoding import DECODERS


def _rate(value) -> float | None:
    """A rate as a fraction: 0.12, '12%', '12.0 %' and 12.0 all give 0.12."""
    if isinstance(value, str):
        match = re.search(r"\d+(?:\.\d+)?", value)
        if not match:
            return None
        number = float(match.group())
        return number / 100 if "%" in value or number > 1 else number
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value / 100 if value > 1 else float(value)
    return None


def read_model_card(models_dir) -> dict[str, dict[str, float]]:
    """Test WER/CER per decoder: models/metrics.json, else the table in models/README.md.

    Returns {} when neither says anything usable; never raises for a bad file.
    """
    models_dir = Path(models_dir)
    card: dict[str, dict[str, float]] = {}
    try:
        data = json.loads((models_dir / "metrics.json").read_text(encoding="utf-8"))
        for name in DECODERS:
            entry = data.get(name) if isinstance(data, dict) else None
            if isinstance(entry, dict):
                wer, cer = _rate(entry.get("wer")), _rate(entry.get("cer"))
                if wer is not None and cer is not None:
                    card[name] = {"wer": wer, "cer": cer}
    except (OSError, ValueError, AttributeError):
        pass
    if card:
        return card
    try:
        lines = (models_dir / "README.md").read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return {}
    columns = None
    for line in lines:
        if not line.strip().startswith("|"):
            columns = None
            continue
        cells = [re.sub(r"[*`_]", "", c).strip().lower()
                 for c in line.strip().strip("|").split("|")]
        if any("wer" in c for c in cells) and any("cer" in c for c in cells):
            columns = (next(i for i, c in enumerate(cells) if "wer" in c),
                       next(i for i, c in enumerate(cells) if "cer" in c))
            continue
        name = next((d for d in DECODERS if any(re.search(rf"\b{d}\b", c) for c in cells)), None)
        if columns and name and name not in card and max(columns) < len(cells):
            if columns[0] == columns[1]:  # one "WER / CER" column: "12% / 5%"
                parts = (cells[columns[0]].split("/") + [""])[:2]
                wer, cer = _rate(parts[0]), _rate(parts[1])
            else:
                wer, cer = _rate(cells[columns[0]]), _rate(cells[columns[1]])
            if wer is not None and cer is not None:
                card[name] = {"wer": wer, "cer": cer}
    return card
