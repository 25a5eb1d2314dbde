"""Corpus loading (MUSDB18-HQ-style folders), the synthetic corpus writer and its CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.errors import (
    CoreError,
    DatasetError,
    DependencyError,
    InvalidAudioError,
    InvalidConfigError,
)
from core.karaoke.corpus import (
    make_demo_tracks,
    make_synthetic_corpus,
    read_corpus_meta,
    split_counts,
)
from core.karaoke.synth import VOICE_PROGRAMS
from core.karaoke.tracks import (
    SOURCES,
    Track,
    list_tracks,
    load_musdb_stem,
    load_split,
    load_track,
    split_tracks,
    track_from_bytes,
)
from core.karaoke.voices import espeak_path
from core.signal.soundfont import fluidsynth_available

needs_fluidsynth = pytest.mark.skipif(not fluidsynth_available(), reason="libfluidsynth missing")
SR = 16000
REPO_ROOT = Path(__file__).resolve().parent.parent


def _write(path: Path, y: np.ndarray, sr: int = SR, subtype: str = "FLOAT") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.asarray(y, dtype=np.float32).T, sr, subtype=subtype)


def _stems(rng: np.random.Generator, ch: int = 1, n: int = SR) -> dict[str, np.ndarray]:
    return {k: (0.1 * rng.standard_normal((ch, n))).astype(np.float32)
            for k in ("vocals", "drums", "bass", "other")}


# ---------------------------------------------------------------- loader


def test_load_hq_folder_with_accompaniment(tmp_path, rng):
    s = _stems(rng, ch=2)
    acc = s["drums"] + s["bass"]
    _write(tmp_path / "t" / "vocals.wav", s["vocals"])
    _write(tmp_path / "t" / "accompaniment.wav", acc)
    _write(tmp_path / "t" / "mixture.wav", s["vocals"] + acc)
    track = load_track(tmp_path / "t")
    assert isinstance(track, Track) and track.name == "t" and track.sr == SR
    assert track.mixture.shape == (2, SR) and track.mixture.dtype == np.float32
    assert track.references.shape == (2, 2, SR) and track.references.dtype == np.float32
    np.testing.assert_array_equal(track.references[SOURCES.index("vocals")], s["vocals"])
    np.testing.assert_array_equal(track.references[1], acc)
    assert track.path == tmp_path / "t" and track.channels == 2 and track.seconds == 1.0


def test_load_musdb_hq_stems_are_summed(tmp_path, rng):
    s = _stems(rng)
    for k, y in s.items():
        _write(tmp_path / "song" / f"{k}.wav", y)
    mix = s["vocals"] + s["drums"] + s["bass"] + s["other"]
    _write(tmp_path / "song" / "mixture.wav", mix)
    track = load_track(tmp_path / "song")
    np.testing.assert_allclose(track.references[1], s["drums"] + s["bass"] + s["other"], atol=1e-6)
    np.testing.assert_allclose(track.mixture, mix)


def test_load_mixture_only_gives_no_references(tmp_path, rng):
    _write(tmp_path / "m" / "mixture.wav", 0.1 * rng.standard_normal((1, SR)))
    track = load_track(tmp_path / "m")
    assert track.references is None and track.mixture.shape == (1, SR)


def test_load_stems_without_mixture_sums_them(tmp_path, rng):
    s = _stems(rng)
    _write(tmp_path / "x" / "vocals.flac", s["vocals"], subtype="PCM_16")
    _write(tmp_path / "x" / "accompaniment.flac", s["bass"], subtype="PCM_16")
    track = load_track(tmp_path / "x")
    np.testing.assert_array_equal(track.mixture, track.references[0] + track.references[1])
    np.testing.assert_allclose(track.references[0], s["vocals"], atol=1 / 32768)


def _flac_track(folder: Path, s: dict[str, np.ndarray]) -> None:
    _write(folder / "vocals.flac", s["vocals"], subtype="PCM_16")
    _write(folder / "accompaniment.flac", s["bass"], subtype="PCM_16")
    _write(folder / "mixture.flac", s["vocals"] + s["bass"], subtype="PCM_16")


def test_load_flac(tmp_path, rng):
    s = _stems(rng)
    _flac_track(tmp_path / "f", s)
    track = load_track(tmp_path / "f")
    assert track.sr == SR and track.mixture.shape == (1, SR)
    np.testing.assert_allclose(track.references[0], s["vocals"], atol=1 / 32768)


@pytest.mark.slow  # librosa's first import costs seconds
def test_load_resamples_every_file_with_a_warning(tmp_path, rng):
    _flac_track(tmp_path / "f", _stems(rng))
    with pytest.warns(UserWarning, match="resampled"):
        track = load_track(tmp_path / "f", sr=8000)
    assert track.sr == 8000 and track.mixture.shape == (1, 8000)
    assert track.references.shape == (2, 1, 8000)


def test_empty_folder_is_a_dataset_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no mixture"):
        load_track(tmp_path / "empty")
    with pytest.raises(DatasetError, match="does not exist"):
        load_track(tmp_path / "nope")


def test_mismatched_stem_lengths_name_the_files(tmp_path, rng):
    _write(tmp_path / "t" / "mixture.wav", rng.standard_normal((1, SR)) * 0.1)
    _write(tmp_path / "t" / "vocals.wav", rng.standard_normal((1, SR - 3)) * 0.1)
    _write(tmp_path / "t" / "accompaniment.wav", rng.standard_normal((1, SR)) * 0.1)
    with pytest.raises(DatasetError, match=r"different lengths.*vocals.wav: 15997"):
        load_track(tmp_path / "t")


def test_mismatched_sample_rates(tmp_path, rng):
    _write(tmp_path / "t" / "vocals.wav", rng.standard_normal((1, SR)) * 0.1)
    _write(tmp_path / "t" / "accompaniment.wav", rng.standard_normal((1, SR)) * 0.1, sr=22050)
    with pytest.raises(DatasetError, match=r"sample rates.*accompaniment.wav: 22050"):
        load_track(tmp_path / "t")


def test_mismatched_channels(tmp_path, rng):
    _write(tmp_path / "t" / "vocals.wav", rng.standard_normal((2, SR)) * 0.1)
    _write(tmp_path / "t" / "accompaniment.wav", rng.standard_normal((1, SR)) * 0.1)
    with pytest.raises(DatasetError, match="channel counts"):
        load_track(tmp_path / "t")


def test_incomplete_stems(tmp_path, rng):
    _write(tmp_path / "a" / "vocals.wav", rng.standard_normal((1, SR)) * 0.1)
    _write(tmp_path / "a" / "drums.wav", rng.standard_normal((1, SR)) * 0.1)
    with pytest.raises(DatasetError, match="missing: bass, other"):
        load_track(tmp_path / "a")
    _write(tmp_path / "b" / "accompaniment.wav", rng.standard_normal((1, SR)) * 0.1)
    with pytest.raises(DatasetError, match="accompaniment but no vocals and no mixture"):
        load_track(tmp_path / "b")
    _write(tmp_path / "c" / "vocals.wav", rng.standard_normal((1, SR)) * 0.1)
    with pytest.raises(DatasetError, match="vocals but no accompaniment and no mixture"):
        load_track(tmp_path / "c")


def test_mixture_with_one_reference_derives_the_other(tmp_path, rng):
    s = _stems(rng)
    mix = s["vocals"] + s["bass"]
    _write(tmp_path / "v" / "mixture.wav", mix)
    _write(tmp_path / "v" / "vocals.wav", s["vocals"])
    with pytest.warns(UserWarning, match="mixture - vocals"):
        track = load_track(tmp_path / "v")
    np.testing.assert_allclose(track.references[1], s["bass"], atol=1e-6)
    _write(tmp_path / "a" / "mixture.wav", mix)
    _write(tmp_path / "a" / "accompaniment.wav", s["bass"])
    with pytest.warns(UserWarning, match="mixture - accompaniment"):
        track = load_track(tmp_path / "a")
    np.testing.assert_allclose(track.references[0], s["vocals"], atol=1e-6)


def test_corrupt_file_is_invalid_audio(tmp_path, rng):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "mixture.wav").write_bytes(b"this is not a wav file at all")
    with pytest.raises(InvalidAudioError, match=r"t/mixture.wav.*could not be decoded"):
        load_track(tmp_path / "t")
    bad = np.zeros((1, SR), dtype=np.float32)
    bad[0, 5] = np.nan
    _write(tmp_path / "n" / "mixture.wav", bad)
    with pytest.raises(InvalidAudioError, match="NaN"):
        load_track(tmp_path / "n")


def test_list_and_split_tracks(tmp_path, rng):
    y = rng.standard_normal((1, 800)).astype(np.float32) * 0.1
    for split, names in (("train", ["b", "a"]), ("test", ["c"])):
        for name in names:
            _write(tmp_path / "c1" / split / name / "mixture.wav", y)
    (tmp_path / "c1" / "notes").mkdir()
    listed = [p.relative_to(tmp_path / "c1").as_posix() for p in list_tracks(tmp_path / "c1")]
    assert listed == ["test/c", "train/a", "train/b"]
    assert [p.name for p in split_tracks(tmp_path / "c1", "train")] == ["a", "b"]
    with pytest.raises(DatasetError, match=r"no 'valid' split.*\['notes', 'test', 'train'\]"):
        split_tracks(tmp_path / "c1", "valid")
    with pytest.raises(InvalidConfigError):
        split_tracks(tmp_path / "c1", "dev")  # type: ignore[arg-type]
    # Flat layout, and a single track folder.
    _write(tmp_path / "flat" / "x" / "mixture.wav", y)
    _write(tmp_path / "flat" / "y" / "mixture.flac", y, subtype="PCM_16")
    assert [p.name for p in list_tracks(tmp_path / "flat")] == ["x", "y"]
    assert list_tracks(tmp_path / "flat" / "x") == [tmp_path / "flat" / "x"]
    with pytest.raises(DatasetError):
        list_tracks(tmp_path / "missing")


def test_load_musdb_stem_missing_file_or_dependency(tmp_path):
    with pytest.raises(CoreError):
        load_musdb_stem(tmp_path / "song.stem.mp4")


def test_musdb_stem_without_ffmpeg_is_a_dependency_error(tmp_path, monkeypatch):
    import core.karaoke.tracks

    (tmp_path / "s.stem.mp4").write_bytes(b"\0" * 16)
    monkeypatch.setattr(core.karaoke.tracks.shutil, "which", lambda name: None)
    with pytest.raises(DependencyError, match="ffmpeg"):
        load_track(tmp_path / "s.stem.mp4")


def _stempeg_usable() -> bool:
    import shutil

    try:
        import stempeg  # noqa: F401
    except ImportError:
        return False
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


@pytest.mark.slow  # ffmpeg encodes and decodes five AAC streams (~5 s)
@pytest.mark.skipif(not _stempeg_usable(), reason="stempeg or ffmpeg missing")
def test_load_musdb_stem_file(tmp_path):
    import stempeg

    # Distinct tones per stream (AAC keeps tones; it mangles noise): drums, bass, other, vocals.
    t = np.arange(22050) / 44100
    freqs = {1: 300.0, 2: 110.0, 3: 700.0, 4: 1500.0}
    stems = np.zeros((5, 22050, 2), dtype=np.float32)
    for k, f in freqs.items():
        stems[k] = 0.2 * np.sin(2 * np.pi * f * t)[:, None]
    stems[0] = stems[1:].sum(axis=0)
    path = tmp_path / "song.stem.mp4"
    writer = stempeg.StreamsWriter(codec="aac")
    stempeg.write_stems(str(path), stems, sample_rate=44100, writer=writer)
    tracks = list_tracks(tmp_path)
    assert tracks == [path]
    track = load_track(path)
    assert track.name == "song" and track.sr == 44100 and track.channels == 2
    assert track.references.shape == (2, 2, track.n_samples) and track.n_samples >= 22050

    def peak_hz(y):
        spec = np.abs(np.fft.rfft(y[0, 2048:18432]))
        return np.fft.rfftfreq(16384, 1 / 44100)[int(np.argmax(spec))]

    assert abs(peak_hz(track.references[0]) - 1500) < 10  # vocals = stream 4
    assert min(abs(peak_hz(track.references[1]) - f) for f in (110, 300, 700)) < 10
    spec = np.abs(np.fft.rfft(track.references[1][0, 2048:18432]))
    freqs_axis = np.fft.rfftfreq(16384, 1 / 44100)
    assert spec[np.argmin(np.abs(freqs_axis - 110))] > 0.1 * spec.max()  # bass summed in


# ---------------------------------------------------------------- synthetic corpus


def test_split_counts():
    assert split_counts(100) == {"train": 80, "valid": 10, "test": 10}
    assert split_counts(3) == {"train": 1, "valid": 1, "test": 1}
    assert split_counts(7) == {"train": 5, "valid": 1, "test": 1}
    assert split_counts(4, (1, 0, 0)) == {"train": 4, "valid": 0, "test": 0}
    with pytest.raises(InvalidConfigError):
        split_counts(2)
    with pytest.raises(InvalidConfigError):
        split_counts(5, (0.5, 0.5))


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha1(sf.read(p)[0].tobytes()).hexdigest()
            for p in sorted(folder.rglob("*.wav"))}


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus") / "c"
    return make_synthetic_corpus(out, songs=4, seed=11, sr=SR, seconds=2.0)


@needs_fluidsynth
def test_synthetic_corpus_tree_and_meta(tiny_corpus):
    meta = read_corpus_meta(tiny_corpus)
    assert meta["seed"] == 11 and meta["sr"] == SR and meta["seconds"] == 2.0
    assert meta["songs"] == {"train": 2, "valid": 1, "test": 1}
    assert "genex make-corpus" in meta["command"] and "--seed 11" in meta["command"]
    tracks = {s: split_tracks(tiny_corpus, s) for s in ("train", "valid", "test")}
    assert [len(v) for v in tracks.values()] == [2, 1, 1]
    assert len(list_tracks(tiny_corpus)) == 4
    for entry in meta["tracks"]:
        assert entry["vocal_program"] in VOICE_PROGRAMS or entry["vocal_program"] in (65, 71, 73)
    for path in list_tracks(tiny_corpus):
        assert {p.name for p in path.iterdir()} == {
            "mixture.wav", "vocals.wav", "accompaniment.wav", "score.mid"}
        info = sf.info(path / "mixture.wav")
        assert info.samplerate == SR and info.channels == 1 and info.frames == 2 * SR


@needs_fluidsynth
def test_load_split(tiny_corpus):
    tracks = load_split(tiny_corpus, "train")
    assert [t.name for t in tracks] == ["train-0000", "train-0001"]
    assert all(t.sr == SR and t.references is not None for t in tracks)


def test_missing_fluidsynth_is_a_dependency_error(tmp_path, monkeypatch):
    import ctypes.util

    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    with pytest.raises(DependencyError, match="libfluidsynth"):
        make_synthetic_corpus(tmp_path / "c", songs=3, seed=0, sr=SR, seconds=1.0)
    assert not (tmp_path / "c" / "train").exists()


@needs_fluidsynth
def test_synthetic_mixture_is_exact_sum_and_stems_non_silent(tiny_corpus):
    for path in list_tracks(tiny_corpus):
        track = load_track(path)
        assert np.array_equal(track.mixture, track.references[0] + track.references[1])
        rms = np.sqrt((track.references.astype(np.float64) ** 2).mean(axis=(1, 2)))
        assert np.all(rms > 1e-3), path.name
        assert np.abs(track.mixture).max() < 1.0


@needs_fluidsynth
def test_synthetic_vocal_stem_uses_a_voice_patch(tiny_corpus):
    import pretty_midi

    meta = read_corpus_meta(tiny_corpus)
    by_name = {t["name"]: t for t in meta["tracks"]}
    voice_songs = 0
    for path in list_tracks(tiny_corpus):
        pm = pretty_midi.PrettyMIDI(str(path / "score.mid"))
        vocals = [i for i in pm.instruments if i.name == "vocals"]
        assert len(vocals) == 1 and vocals[0].program == by_name[path.name]["vocal_program"]
        voice_songs += vocals[0].program in VOICE_PROGRAMS
    assert voice_songs >= 2


@needs_fluidsynth
def test_splits_are_disjoint(tiny_corpus):
    digests = _digest(tiny_corpus)
    by_split: dict[str, set[str]] = {}
    for rel, h in digests.items():
        if rel.endswith("vocals.wav"):
            by_split.setdefault(rel.split("/")[0], set()).add(h)
    splits = list(by_split.values())
    assert len(splits) == 3
    for a in range(3):
        for b in range(a + 1, 3):
            assert not splits[a] & splits[b]
    names = [p.name for p in list_tracks(tiny_corpus)]
    assert len(set(names)) == len(names)


@needs_fluidsynth
def test_corpus_is_deterministic_and_test_songs_independent_of_size(tmp_path, tiny_corpus):
    again = make_synthetic_corpus(tmp_path / "again", songs=4, seed=11, sr=SR, seconds=2.0)
    assert _digest(again) == _digest(tiny_corpus)
    bigger = make_synthetic_corpus(tmp_path / "big", songs=5, seed=11, sr=SR, seconds=2.0,
                                   splits=(0.6, 0.2, 0.2))
    assert "--splits 0.6,0.2,0.2" in read_corpus_meta(bigger)["command"]
    big = _digest(bigger)
    assert big["test/test-0000/mixture.wav"] == _digest(tiny_corpus)["test/test-0000/mixture.wav"]
    train_hashes = {h for k, h in big.items() if k.startswith("train/")}
    assert not train_hashes & {h for k, h in _digest(tiny_corpus).items() if k.startswith("test/")}


@needs_fluidsynth
def test_corpus_refuses_non_empty_output_and_overwrites_on_request(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not empty"):
        make_synthetic_corpus(tmp_path / "busy", songs=3, seed=0, sr=SR, seconds=1.0)
    out = make_synthetic_corpus(tmp_path / "c", songs=3, seed=0, sr=SR, seconds=1.0)
    with pytest.raises(DatasetError, match="overwrite"):
        make_synthetic_corpus(out, songs=3, seed=0, sr=SR, seconds=1.0)
    make_synthetic_corpus(out, songs=4, seed=1, sr=SR, seconds=1.0, overwrite=True)
    assert read_corpus_meta(out)["seed"] == 1 and len(list_tracks(out)) == 4


def test_corpus_rejects_bad_options(tmp_path):
    for kwargs, match in (({"songs": 0}, "songs"), ({"sr": 100}, "sr"),
                          ({"seconds": -1.0}, "seconds"), ({"channels": 3}, "channels")):
        args = {"songs": 3, "seed": 0, **kwargs}
        with pytest.raises(InvalidConfigError, match=match):
            make_synthetic_corpus(tmp_path / "x", **args)
    assert not (tmp_path / "x").exists()


@needs_fluidsynth
def test_demo_tracks_flac_stereo_and_sidecar(tmp_path):
    out = make_demo_tracks(tmp_path / "demo", songs=2, seed=7, sr=SR, seconds=1.5)
    tracks = list_tracks(out)
    assert len(tracks) == 2
    assert all((p / "mixture.flac").is_file() for p in tracks)
    loaded = [load_track(p) for p in tracks]
    assert [t.channels for t in loaded] == [1, 2]
    for t in loaded:
        assert np.array_equal(t.mixture, t.references[0] + t.references[1])
    meta = json.loads((out / "tracks.meta.json").read_text())
    assert set(meta) >= {"command", "created", "seed", "summary"} and meta["seed"] == 7
    assert meta["command"].startswith("genex make-corpus --demo")
    assert all(isinstance(v, float) for v in meta["summary"].values())
    assert all(t["vocal_program"] in VOICE_PROGRAMS for t in meta["tracks"].values())
    assert "genex make-corpus --demo" in (out / "README.md").read_text()


@needs_fluidsynth
@pytest.mark.skipif(espeak_path() is None, reason="espeak-ng missing")
def test_demo_tracks_cycle_through_source_sets(tmp_path):
    out = make_demo_tracks(tmp_path / "demo", songs=2, seed=7, sr=SR, seconds=1.5,
                           sources=("unseen", "gm"))
    meta = json.loads((out / "tracks.meta.json").read_text())
    tracks = list(meta["tracks"].values())
    assert [t["source_set"] for t in tracks] == ["unseen", "gm"]
    assert tracks[0]["sources"]["voice_family"] == "espeak"
    assert tracks[0]["sources"]["soundfont"] == "FluidR3_GM"
    assert tracks[1]["sources"]["voice_family"] == "gm"
    names = sorted(meta["tracks"])
    assert "espeak" in names[0] and "espeak" not in names[1]
    assert meta["command"].endswith("--demo-sources unseen,gm")
    assert "espeak" in (out / "README.md").read_text()
    for p in list_tracks(out):
        t = load_track(p)
        assert np.array_equal(t.mixture, t.references[0] + t.references[1])


def test_demo_tracks_refuse_unknown_source_sets(tmp_path):
    with pytest.raises(InvalidConfigError, match="sources"):
        make_demo_tracks(tmp_path / "d", songs=1, sources=("nope",))
    with pytest.raises(InvalidConfigError, match="sources"):
        make_demo_tracks(tmp_path / "d", songs=1, sources=())
    assert not (tmp_path / "d").exists()


# ---------------------------------------------------------------- CLI


@needs_fluidsynth
def test_cli_make_corpus_writes_tree(tmp_path, capsys):
    from core.cli import main

    out = tmp_path / "cli"
    code = main(["make-corpus", "--out", str(out), "--songs", "3", "--seed", "5",
                 "--seconds", "1", "--sr", str(SR)])
    assert code == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and "train: 1 songs" in printed and "test: 1 songs" in printed
    assert len(list_tracks(out)) == 3
    assert read_corpus_meta(out)["command"].startswith("genex make-corpus --out")


def test_cli_make_corpus_reports_errors(tmp_path, capsys):
    from core.cli import main

    code = main(["make-corpus", "--out", str(tmp_path / "x"), "--songs", "0", "--seed", "1"])
    assert code == 2 and "songs" in capsys.readouterr().err


@pytest.mark.skipif(not (REPO_ROOT / "assets" / "demo_tracks" / "tracks.meta.json").is_file(),
                    reason="demo tracks not generated yet")
def test_shipped_demo_tracks_load_and_fit_budget():
    root = REPO_ROOT / "assets" / "demo_tracks"
    tracks = list_tracks(root)
    assert len(tracks) >= 3
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    assert size <= 4 * 1024 * 1024
    loaded = [load_track(p) for p in tracks]
    assert any(t.channels == 2 for t in loaded)
    meta = json.loads((root / "tracks.meta.json").read_text())
    families = {t.get("sources", {}).get("voice_family", "gm") for t in meta["tracks"].values()}
    assert families - {"gm"}, "the demo tracks include at least one voice that is not a GM patch"
    for t in loaded:
        assert t.references is not None
        assert np.array_equal(t.mixture, t.references[0] + t.references[1])


# ---------------------------------------------------------------- tracks from arrays and bytes


def _wav_bytes(y: np.ndarray, sr: int = SR) -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, np.asarray(y, dtype=np.float32).T, sr, format="WAV", subtype="FLOAT")
    return buf.getvalue()


def test_from_arrays_derives_the_missing_reference_and_fits_lengths():
    mix = np.ones((1, 1600), np.float32)
    with pytest.warns(UserWarning, match="mixture - vocals"):
        t = Track.from_arrays(mix, SR, vocals=0.25 * mix, name="x")
    assert t.references is not None and t.references.shape == (2, 1, 1600)
    np.testing.assert_allclose(t.references[1], 0.75 * mix)  # accompaniment = mixture - vocals
    assert t.path is None and t.name == "x" and t.references.dtype == np.float32
    assert Track.from_arrays(mix, SR).references is None
    # a resampled upload a sample or two off (<= 10 ms) is zero-padded / trimmed to the mixture
    with pytest.warns(UserWarning):
        t = Track.from_arrays(mix, SR, vocals=np.ones((1, 1598), np.float32))
    assert t.references is not None and t.references.shape == (2, 1, 1600)
    assert t.references[0, 0, -1] == 0.0 and t.references[1, 0, -1] == 1.0


def test_from_arrays_refuses_mismatched_stems():
    mix = np.ones((1, 1600), np.float32)
    with pytest.raises(DatasetError, match="accompaniment"):
        Track.from_arrays(mix, SR, accompaniment=np.ones((1, 100), np.float32))
    with pytest.raises(DatasetError, match="vocals"):
        Track.from_arrays(mix, SR, vocals=np.ones((2, 1600), np.float32))
    with pytest.raises(InvalidAudioError, match="NaN"):
        Track.from_arrays(np.full((1, 1600), np.nan, np.float32), SR)


def test_track_from_bytes_matches_the_folder_loader(tmp_path, rng):
    s = _stems(rng, ch=2)
    acc = s["drums"] + s["bass"]
    _write(tmp_path / "t" / "vocals.wav", s["vocals"])
    _write(tmp_path / "t" / "accompaniment.wav", acc)
    _write(tmp_path / "t" / "mixture.wav", s["vocals"] + acc)
    folder = load_track(tmp_path / "t")
    up = track_from_bytes(
        _wav_bytes(s["vocals"] + acc), vocals=_wav_bytes(s["vocals"]),
        accompaniment=_wav_bytes(acc), name="t",
    )  # fmt: skip
    assert up.path is None and up.sr == folder.sr and up.name == "t"
    np.testing.assert_array_equal(up.mixture, folder.mixture)
    np.testing.assert_array_equal(up.references, folder.references)
    with pytest.raises(InvalidAudioError, match="vocals"):
        track_from_bytes(_wav_bytes(acc), vocals=b"not audio at all" * 10, name="t")
