"""Multitrack corpora with exact stems: MUSDB18(-HQ)-style folders and a synthetic generator.

A *track folder* holds ``mixture.wav`` and reference stems ``vocals.wav`` plus either
``accompaniment.wav`` or ``drums.wav`` + ``bass.wav`` + ``other.wav`` (summed into the
accompaniment); FLAC works too. A corpus is a folder of track folders, optionally grouped into
``train/``, ``valid/``, ``test/`` split folders (MUSDB18-HQ layout)::

    corpus/
        corpus.json              # synthetic corpora: seed, sr, seconds, songs per split, command
        train/<song>/{mixture,vocals,accompaniment}.wav
        valid/<song>/...
        test/<song>/...

References are ordered as :data:`SOURCES` (``[vocals, accompaniment]``) and shaped
``(2, channels, samples)``, as BSS Eval expects them.

This module imports neither torch nor streamlit; FluidSynth (for the generator) and
musdb/stempeg (for ``.stem.mp4``) are imported only when used.
"""

from __future__ import annotations

import datetime as _dt
import io
import shlex
import shutil
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from core.audio import DEFAULT_MAX_SECONDS, load_audio, resample, validate_audio, write_audio
from core.errors import DatasetError, DependencyError, InvalidConfigError
from core.io_utils import atomic_write_bytes, atomic_write_json
from core.types import FloatArray

#: Source order of ``Track.references`` (and of separated estimates).
SOURCES = ("vocals", "accompaniment")
#: MUSDB18 stems that sum to the accompaniment when no ``accompaniment`` file is present.
MUSDB_ACCOMPANIMENT_STEMS = ("drums", "bass", "other")
#: Split folder names of a corpus.
SPLITS = ("train", "valid", "test")
#: Folder names accepted for each split (MUSDB18 has only train/test).
_SPLIT_ALIASES = {"train": ("train",), "valid": ("valid", "validation", "val"), "test": ("test",)}
#: Audio suffixes looked for in a track folder, in order of preference.
AUDIO_SUFFIXES = (".wav", ".flac")
_STEM_NAMES = ("mixture", "vocals", "accompaniment", *MUSDB_ACCOMPANIMENT_STEMS)
#: Default length of a synthetic song, in seconds.
DEFAULT_SECONDS = 15.0
#: Version of the synthetic generator; bump when a seed would give different audio.
#: v2: the lead enters within the first half of songs shorter than ~7 s (v1 could leave a
#: 1-3 s song without vocals); songs of 7 s or more are identical to v1.
GENERATOR_VERSION = 2

Split = Literal["train", "valid", "test"]
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Track:
    """One multitrack song.

    Attributes
    ----------
    name
        The track's name (its folder name).
    sr
        Sample rate in Hz.
    mixture : ndarray, shape (channels, samples), float32
        The mix.
    references : ndarray, shape (2, channels, samples), float32, or None
        ``[vocals, accompaniment]`` (see :data:`SOURCES`); ``None`` when only the mixture is known.
    path
        The folder (or ``.stem.mp4`` file) it was read from; ``None`` for in-memory tracks.
    """

    name: str
    sr: int
    mixture: FloatArray
    references: FloatArray | None
    path: Path | None

    @property
    def channels(self) -> int:
        """Number of audio channels."""
        return int(self.mixture.shape[0])

    @property
    def n_samples(self) -> int:
        """Length in samples."""
        return int(self.mixture.shape[1])

    @property
    def seconds(self) -> float:
        """Length in seconds."""
        return self.n_samples / self.sr

    def __repr__(self) -> str:
        refs = "None" if self.references is None else f"{tuple(self.references.shape)}"
        return (
            f"Track(name={self.name!r}, sr={self.sr}, mixture={tuple(self.mixture.shape)}, "
            f"references={refs}, path={str(self.path) if self.path else None!r})"
        )


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def training_parts(
    example: Track | Sequence[object], *, purpose: str = "train on it"
) -> tuple[np.ndarray, np.ndarray, int, str]:
    """Split a training example into ``(mixture, references, sr, name)``.

    Parameters
    ----------
    example
        A :class:`Track`, or a tuple ``(mixture (ch, n), references (2, ch, n), sr[, name])``.
    purpose
        What the caller does with it, for the error message.

    Returns
    -------
    mixture : ndarray, shape (channels, samples)
    references : ndarray, shape (2, channels, samples), ``[vocals, accompaniment]``
    sr : int
    name : str

    Raises
    ------
    DatasetError
        The example has no reference stems.
    """
    if isinstance(example, Track):
        mixture, references = example.mixture, example.references
        sr, name = example.sr, example.name
    else:
        mixture, references, sr = example[:3]
        name = str(example[3]) if len(example) > 3 else ""
    if references is None:
        raise DatasetError(f"track {name or '?'} has no reference stems: cannot {purpose}")
    return np.asarray(mixture), np.asarray(references), int(sr), str(name)  # type: ignore[arg-type]


def _find_stem(folder: Path, stem: str) -> Path | None:
    for suffix in AUDIO_SUFFIXES:
        path = folder / f"{stem}{suffix}"
        if path.is_file():
            return path
    return None


def is_track_folder(path: str | Path) -> bool:
    """Return whether ``path`` is a folder holding a mixture or stem audio file."""
    path = Path(path)
    return path.is_dir() and any(_find_stem(path, s) is not None for s in _STEM_NAMES)


def load_track(
    folder: str | Path,
    *,
    sr: int | None = None,
    max_seconds: float = DEFAULT_MAX_SECONDS,
) -> Track:
    """Read a MUSDB18-HQ-style track folder (or a MUSDB18 ``.stem.mp4`` file).

    Parameters
    ----------
    folder
        A folder with ``mixture.wav|flac`` and/or the stems ``vocals`` + ``accompaniment``
        (or ``vocals`` + ``drums`` + ``bass`` + ``other``, summed into the accompaniment).
        A folder with only a mixture gives ``references=None``; stems without a mixture give
        the mixture as their sum; a mixture with only one of vocals/accompaniment gives the
        other as the difference (with a warning). A ``*.stem.mp4`` path goes to
        :func:`load_musdb_stem`.
    sr
        Target sample rate in Hz (resampled with a warning); ``None`` keeps the files' rate.
    max_seconds
        Longest accepted duration per file, in seconds (checked before decoding).

    Returns
    -------
    Track

    Raises
    ------
    DatasetError
        Not a folder; no mixture and no stems; one reference without the other and without a
        mixture; only some of drums/bass/other; files with different sample rates, channel
        counts or lengths (the message lists every file with its value).
    InvalidAudioError
        A file that cannot be decoded, is empty, non-finite, too long or has > 2 channels.
    """
    folder = Path(folder)
    if folder.name.endswith(".stem.mp4"):
        return load_musdb_stem(folder, sr=sr, max_seconds=max_seconds)
    if not folder.is_dir():
        raise DatasetError(f"track folder {str(folder)!r} does not exist or is not a folder")
    found = {s: _find_stem(folder, s) for s in _STEM_NAMES}
    mix_path, voc_path, acc_path = found["mixture"], found["vocals"], found["accompaniment"]
    parts = {s: found[s] for s in MUSDB_ACCOMPANIMENT_STEMS}
    if acc_path is None and any(parts.values()) and not all(parts.values()):
        missing = [s for s, p in parts.items() if p is None]
        raise DatasetError(
            f"track {folder.name!r} has only some of drums/bass/other (missing: "
            f"{', '.join(missing)}); add the missing stems or an accompaniment.wav"
        )
    has_acc = acc_path is not None or all(parts.values())
    if mix_path is None and voc_path is None and not has_acc:
        listing = sorted(p.name for p in folder.iterdir())[:10]
        raise DatasetError(
            f"track folder {str(folder)!r} holds no mixture.wav/.flac and no stems "
            f"(vocals + accompaniment or drums/bass/other); found: {listing or 'nothing'}"
        )
    if mix_path is None and (voc_path is not None) != has_acc:  # exactly one reference
        have, lack = "vocals", "accompaniment"
        if voc_path is None:
            have, lack = lack, have
        raise DatasetError(
            f"track {folder.name!r} has {have} but no {lack} and no mixture; add "
            f"{lack}.wav (or drums/bass/other) or mixture.wav"
        )
    paths: dict[str, Path] = {}
    if mix_path is not None:
        paths["mixture"] = mix_path
    if voc_path is not None:
        paths["vocals"] = voc_path
    if acc_path is not None:
        paths["accompaniment"] = acc_path
    elif has_acc:
        paths.update({s: p for s, p in parts.items() if p is not None})
    audio: dict[str, FloatArray] = {}
    rates: dict[str, int] = {}
    for stem, path in paths.items():
        y, file_sr = load_audio(path, max_seconds=max_seconds, name=f"{folder.name}/{path.name}")
        audio[stem], rates[stem] = y, file_sr
    _check_consistent(folder.name, paths, rates, audio)
    file_sr = next(iter(rates.values()))
    acc: FloatArray | None = None
    if "accompaniment" in audio:
        acc = audio["accompaniment"]
    elif has_acc:
        acc = np.sum([audio[s] for s in MUSDB_ACCOMPANIMENT_STEMS], axis=0, dtype=np.float32)
    voc = audio.get("vocals")
    # One reference and the mixture: the other reference is their difference.
    if voc is not None and acc is None:
        warnings.warn(
            f"track {folder.name!r}: no accompaniment stem; using mixture - vocals", stacklevel=2
        )
        acc = (audio["mixture"] - voc).astype(np.float32)
    elif acc is not None and voc is None:
        warnings.warn(
            f"track {folder.name!r}: no vocals stem; using mixture - accompaniment", stacklevel=2
        )
        voc = (audio["mixture"] - acc).astype(np.float32)
    references = None
    if voc is not None and acc is not None:
        references = np.stack([voc, acc]).astype(np.float32, copy=False)
    if "mixture" in audio:
        mixture = audio["mixture"]
    else:  # stems only: the mixture is their sum
        assert references is not None
        mixture = references.sum(axis=0, dtype=np.float32)
    if sr is not None and sr != file_sr:
        warnings.warn(
            f"track {folder.name!r}: resampled from {file_sr} Hz to {sr} Hz", stacklevel=2
        )
        mixture = resample(mixture, orig_sr=file_sr, target_sr=sr)
        if references is not None:
            references = np.stack([resample(r, orig_sr=file_sr, target_sr=sr) for r in references])
        file_sr = sr
    return Track(
        name=folder.name, sr=int(file_sr), mixture=mixture, references=references, path=folder
    )


def _check_consistent(
    track: str, paths: dict[str, Path], rates: dict[str, int], audio: dict[str, FloatArray]
) -> None:
    """Refuse stems that disagree in sample rate, channel count or length (listing each file)."""

    def listing(values: dict[str, int]) -> str:
        return ", ".join(f"{paths[s].name}: {v}" for s, v in values.items())

    if len(set(rates.values())) > 1:
        raise DatasetError(
            f"track {track!r}: files have different sample rates ({listing(rates)} Hz); "
            "resample the stems to one rate"
        )
    chans = {s: int(y.shape[0]) for s, y in audio.items()}
    if len(set(chans.values())) > 1:
        raise DatasetError(
            f"track {track!r}: files have different channel counts ({listing(chans)}); "
            "make every stem mono or every stem stereo"
        )
    lengths = {s: int(y.shape[1]) for s, y in audio.items()}
    if len(set(lengths.values())) > 1:
        raise DatasetError(
            f"track {track!r}: files have different lengths in samples ({listing(lengths)}); "
            "stems must be sample-aligned and equally long"
        )


def load_musdb_stem(
    path: str | Path, *, sr: int | None = None, max_seconds: float = DEFAULT_MAX_SECONDS
) -> Track:
    """Read a MUSDB18 ``.stem.mp4`` file (mixture, drums, bass, other, vocals) via stempeg.

    Parameters
    ----------
    path
        The ``.stem.mp4`` file.
    sr
        Target sample rate in Hz; ``None`` keeps the file's (44.1 kHz for MUSDB18).
    max_seconds
        Longest accepted duration in seconds.

    Returns
    -------
    Track
        ``references = [vocals, drums + bass + other]``.

    Raises
    ------
    DependencyError
        ``stempeg`` (``pip install musdb``) or ``ffmpeg``/``ffprobe`` not installed.
    DatasetError
        Missing file, or not a 5-stem MUSDB file.
    InvalidAudioError
        Non-finite, too long, or more than two channels.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"MUSDB stem file {str(path)!r} does not exist")
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        raise DependencyError(
            "reading MUSDB18 .stem.mp4 files needs ffmpeg and ffprobe on PATH "
            "(`apt-get install ffmpeg` or `brew install ffmpeg`); or use MUSDB18-HQ wav folders"
        )
    try:
        import stempeg
    except ImportError as exc:
        raise DependencyError(
            "reading MUSDB18 .stem.mp4 files needs the musdb package (`pip install musdb`, which "
            "brings stempeg); or use MUSDB18-HQ wav folders"
        ) from exc
    try:
        stems, rate = stempeg.read_stems(str(path), dtype=np.float32, always_3d=True)
    except Exception as exc:  # stempeg/ffmpeg raise assorted errors on bad files
        raise DatasetError(f"{path.name!r} could not be read as a MUSDB stem file ({exc})") from exc
    stems = np.asarray(stems, dtype=np.float32)  # (5, samples, channels)
    if stems.ndim != 3 or stems.shape[0] != 5:
        raise DatasetError(
            f"{path.name!r} holds {stems.shape[0] if stems.ndim == 3 else '?'} streams; a MUSDB18 "
            "stem file has 5 (mixture, drums, bass, other, vocals)"
        )
    stems = np.ascontiguousarray(stems.transpose(0, 2, 1))  # (5, channels, samples)
    for k, label in enumerate(("mixture", "drums", "bass", "other", "vocals")):
        validate_audio(stems[k], sr=int(rate), name=f"{path.name}/{label}", max_seconds=max_seconds)
    mixture = stems[0]
    references = np.stack([stems[4], stems[1] + stems[2] + stems[3]]).astype(np.float32)
    rate = int(rate)
    if sr is not None and sr != rate:
        warnings.warn(f"{path.name!r}: resampled from {rate} Hz to {sr} Hz", stacklevel=2)
        mixture = resample(mixture, orig_sr=rate, target_sr=sr)
        references = np.stack([resample(r, orig_sr=rate, target_sr=sr) for r in references])
        rate = sr
    name = path.name[: -len(".stem.mp4")]
    return Track(name=name, sr=rate, mixture=mixture, references=references, path=path)


def list_tracks(root: str | Path) -> list[Path]:
    """List the track folders (and ``.stem.mp4`` files) under ``root``, sorted.

    Looks at ``root`` itself (a single track folder gives ``[root]``), its sub-folders, and one
    level further for split folders (``root/<split>/<track>``).

    Raises
    ------
    DatasetError
        ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"corpus folder {str(root)!r} does not exist or is not a folder")
    if is_track_folder(root):
        return [root]
    found: list[Path] = []
    for child in sorted(root.iterdir()):
        if child.name.startswith("."):
            continue
        if child.is_file() and child.name.endswith(".stem.mp4"):
            found.append(child)
        elif is_track_folder(child):
            found.append(child)
        elif child.is_dir():
            for grandchild in sorted(child.iterdir()):
                if grandchild.name.startswith("."):
                    continue
                if is_track_folder(grandchild) or (
                    grandchild.is_file() and grandchild.name.endswith(".stem.mp4")
                ):
                    found.append(grandchild)
    return sorted(found)


def split_tracks(root: str | Path, split: Split) -> list[Path]:
    """List the tracks of one split (``root/train``, ``root/valid`` or ``root/test``), sorted.

    ``valid`` also accepts a ``validation`` or ``val`` folder.

    Raises
    ------
    InvalidConfigError
        ``split`` not one of :data:`SPLITS`.
    DatasetError
        ``root`` is not a folder, or has no folder for ``split`` (the message lists what it has).
    """
    if split not in SPLITS:
        raise InvalidConfigError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"corpus folder {str(root)!r} does not exist or is not a folder")
    for alias in _SPLIT_ALIASES[split]:
        folder = root / alias
        if folder.is_dir():
            return list_tracks(folder) if not is_track_folder(folder) else [folder]
    subdirs = sorted(p.name for p in root.iterdir() if p.is_dir())
    raise DatasetError(
        f"corpus {str(root)!r} has no {split!r} split folder; it has: {subdirs or 'no folders'}"
    )


def load_split(
    root: str | Path,
    split: Split,
    *,
    sr: int | None = None,
    max_seconds: float = DEFAULT_MAX_SECONDS,
) -> list[Track]:
    """Load every track of one split (see :func:`split_tracks` and :func:`load_track`).

    Returns
    -------
    list of Track
        Sorted by folder.

    Raises
    ------
    InvalidConfigError, DatasetError, InvalidAudioError
        As :func:`split_tracks` and :func:`load_track`; also DatasetError for an empty split.
    """
    paths = split_tracks(root, split)
    if not paths:
        raise DatasetError(f"split {split!r} of corpus {str(root)!r} holds no track folders")
    return [load_track(p, sr=sr, max_seconds=max_seconds) for p in paths]


# --------------------------------------------------------------------------------------------
# Synthetic corpus
# --------------------------------------------------------------------------------------------


def split_counts(songs: int, splits: Sequence[float] = (0.8, 0.1, 0.1)) -> dict[str, int]:
    """Number of songs per split: largest remainders, at least one per non-zero fraction.

    Raises
    ------
    InvalidConfigError
        Not three non-negative fractions with a positive sum, or fewer songs than non-empty splits.
    """
    if len(splits) != 3 or any(f < 0 for f in splits) or sum(splits) <= 0:
        raise InvalidConfigError(
            f"splits must be three non-negative fractions (train, valid, test), got {tuple(splits)}"
        )
    fracs = np.asarray(splits, dtype=np.float64) / float(sum(splits))
    nonzero = int(np.count_nonzero(fracs))
    if songs < nonzero:
        raise InvalidConfigError(
            f"songs must be at least {nonzero} for splits {tuple(splits)} (one per split), "
            f"got {songs}"
        )
    raw = fracs * songs
    counts = np.floor(raw).astype(int)
    for k in np.argsort(-(raw - counts), kind="stable")[: songs - int(counts.sum())]:
        counts[k] += 1
    # Every split with a non-zero fraction gets a song, taken from the largest split.
    for k in range(3):
        if fracs[k] > 0 and counts[k] == 0:
            counts[int(np.argmax(counts))] -= 1
            counts[k] = 1
    return {s: int(c) for s, c in zip(SPLITS, counts, strict=True)}


def corpus_command(
    out: str | Path,
    *,
    songs: int,
    seed: int,
    sr: int,
    seconds: float,
    channels: int = 1,
    fmt: str = "wav",
    splits: Sequence[float] = (0.8, 0.1, 0.1),
    demo: bool = False,
) -> str:
    """The ``genex make-corpus`` command line that regenerates a corpus."""
    parts = ["genex", "make-corpus"] + (["--demo"] if demo else [])
    parts += ["--out", str(out), "--songs", str(songs), "--seed", str(seed)]
    parts += ["--seconds", f"{seconds:g}", "--sr", str(sr)]
    if channels != 1:
        parts += ["--channels", str(channels)]
    if fmt != "wav":
        parts += ["--format", fmt]
    if not demo and tuple(float(f) for f in splits) != (0.8, 0.1, 0.1):
        parts += ["--splits", ",".join(f"{float(f):g}" for f in splits)]
    return shlex.join(parts)


def _check_options(songs: int, sr: int, seconds: float, channels: int, fmt: str) -> None:
    if not isinstance(songs, int | np.integer) or songs < 1:
        raise InvalidConfigError(f"songs must be a positive integer, got {songs!r}")
    if sr < 8000:
        raise InvalidConfigError(f"sr must be at least 8000 Hz, got {sr}")
    if not 0 < seconds <= 600:
        raise InvalidConfigError(f"seconds must be in (0, 600], got {seconds!r}")
    if channels not in (1, 2):
        raise InvalidConfigError(f"channels must be 1 or 2, got {channels!r}")
    if fmt not in ("wav", "flac"):
        raise InvalidConfigError(f"format must be 'wav' or 'flac', got {fmt!r}")


def _write_song(folder: Path, rendered: object, fmt: str) -> None:
    """Write mixture/vocals/accompaniment (PCM16, exact: the stems are on the 16-bit grid)."""
    from core.synth_corpus import RenderedSong

    assert isinstance(rendered, RenderedSong)
    folder.mkdir(parents=True, exist_ok=True)
    write_audio(folder / f"mixture.{fmt}", rendered.mixture, rendered.sr, subtype="PCM_16")
    for k, source in enumerate(SOURCES):
        write_audio(folder / f"{source}.{fmt}", rendered.stems[k], rendered.sr, subtype="PCM_16")
    buf = io.BytesIO()
    rendered.song.to_midi().write(buf)
    atomic_write_bytes(folder / "score.mid", buf.getvalue())


def make_synthetic_corpus(
    out: str | Path,
    *,
    songs: int,
    seed: int,
    sr: int = 22050,
    seconds: float = DEFAULT_SECONDS,
    splits: Sequence[float] = (0.8, 0.1, 0.1),
    channels: int = 1,
    fmt: Literal["wav", "flac"] = "wav",
    overwrite: bool = False,
    progress: Progress | None = None,
    command: str | None = None,
) -> Path:
    """Render a seeded synthetic multitrack corpus with train/valid/test splits.

    Song ``i`` of split ``s`` is drawn from its own random stream ``(seed, s, i)``
    (:func:`core.synth_corpus.compose_song`), so splits never share a song and a song does not
    change with the corpus size. Stems are written as 16-bit PCM after being rounded to the
    16-bit grid, so ``mixture == vocals + accompaniment`` holds exactly in the files.

    Parameters
    ----------
    out
        Output folder; receives ``{train,valid,test}/<song>/{mixture,vocals,accompaniment}.<fmt>``
        (plus ``score.mid``, the song's MIDI) and ``corpus.json``.
    songs
        Total number of songs.
    seed
        Corpus seed.
    sr
        Sample rate in Hz.
    seconds
        Length of every song in seconds.
    splits
        Fractions (train, valid, test); see :func:`split_counts`.
    channels
        1 (mono) or 2 (stereo, instruments panned).
    fmt
        ``"wav"`` or ``"flac"``.
    overwrite
        Replace an existing corpus in ``out`` (only a folder holding ``corpus.json`` is
        replaced; any other non-empty folder is refused).
    progress
        Called as ``progress(done, total)`` after each song.
    command
        The command line recorded in ``corpus.json``; defaults to the equivalent
        ``genex make-corpus`` command.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    InvalidConfigError
        Bad option values.
    DatasetError
        ``out`` is a non-empty folder (and not an old corpus with ``overwrite``).
    DependencyError
        FluidSynth missing.
    """
    from core.synth_corpus import GENERATOR_NAME, compose_song, render_song, require_fluidsynth

    _check_options(songs, sr, seconds, channels, fmt)
    counts = split_counts(int(songs), splits)
    out = Path(out)
    _prepare_out(out, overwrite=overwrite)
    require_fluidsynth()  # before touching the disk: says what to install when missing
    total = sum(counts.values())
    done = 0
    specs: list[dict[str, object]] = []
    for split in SPLITS:
        (out / split).mkdir(parents=True, exist_ok=True)
        for index in range(counts[split]):
            song = compose_song(seed, index, seconds=seconds, split=split, stereo=channels == 2)
            rendered = render_song(song, sr=sr, seconds=seconds, channels=channels)
            _write_song(out / split / song.spec.name, rendered, fmt)
            specs.append(song.spec.to_dict())
            done += 1
            if progress is not None:
                progress(done, total)
    meta = {
        "kind": "genex-synthetic-corpus",
        "generator": GENERATOR_NAME,
        "generator_version": GENERATOR_VERSION,
        "command": command
        or corpus_command(out, songs=songs, seed=seed, sr=sr, seconds=seconds,
                          channels=channels, fmt=fmt, splits=splits),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "seed": int(seed),
        "sr": int(sr),
        "seconds": float(seconds),
        "channels": int(channels),
        "format": fmt,
        "splits": [float(f) for f in splits],
        "songs": counts,
        "sources": list(SOURCES),
        "tracks": specs,
    }
    atomic_write_json(out / "corpus.json", meta)
    return out


def _prepare_out(out: Path, *, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise DatasetError(f"output {str(out)!r} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not (out / "corpus.json").is_file():
            raise DatasetError(
                f"output folder {str(out)!r} is not empty and holds no corpus.json; "
                "choose an empty or new folder"
            )
        if not overwrite:
            raise DatasetError(
                f"output folder {str(out)!r} already holds a corpus; pass overwrite=True "
                "(--overwrite) to replace it"
            )
        for split in SPLITS:
            shutil.rmtree(out / split, ignore_errors=True)
        (out / "corpus.json").unlink()
    out.mkdir(parents=True, exist_ok=True)


def read_corpus_meta(root: str | Path) -> dict[str, object]:
    """Return a synthetic corpus's ``corpus.json`` as a dict.

    Raises
    ------
    DatasetError
        No readable ``corpus.json`` in ``root``.
    """
    import json

    path = Path(root) / "corpus.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{str(path)!r} is missing or not valid JSON ({exc})") from exc


# --------------------------------------------------------------------------------------------
# Shipped demo tracks
# --------------------------------------------------------------------------------------------


def _demo_name(k: int, spec: dict[str, object], stereo: bool) -> str:
    patch = str(spec["vocal_patch"]).replace("_", "-")
    mode = "min" if spec["mode"] == "minor" else "maj"
    return f"{k + 1:02d}-{patch}-{spec['key']}{mode}-{'stereo' if stereo else 'mono'}"


def make_demo_tracks(
    out: str | Path,
    *,
    songs: int = 3,
    seed: int = 7,
    sr: int = 22050,
    seconds: float = 12.0,
    fmt: Literal["wav", "flac"] = "flac",
    stereo_every: int = 2,
    progress: Progress | None = None,
) -> Path:
    """Write the shipped demo tracks: test-split songs of the synthetic generator, flat layout.

    The tracks are the first ``songs`` test-split songs of ``seed`` whose lead is a voice patch
    (:data:`core.synth_corpus.VOICE_PROGRAMS`) and which have drums: the same music
    ``make_synthetic_corpus`` with that seed puts in ``test/`` (their indices are in the
    metadata; stereo tracks pan their instruments). Every ``stereo_every``-th track
    (k = 1, 3, ...) is stereo so stereo handling gets exercised.
    Writes ``out/<NN-patch-key-channels>/{mixture,vocals,accompaniment}.<fmt>`` (16-bit),
    ``out/README.md`` and the sidecar ``out/tracks.meta.json`` (command, created, seed,
    summary); folders listed in an older ``tracks.meta.json`` are replaced.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    InvalidConfigError
        Bad option values.
    DependencyError
        FluidSynth missing.
    """
    import json

    from core.io_utils import atomic_write_text
    from core.synth_corpus import VOICE_PROGRAMS, compose_song, render_song, require_fluidsynth

    _check_options(songs, sr, seconds, 1, fmt)
    if stereo_every < 1:
        raise InvalidConfigError(f"stereo_every must be >= 1, got {stereo_every}")
    require_fluidsynth()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    old_meta = out / "tracks.meta.json"
    if old_meta.is_file():
        try:
            old = json.loads(old_meta.read_text(encoding="utf-8"))
            for name in old.get("tracks", {}):
                if name and "/" not in name and is_track_folder(out / name):
                    shutil.rmtree(out / name)
        except (OSError, ValueError, AttributeError):
            pass
    tracks: dict[str, dict[str, object]] = {}
    index = -1
    for k in range(songs):
        stereo = k % stereo_every == stereo_every - 1
        while True:  # the next test song with a voice-patch lead and drums
            index += 1
            song = compose_song(seed, index, seconds=seconds, split="test", stereo=stereo)
            if song.spec.vocal_program in VOICE_PROGRAMS and "drums" in song.spec.accompaniment:
                break
        rendered = render_song(song, sr=sr, seconds=seconds, channels=2 if stereo else 1)
        spec = song.spec.to_dict()
        name = _demo_name(k, spec, stereo)
        _write_song(out / name, rendered, fmt)
        rms = np.sqrt(np.mean(rendered.stems.astype(np.float64) ** 2, axis=(1, 2)))
        spec.update(
            channels=2 if stereo else 1, vocal_rms=float(rms[0]), accompaniment_rms=float(rms[1])
        )
        tracks[name] = spec
        if progress is not None:
            progress(k + 1, songs)
    total_bytes = sum(p.stat().st_size for name in tracks for p in (out / name).iterdir())
    command = corpus_command(
        out, songs=songs, seed=seed, sr=sr, seconds=seconds, fmt=fmt, demo=True
    )
    meta = {
        "command": command,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "seed": int(seed),
        "generator_version": GENERATOR_VERSION,
        "summary": {
            "n_tracks": float(songs),
            "seconds_per_track": float(seconds),
            "sr": float(sr),
            "n_stereo": float(sum(1 for t in tracks.values() if t["channels"] == 2)),
            "total_mb": round(total_bytes / 1e6, 3),
            "mean_vocal_db": round(float(np.mean([t["vocal_db"] for t in tracks.values()])), 3),
        },
        "tracks": tracks,
    }
    atomic_write_json(out / "tracks.meta.json", meta)
    atomic_write_text(out / "README.md", _demo_readme(meta, fmt))
    return out


def _demo_readme(meta: dict[str, object], fmt: str) -> str:
    tracks = meta["tracks"]
    assert isinstance(tracks, dict)
    rows = "\n".join(
        f"| `{name}` | {t['index']} | {t['channels']} | "
        f"{t['vocal_patch']} (GM {t['vocal_program']}) | "
        f"{t['key']} {t['mode']} | {float(t['tempo']):.0f} | {float(t['vocal_db']):+.1f} dB | "
        f"{', '.join(f'{r} {p}' for r, p in dict(t['accompaniment']).items())} |"
        for name, t in tracks.items()
    )
    return f"""# Demo tracks

Short synthetic songs with exact stems, for the Mask explorer and the tests. Each folder holds
`mixture.{fmt}`, `vocals.{fmt}` and `accompaniment.{fmt}` (16-bit; the mixture is exactly the sum
of the two stems) and `score.mid` (the MIDI they were rendered from).

They come from the synthetic corpus generator (`core.corpus` / `core.synth_corpus`): MIDI
written by a seeded song generator, rendered with FluidSynth and the General MIDI soundfont
bundled with pretty_midi (`TimGM6mb.sf2`). The "vocals" stem is a voice-like lead (Choir Aahs,
Voice Oohs, Synth Voice, Lead 6 voice, occasionally a flute/sax) with vibrato, scoops and
phrase rests; the accompaniment is chords (piano/guitar/organ/strings/pad), bass and drums.
The tracks are the first test-split songs of **seed {meta['seed']}** whose lead is a voice
patch and which have drums (test-song indices below): the same scores that
`genex make-corpus --seed {meta['seed']}` renders as `test/test-NNNN` when its test split is
that large (stereo tracks pan their instruments). Training corpora should use another seed;
test songs never coincide with train or valid songs of any seed's corpus anyway, because the
split is part of each song's random stream.

Regenerate (from the repository root):

```
{meta['command']}
```

| track | test index | channels | lead | key | BPM | vocal level | accompaniment (GM program) |
| --- | --- | --- | --- | --- | --- | --- | --- |
{rows}

Metadata, with the command: `tracks.meta.json`.
"""
