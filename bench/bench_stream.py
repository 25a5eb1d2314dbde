"""Streaming separation benchmark: speed on a 3-minute song, peak memory on long files.

Usage (from the repo root)::

    .venv/bin/python bench/bench_stream.py [--checkpoint assets/separator/dnn.pt] \
        [--minutes 5,10,20] [--repeats 2]

(a) a 3-minute 44.1 kHz stereo song (the demo mixtures in ``assets/demo_tracks``, resampled
    to 44.1 kHz and looped; mono tracks get a quieter right channel so the channels differ):

    - the in-process time of :func:`core.karaoke.stream.separate_file` (weights read and
      modules imported beforehand, best of ``--repeats``);
    - the network alone on the song's model-rate magnitudes, the torch path
      (:func:`core.karaoke.dnn.predict_prob`, the baseline) against the numpy path
      (:func:`core.karaoke.infer.predict_prob_fast`) in the same run, with their largest
      probability difference;
    - the old in-memory path in the same process (``load_audio`` + ``probability_mask`` per
      channel through torch + ``separate_at_alpha`` + ``write_audio``);
    - the whole ``genex separate`` command as a subprocess under ``/usr/bin/time -v`` (Python
      start, imports and weights included), and once under ``python -X importtime``: the
      import time and whether torch, scipy or librosa got imported.
(b) peak RSS ("Maximum resident set size" of ``/usr/bin/time -v``) of ``genex separate`` on
    5-, 10- and 20-minute stereo 44.1 kHz files, and of the old in-memory path on the 5-minute
    one. The files are generated in a temporary folder and deleted afterwards.

The machine may be shared: ``uptime``'s load averages before and after each part are printed,
and CPU time (user + system) is given next to wall time (2 cores: wall can be about half the
CPU time when both are free, and far more than it when other jobs hold them).

Prints a markdown section and writes it to ``bench/results/stream.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core.signal.audio import resample  # noqa: E402

SR = 44100
GENEX = str(REPO / ".venv" / "bin" / "genex")

#: The pre-streaming ``genex separate`` (whole file in memory, each channel through the model).
OLD_PATH = """
import sys
from core.karaoke.separate import probability_mask, separate_at_alpha
from core.signal.audio import load_audio, write_audio
y, sr = load_audio(sys.argv[1])
res = probability_mask(y, sr, method="dnn", checkpoint=sys.argv[3])
stems = separate_at_alpha(res, alpha=0.5)
write_audio(sys.argv[2] + "/vocals.wav", stems[0], sr)
write_audio(sys.argv[2] + "/accompaniment.wav", stems[1], sr)
"""


def demo_song() -> np.ndarray:
    """The demo mixtures at 44.1 kHz stereo, concatenated: ``(2, samples)`` float32."""
    parts = []
    for path in sorted((REPO / "assets" / "demo_tracks").glob("*/mixture.flac")):
        y, sr = sf.read(path, dtype="float32", always_2d=True)
        y = y.T
        if y.shape[0] == 1:
            y = np.concatenate([y, 0.8 * y])
        parts.append(resample(y, orig_sr=sr, target_sr=SR))
    return np.concatenate(parts, axis=1)


def write_song(path: Path, song: np.ndarray, seconds: float) -> Path:
    """Loop ``song`` to ``seconds`` and write it as a 32-bit float WAV, in pieces."""
    n = int(seconds * SR)
    with sf.SoundFile(path, "w", SR, 2, subtype="FLOAT", format="WAV") as fh:
        done = 0
        while done < n:
            take = min(song.shape[1], n - done)
            fh.write(np.ascontiguousarray(song[:, :take].T))
            done += take
    return path


def timed(cmd: list[str]) -> dict[str, float]:
    """Run ``cmd`` under ``/usr/bin/time -v``: wall and CPU seconds, peak RSS in MB."""
    res = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True,
                         cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "2"})  # fmt: skip
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stdout}\n{res.stderr}")
    err = res.stderr

    def field(name: str) -> str:
        m = re.search(rf"{re.escape(name)}: (.+)", err)
        if m is None:
            raise RuntimeError(f"no {name!r} in /usr/bin/time output:\n{err}")
        return m.group(1).strip()

    parts = [float(p) for p in field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")]
    wall = sum(p * 60**i for i, p in enumerate(reversed(parts)))
    user, system = float(field("User time (seconds)")), float(field("System time (seconds)"))
    rss_mb = int(field("Maximum resident set size (kbytes)")) / 1024
    return {"wall": wall, "cpu": user + system, "sys": system, "rss_mb": rss_mb}


def load() -> str:
    """The 1-, 5- and 15-minute load averages."""
    return " / ".join(f"{v:.1f}" for v in os.getloadavg())


def import_report(cmd: list[str]) -> dict[str, object]:
    """Run ``cmd`` (a Python script and its arguments) under ``-X importtime``.

    Returns the total import time (s, the top-level modules' cumulative times) and which of
    torch, scipy, librosa, pandas got imported.
    """
    res = subprocess.run([sys.executable, "-X", "importtime", *cmd], capture_output=True,
                         text=True, cwd=REPO)  # fmt: skip
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr[-2000:]}")
    total, names = 0, set()
    for line in res.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if m is None:
            continue
        names.add(m.group(3).split(".")[0])
        if len(m.group(2)) == 1:  # a top-level import
            total += int(m.group(1))
    heavy = [n for n in ("torch", "scipy", "librosa", "pandas") if n in names]
    return {"seconds": total / 1e6, "heavy": heavy}


def best(runs: list[tuple[float, float]]) -> tuple[float, float]:
    """The fastest (wall, CPU) of repeated runs."""
    return min(runs)


def clock(fn: object) -> tuple[float, float]:
    """Wall and CPU (process) seconds of ``fn()``."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", default=str(REPO / "assets" / "separator" / "dnn.pt"))
    ap.add_argument("--minutes", default="5,10,20", help="lengths for the memory test")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "stream.md"))
    args = ap.parse_args()

    import torch

    from core.karaoke.dnn import load_separator, predict_prob
    from core.karaoke.infer import predict_prob_fast, read_separator_weights
    from core.karaoke.separate import probability_mask, separate_at_alpha
    from core.karaoke.stream import separate_file
    from core.signal.audio import load_audio, write_audio
    from core.signal.stft import stft

    ckpt_name = Path(args.checkpoint).resolve()
    with contextlib.suppress(ValueError):
        ckpt_name = ckpt_name.relative_to(REPO)
    lines = [
        "## Streaming separation (`genex separate`, `core.karaoke.stream.separate_file`)",
        "",
        f"Run {datetime.now(UTC).isoformat(timespec='seconds')} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, numpy {np.__version__}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), model `{ckpt_name}`; made by "
        "`bench/bench_stream.py`.",
        "Wall times depend on what else runs: the load averages (1 / 5 / 15 minutes) are given "
        "per part (2.0 = both cores already busy).",
        "",
    ]
    song = demo_song()
    model = load_separator(args.checkpoint)  # the torch network (baselines)
    weights = read_separator_weights(args.checkpoint)  # the same weights, torch-free
    with tempfile.TemporaryDirectory(prefix="bench_stream_") as tmp_name:
        tmp = Path(tmp_name)
        # warm up imports, librosa's lazy modules and torch on a short file
        write_song(tmp / "short.wav", song, 5.0)
        separate_file(tmp / "short.wav", tmp / "warm", checkpoint=weights)
        y, _ = load_audio(tmp / "short.wav")
        separate_at_alpha(probability_mask(y, SR, checkpoint=model))

        # (a) speed on 3 minutes
        seconds = 180.0
        path = write_song(tmp / "song3.wav", song, seconds)
        load_a = load()
        stream_runs = []
        for i in range(args.repeats):
            out = tmp / f"new{i}"
            stream_runs.append(clock(lambda out=out: separate_file(path, out, checkpoint=weights)))
        res = separate_file(path, tmp / "new_info", checkpoint=weights)

        # the network alone, torch (baseline) against numpy, on the song's mono magnitudes
        y, _ = load_audio(path)
        mono = resample(y.mean(axis=0, keepdims=True), orig_sr=SR, target_sr=weights.config.sr)
        mag = np.abs(stft(mono, weights.config.stft_config))
        torch_net = [clock(lambda: predict_prob(model, mag)) for _ in range(args.repeats)]
        numpy_net = [clock(lambda: predict_prob_fast(weights, mag)) for _ in range(args.repeats)]
        net_diff = float(np.abs(predict_prob(model, mag) - predict_prob_fast(weights, mag)).max())
        del y, mono

        old_runs = []
        for i in range(args.repeats):

            def old(i: int = i) -> None:
                y, sr = load_audio(path)
                r = probability_mask(y, sr, checkpoint=model)
                stems = separate_at_alpha(r, alpha=0.5)
                (tmp / f"old{i}").mkdir()
                write_audio(tmp / f"old{i}" / "vocals.wav", stems[0], sr)
                write_audio(tmp / f"old{i}" / "accompaniment.wav", stems[1], sr)

            old_runs.append(clock(old))
        cli = [timed([GENEX, "separate", str(path), "--checkpoint", args.checkpoint,
                      "--out", str(tmp / f"cli{i}")]) for i in range(args.repeats)]  # fmt: skip
        imports = import_report([GENEX, "separate", str(path), "--checkpoint", args.checkpoint,
                                 "--out", str(tmp / "cli_imports")])  # fmt: skip
        load_a2 = load()
        nw, nc = best(stream_runs)
        ow, oc = best(old_runs)
        tw, tc = best(torch_net)
        pw, pc = best(numpy_net)
        cw, cc, cs = min((c["wall"], c["cpu"], c["sys"]) for c in cli)
        mask_mb = (tmp / "cli0" / "prob_mask.npy").stat().st_size / 1e6
        mask_shape = np.load(tmp / "cli0" / "prob_mask.npy", mmap_mode="r").shape
        heavy = ", ".join(imports["heavy"]) or "none of torch, scipy, librosa, pandas"  # type: ignore[arg-type]
        lines += [
            f"### 3-minute 44.1 kHz stereo song ({seconds:.0f} s), α = 0.5",
            "",
            f"Load average {load_a} before, {load_a2} after. Best of {args.repeats}.",
            "",
            "| path | wall s | CPU s | real-time factor (wall) |",
            "| --- | ---: | ---: | ---: |",
            f"| **`genex separate` CLI, whole command** (subprocess: Python start, imports, "
            f"weights) | {cw:.2f} | {cc:.2f} | **{seconds / cw:.0f}x** |",
            f"| streaming, in-process (`separate_file`, weights read) | {nw:.2f} | {nc:.2f} | "
            f"{seconds / nw:.0f}x |",
            f"| network only, numpy (`predict_prob_fast`, mono) | {pw:.2f} | {pc:.2f} | "
            f"{seconds / pw:.0f}x |",
            f"| network only, torch baseline (`predict_prob`, mono) | {tw:.2f} | {tc:.2f} | "
            f"{seconds / tw:.0f}x |",
            f"| old in-memory path, in-process (torch, mask per channel) | {ow:.2f} | {oc:.2f} | "
            f"{seconds / ow:.0f}x |",
            "",
            f"The CLI's CPU time: {cc - cs:.2f} s user + {cs:.2f} s system. Its `prob_mask.npy`: "
            f"shape {mask_shape}, {mask_mb:.0f} MB (float16, the mono downmix's mask once). "
            f"The CLI's imports: {imports['seconds']:.2f} s (`python -X importtime`, top-level "
            f"modules); imported heavy packages: {heavy}. The model's reader: "
            f"{res.info.get('dnn_reader')}; its CPU time in the streaming run: "
            f"{res.info.get('model_seconds')} s. Network numpy vs torch: "
            f"{tw / pw:.1f}x faster (wall), largest probability difference {net_diff:.1e}.",
            "",
        ]
        print("\n".join(lines), flush=True)

        # (b) peak memory
        for f in list(tmp.iterdir()):
            if f.is_dir():
                shutil.rmtree(f)
        rows = []
        load_b = load()
        for minutes in (float(m) for m in args.minutes.split(",")):
            path = write_song(tmp / f"song{minutes:g}.wav", song, minutes * 60)
            t = timed([GENEX, "separate", str(path), "--checkpoint", args.checkpoint,
                       "--out", str(tmp / f"mem{minutes:g}")])  # fmt: skip
            rows.append((f"streaming `genex separate`, {minutes:g} min", t, minutes))
            if minutes == 5:
                (tmp / "memold").mkdir()
                t = timed([sys.executable, "-c", OLD_PATH, str(path), str(tmp / "memold"),
                           args.checkpoint])  # fmt: skip
                rows.append((f"old in-memory path, {minutes:g} min", t, minutes))
            for g in (tmp / f"mem{minutes:g}").iterdir():
                g.unlink()
            path.unlink()
        lines += [
            "### Peak memory (`/usr/bin/time -v`, maximum resident set size)",
            "",
            f"Load average {load_b} before, {load()} after.",
            "",
            "| run | peak RSS MB | wall s | CPU s | real-time factor (wall) |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for name, t, minutes in rows:
            lines.append(f"| {name} | {t['rss_mb']:.0f} | {t['wall']:.1f} | {t['cpu']:.1f} | "
                         f"{minutes * 60 / t['wall']:.0f}x |")  # fmt: skip
        lines.append("")
        ours = [(m, t["rss_mb"]) for name, t, m in rows if name.startswith("streaming")]
        if len(ours) > 1:
            (m0, r0), (m1, r1) = min(ours), max(ours)
            lines += [
                f"Memory growth of the streaming command: {(r1 - r0) / (m1 - m0):.1f} MB per "
                f"minute of audio between {m0:g} and {m1:g} minutes (the signal itself is "
                f"{SR * 2 * 4 * 60 / 1e6:.0f} MB per minute as float32 stereo).",
                "",
            ]
    rss_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines.append(f"(This benchmark process itself peaked at {rss_self:.0f} MB, old path included.)")
    text = "\n".join(lines) + "\n"
    print("\n".join(lines[-12:]))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
