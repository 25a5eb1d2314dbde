"""The Mask explorer's per-α stems and their WAV bytes (issue 11: a cheap α release).

:func:`dashboard.player.pcm16_wav` must write a WAV any reader decodes to the same samples at
the same level; :func:`dashboard.mask_explorer_view.stem_wavs` encodes the cached stems once
per α, and the stems equal the plain two-inverse-STFT reconstruction.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from core.errors import InvalidAudioError
from core.karaoke.masks import reconstruct, threshold_masks
from core.karaoke.separate import input_stft_config, mask_result_from_prob
from core.karaoke.tracks import Track
from core.signal.stft import stft
from dashboard import mask_explorer_view as ev
from dashboard.player import pcm16_wav


@pytest.mark.parametrize("channels", [1, 2])
def test_pcm16_wav_round_trips_at_the_same_level(rng, channels):
    y = (0.05 * rng.standard_normal((channels, 3001))).astype(np.float32)
    y[0, :3] = [1.5, -2.0, 0.5]  # clipped to full scale
    data = pcm16_wav(y, 22050)
    back, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    assert sr == 22050 and back.shape == (3001, channels)
    assert sf.info(io.BytesIO(data)).subtype == "PCM_16"
    want = np.clip(y, -1.0, 1.0)
    np.testing.assert_allclose(back.T, want, atol=1.0 / 32767)  # no normalisation
    assert abs(float(np.abs(back).max()) - 32767 / 32768) < 1e-6  # full scale, not rescaled
    assert len(data) == 44 + 2 * channels * 3001


def test_pcm16_wav_rejects_bad_audio():
    with pytest.raises(InvalidAudioError):
        pcm16_wav(np.zeros(10, np.float32), 8000)
    with pytest.raises(InvalidAudioError):
        pcm16_wav(np.zeros((1, 0), np.float32), 8000)
    with pytest.raises(InvalidAudioError):
        pcm16_wav(np.zeros((1, 10), np.float32), 0)


def test_stems_and_wavs_at_alpha_are_cached_exact_and_read_only(rng, monkeypatch):
    sr = 8000
    y = (0.1 * rng.standard_normal((2, sr))).astype(np.float32)
    cfg = input_stft_config(sr)
    prob = rng.random(stft(y, cfg).shape).astype(np.float32)
    res = mask_result_from_prob(y, sr, prob, stft_config=cfg)
    track = Track.from_arrays(y, sr, name="t")
    calls = []

    def fake_result(key, method, checkpoint, _track):  # noqa: ANN001, ANN202
        calls.append(key)
        return res

    monkeypatch.setattr(ev, "mask_result", fake_result)
    for rule in ("paper", "soft"):
        stems = ev.stems_at_alpha("k", "dnn", None, 0.5, rule, track)
        plain = reconstruct(
            res.mixture_stft, threshold_masks(prob, alpha=0.5, rule=rule), config=cfg, length=sr
        )
        np.testing.assert_allclose(stems, plain, atol=1e-5)
        assert not stems.flags.writeable  # shared between sessions
        wavs = ev.stem_wavs("k", "dnn", None, 0.5, rule, track)
        assert ev.stem_wavs("k", "dnn", None, 0.5, rule, track) is wavs  # encoded once
        for wav, stem in zip(wavs, stems, strict=True):
            back, got_sr = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
            assert got_sr == sr
            np.testing.assert_allclose(back.T, np.clip(stem, -1, 1), atol=1.0 / 32767)
    n = len(calls)
    ev.stems_at_alpha("k", "dnn", None, 0.5, "paper", track)  # a cache hit: no new mask lookup
    assert len(calls) == n


def test_settle_heap_freezes_survivors_and_still_frees_cycles(rng, monkeypatch):
    import gc
    import weakref

    class Node:
        pass

    try:
        a, b = Node(), Node()
        a.other, b.other = b, a  # a reference cycle
        probe = weakref.ref(a)
        ev.settle_heap()
        assert gc.get_freeze_count() > 0
        assert not gc.is_tracked(a) or a not in gc.get_objects()  # frozen: out of collections
        del a, b
        gc.collect()
        assert probe() is not None  # a frozen cycle waits for the next settle...
        ev.settle_heap()
        assert probe() is None  # ...which collects it

        # the first mask of the process settles the heap (or one after many new modules, e.g.
        # torch), a fast one later does not; an α release checks the same
        for timer in ev._TIMERS:  # a delayed settle left by an earlier test
            timer.cancel()
            timer.join(5)
        calls = []
        monkeypatch.setattr(ev, "settle_heap", lambda: calls.append(1))
        monkeypatch.setitem(ev._HEAP, "modules", 0)
        sr = 8000
        y = (0.1 * rng.standard_normal((1, sr))).astype(np.float32)
        track = Track.from_arrays(y, sr, name="t", vocals=0.5 * y, accompaniment=0.5 * y)
        ev.mask_result("k1", "oracle", None, track)
        assert calls == [1]
        import sys

        monkeypatch.setitem(ev._HEAP, "modules", len(sys.modules))
        ev.mask_result("k2", "oracle", None, track)
        ev.stems_at_alpha("k2", "oracle", None, 0.5, "paper", track)
        assert calls == [1]
        monkeypatch.setitem(ev._HEAP, "modules", len(sys.modules) - ev.SETTLE_NEW_MODULES)
        monkeypatch.setattr(ev, "SETTLE_DELAY_S", 0.01)
        ev.stems_at_alpha("k2", "oracle", None, 0.6, "paper", track)  # settles a bit later
        ev.stems_at_alpha("k2", "oracle", None, 0.7, "paper", track)  # (once)
        for timer in ev._TIMERS:
            timer.join(5)
        assert calls == [1, 1]
    finally:
        gc.unfreeze()
