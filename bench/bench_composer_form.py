"""Does the composer keep the 12-bar form when it improvises? (issue 14's table, per model)

For each checkpoint: form accuracy with the threshold rule over 1,000 bars, with the melody sampled
(chords thresholded) over 1,000 bars, with chords sampled too over 200 bars at temperature 1.0 and
0.8 (median and minimum over seeds 0..9), the melody's chord-tone and in-scale shares, novelty
(longest run copied from the training corpus), recovery after forced wrong chords (bars until a
whole chorus is >= 95 % on the form again; threshold rule, and median over the sampled seeds), and
the training time stored in the checkpoint. Prints a markdown section and writes it to
``bench/results/composer_form.md``.

Usage: OMP_NUM_THREADS=1 .venv/bin/python bench/bench_composer_form.py \
    [--models exp2 exp2_softmax exp2_form] [--seeds 10]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

#: Forced wrong chords: bars 25-26 (the first two bars of the third chorus), and bar 29 alone.
PERTURB_2 = (24, 2)
PERTURB_1 = (28, 1)
RECOVERY_BARS = 72


def measure(name: str, seeds: int) -> dict[str, float]:
    """The table's row of one shipped model."""
    from core.blues.generate import compose
    from core.blues.measures import form_accuracy, measure_composition, novelty, recovery_bars
    from core.blues.model import load_composer, training_corpus_recipe
    from core.blues.representation import make_corpus

    path = Path(name) if name.endswith(".pt") else REPO_ROOT / "assets" / "composer" / f"{name}.pt"
    model = load_composer(path)
    form = model.form
    row: dict[str, float] = {}
    t0 = time.perf_counter()
    row["threshold_1000"] = form_accuracy(compose(model, bars=1000, seed=1).roll, form=form)
    mel = compose(model, bars=1000, seed=1, mode="sample", temperature=1.0)
    row["sample_melody_1000"] = form_accuracy(mel.roll, form=form)
    m = measure_composition(mel)
    row["chord_tone_share"] = m.get("chord_tone_share", float("nan"))
    row["in_scale_share"] = m.get("in_scale_share", float("nan"))
    for temp in (1.0, 0.8):
        accs = [
            form_accuracy(compose(model, bars=200, seed=s, mode="sample", temperature=temp,
                                  sample_chords=True).roll, form=form)
            for s in range(seeds)
        ]  # fmt: skip
        row[f"sampled_T{temp}_median"] = float(np.median(accs))
        row[f"sampled_T{temp}_min"] = float(np.min(accs))
    sampled = compose(model, bars=200, seed=1, mode="sample", temperature=1.0, sample_chords=True)
    ms = measure_composition(sampled)
    row["sampled_chord_tone_share"] = ms.get("chord_tone_share", float("nan"))
    row["sampled_in_scale_share"] = ms.get("in_scale_share", float("nan"))
    recipe = training_corpus_recipe(model)
    corpus = make_corpus(form=form, n_segments=recipe.n_segments, seed=recipe.seed,
                         melody=recipe.melody)  # fmt: skip
    nov = novelty(sampled.roll, corpus=corpus)
    row["longest_copied_bars"] = nov["longest_copied_bars"]
    row["ngram_overlap"] = nov["ngram_overlap"]
    for label, (p0, pn) in (("2", PERTURB_2), ("1", PERTURB_1)):
        after = p0 + pn
        thr = compose(model, bars=RECOVERY_BARS, perturb=(p0, pn))
        row[f"recovery{label}_threshold"] = recovery_bars(thr.roll, form=form, after_bar=after)
        recs = [
            recovery_bars(compose(model, bars=RECOVERY_BARS, seed=s, mode="sample",
                                  sample_chords=True, perturb=(p0, pn)).roll,
                          form=form, after_bar=after)
            for s in range(seeds)
        ]  # fmt: skip
        row[f"recovery{label}_sampled_median"] = float(np.median(recs))
        row[f"recovery{label}_sampled_recovered"] = float(np.mean(np.isfinite(recs)))
    summary = (model.meta or {}).get("summary") or {}
    row["train_seconds"] = float(summary.get("train_seconds", float("nan")))
    row["measure_seconds"] = time.perf_counter() - t0
    return row


def _cell(v: float, kind: str = "acc") -> str:
    if not np.isfinite(v):
        return "never" if np.isposinf(v) else "–"
    if kind == "bars":
        return f"{v:.0f}"
    if kind == "s":
        return f"{v:.0f} s"
    return f"{v:.4f}"


def main() -> None:
    """Measure the models and print a markdown section."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="+", default=["exp2", "exp2_softmax", "exp2_form"],
                        help="shipped model names, or paths to .pt checkpoints")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results" /
                        "composer_form.md")  # fmt: skip
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()

    import torch

    rows = {name: measure(name, args.seeds) for name in args.models}
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                             capture_output=True, text=True).stdout.strip()  # fmt: skip
    except OSError:
        rev = "?"
    cmd = f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '?')} .venv/bin/python " + \
        " ".join(["bench/bench_composer_form.py", *sys.argv[1:]])
    n = args.seeds
    spec = [
        ("threshold rule, 1,000 bars (seed 1)", "threshold_1000", "acc"),
        ("melody sampled, chords thresholded, T 1.0, 1,000 bars", "sample_melody_1000", "acc"),
        (f"**chords sampled too, T 1.0, 200 bars: median of {n} seeds**",
         "sampled_T1.0_median", "acc"),
        (f"chords sampled, T 1.0, 200 bars: worst of {n} seeds", "sampled_T1.0_min", "acc"),
        (f"chords sampled, T 0.8, 200 bars: median of {n} seeds", "sampled_T0.8_median", "acc"),
        ("chord-tone share (melody sampled, 1,000 bars)", "chord_tone_share", "acc"),
        ("in-scale share (melody sampled, 1,000 bars)", "in_scale_share", "acc"),
        ("chord-tone share (chords sampled, 200 bars, seed 1)", "sampled_chord_tone_share", "acc"),
        ("in-scale share (chords sampled, 200 bars, seed 1)", "sampled_in_scale_share", "acc"),
        ("novelty: longest copied run (bars; chords sampled, seed 1)",
         "longest_copied_bars", "acc"),
        ("novelty: one-bar n-gram overlap with the corpus", "ngram_overlap", "acc"),
        ("recovery after bars 25-26 forced wrong, threshold rule (bars)",
         "recovery2_threshold", "bars"),
        (f"recovery after bars 25-26 forced wrong, chords sampled: median of {n} (bars)",
         "recovery2_sampled_median", "bars"),
        ("share of those sampled runs that recover", "recovery2_sampled_recovered", "acc"),
        ("recovery after bar 29 forced wrong, threshold rule (bars)",
         "recovery1_threshold", "bars"),
        (f"recovery after bar 29 forced wrong, chords sampled: median of {n} (bars)",
         "recovery1_sampled_median", "bars"),
        ("training time (from the checkpoint's meta)", "train_seconds", "s"),
    ]  # fmt: skip
    lines = [
        "## Composer: keeping the form while improvising (issue 14)",
        "",
        f"`{cmd}` — {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, commit {rev}, "
        f"{os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"load average {os.getloadavg()[0]:.1f} at the end.",
        "",
        "| measure | " + " | ".join(f"`{m}`" for m in args.models) + " |",
        "| --- |" + " --- |" * len(args.models),
    ]
    for label, key, kind in spec:
        lines.append(f"| {label} | " + " | ".join(_cell(rows[m][key], kind)
                                                 for m in args.models) + " |")  # fmt: skip
    lines += [
        "",
        "Form accuracy: share of steps whose 12 chord units equal the form's chord. Recovery: bars "
        "after the forced chords until a whole chorus (12 bars) is >= 95 % on the form again "
        f"(`never`: not within the {RECOVERY_BARS}-bar piece); a forced bar plays the next "
        "chord of the vocabulary (C7 -> F7 -> G7 -> C7).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
