"""Singing voices that are not General MIDI patches: a source-filter singer and an espeak-ng singer.

Both sing a score's melody (a list of :class:`SungNote`: pitch and timing per note) and return
mono audio ``(1, samples)`` float32, so the vocal stem of a synthetic song is known exactly.

- :func:`sing_formant` is the classic source-filter model: a band-limited Rosenberg glottal
  pulse train following the melody (vibrato, jitter, shimmer, optional portamento, note
  attack/release), plus pulsed aspiration noise, through time-varying vowel formants (five
  formants per vowel from the usual bass/tenor/alto/soprano tables, one vowel per syllable,
  interpolated at syllable onsets). Needs numpy only.
- :func:`sing_espeak` sings lyrics-like syllables with the espeak-ng speech synthesizer: each
  syllable is rendered once per (voice, syllable, pitch step) with a flat intonation (cached),
  resampled to the note's pitch with vibrato and sustained pitch-synchronously to the note's
  length (keeping the consonant onset). Needs the ``espeak-ng`` program
  (``apt-get install espeak-ng``).

Randomness comes in as ``rng: np.random.Generator``; the same generator state gives the same
audio.
"""

from __future__ import annotations

import functools
import io
import math
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from core.errors import DependencyError, InvalidConfigError
from core.types import FloatArray

VoiceType = Literal["bass", "tenor", "alto", "soprano"]
VOICE_TYPES: tuple[VoiceType, ...] = ("bass", "tenor", "alto", "soprano")
#: Comfortable MIDI pitch range of each voice type (lowest, highest).
VOICE_RANGES: dict[str, tuple[int, int]] = {
    "bass": (40, 64),
    "tenor": (48, 69),
    "alto": (53, 76),
    "soprano": (60, 84),
}
VOWELS = ("a", "e", "i", "o", "u")

# Formant tables (centre Hz, bandwidth Hz, level dB) of five formants per vowel and voice type:
# the standard singing-voice table (as in Csound's manual, after Dodge & Jerse).
_F = tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]
FORMANTS: dict[str, dict[str, _F]] = {
    "soprano": {
        "a": ((800, 1150, 2900, 3900, 4950), (80, 90, 120, 130, 140), (0, -6, -32, -20, -50)),
        "e": ((350, 2000, 2800, 3600, 4950), (60, 100, 120, 150, 200), (0, -20, -15, -40, -56)),
        "i": ((270, 2140, 2950, 3900, 4950), (60, 90, 100, 120, 120), (0, -12, -26, -26, -44)),
        "o": ((450, 800, 2830, 3800, 4950), (70, 80, 100, 130, 135), (0, -11, -22, -22, -50)),
        "u": ((325, 700, 2700, 3800, 4950), (50, 60, 170, 180, 200), (0, -16, -35, -40, -60)),
    },
    "alto": {
        "a": ((800, 1150, 2800, 3500, 4950), (80, 90, 120, 130, 140), (0, -4, -20, -36, -60)),
        "e": ((400, 1600, 2700, 3300, 4950), (60, 80, 120, 150, 200), (0, -24, -30, -35, -60)),
        "i": ((350, 1700, 2700, 3700, 4950), (50, 100, 120, 150, 200), (0, -20, -30, -36, -60)),
        "o": ((450, 800, 2830, 3500, 4950), (70, 80, 100, 130, 135), (0, -9, -16, -28, -55)),
        "u": ((325, 700, 2530, 3500, 4950), (50, 60, 170, 180, 200), (0, -12, -30, -40, -64)),
    },
    "tenor": {
        "a": ((650, 1080, 2650, 2900, 3250), (80, 90, 120, 130, 140), (0, -6, -7, -8, -22)),
        "e": ((400, 1700, 2600, 3200, 3580), (70, 80, 100, 120, 120), (0, -14, -12, -14, -20)),
        "i": ((290, 1870, 2800, 3250, 3540), (40, 90, 100, 120, 120), (0, -15, -18, -20, -30)),
        "o": ((400, 800, 2600, 2800, 3000), (40, 80, 100, 120, 120), (0, -10, -12, -12, -26)),
        "u": ((350, 600, 2700, 2900, 3300), (40, 60, 100, 120, 120), (0, -20, -17, -14, -26)),
    },
    "bass": {
        "a": ((600, 1040, 2250, 2450, 2750), (60, 70, 110, 120, 130), (0, -7, -9, -9, -20)),
        "e": ((400, 1620, 2400, 2800, 3100), (40, 80, 100, 120, 120), (0, -12, -9, -12, -18)),
        "i": ((250, 1750, 2600, 3050, 3340), (60, 90, 100, 120, 120), (0, -30, -16, -22, -28)),
        "o": ((400, 750, 2400, 2600, 2900), (40, 80, 100, 120, 120), (0, -11, -21, -20, -40)),
        "u": ((350, 600, 2400, 2675, 2950), (40, 80, 100, 120, 120), (0, -20, -32, -28, -36)),
    },
}

#: espeak-ng voices (language + variant) the espeak singer draws from.
ESPEAK_VOICES = (
    "en", "en+f3", "en+m3", "en+f2", "de", "de+f4", "es", "es+f2", "fr+m2", "it+f5",
    "pt+m1", "nl+f1",
)
#: Female espeak variants: their natural pitch range is about an octave higher.
_FEMALE_VARIANTS = ("+f1", "+f2", "+f3", "+f4", "+f5")
#: Lyrics-like syllables (a consonant and a long vowel, spelled to read well in most languages).
SYLLABLES = ("laa", "naa", "daa", "maa", "yaa", "loo", "noo", "doo", "lee", "mee", "baa", "hey")
_ESPEAK_SR = 22050
#: espeak pitch settings (``-p``) rendered; a note uses the nearest one, then resamples.
_ESPEAK_PITCHES = tuple(range(8, 100, 13))


@dataclass(frozen=True)
class SungNote:
    """One note of a melody.

    Attributes
    ----------
    start, end
        Onset and offset in seconds (``end > start``).
    pitch
        MIDI pitch (may be fractional).
    velocity
        MIDI velocity 1..127 (sets the note's level).
    """

    start: float
    end: float
    pitch: float
    velocity: int = 100


def notes_from_instrument(instrument: Any) -> list[SungNote]:
    """The notes of a :class:`pretty_midi.Instrument` as :class:`SungNote`, sorted by onset."""
    notes = sorted(instrument.notes, key=lambda n: (n.start, n.pitch))
    return [SungNote(float(n.start), float(n.end), float(n.pitch), int(n.velocity)) for n in notes]


def midi_to_hz(pitch: float | FloatArray) -> Any:
    """Frequency in Hz of MIDI pitch ``pitch`` (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((np.asarray(pitch, dtype=np.float64) - 69.0) / 12.0)


def _check_notes(notes: Sequence[SungNote], sr: int, n_samples: int) -> list[SungNote]:
    if sr < 8000:
        raise InvalidConfigError(f"sr must be at least 8000 Hz, got {sr}")
    if n_samples < 1:
        raise InvalidConfigError(f"n_samples must be positive, got {n_samples}")
    out = sorted(notes, key=lambda n: n.start)
    for n in out:
        if not (math.isfinite(n.start) and math.isfinite(n.end) and n.end > n.start >= 0):
            raise InvalidConfigError(
                f"every note needs 0 <= start < end; got start={n.start!r}, end={n.end!r}"
            )
        if not 0 <= n.pitch <= 127:
            raise InvalidConfigError(f"note pitch must be a MIDI pitch 0..127, got {n.pitch!r}")
    return out


def estimate_f0(y: FloatArray, sr: int, *, fmin: float = 60.0, fmax: float = 1200.0) -> float:
    """Estimate the fundamental frequency of a (roughly) steady voiced signal by autocorrelation.

    Parameters
    ----------
    y : ndarray, shape (samples,) or (1, samples)
        The signal (a few periods at least).
    sr
        Sample rate in Hz.
    fmin, fmax
        Search range in Hz.

    Returns
    -------
    float
        f0 in Hz (NaN when the signal is silent or too short).
    """
    x = np.asarray(y, dtype=np.float64).reshape(-1)
    x = x - x.mean()
    lo, hi = max(2, int(sr / fmax)), int(sr / fmin)
    if x.size < 2 * hi or not np.any(x):
        return float("nan")
    n = 1 << int(np.ceil(np.log2(2 * x.size)))
    spec = np.fft.rfft(x, n)
    ac = np.fft.irfft(spec * np.conj(spec), n)[: hi + 2]
    ac /= np.arange(x.size, x.size - ac.size, -1)  # unbiased: long lags are not penalised
    # The shortest lag at a local maximum nearly as high as the best one (no octave errors).
    inner = ac[lo : hi + 1]
    peaks = lo + np.flatnonzero((inner >= ac[lo - 1 : hi]) & (inner >= ac[lo + 1 : hi + 2]))
    if peaks.size == 0:
        return float("nan")
    best = float(ac[peaks].max())
    lag = int(peaks[np.argmax(ac[peaks] >= 0.85 * best)])
    if 1 <= lag < ac.size - 1:  # parabolic interpolation of the peak
        a, b, c = ac[lag - 1], ac[lag], ac[lag + 1]
        denom = a - 2 * b + c
        shift = 0.5 * (a - c) / denom if denom != 0 else 0.0
    else:
        shift = 0.0
    return float(sr / (lag + shift))


# --------------------------------------------------------------------------------------------
# Source-filter singer
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormantVoice:
    """Parameters of the source-filter singer (:func:`sing_formant`).

    Attributes
    ----------
    voice_type
        Formant table: ``"bass"``, ``"tenor"``, ``"alto"`` or ``"soprano"``.
    formant_scale
        Multiplies every formant frequency (vocal-tract length, about 0.9..1.1).
    vibrato_rate, vibrato_cents, vibrato_delay
        Vibrato rate in Hz, depth in cents (peak), and delay after the onset in seconds.
    jitter
        Relative standard deviation of the period-to-period f0 perturbation.
    shimmer
        Relative standard deviation of the period-to-period amplitude perturbation.
    breath
        Aspiration noise RMS relative to the voiced excitation.
    open_quotient, speed_quotient
        Rosenberg pulse shape: open fraction of the period, and opening/closing duration ratio.
    attack, release
        Note attack and release times in seconds.
    portamento
        Glide time in seconds into a note that follows another closely (0 = none).
    consonants
        Probability that a syllable starts with a short fricative noise burst.
    octave_shift
        Octaves added to every score pitch (to sing in the voice type's range).
    """

    voice_type: VoiceType = "alto"
    formant_scale: float = 1.0
    vibrato_rate: float = 5.5
    vibrato_cents: float = 40.0
    vibrato_delay: float = 0.15
    jitter: float = 0.004
    shimmer: float = 0.04
    breath: float = 0.06
    open_quotient: float = 0.6
    speed_quotient: float = 2.5
    attack: float = 0.04
    release: float = 0.08
    portamento: float = 0.0
    consonants: float = 0.3
    octave_shift: int = 0

    @classmethod
    def random(
        cls, rng: np.random.Generator, *, notes: Sequence[SungNote] = ()
    ) -> FormantVoice:
        """Draw a voice; with ``notes``, a voice type whose range suits the melody's median.

        The melody is moved by whole octaves into the drawn type's range when needed.
        """
        voice_type: VoiceType = VOICE_TYPES[int(rng.integers(len(VOICE_TYPES)))]
        shift = 0
        if notes:
            median = float(np.median([n.pitch for n in notes]))
            lo, hi = VOICE_RANGES[voice_type]
            centre = (lo + hi) / 2
            shift = int(np.round((centre - median) / 12))
        return cls(
            voice_type=voice_type,
            formant_scale=float(rng.uniform(0.92, 1.08)),
            vibrato_rate=float(rng.uniform(4.5, 6.8)),
            vibrato_cents=float(rng.uniform(10, 70)),
            vibrato_delay=float(rng.uniform(0.05, 0.3)),
            jitter=float(rng.uniform(0.001, 0.01)),
            shimmer=float(rng.uniform(0.01, 0.08)),
            breath=float(rng.uniform(0.01, 0.2)),
            open_quotient=float(rng.uniform(0.45, 0.75)),
            speed_quotient=float(rng.uniform(1.5, 3.5)),
            attack=float(rng.uniform(0.01, 0.08)),
            release=float(rng.uniform(0.03, 0.15)),
            portamento=float(rng.uniform(0.03, 0.1)) if rng.random() < 0.5 else 0.0,
            consonants=float(rng.uniform(0.0, 0.6)),
            octave_shift=shift,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready primitives (floats rounded)."""
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def _glottal_tables(open_quotient: float, speed_quotient: float, size: int = 2048) -> FloatArray:
    """Band-limited Rosenberg glottal-flow-derivative periods, one per harmonic limit.

    Returns
    -------
    ndarray, shape (levels, size + 1), float64
        Row ``k`` holds harmonics 1..2**k of one period (the last column repeats the first, for
        interpolation); all rows share one scale, so switching rows keeps the loudness.
    """
    tau = np.arange(size) / size
    tp = open_quotient * speed_quotient / (1 + speed_quotient)
    tn = open_quotient / (1 + speed_quotient)
    flow = np.where(
        tau < tp,
        0.5 * (1 - np.cos(np.pi * tau / tp)),
        np.where(tau < tp + tn, np.cos(np.pi * (tau - tp) / (2 * tn)), 0.0),
    )
    deriv = np.diff(np.append(flow, flow[0])) * size
    spec = np.fft.rfft(deriv)
    spec[0] = 0.0
    levels = int(np.log2(size // 2)) + 1
    tables = np.empty((levels, size + 1))
    for k in range(levels):
        s = spec.copy()
        s[2**k + 1 :] = 0.0
        tables[k, :size] = np.fft.irfft(s, size)
    tables[:, size] = tables[:, 0]
    return np.asarray(tables / np.abs(tables[-1]).max())


def _smooth_noise(rng: np.random.Generator, n: int, step: int) -> FloatArray:
    """Unit-variance noise, linearly interpolated between points ``step`` samples apart."""
    points = rng.standard_normal(n // step + 2)
    return np.interp(np.arange(n) / step, np.arange(points.size), points)


def _stft_filter(x: FloatArray, sr: int, envelope_at: Any) -> FloatArray:
    """Filter ``x`` frame by frame with a zero-phase magnitude envelope (weighted overlap-add).

    ``envelope_at(times, freqs)`` returns the ``(frames, bins)`` gain of frames centred at
    ``times`` seconds.
    """
    n_fft = 1 << int(round(np.log2(sr * 0.046)))
    hop = n_fft // 4
    n = x.size
    pad = n_fft
    xp = np.pad(x, (pad, pad + hop))
    frames = np.lib.stride_tricks.sliding_window_view(xp, n_fft)[::hop]  # (frames, n_fft)
    window = np.hanning(n_fft + 1)[:-1]
    spec = np.fft.rfft(frames * window, axis=1)  # (frames, bins)
    times = (np.arange(frames.shape[0]) * hop + n_fft / 2 - pad) / sr
    freqs = np.fft.rfftfreq(n_fft, 1 / sr)
    spec = spec * envelope_at(times, freqs)
    out_frames = np.fft.irfft(spec, n_fft, axis=1) * window
    out = np.zeros(xp.size)
    norm = np.zeros(xp.size)
    for k in range(out_frames.shape[0]):  # (frames) overlap-add; frames are few
        out[k * hop : k * hop + n_fft] += out_frames[k]
        norm[k * hop : k * hop + n_fft] += window**2
    return np.asarray(out[pad : pad + n] / np.maximum(norm[pad : pad + n], 1e-8))


def sing_formant(
    notes: Sequence[SungNote],
    *,
    sr: int,
    n_samples: int,
    rng: np.random.Generator,
    voice: FormantVoice | None = None,
    vowels: Sequence[str] | None = None,
) -> FloatArray:
    """Sing ``notes`` with the source-filter singer.

    Parameters
    ----------
    notes
        The melody (monophonic; overlapping notes are sung one after the other).
    sr
        Sample rate in Hz (>= 8000).
    n_samples
        Output length in samples; later notes are cut.
    rng
        Source of every random choice (vowels, jitter, shimmer, noise).
    voice
        Voice parameters; default :class:`FormantVoice()`.
    vowels
        One vowel per note (from :data:`VOWELS`); drawn from ``rng`` when omitted.

    Returns
    -------
    ndarray, shape (1, n_samples), float32
        Peak-normalised to 0.5 (silence stays zeros).

    Raises
    ------
    InvalidConfigError
        ``sr`` < 8000, ``n_samples`` < 1, a note with ``end <= start`` or a pitch outside
        0..127, ``vowels`` of the wrong length or with an unknown vowel.
    """
    notes = _check_notes(notes, sr, n_samples)
    voice = voice or FormantVoice()
    if voice.voice_type not in FORMANTS:
        raise InvalidConfigError(
            f"voice_type must be one of {', '.join(FORMANTS)}, got {voice.voice_type!r}"
        )
    if vowels is None:
        vowels = [VOWELS[int(i)] for i in rng.integers(len(VOWELS), size=len(notes))]
    if len(vowels) != len(notes) or any(v not in VOWELS for v in vowels):
        raise InvalidConfigError(
            f"vowels must give one of {', '.join(VOWELS)} per note ({len(notes)}), got {vowels!r}"
        )
    n = int(n_samples)
    t = np.arange(n) / sr
    log_f0 = np.full(n, np.nan)  # log2 Hz per sample, NaN where no note sounds
    env = np.zeros(n)
    prev_end, prev_pitch = -1.0, None
    bursts: list[tuple[int, int]] = []
    shift = 12 * voice.octave_shift
    for k, note in enumerate(notes):
        i0 = int(round(note.start * sr))
        if i0 >= n:
            break
        i1 = min(n, int(round(note.end * sr)))
        nxt = int(round(notes[k + 1].start * sr)) if k + 1 < len(notes) else n
        rel = max(1, int(voice.release * sr))
        i2 = min(n, i1 + rel, max(i1, nxt))  # release ends before the next onset
        seg = t[i0:i2] - note.start
        f = np.full(i2 - i0, (note.pitch + shift) / 12.0)
        # Vibrato: delayed, faded in over 0.2 s.
        ramp = np.clip((seg - voice.vibrato_delay) / 0.2, 0.0, 1.0)
        f += ramp * voice.vibrato_cents / 1200.0 * np.sin(2 * np.pi * voice.vibrato_rate * seg)
        if voice.portamento > 0 and prev_pitch is not None and note.start - prev_end < 0.08:
            glide = min(voice.portamento, 0.4 * (note.end - note.start))
            w = np.clip(seg / glide, 0.0, 1.0)
            f += (1 - (3 * w**2 - 2 * w**3)) * (prev_pitch - note.pitch) / 12.0
        log_f0[i0:i2] = f
        # Envelope: raised-cosine attack, sustain, raised-cosine release after the offset.
        e = np.ones(i2 - i0)
        att = min(i1 - i0, max(1, int(voice.attack * sr)))
        e[:att] = 0.5 - 0.5 * np.cos(np.pi * np.arange(att) / att)
        tail = i2 - i1
        if tail > 0:
            e[i1 - i0 :] = 0.5 + 0.5 * np.cos(np.pi * np.arange(tail) / rel)
        env[i0:i2] = np.maximum(env[i0:i2], e * (note.velocity / 127.0) ** 1.5)
        if rng.random() < voice.consonants:
            length = int(rng.uniform(0.03, 0.07) * sr)
            bursts.append((max(0, i0 - length // 2), min(n, i0 + length // 2)))
        prev_end, prev_pitch = note.end, note.pitch
    if not np.any(env):
        return np.zeros((1, n), dtype=np.float32)
    # Between notes, hold the last pitch so the phase stays smooth (the envelope is zero there).
    idx = np.where(np.isnan(log_f0), 0, np.arange(n))
    np.maximum.accumulate(idx, out=idx)
    log_f0 = log_f0[idx]
    first = int(np.argmax(~np.isnan(log_f0)))
    log_f0[:first] = log_f0[first]
    f0 = midi_to_hz(log_f0 * 12.0) * (1 + voice.jitter * _smooth_noise(rng, n, max(1, sr // 200)))
    # Source: band-limited glottal pulses read from mip-mapped tables at the running phase.
    tables = _glottal_tables(voice.open_quotient, voice.speed_quotient)
    size = tables.shape[1] - 1
    phase = np.cumsum(f0 / sr)
    period = phase.astype(np.int64)
    frac = (phase - period) * size
    pos = frac.astype(np.int64)
    w = frac - pos
    level = np.clip(np.floor(np.log2(0.45 * sr / f0)), 0, tables.shape[0] - 1).astype(np.int64)
    pulse = (1 - w) * tables[level, pos] + w * tables[level, pos + 1]
    pulse *= 1 + voice.shimmer * rng.standard_normal(int(period[-1]) + 1)[period]
    # Aspiration: white noise, louder in the open phase of each period.
    noise = rng.standard_normal(n)
    gate = np.where(frac < voice.open_quotient * size, 1.0, 0.3)
    excitation = (pulse + voice.breath * np.sqrt(np.mean(pulse**2)) * noise * gate) * env
    # Filter: five formants of the vowel of each syllable, moving over 60 ms at each onset.
    table = FORMANTS[voice.voice_type]
    params = np.array([np.array(table[v]) for v in vowels])  # (notes, 3, formants)
    starts = np.array([nt.start for nt in notes])
    scale = voice.formant_scale

    def envelope_at(times: FloatArray, freqs: FloatArray) -> FloatArray:
        k = np.clip(np.searchsorted(starts, times, side="right") - 1, 0, len(notes) - 1)
        prev = np.maximum(k - 1, 0)
        wgt = np.clip((times - starts[k]) / 0.06, 0.0, 1.0)[:, None, None]
        p = (1 - wgt) * params[prev] + wgt * params[k]  # (frames, 3, formants)
        centre, bw, gain = p[:, 0, :] * scale, p[:, 1, :], 10 ** (p[:, 2, :] / 20)
        x = (freqs[None, :, None] - centre[:, None, :]) / (bw[:, None, :] / 2)
        return np.asarray((gain[:, None, :] / np.sqrt(1 + x**2)).sum(axis=2))  # (frames, bins)

    y = _stft_filter(excitation, sr, envelope_at)
    # Consonant onsets: short high-passed noise bursts, outside the vowel filter.
    for a, b in bursts:
        if b > a:
            burst = np.diff(rng.standard_normal(b - a + 1)) * np.hanning(b - a)
            y[a:b] += 0.15 * np.abs(y).max() * burst / max(1e-9, float(np.abs(burst).max()))
    peak = float(np.abs(y).max())
    out = y * (0.5 / peak) if peak > 0 else y
    return out.astype(np.float32)[None, :]


# --------------------------------------------------------------------------------------------
# espeak-ng singer
# --------------------------------------------------------------------------------------------


def espeak_path() -> str:
    """Path of the ``espeak-ng`` program.

    Raises
    ------
    DependencyError
        espeak-ng is not installed (the message says ``apt-get install espeak-ng``).
    """
    path = shutil.which("espeak-ng")
    if path is None:
        raise DependencyError(
            "espeak-ng is not installed; the espeak singer needs it. Install it with "
            "`apt-get install espeak-ng` (Debian/Ubuntu) or `brew install espeak-ng` (macOS)."
        )
    return path


def espeak_available() -> bool:
    """True when the ``espeak-ng`` program is on the PATH."""
    return shutil.which("espeak-ng") is not None


@functools.lru_cache(maxsize=4096)
def _espeak_syllable(voice: str, syllable: str, pitch: int, speed: int) -> tuple[FloatArray, float]:
    """Render one syllable with a flat intonation; return (samples at 22.05 kHz, f0 in Hz).

    Cached: a song reuses a handful of (voice, syllable, pitch) renders.
    """
    import soundfile as sf

    ssml = f'<speak><prosody range="0%">{syllable}</prosody></speak>'
    cmd = [espeak_path(), "--stdout", "-m", "-v", voice, "-s", str(speed), "-p", str(pitch), ssml]
    try:
        wav = subprocess.run(cmd, capture_output=True, check=True, timeout=30).stdout
        y, sr = sf.read(io.BytesIO(wav), dtype="float64")
    except (subprocess.SubprocessError, OSError, RuntimeError) as exc:
        raise DependencyError(f"espeak-ng failed to render {syllable!r} with voice {voice!r}: "
                              f"{exc}") from exc
    if y.ndim > 1:
        y = y.mean(axis=1)
    if sr != _ESPEAK_SR:  # pragma: no cover - espeak-ng writes 22.05 kHz
        raise DependencyError(f"espeak-ng wrote {sr} Hz audio, expected {_ESPEAK_SR}")
    loud = np.flatnonzero(np.abs(y) > 0.02 * np.abs(y).max()) if y.size else np.array([])
    if loud.size == 0:
        raise DependencyError(f"espeak-ng rendered silence for {syllable!r} ({voice!r})")
    y = y[loud[0] : loud[-1] + 1]
    mid = y[y.size // 3 : 2 * y.size // 3]
    f0 = estimate_f0(mid, _ESPEAK_SR, fmin=50, fmax=600)
    y.setflags(write=False)
    return y, f0


#: espeak pitch settings measured to map a setting to f0 (others are interpolated).
_ESPEAK_PROBES = (8, 53, 99)


@functools.lru_cache(maxsize=64)
def _espeak_pitch_map(voice: str, speed: int) -> tuple[FloatArray, FloatArray]:
    """Approximate f0 in Hz of a steady vowel at each setting in :data:`_ESPEAK_PITCHES`."""
    with ThreadPoolExecutor(max_workers=len(_ESPEAK_PROBES)) as pool:
        probes = list(pool.map(lambda p: _espeak_syllable(voice, "aa", p, speed)[1],
                               _ESPEAK_PROBES))
    known = np.array(_ESPEAK_PROBES, dtype=np.float64)
    f0 = np.array(probes)
    good = np.isfinite(f0) & (f0 > 0)
    if good.sum() < 2:
        return np.array([]), np.array([])
    pitches = np.array(_ESPEAK_PITCHES, dtype=np.float64)
    return pitches, np.exp(np.interp(pitches, known[good], np.log(f0[good])))


def _prefetch(jobs: set[tuple[str, str, int, int]]) -> None:
    """Render missing syllables in parallel threads (espeak-ng runs as a subprocess)."""
    if len(jobs) > 1:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda job: _espeak_syllable(*job), sorted(jobs)))


@dataclass(frozen=True)
class EspeakVoice:
    """Parameters of the espeak-ng singer (:func:`sing_espeak`).

    Attributes
    ----------
    voice
        espeak-ng voice and variant, e.g. ``"en"``, ``"en+f3"``, ``"de"``.
    speed
        Speaking rate in words per minute (slow speech gives long vowels to stretch).
    vibrato_rate, vibrato_cents
        Vibrato rate in Hz and depth in cents.
    octave_shift
        Octaves added to every score pitch (to sing near the voice's natural range).
    syllables
        The syllables sung (drawn per note).
    """

    voice: str = "en"
    speed: int = 90
    vibrato_rate: float = 5.5
    vibrato_cents: float = 30.0
    octave_shift: int = 0
    syllables: tuple[str, ...] = SYLLABLES

    @classmethod
    def random(cls, rng: np.random.Generator, *, notes: Sequence[SungNote] = ()) -> EspeakVoice:
        """Draw a voice; with ``notes``, an octave shift that puts the melody near its range."""
        voice = str(ESPEAK_VOICES[int(rng.integers(len(ESPEAK_VOICES)))])
        female = voice.endswith(_FEMALE_VARIANTS)
        shift = 0
        if notes:
            median = float(np.median([n.pitch for n in notes]))
            centre = 60.0 if female else 50.0  # ~260 Hz / ~150 Hz
            shift = int(np.round((centre - median) / 12))
        k = int(rng.integers(5, len(SYLLABLES) + 1))
        syllables = tuple(str(s) for s in rng.choice(SYLLABLES, size=k, replace=False))
        return cls(
            voice=voice,
            speed=int(rng.integers(80, 111)),
            vibrato_rate=float(rng.uniform(4.5, 6.5)),
            vibrato_cents=float(rng.uniform(10, 60)),
            octave_shift=shift,
            syllables=syllables,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready primitives."""
        d = asdict(self)
        d["syllables"] = list(self.syllables)
        d["vibrato_rate"] = round(self.vibrato_rate, 4)
        d["vibrato_cents"] = round(self.vibrato_cents, 4)
        return d


def sing_espeak(
    notes: Sequence[SungNote],
    *,
    sr: int,
    n_samples: int,
    rng: np.random.Generator,
    voice: EspeakVoice | None = None,
) -> FloatArray:
    """Sing ``notes`` with espeak-ng: one syllable per note, at the note's pitch and length.

    Each syllable is rendered with a flat intonation at the espeak pitch setting nearest the
    note (cached per voice, syllable and setting; missing renders run in parallel), resampled
    to the note's pitch with vibrato, its consonant onset kept and its vowel sustained or
    shortened pitch-synchronously (:func:`_fit_syllable`) so that it lasts exactly the note.

    Parameters
    ----------
    notes
        The melody.
    sr
        Output sample rate in Hz (>= 8000).
    n_samples
        Output length in samples.
    rng
        Draws the syllable of each note.
    voice
        Voice parameters; default :class:`EspeakVoice()`.

    Returns
    -------
    ndarray, shape (1, n_samples), float32
        Peak-normalised to 0.5; zero outside the notes (each fades out over its last 20 ms).

    Raises
    ------
    DependencyError
        espeak-ng is not installed (or fails).
    InvalidConfigError
        Bad ``sr``/``n_samples`` or notes, an empty syllable list.
    """
    notes = _check_notes(notes, sr, n_samples)
    voice = voice or EspeakVoice()
    if not voice.syllables:
        raise InvalidConfigError("voice.syllables must not be empty")
    espeak_path()
    pitches, f0s = _espeak_pitch_map(voice.voice, voice.speed)
    if pitches.size == 0:
        raise DependencyError(f"espeak-ng voice {voice.voice!r} gives no pitched output")
    n = int(n_samples)
    plan = []  # (note, syllable, target f0, espeak setting), drawn in note order
    for note in notes:
        if int(round(note.start * sr)) >= n:
            break
        syllable = str(voice.syllables[int(rng.integers(len(voice.syllables)))])
        target = float(midi_to_hz(note.pitch + 12 * voice.octave_shift))
        setting = int(pitches[int(np.argmin(np.abs(np.log(f0s / target))))])
        plan.append((note, syllable, target, setting))
    _prefetch({(voice.voice, syl, setting, voice.speed) for _, syl, _, setting in plan})
    out = np.zeros(n)
    fade = max(1, int(0.02 * sr))
    for note, syllable, target, setting in plan:
        i0 = int(round(note.start * sr))
        length = min(n, int(round(note.end * sr))) - i0
        y, f0 = _espeak_syllable(voice.voice, syllable, setting, voice.speed)
        if not np.isfinite(f0) or length < 8:
            continue
        seg = _fit_syllable(y, f0, target, length, sr, voice)
        seg[-min(fade, length) :] *= np.linspace(1, 0, min(fade, length))
        seg[: min(32, length)] *= np.linspace(0, 1, min(32, length))
        out[i0 : i0 + length] += seg * (note.velocity / 127.0) ** 1.5
    peak = float(np.abs(out).max())
    if peak > 0:
        out *= 0.5 / peak
    return out.astype(np.float32)[None, :]


def _fit_syllable(
    y: FloatArray, f0: float, target: float, length: int, sr: int, voice: EspeakVoice
) -> FloatArray:
    """Resample a rendered syllable to ``target`` Hz (with vibrato) lasting ``length`` samples.

    The consonant onset (first 80 ms at most) is read once; the rest is stretched or shrunk
    pitch-synchronously: two read taps one source period apart, crossfaded as the read
    position drifts from the content position, so a periodic vowel is sustained seamlessly.

    Returns
    -------
    ndarray, shape (length,), float64
    """
    tt = np.arange(length) / sr
    cents = voice.vibrato_cents * np.clip((tt - 0.12) / 0.2, 0, 1)
    vib = 2 ** (cents / 1200 * np.sin(2 * np.pi * voice.vibrato_rate * tt))
    rate = target / f0 * (_ESPEAK_SR / sr) * vib  # source samples per output sample
    base = np.concatenate([[0.0], np.cumsum(rate[:-1])])  # read position without stretching
    head = float(min(int(0.25 * y.size), int(0.08 * _ESPEAK_SR)))
    need = float(base[-1])
    stretch = max(1e-3, (need - head) / max(1.0, y.size - 1 - head))
    content = np.where(base < head, base, head + (base - head) / stretch)
    period = _ESPEAK_SR / f0
    drift = (base - content) / period
    k = np.floor(drift)
    u = drift - k
    tap1 = base - k * period
    tap2 = tap1 - period
    grid = np.arange(y.size)
    return np.asarray(
        (1 - u) * np.interp(tap1, grid, y, right=0.0) + u * np.interp(tap2, grid, y, left=0.0)
    )
