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

import dataclasses
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

import numpy as np

from core.errors import DatasetError, DependencyError, InvalidConfigError
from core.signal.audio import DEFAULT_MAX_SECONDS, load_audio, resample, validate_audio
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
#: Largest length difference between a reference stem and the mixture that
#: :meth:`Track.from_arrays` fits silently (resampling an upload can change a length by a sample
#: or two), in seconds.
LENGTH_TOLERANCE_S = 0.01

Split = Literal["train", "valid", "test"]


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

    @classmethod
    def from_arrays(
        cls,
        mixture: FloatArray,
        sr: int,
        *,
        vocals: FloatArray | None = None,
        accompaniment: FloatArray | None = None,
        name: str = "track",
        path: Path | None = None,
        length_tolerance_s: float = LENGTH_TOLERANCE_S,
    ) -> Track:
        """Assemble a track from a mixture and none, one or both reference stems.

        With one reference only, the other is the mixture minus it (the two sources sum to the
        mixture), with a warning.

        Parameters
        ----------
        mixture : ndarray, shape (channels, samples), float
            The mix at ``sr`` Hz.
        sr
            Sample rate of every signal, Hz.
        vocals, accompaniment : ndarray, shape (channels, samples), float, optional
            The reference stems, at ``sr`` with the mixture's channels. A length within
            ``length_tolerance_s`` of the mixture's is trimmed or zero-padded to it.
        name
            The track's name.
        path
            Where it was read from (``None`` for in-memory tracks, e.g. uploads).
        length_tolerance_s
            Largest length difference fitted silently, in seconds.

        Returns
        -------
        Track
            float32 arrays; ``references`` is ``(2, channels, samples)`` or ``None``.

        Raises
        ------
        InvalidAudioError
            A signal is not ``(channels, samples)`` audio (empty, NaN/inf, > 2 channels).
        DatasetError
            A reference's channels differ from the mixture's, or its length by more than
            ``length_tolerance_s``.
        """
        no_limit = float("inf")  # durations are the loaders' business
        validate_audio(mixture, sr=sr, name=f"{name}/mixture", max_seconds=no_limit)
        mix = np.asarray(mixture, dtype=np.float32)
        n = mix.shape[1]
        tolerance = max(1, round(length_tolerance_s * sr))
        fitted: dict[str, FloatArray] = {}
        for label, ref in (("vocals", vocals), ("accompaniment", accompaniment)):
            if ref is None:
                continue
            validate_audio(ref, sr=sr, name=f"{name}/{label}", max_seconds=no_limit)
            if ref.shape[0] != mix.shape[0] or abs(ref.shape[1] - n) > tolerance:
                raise DatasetError(
                    f"track {name!r}: the {label} reference is shaped {ref.shape} (channels, "
                    f"samples) but the mixture is {mix.shape}: stems must have the mixture's "
                    f"length ({n} samples at {sr} Hz) and channels"
                )
            ref = np.asarray(ref, dtype=np.float32)
            # a resampled upload may differ by a few samples: trim or zero-pad to the mixture
            fitted[label] = (
                ref[:, :n] if ref.shape[1] >= n else np.pad(ref, ((0, 0), (0, n - ref.shape[1])))
            )
        voc, acc = fitted.get("vocals"), fitted.get("accompaniment")
        if voc is not None and acc is None:
            warnings.warn(
                f"track {name!r}: no accompaniment stem; using mixture - vocals", stacklevel=2
            )
            acc = mix - voc
        elif acc is not None and voc is None:
            warnings.warn(
                f"track {name!r}: no vocals stem; using mixture - accompaniment", stacklevel=2
            )
            voc = mix - acc
        references = None
        if voc is not None and acc is not None:
            references = np.stack([voc, acc]).astype(np.float32, copy=False)
        return cls(name=name, sr=int(sr), mixture=mix, references=references, path=path)

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
    mixture: object
    references: object
    if isinstance(example, Track):
        mixture, references, sr, name = (
            example.mixture, example.references, example.sr, example.name
        )  # fmt: skip
    else:
        mixture, references = example[0], example[1]
        sr, name = cast(int, example[2]), str(example[3]) if len(example) > 3 else ""
    if references is None:
        raise DatasetError(f"track {name or '?'} has no reference stems: cannot {purpose}")
    return np.asarray(mixture), np.asarray(references), int(sr), name


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
    acc: FloatArray | None = audio.get("accompaniment")
    if acc is None and has_acc:
        acc = np.sum([audio[s] for s in MUSDB_ACCOMPANIMENT_STEMS], axis=0, dtype=np.float32)
    voc = audio.get("vocals")
    mixture = audio.get("mixture")
    if mixture is None:  # stems only: the mixture is their sum
        assert voc is not None and acc is not None  # checked above
        mixture = voc + acc
    track = Track.from_arrays(
        mixture, file_sr, vocals=voc, accompaniment=acc, name=folder.name, path=folder
    )
    if sr is not None and sr != file_sr:
        warnings.warn(
            f"track {folder.name!r}: resampled from {file_sr} Hz to {sr} Hz", stacklevel=2
        )
        refs = track.references
        track = dataclasses.replace(
            track,
            sr=int(sr),
            mixture=resample(track.mixture, orig_sr=file_sr, target_sr=sr),
            references=None
            if refs is None
            else np.stack([resample(r, orig_sr=file_sr, target_sr=sr) for r in refs]),
        )
    return track


def track_from_bytes(
    mixture: bytes,
    *,
    vocals: bytes | None = None,
    accompaniment: bytes | None = None,
    name: str = "upload",
    max_seconds: float = DEFAULT_MAX_SECONDS,
) -> Track:
    """A track from the bytes of audio files (e.g. browser uploads): a mixture, optional stems.

    The stems are decoded at the mixture's rate and channel count (resampled or up/downmixed
    with a warning), then assembled by :meth:`Track.from_arrays` (one stem gives the other as
    the difference).

    Parameters
    ----------
    mixture
        The mixture file's bytes (WAV, FLAC, OGG, MP3: whatever :func:`load_audio` decodes).
    vocals, accompaniment
        The reference stems' file bytes, optional.
    name
        The track's name (e.g. the uploaded file's stem); also names the files in errors.
    max_seconds
        Longest accepted duration per file, in seconds (checked before decoding).

    Returns
    -------
    Track
        With ``path=None``.

    Raises
    ------
    InvalidAudioError
        A file cannot be decoded, is empty, non-finite, too long or has > 2 channels.
    DatasetError
        A stem's length differs from the mixture's by more than :data:`LENGTH_TOLERANCE_S`.
    """
    mix, sr = load_audio(mixture, max_seconds=max_seconds, name=f"{name} (mixture)")
    stems: dict[str, FloatArray] = {}
    for label, data in (("vocals", vocals), ("accompaniment", accompaniment)):
        if data is not None:
            stems[label], _ = load_audio(
                data, sr=sr, channels=mix.shape[0], max_seconds=max_seconds,
                name=f"{name} ({label})",
            )  # fmt: skip
    return Track.from_arrays(
        mix, sr, vocals=stems.get("vocals"), accompaniment=stems.get("accompaniment"), name=name
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
