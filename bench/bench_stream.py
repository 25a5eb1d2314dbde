"""Streaming separation benchmark: speed on a 3-minute song, peak memory on long files.

Usage (from the repo root)::

    .venv/bin/python bench/bench_stream.py [--checkpoint assets/separator/dnn.pt] \
        [--minutes 5,10,20] [--repeats 2]

(a) a 3-minute 44.1 kHz stereo song (the demo mixtures in ``assets/demo_tracks``, resampled
    to 44.1 kHz and looped; mono tracks get a quieter right channel so the channels differ):
    the in-process time of :func:`core.karaoke.stream.separate_file` (model loaded and modules
    imported beforehand, best of ``--repeats``), the old in-memory path in the same process
    (``load_audio`` + ``probability_mask`` per channel + ``separate_at_alpha`` + ``write_audio``,
    what ``genex separate`` did before), and the whole ``genex separate`` command's wall time
    under ``/usr/bin/time -v`` (Python start, imports and model load included).
(b) peak RSS ("Maximum resident set size" of ``/usr/bin/time -v``) of ``genex separate`` on
    5-, 10- and 20-minute stereo 44.1 kHz files, and of the old in-memory path on the 5-minute
    one. The files are generated in a temporary folder and deleted afterwards.

The machine may be shared: the 1-minute load average before and after each part is printed,
and CPU time (user + system) is given next to wall time.

Prints a markdown section and writes it to ``bench/results/stream.md``.
"""

from __future__ import annotations

import argparse
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
    cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
    rss_mb = int(field("Maximum resident set size (kbytes)")) / 1024
    return {"wall": wall, "cpu": cpu, "rss_mb": rss_mb}


def load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", default=str(REPO / "assets" / "separator" / "dnn.pt"))
    ap.add_argument("--minutes", default="5,10,20", help="lengths for the memory test")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "stream.md"))
    args = ap.parse_args()

    import torch

    from core.karaoke.dnn import load_separator
    from core.karaoke.separate import probability_mask, separate_at_alpha
    from core.karaoke.stream import separate_file
    from core.signal.audio import load_audio, write_audio

    lines = [
        "## Streaming separation (`genex separate`, `core.karaoke.stream.separate_file`)",
        "",
        f"Run {datetime.now(UTC).isoformat(timespec='seconds')} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"model `{Path(args.checkpoint).relative_to(REPO)}`; made by `bench/bench_stream.py`.",
        "Wall times depend on what else runs: the 1-minute load average is given per part "
        "(2.0 = both cores already busy).",
        "",
    ]
    song = demo_song()
    model = load_separator(args.checkpoint)
    with tempfile.TemporaryDirectory(prefix="bench_stream_") as tmp_name:
        tmp = Path(tmp_name)
        # warm up imports, librosa's lazy modules and torch on a short file
        write_song(tmp / "short.wav", song, 5.0)
        separate_file(tmp / "short.wav", tmp / "warm", checkpoint=model)
        y, _ = load_audio(tmp / "short.wav")
        separate_at_alpha(probability_mask(y, SR, checkpoint=model))

        # (a) speed on 3 minutes
        seconds = 180.0
        path = write_song(tmp / "song3.wav", song, seconds)
        load_a = load()
        new_wall, new_cpu = [], []
        for i in range(args.repeats):
            c0, t0 = time.process_time(), time.perf_counter()
            res = separate_file(path, tmp / f"new{i}", checkpoint=model)
            new_wall.append(time.perf_counter() - t0)
            new_cpu.append(time.process_time() - c0)
        old_wall, old_cpu = [], []
        for i in range(args.repeats):
            c0, t0 = time.process_time(), time.perf_counter()
            y, sr = load_audio(path)
            r = probability_mask(y, sr, checkpoint=model)
            stems = separate_at_alpha(r, alpha=0.5)
            (tmp / f"old{i}").mkdir()
            write_audio(tmp / f"old{i}" / "vocals.wav", stems[0], sr)
            write_audio(tmp / f"old{i}" / "accompaniment.wav", stems[1], sr)
            old_wall.append(time.perf_counter() - t0)
            old_cpu.append(time.process_time() - c0)
            del y, r, stems
        cli = [timed([GENEX, "separate", str(path), "--checkpoint", args.checkpoint,
                      "--out", str(tmp / f"cli{i}")]) for i in range(args.repeats)]  # fmt: skip
        load_a2 = load()
        nw, nc, ow, oc = min(new_wall), min(new_cpu), min(old_wall), min(old_cpu)
        cw = min(c["wall"] for c in cli)
        cc = min(c["cpu"] for c in cli)
        lines += [
            f"### 3-minute 44.1 kHz stereo song ({seconds:.0f} s), α = 0.5",
            "",
            f"Load average {load_a} before, {load_a2} after. Best of {args.repeats}.",
            "",
            "| path | wall s | CPU s | real-time factor (wall) |",
            "| --- | ---: | ---: | ---: |",
            f"| streaming, in-process (`separate_file`, model loaded) | {nw:.2f} | {nc:.2f} | "
            f"{seconds / nw:.0f}x |",
            f"| old in-memory path, in-process (mask per channel) | {ow:.2f} | {oc:.2f} | "
            f"{seconds / ow:.0f}x |",
            f"| `genex separate` CLI, whole command (Python start, imports, model load) | "
            f"{cw:.2f} | {cc:.2f} | {seconds / cw:.0f}x |",
            "",
            f"Streaming vs old in-process: {ow / nw:.1f}x faster (wall), {oc / nc:.1f}x less CPU. "
            f"Model share of the streaming run: {res.info.get('model_seconds')} s.",
            "",
        ]
        print("\n".join(lines), flush=True)

        # (b) peak memory
        for f in list(tmp.iterdir()):
            if f.is_dir():
                shutil.rmtree(f)
        rows = []
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
            f"Load average {load()} after.",
            "",
            "| run | peak RSS MB | wall s | CPU s | real-time factor (wall) |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for name, t, minutes in rows:
            lines.append(f"| {name} | {t['rss_mb']:.0f} | {t['wall']:.1f} | {t['cpu']:.1f} | "
                         f"{minutes * 60 / t['wall']:.0f}x |")  # fmt: skip
        lines.append("")
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
