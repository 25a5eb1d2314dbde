"""Per-track calibration of the DNN's probabilistic mask on test splits (issue 9 item 4).

For every track of each corpus's ``test`` split it computes the DNN mask
(:func:`core.karaoke.separate.probability_mask`) and its reliability against the ideal binary
mask of the reference stems (:func:`core.karaoke.calibration.stem_reliability`: silent bins
left out, unweighted, 15 bins; the same curve the Mask explorer draws), then prints the median,
min and max over tracks of the expected calibration error (ECE), and writes the table to
``bench/results/calibration.md``. The ECE stored in the checkpoint at training is the pooled one
of the validation split; this one is per track.

Usage (from the repo root)::

    .venv/bin/python bench/bench_calibration.py [--checkpoint assets/separator/dnn.pt] \
        [--corpora data/synth2,data/unseen] [--out bench/results/calibration.md]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core.karaoke.calibration import stem_reliability  # noqa: E402
from core.karaoke.separate import load_model, probability_mask  # noqa: E402
from core.karaoke.tracks import load_track, split_tracks  # noqa: E402


def track_eces(root: Path, model: object) -> list[float]:
    """ECE of the DNN mask of every track of ``root``'s test split."""
    out = []
    for path in split_tracks(root, "test"):
        track = load_track(path)
        res = probability_mask(track.mixture, track.sr, method="dnn", checkpoint=model)
        curve = stem_reliability(res.prob, track.references, stft_config=res.stft_config)
        out.append(float(curve.ece))
    return out


def main() -> None:
    """Print (and write to ``--out``) a Markdown table: corpus, tracks, per-track ECE."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--checkpoint", default=None, help="DNN checkpoint (default: shipped)")
    p.add_argument("--corpora", default="data/synth2,data/unseen",
                   help="comma-separated corpus roots; their test splits are used")  # fmt: skip
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "calibration.md"))
    args = p.parse_args()
    import torch

    torch.set_num_threads(2)
    model, _ = load_model("dnn", args.checkpoint)
    lines = ["| corpus (test split) | tracks | median per-track ECE | min | max |",
             "| --- | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for root in args.corpora.split(","):
        eces = track_eces(Path(root), model)
        lines.append(f"| `{root}` | {len(eces)} | {np.median(eces):.3f} | {min(eces):.3f} "
                     f"| {max(eces):.3f} |")  # fmt: skip
    text = "\n".join(lines) + "\n"
    print(text, end="")
    Path(args.out).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
