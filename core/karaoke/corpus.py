"""The synthetic multitrack corpus writer.

Scores from :mod:`core.karaoke.synth`, rendered from a named source set (soundfonts, voice
families, effects), written as track folders that :mod:`core.karaoke.tracks` reads;
``corpus.json`` records how, including each song's soundfont, voice and effect chains.
FluidSynth, the soundfonts and espeak-ng are needed only to render (:func:`require_sources`
says what to install).
"""

from __future__ import annotations

import datetime as _dt
import io
import shlex
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from core.errors import DatasetError, InvalidConfigError
from core.io_utils import atomic_write_bytes, atomic_write_json, atomic_write_text
from core.karaoke.synth import (
    GENERATOR_NAME,
    SOURCE_PRESETS,
    VOICE_PROGRAMS,
    RenderedSong,
    SourceSet,
    check_heldout,
    compose_song,
    draw_sources,
    render_song,
)
from core.karaoke.tracks import (
    DEFAULT_SECONDS,
    GENERATOR_VERSION,
    SOURCES,
    SPLITS,
    is_track_folder,
)
from core.karaoke.voices import espeak_path
from core.signal.audio import write_audio
from core.signal.soundfont import require_fluidsynth, soundfont_path
from core.types import Progress, ProgressEvent


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
    sources: SourceSet | None = None,
) -> str:
    """The ``genex make-corpus`` command line that regenerates a corpus."""
    parts = ["genex", "make-corpus"] + (["--demo"] if demo else [])
    if sources is not None and sources.name != "gm":
        preset = sources.name.removesuffix("-custom")
        parts += ["--preset", preset]
        base = SOURCE_PRESETS[preset]
        if sources.soundfonts != base.soundfonts:
            parts += ["--soundfonts", ",".join(sources.soundfonts)]
        if sources.voices != base.voices:
            parts += ["--voices", ",".join(sources.voices)]
        if sources.effects != base.effects:
            parts += ["--effects" if sources.effects else "--no-effects"]
    parts += ["--out", str(out), "--songs", str(songs), "--seed", str(seed)]
    parts += ["--seconds", f"{seconds:g}", "--sr", str(sr)]
    if channels != 1:
        parts += ["--channels", str(channels)]
    if fmt != "wav":
        parts += ["--format", fmt]
    default_splits = default_splits_for(sources)
    if not demo and tuple(float(f) for f in splits) != default_splits:
        parts += ["--splits", ",".join(f"{float(f):g}" for f in splits)]
    return shlex.join(parts)


def default_splits_for(sources: SourceSet | None) -> tuple[float, float, float]:
    """Default (train, valid, test) fractions: all test for a held-out set, else 0.8/0.1/0.1."""
    return (0.0, 0.0, 1.0) if sources is not None and sources.heldout else (0.8, 0.1, 0.1)


def require_sources(sources: SourceSet) -> None:
    """Check that everything ``sources`` renders with is installed, before any work.

    Raises
    ------
    DependencyError
        FluidSynth, a soundfont, or espeak-ng (for the ``espeak`` voices) is missing; the
        message says what to install.
    """
    require_fluidsynth()
    for name in sources.soundfonts:
        soundfont_path(name)
    if "espeak" in sources.voices:
        espeak_path()


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


def _write_song(folder: Path, rendered: RenderedSong, fmt: str) -> None:
    """Write mixture/vocals/accompaniment (PCM16, exact: the stems are on the 16-bit grid)."""
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
    splits: Sequence[float] | None = None,
    channels: int = 1,
    fmt: Literal["wav", "flac"] = "wav",
    overwrite: bool = False,
    progress: Progress | None = None,
    command: str | None = None,
    sources: SourceSet | str = "gm",
) -> Path:
    """Render a seeded synthetic multitrack corpus with train/valid/test splits.

    The songs are rendered from a named source set (:data:`core.karaoke.synth.SOURCE_PRESETS`
    or a :class:`~core.karaoke.synth.SourceSet`): ``"gm"`` (default, the original corpus:
    TimGM6mb and GM voice patches), ``"train"`` (TimGM6mb and OPL3 FM soundfonts, GM and
    source-filter voices, effects) or ``"unseen"`` (FluidR3_GM, espeak-ng voices, effects;
    test split only). ``corpus.json`` records the set and, per song, its soundfont, voice and
    effect chains.

    Song ``i`` of split ``s`` is drawn from its own random stream ``(seed, s, i)``
    (:func:`core.karaoke.synth.compose_song`), so splits never share a song and a song does not
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
        Fractions (train, valid, test); see :func:`split_counts`. Default 0.8/0.1/0.1, and
        0/0/1 for a held-out source set (which may not have train or valid songs).
    channels
        1 (mono) or 2 (stereo, instruments panned).
    fmt
        ``"wav"`` or ``"flac"``.
    overwrite
        Replace an existing corpus in ``out`` (only a folder holding ``corpus.json`` is
        replaced; any other non-empty folder is refused).
    progress
        Called with ``ProgressEvent("song", done, total)`` after each song.
    command
        The command line recorded in ``corpus.json``; defaults to the equivalent
        ``genex make-corpus`` command.
    sources
        A preset name or a source set.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    InvalidConfigError
        Bad option values, an unknown preset, a held-out source set that overlaps the
        ``train`` preset's sources or has train/valid songs.
    DatasetError
        ``out`` is a non-empty folder (and not an old corpus with ``overwrite``).
    DependencyError
        FluidSynth, a soundfont or espeak-ng missing.
    """
    _check_options(songs, sr, seconds, channels, fmt)
    if isinstance(sources, str):
        if sources not in SOURCE_PRESETS:
            raise InvalidConfigError(
                f"sources must be one of {', '.join(SOURCE_PRESETS)} or a SourceSet, "
                f"got {sources!r}"
            )
        sources = SOURCE_PRESETS[sources]
    check_heldout(sources)
    splits = default_splits_for(sources) if splits is None else tuple(splits)
    counts = split_counts(int(songs), splits)
    if sources.heldout and (counts["train"] or counts["valid"]):
        raise InvalidConfigError(
            f"the held-out source set {sources.name!r} makes a test split only; got splits "
            f"{tuple(splits)} (use 0,0,1)"
        )
    legacy = sources.name == "gm"
    require_sources(sources)  # before touching the disk: says what to install when missing
    out = Path(out)
    _prepare_out(out, overwrite=overwrite)
    total = sum(counts.values())
    done = 0
    specs: list[dict[str, object]] = []
    for split in SPLITS:
        (out / split).mkdir(parents=True, exist_ok=True)
        for index in range(counts[split]):
            song = compose_song(seed, index, seconds=seconds, split=split, stereo=channels == 2)
            drawn = None if legacy else draw_sources(song, sources, sr=sr)
            rendered = render_song(song, sr=sr, seconds=seconds, channels=channels, sources=drawn)
            _write_song(out / split / song.spec.name, rendered, fmt)
            entry = song.spec.to_dict()
            entry["sources"] = (drawn.to_dict() if drawn is not None else {
                "soundfont": "TimGM6mb", "voice_family": "gm",
                "voice": {"program": song.spec.vocal_program, "patch": song.spec.vocal_patch},
                "effects": {"vocals": [], "accompaniment": []}})
            specs.append(entry)
            done += 1
            if progress is not None:
                progress(ProgressEvent("song", done, total))
    meta = {
        "kind": "genex-synthetic-corpus",
        "generator": GENERATOR_NAME if legacy else "genex.synth_corpus (FluidSynth + "
        f"{', '.join(sources.soundfonts)}; voices {', '.join(sources.voices)})",
        "generator_version": GENERATOR_VERSION,
        "command": command
        or corpus_command(out, songs=songs, seed=seed, sr=sr, seconds=seconds,
                          channels=channels, fmt=fmt, splits=splits, sources=sources),
        "source_set": sources.to_dict(),
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
        meta: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
        return meta
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{str(path)!r} is missing or not valid JSON ({exc})") from exc


# --------------------------------------------------------------------------------------------
# Shipped demo tracks
# --------------------------------------------------------------------------------------------


def _demo_name(k: int, spec: dict[str, object], stereo: bool, family: str = "gm") -> str:
    patch = str(spec["vocal_patch"]).replace("_", "-") if family == "gm" else family
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
    sources: Sequence[SourceSet | str] = ("gm",),
    progress: Progress | None = None,
) -> Path:
    """Write the shipped demo tracks: test-split songs of the synthetic generator, flat layout.

    The tracks are the first ``songs`` test-split songs of ``seed`` whose lead is a voice patch
    (:data:`core.karaoke.synth.VOICE_PROGRAMS`) and which have drums: the same music
    ``make_synthetic_corpus`` with that seed puts in ``test/`` (their indices are in the
    metadata; stereo tracks pan their instruments). Every ``stereo_every``-th track
    (k = 1, 3, ...) is stereo so stereo handling gets exercised. Track ``k`` is rendered from
    the source set ``sources[k % len(sources)]`` (a preset name or a
    :class:`~core.karaoke.synth.SourceSet`): ``("gm", "train", "unseen")`` gives a GM voice
    patch, a training source and a held-out one (e.g. espeak-ng on FluidR3_GM); ``"gm"``
    tracks are the original TimGM6mb renders. Each track's drawn sources are in the metadata.
    Writes ``out/<NN-patch-or-voice-key-channels>/{mixture,vocals,accompaniment}.<fmt>`` (16-bit),
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


    _check_options(songs, sr, seconds, 1, fmt)
    if stereo_every < 1:
        raise InvalidConfigError(f"stereo_every must be >= 1, got {stereo_every}")
    if isinstance(sources, str | SourceSet) or not sources:
        raise InvalidConfigError("sources must be a non-empty sequence of presets or source sets")
    sets: list[SourceSet] = []
    for src in sources:
        if isinstance(src, str):
            if src not in SOURCE_PRESETS:
                raise InvalidConfigError(
                    f"sources must be among {', '.join(SOURCE_PRESETS)}, got {src!r}"
                )
            src = SOURCE_PRESETS[src]
        sets.append(src)
    require_fluidsynth()
    for src in sets:
        require_sources(src)
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
        src = sets[k % len(sets)]
        drawn = None if src.name == "gm" else draw_sources(song, src, sr=sr)
        rendered = render_song(
            song, sr=sr, seconds=seconds, channels=2 if stereo else 1, sources=drawn
        )
        spec = song.spec.to_dict()
        family = "gm" if drawn is None else drawn.voice_family
        name = _demo_name(k, spec, stereo, family)
        spec["source_set"] = src.name
        spec["sources"] = drawn.to_dict() if drawn is not None else {
            "soundfont": "TimGM6mb", "voice_family": "gm",
            "voice": {"program": song.spec.vocal_program, "patch": song.spec.vocal_patch},
            "effects": {"vocals": [], "accompaniment": []}}  # fmt: skip
        _write_song(out / name, rendered, fmt)
        rms = np.sqrt(np.mean(rendered.stems.astype(np.float64) ** 2, axis=(1, 2)))
        spec.update(
            channels=2 if stereo else 1, vocal_rms=float(rms[0]), accompaniment_rms=float(rms[1])
        )
        tracks[name] = spec
        if progress is not None:
            progress(ProgressEvent("song", k + 1, songs))
    total_bytes = sum(p.stat().st_size for name in tracks for p in (out / name).iterdir())
    command = corpus_command(
        out, songs=songs, seed=seed, sr=sr, seconds=seconds, fmt=fmt, demo=True
    )
    if [x.name for x in sets] != ["gm"]:
        command += f" --demo-sources {','.join(x.name for x in sets)}"
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


def _demo_lead(t: dict[str, object]) -> str:
    src = t.get("sources")
    if not isinstance(src, dict) or src.get("voice_family", "gm") == "gm":
        return f"{t['vocal_patch']} (GM {t['vocal_program']})"
    voice = src.get("voice") if isinstance(src.get("voice"), dict) else {}
    detail = f" `{voice['voice']}`" if isinstance(voice, dict) and "voice" in voice else ""
    fx = src.get("effects")
    n_fx = len(fx.get("vocals", [])) if isinstance(fx, dict) else 0
    return (
        f"{src['voice_family']}{detail} voice on {src.get('soundfont')} "
        f"({t.get('source_set')} sources, {n_fx} vocal effects)"
    )


def _demo_readme(meta: dict[str, object], fmt: str) -> str:
    tracks = meta["tracks"]
    assert isinstance(tracks, dict)
    rows = "\n".join(
        f"| `{name}` | {t['index']} | {t['channels']} | "
        f"{_demo_lead(t)} | "
        f"{t['key']} {t['mode']} | {float(t['tempo']):.0f} | {float(t['vocal_db']):+.1f} dB | "
        f"{', '.join(f'{r} {p}' for r, p in dict(t['accompaniment']).items())} |"
        for name, t in tracks.items()
    )
    return f"""# Demo tracks

Short synthetic songs with exact stems, for the Mask explorer and the tests. Each folder holds
`mixture.{fmt}`, `vocals.{fmt}` and `accompaniment.{fmt}` (16-bit; the mixture is exactly the sum
of the two stems) and `score.mid` (the MIDI they were rendered from).

They come from the synthetic corpus generator (`core.karaoke.tracks` / `core.karaoke.synth`): MIDI
written by a seeded song generator, rendered with FluidSynth. A `gm` track uses the General MIDI
soundfont bundled with pretty_midi (`TimGM6mb.sf2`) and a voice patch as the "vocals" stem (Choir
Aahs, Voice Oohs, Synth Voice, Lead 6 voice) with vibrato, scoops and phrase rests; tracks of the
`train` source set may use the OPL3 FM soundfont and the source-filter singer (`formant`), and
tracks of the held-out `unseen` set use FluidR3_GM and espeak-ng voices that no shipped model was
trained on; both add per-stem effects (`tracks.meta.json` lists them). The accompaniment is
chords (piano/guitar/organ/strings/pad), bass and drums.
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
