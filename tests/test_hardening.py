"""Issue 10 (hardening): each finding reproduced by injecting its fault, and pinned.

Faults are injected as a user meets them: a truncated or malformed file, a header that lies,
a second run into the same folder, a Ctrl-C in the middle of a run, a corrupt results file.
"""

from __future__ import annotations

import io
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.cli import main
from core.errors import InvalidAudioError, InvalidConfigError, OutputError
from core.io_utils import LOCK_NAME, atomic_write_bytes, output_lock
from core.karaoke.separate import input_stft_config
from core.karaoke.stream import separate_file
from core.signal.audio import load_audio

SR = 8000
OUTPUTS = ("vocals.wav", "accompaniment.wav")


def _mixture(path: Path, rng: np.random.Generator, *, seconds: float = 0.5) -> Path:
    y = 0.1 * rng.standard_normal((int(SR * seconds), 1)).astype(np.float32)
    sf.write(path, y, SR, subtype="FLOAT")
    return path


def _mask(path: Path, rng: np.random.Generator, *, samples: int, value: float | None = None):
    cfg = input_stft_config(SR)
    shape = (1, cfg.n_bins, 1 + samples // cfg.hop_length)
    mask = rng.uniform(size=shape).astype(np.float16)
    if value is not None:
        mask[0, 3, 2] = value
    np.save(path, mask)
    return path


@pytest.fixture
def done(tmp_path, rng):
    """A mixture, a mask and a finished ``separate --from-mask`` output folder."""
    mix = _mixture(tmp_path / "mix.wav", rng)
    mask = _mask(tmp_path / "mask.npy", rng, samples=int(SR * 0.5))
    out = tmp_path / "out"
    assert main(["separate", str(mix), "--from-mask", str(mask), "--out", str(out)]) == 0
    return mix, mask, out


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


# --------------------------------------------------------------------------- the CLI top level


def test_an_oserror_is_one_line_exit_2_and_debug_shows_the_traceback(tmp_path, monkeypatch, capsys):
    import core.cli as cli

    def full_disk(args):
        raise OSError(28, "No space left on device", str(tmp_path / "out.json"))

    real = cli.build_parser

    def patched():
        parser = real()
        sub = next(a for a in parser._actions if a.dest == "command")
        sub.choices["results"].set_defaults(func=full_disk)
        return parser

    monkeypatch.setattr(cli, "build_parser", patched)
    assert main(["results", str(tmp_path)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "No space left on device" in line and "out.json" in line
    with pytest.raises(OSError, match="No space left"):
        main(["--debug", "results", str(tmp_path)])


def test_ctrl_c_is_one_line_exit_130_and_leaves_the_old_outputs(done, monkeypatch, capsys):
    import core.karaoke.stream as stream

    mix, mask, out = done
    before = _snapshot(out)
    capsys.readouterr()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(stream, "threshold_masks", interrupted)
    rc = main(["separate", str(mix), "--from-mask", str(mask), "--alpha", "0.9",
               "--out", str(out)])  # fmt: skip
    assert rc == 130
    assert capsys.readouterr().err.strip() == "interrupted"
    assert _snapshot(out) == before  # no temp file, no lock file, the old result intact


# --------------------------------------------------------------------------- separate


def test_separate_out_an_existing_file_fails_before_the_model_loads(tmp_path, rng, capsys):
    mix = _mixture(tmp_path / "mix.wav", rng)
    target = tmp_path / "taken"
    target.write_text("mine")
    # a missing checkpoint would fail too, but only once the model loads: the path fails first
    rc = main(["separate", str(mix), "--checkpoint", str(tmp_path / "none.pt"),
               "--out", str(target)])  # fmt: skip
    assert rc == 2
    assert "is an existing file" in _one_error_line(capsys.readouterr().err)
    assert target.read_text() == "mine"


def test_separate_out_under_a_file_fails_with_one_line(tmp_path, rng, capsys):
    mix = _mixture(tmp_path / "mix.wav", rng)
    (tmp_path / "file").write_text("x")
    rc = main(["separate", str(mix), "--out", str(tmp_path / "file" / "sub")])
    assert rc == 2
    assert "is a file" in _one_error_line(capsys.readouterr().err)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_separate_out_in_a_read_only_folder_fails_with_one_line(tmp_path, rng, capsys):
    mix = _mixture(tmp_path / "mix.wav", rng)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert main(["separate", str(mix), "--out", str(ro / "out")]) == 2
        assert "read-only" in _one_error_line(capsys.readouterr().err)
    finally:
        ro.chmod(0o755)


def test_a_bad_alpha_rerun_leaves_a_good_folder_untouched(done, capsys):
    mix, mask, out = done
    before = _snapshot(out)
    rc = main(["separate", str(mix), "--from-mask", str(mask), "--alpha", "1.5",
               "--out", str(out)])  # fmt: skip
    assert rc == 2 and _snapshot(out) == before


def test_a_failing_in_memory_rerun_leaves_no_mix_of_files(tmp_path, rng, monkeypatch, capsys):
    import core.karaoke.separate as separate

    refs = 0.1 * rng.standard_normal((2, 1, SR)).astype(np.float32)
    song = tmp_path / "song"
    song.mkdir()
    for name, y in (("vocals", refs[0]), ("accompaniment", refs[1]), ("mixture", refs.sum(0))):
        sf.write(song / f"{name}.wav", y.T, SR, subtype="FLOAT")
    out = tmp_path / "out"
    args = ["separate", str(song / "mixture.wav"), "--method", "oracle",
            "--references", str(song), "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    before = _snapshot(out)
    assert set(before) == {*OUTPUTS, "prob_mask.npy", "separation.json"}

    def fails(*a, **k):
        raise InvalidConfigError("injected failure after the mask")

    monkeypatch.setattr(separate, "separate_at_alpha", fails)
    assert main([*args, "--alpha", "0.3"]) == 2
    assert _snapshot(out) == before


def test_a_concurrent_run_into_the_same_folder_is_refused(done, capsys):
    mix, mask, out = done
    before = _snapshot(out)
    with output_lock(out):  # another run holds the folder (flock conflicts across descriptors)
        rc = main(["separate", str(mix), "--from-mask", str(mask), "--out", str(out)])
        assert rc == 2
        line = _one_error_line(capsys.readouterr().err)
        assert "being written by another genex run" in line and f"pid {os.getpid()}" in line
    assert _snapshot(out) == before
    with pytest.raises(OutputError, match="another genex run"), output_lock(out):
        separate_file(mix, out, from_mask=mask)
    assert not (out / LOCK_NAME).exists()


def test_the_lock_is_released_and_a_created_folder_removed_on_failure(tmp_path):
    out = tmp_path / "new"
    with pytest.raises(RuntimeError), output_lock(out):
        assert (out / LOCK_NAME).is_file()
        raise RuntimeError("fails")
    assert not out.exists()
    with output_lock(out):
        (out / "kept").write_text("x")
    assert sorted(p.name for p in out.iterdir()) == ["kept"]


def test_a_nan_mask_is_refused_and_writes_nothing(done, rng, capsys):
    mix, _, out = done
    before = _snapshot(out)
    bad = _mask(out.parent / "nan_mask.npy", rng, samples=int(SR * 0.5), value=float("nan"))
    rc = main(["separate", str(mix), "--from-mask", str(bad), "--out", str(out)])
    assert rc == 2
    assert "NaN or infinite" in _one_error_line(capsys.readouterr().err)
    assert _snapshot(out) == before
    inf = _mask(out.parent / "inf_mask.npy", rng, samples=int(SR * 0.5), value=float("inf"))
    with pytest.raises(InvalidConfigError, match="NaN or infinite"):
        separate_file(mix, out.parent / "fresh", from_mask=inf)
    assert not (out.parent / "fresh").exists()


@pytest.mark.parametrize("text", ['{"stft_config": {"n_fft": 37', "[1, 2]",
                                  '{"stft_config": 5}'])  # fmt: skip
def test_a_corrupt_separation_json_beside_the_mask_is_one_line(done, capsys, text):
    mix, _, out = done
    (out / "separation.json").write_text(text)
    rc = main(["separate", str(mix), "--from-mask", str(out / "prob_mask.npy"),
               "--out", str(out.parent / "again")])  # fmt: skip
    assert rc == 2
    assert "separation.json" in _one_error_line(capsys.readouterr().err)


def test_outputs_get_the_users_umask(tmp_path, rng):
    old = os.umask(0o022)
    try:
        mix = _mixture(tmp_path / "mix.wav", rng)
        mask = _mask(tmp_path / "mask.npy", rng, samples=int(SR * 0.5))
        out = tmp_path / "out"
        assert main(["separate", str(mix), "--from-mask", str(mask), "--out", str(out)]) == 0
        for p in out.iterdir():
            assert p.stat().st_mode & 0o777 == 0o644, p.name
        os.umask(0o077)
        path = atomic_write_bytes(tmp_path / "private.bin", b"x")
        assert path.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_the_length_limit_names_a_flag_that_exists(tmp_path, rng, capsys):
    mix = _mixture(tmp_path / "mix.wav", rng, seconds=2.0)
    mask = _mask(tmp_path / "mask.npy", rng, samples=2 * SR)
    out = tmp_path / "out"
    args = ["separate", str(mix), "--from-mask", str(mask), "--out", str(out)]
    assert main([*args, "--max-seconds", "1"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "--max-seconds" in line
    assert main([*args, "--max-seconds", "3"]) == 0
    assert main([*args, "--max-seconds", "nan"]) == 2


# --------------------------------------------------------------------------- audio loading


def _wav_claiming(rate: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.zeros((800, 1), np.float32), SR, format="WAV", subtype="PCM_16")
    data = bytearray(buf.getvalue())
    data[24:28] = struct.pack("<I", rate)
    data[28:32] = struct.pack("<I", (rate * 2) & 0xFFFFFFFF)
    return bytes(data)


def test_a_header_claiming_a_huge_sample_rate_is_refused(tmp_path, capsys):
    data = _wav_claiming(2**31 - 1)
    with pytest.raises(InvalidAudioError, match="at most 384000 Hz"):
        load_audio(data)
    path = tmp_path / "liar.wav"
    path.write_bytes(data)
    with pytest.raises(InvalidAudioError, match="at most 384000 Hz"):
        separate_file(path, tmp_path / "out", checkpoint=tmp_path / "unused.pt")
    assert not (tmp_path / "out").exists()
    assert main(["separate", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "384000" in _one_error_line(capsys.readouterr().err)


def test_nan_max_seconds_and_a_huge_target_rate_are_refused(tmp_path, rng):
    mix = _mixture(tmp_path / "mix.wav", rng)
    for bad in (float("nan"), 0.0, -1.0):
        with pytest.raises(InvalidConfigError, match="max_seconds"):
            load_audio(mix, max_seconds=bad)
    with pytest.raises(InvalidAudioError, match="target sr"):
        load_audio(mix, sr=10**9)
    with pytest.raises(InvalidConfigError, match="max_seconds"):
        separate_file(mix, tmp_path / "out", max_seconds=float("nan"))


# --------------------------------------------------------------------------- evaluate, results


def _corpus(root: Path, rng: np.random.Generator, n: int = 2) -> Path:
    t = np.arange(SR) / SR
    for i in range(n):
        folder = root / f"song{i}"
        folder.mkdir(parents=True)
        voc = 0.3 * np.sin(2 * np.pi * (300 + 50 * i) * t) + 0.01 * rng.standard_normal(t.size)
        acc = 0.2 * np.sign(np.sin(2 * np.pi * 110 * t)) + 0.02 * rng.standard_normal(t.size)
        for name, y in (("vocals", voc), ("accompaniment", acc), ("mixture", voc + acc)):
            sf.write(folder / f"{name}.wav", y.astype(np.float32), SR, subtype="FLOAT")
    return root


def test_a_tiny_alpha_step_is_refused_at_once_and_the_cap_can_be_raised(tmp_path, capsys):
    import time

    from core.evaluation.sweep import parse_alphas

    t0 = time.perf_counter()
    for spec in ("0:1:1e-9", "0:1:1e-300", "0:1:5e-324"):
        with pytest.raises(InvalidConfigError, match="--max-alphas"):
            parse_alphas(spec)
    assert time.perf_counter() - t0 < 1.0
    with pytest.raises(InvalidConfigError, match="at most 1,001"):
        parse_alphas([i / 2000 for i in range(2001)])
    assert len(parse_alphas("0:1:0.0005", max_values=2001)) == 2001
    with pytest.raises(InvalidConfigError, match="finite"):
        parse_alphas("0:inf:0.1")
    rc = main(["evaluate", "--data", str(tmp_path), "--alphas", "0:1:1e-7",
               "--out", str(tmp_path / "run")])  # fmt: skip
    assert rc == 2
    assert "--max-alphas" in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "run").exists()


def test_evaluate_out_an_existing_file_fails_before_the_work(tmp_path, rng, capsys):
    corpus = _corpus(tmp_path / "data", rng, n=1)
    target = tmp_path / "taken.json"
    target.write_text("{}")
    rc = main(["evaluate", "--data", str(corpus), "--methods", "oracle", "--alphas", "0.5",
               "--out", str(target), "--quiet"])  # fmt: skip
    assert rc == 2
    assert "is an existing file" in _one_error_line(capsys.readouterr().err)
    assert target.read_text() == "{}"


@pytest.mark.parametrize("flags", [["--win", "0"], ["--hop", "nan"], ["--max-seconds", "nan"]])
def test_a_bad_window_writes_no_config_so_the_fixed_rerun_is_not_refused(tmp_path, rng, flags):
    corpus = _corpus(tmp_path / "data", rng, n=1)
    out = tmp_path / "run"
    argv = ["evaluate", "--data", str(corpus), "--methods", "oracle", "--alphas", "0.5",
            "--out", str(out), "--quiet"]  # fmt: skip
    assert main([*argv, *flags]) == 2
    assert not out.exists()
    assert main(argv) == 0


def test_a_concurrent_evaluate_into_the_same_folder_is_refused(tmp_path, rng, capsys):
    corpus = _corpus(tmp_path / "data", rng, n=1)
    out = tmp_path / "run"
    with output_lock(out):
        rc = main(["evaluate", "--data", str(corpus), "--methods", "oracle", "--alphas", "0.5",
                   "--out", str(out), "--quiet"])  # fmt: skip
        assert rc == 2
        assert "another genex run" in _one_error_line(capsys.readouterr().err)
    assert not out.exists()


def test_results_names_a_truncated_track_file_and_counts_the_complete_ones(tmp_path, rng, capsys):
    corpus = _corpus(tmp_path / "data", rng, n=3)
    out = tmp_path / "run"
    argv = ["evaluate", "--data", str(corpus), "--methods", "oracle", "--alphas", "0.25,0.75",
            "--out", str(out), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()
    victim = out / "song1.oracle.json"
    text = victim.read_text()
    victim.write_text(text[: len(text) // 2])  # a truncated write
    assert main(["results", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2 of 3 track×method files complete" in printed
    assert "song1.oracle.json is corrupt" in printed
    # the same command redoes the corrupt file only, and the run is whole again
    assert main(argv) == 0
    assert json.loads(victim.read_text())["track"] == "song1"
    assert main(["results", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "3 of 3 track×method files complete" in printed and "corrupt" not in printed


# --------------------------------------------------------------------------- compose


def _long_note_midi(*, slow_beats: int) -> bytes:
    """One note from 0 s; 120 bpm for a beat, then the slowest tempo MIDI holds (3.6 bpm).

    ``split_pitch_rolls`` quantises at the first tempo, so every slow beat counts as 8.4 bars.
    """
    import mido

    mid = mido.MidiFile(ticks_per_beat=96)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=500_000, time=0))
    track.append(mido.Message("note_on", note=60, velocity=90, time=0))
    track.append(mido.MetaMessage("set_tempo", tempo=16_777_215, time=96))
    track.append(mido.Message("note_off", note=60, velocity=0, time=96 * slow_beats))
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def test_a_tiny_primer_with_a_note_ending_days_later_is_refused(tmp_path, capsys):
    import time

    from core.blues.generate import compose
    from core.blues.midi import midi_to_roll
    from core.blues.model import ComposerConfig, build_model, save_composer
    from core.errors import InvalidMidiError

    data = _long_note_midi(slow_beats=14_800)  # 50 bytes, the note ends after 247,600 s
    assert len(data) < 100
    t0 = time.perf_counter()
    with pytest.raises(InvalidMidiError, match="at most 2,000 bars"):
        midi_to_roll(data)
    assert time.perf_counter() - t0 < 1.0
    # within the file cap, the primer and --bars together stay within 2000 bars
    model = build_model(ComposerConfig(experiment=2), seed=0)
    prime = midi_to_roll(_long_note_midi(slow_beats=237))  # 1988 bars at the first tempo
    assert 1980 * 8 < prime.shape[1] <= 2000 * 8
    with pytest.raises(InvalidConfigError, match="at most 2000 in total"):
        compose(model, bars=12, prime=prime)
    ckpt = save_composer(tmp_path / "tiny.pt", model, meta={"command": "test"})
    (tmp_path / "long.mid").write_bytes(data)
    out = tmp_path / "song.mid"
    rc = main(["compose", "--checkpoint", str(ckpt), "--bars", "12",
               "--prime-midi", str(tmp_path / "long.mid"), "--out", str(out)])  # fmt: skip
    assert rc == 2
    assert "2,000 bars" in _one_error_line(capsys.readouterr().err)
    assert not out.exists()


def test_compose_out_a_folder_fails_before_the_model_loads(tmp_path, capsys):
    rc = main(["compose", "--checkpoint", str(tmp_path / "missing.pt"),
               "--out", str(tmp_path)])  # fmt: skip
    assert rc == 2
    assert "is an existing folder" in _one_error_line(capsys.readouterr().err)
    rc = main(["compose", "--checkpoint", str(tmp_path / "missing.pt"),
               "--out", str(tmp_path / "a.mid"), "--wav", str(tmp_path)])  # fmt: skip
    assert rc == 2
    assert "--wav" in _one_error_line(capsys.readouterr().err)


# --------------------------------------------------------------------------- property: decoding


def _seed_files() -> list[bytes]:
    """Small valid files of each container and a few sample formats (the mutation seeds)."""
    rng = np.random.default_rng(7)
    y = (0.2 * rng.standard_normal((400, 2))).astype(np.float32)
    seeds = []
    for fmt, subtype in (("WAV", "PCM_16"), ("WAV", "FLOAT"), ("FLAC", "PCM_16"),
                         ("WAV", "PCM_U8")):  # fmt: skip
        buf = io.BytesIO()
        sf.write(buf, y, SR, format=fmt, subtype=subtype)
        seeds.append(buf.getvalue())
    return seeds


_SEEDS = _seed_files()


def _mutated():
    from hypothesis import strategies as st

    seed = st.sampled_from(_SEEDS)
    truncated = st.tuples(seed, st.integers(0, 2000)).map(lambda t: t[0][: t[1]])

    def flip(args):
        data, flips = args
        out = bytearray(data)
        for pos, bit in flips:
            out[pos % len(out)] ^= 1 << bit
        return bytes(out)

    flipped = st.tuples(
        seed, st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 7)), min_size=1,
                       max_size=8)  # fmt: skip
    ).map(flip)
    header_junk = st.tuples(seed, st.binary(min_size=1, max_size=16), st.integers(0, 60)).map(
        lambda t: t[0][: t[2]] + t[1] + t[0][t[2] + len(t[1]) :]
    )
    return st.one_of(st.binary(max_size=512), truncated, flipped, header_junk)


def test_loading_mangled_bytes_raises_only_core_errors_and_stays_fast():
    import time
    import warnings
    from datetime import timedelta

    from hypothesis import HealthCheck, given, settings

    from core.errors import CoreError

    @settings(max_examples=50, deadline=timedelta(seconds=1), derandomize=True,
              suppress_health_check=[HealthCheck.too_slow], database=None)  # fmt: skip
    @given(_mutated())
    def check(data: bytes) -> None:
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                y, sr = load_audio(data)
        except CoreError:
            pass
        else:
            assert y.dtype == np.float32 and y.ndim == 2 and 1 <= y.shape[0] <= 2
            assert y.shape[1] > 0 and np.isfinite(y).all() and 8000 <= sr <= 384_000
        assert time.perf_counter() - t0 < 1.0

    check()


def test_a_track_with_a_silent_vocals_stem_is_skipped_and_reported(tmp_path, rng, capsys):
    corpus = _corpus(tmp_path / "data", rng, n=3)
    silent = np.zeros(SR, np.float32)
    sf.write(corpus / "song1" / "vocals.wav", silent, SR, subtype="FLOAT")
    acc, _ = sf.read(corpus / "song1" / "accompaniment.wav", dtype="float32")
    sf.write(corpus / "song1" / "mixture.wav", acc, SR, subtype="FLOAT")
    out = tmp_path / "run"
    rc = main(["evaluate", "--data", str(corpus), "--methods", "oracle", "--alphas", "0.5",
               "--out", str(out), "--quiet"])  # fmt: skip
    assert rc == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "1 of 3 track(s) failed" in line and "song1:" in line
    assert sorted(p.name for p in out.glob("song*.json")) == ["song0.oracle.json",
                                                              "song2.oracle.json"]  # fmt: skip
    assert (out / "metrics.parquet").is_file()
    assert main(["results", str(out)]) == 0
    assert "2 of 3 track×method files complete" in capsys.readouterr().out


def test_float_samples_of_3e38_are_refused_with_one_line(tmp_path, rng, capsys):
    y = 0.1 * rng.standard_normal((SR, 1)).astype(np.float32)
    y[SR // 2] = 3e38
    path = tmp_path / "huge.wav"
    sf.write(path, y, SR, subtype="FLOAT")
    with pytest.raises(InvalidAudioError, match="samples up to 3e"):
        load_audio(path)
    mask = _mask(tmp_path / "mask.npy", rng, samples=SR)
    rc = main(["separate", str(path), "--from-mask", str(mask), "--out", str(tmp_path / "out")])
    assert rc == 2
    assert "samples up to 3e+38" in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()
