"""The α release's one-inverse-STFT path: accompaniment = mixture − vocals (+ a correction).

:func:`core.karaoke.masks.separate_frames_major` given the mixture's samples must give the
stems of two plain inverse STFTs (``reconstruct`` of ``threshold_masks``) to float32 rounding,
for every rule and α, mono and stereo, and invert fewer frames (issues 9 and 11).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft

from core.errors import InvalidConfigError
from core.karaoke.masks import reconstruct, separate_frames_major, threshold_masks
from core.karaoke.separate import mask_result_from_prob, separate_at_alpha
from core.signal.stft import StftConfig, istft, stft

SR = 16000


def _track(rng: np.random.Generator, channels: int, cfg: StftConfig) -> tuple[np.ndarray, ...]:
    """A mixture and a structured P: silent-vocal stretches (P near 0), confident vocal
    stretches (P near 1), mixed frames, and ties at 0.3 / 0.5 / 0.7."""
    y = (0.1 * rng.standard_normal((channels, SR))).astype(np.float32)
    S = stft(y, cfg)  # (ch, bins, frames)
    frames = S.shape[2]
    prob = rng.random(S.shape).astype(np.float32)
    prob[:, :, : frames // 4] *= 0.2  # no vocal: every P < 0.2
    prob[:, :, frames // 2 : frames // 2 + 5] = 0.9 + 0.1 * prob[:, :, :5]  # all vocal
    prob[:, :20, -6:] = 0.5  # ties with α = 0.5
    prob[:, 20:40, -6:] = 0.3
    prob[:, 40:60, -6:] = 0.7
    return y, S, prob


def _plain(S: np.ndarray, prob: np.ndarray, cfg: StftConfig, alpha: float, rule: str, n: int):
    masks = threshold_masks(prob, alpha=alpha, rule=rule)  # type: ignore[arg-type]
    return reconstruct(S, masks, config=cfg, length=n)


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("rule", ["paper", "complement", "soft"])
@pytest.mark.parametrize("block", [64, 5])
def test_subtracting_the_vocals_equals_two_inverse_stfts(rng, channels, rule, block):
    cfg = StftConfig(n_fft=512, hop_length=128)
    y, S, prob = _track(rng, channels, cfg)
    stft_t = np.ascontiguousarray(S.transpose(0, 2, 1))
    prob_t = np.ascontiguousarray(prob.transpose(0, 2, 1))
    for alpha in (0.0, 0.2, 0.3, 0.5, 0.7, 0.95, 1.0):
        plain = _plain(S, prob, cfg, alpha, rule, SR)
        fast = separate_frames_major(
            stft_t, prob_t, alpha=alpha, rule=rule, config=cfg, length=SR, mixture=y,
            block_frames=block,
        )  # fmt: skip
        assert fast.shape == (2, channels, SR) and fast.dtype == np.float32
        np.testing.assert_allclose(fast, plain, atol=1e-5, err_msg=f"alpha={alpha}")
        # the same without the mixture (only all-zero frames are skipped)
        alone = separate_frames_major(
            stft_t, prob_t, alpha=alpha, rule=rule, config=cfg, length=SR, block_frames=block
        )
        np.testing.assert_allclose(alone, plain, atol=2e-6, err_msg=f"alpha={alpha}")


def test_the_grid_gives_the_mixture_back(rng):
    """What the subtraction relies on: istft(stft(x)) == x on the centred Hann grids used."""
    for n_fft, hop in ((512, 128), (2048, 512), (1024, 512)):
        cfg = StftConfig(n_fft=n_fft, hop_length=hop)
        y = rng.standard_normal((2, 4001)).astype(np.float32)
        np.testing.assert_allclose(istft(stft(y, cfg), cfg, length=4001), y, atol=1e-5)


@pytest.mark.parametrize(
    ("cfg", "n"),
    [
        (StftConfig(n_fft=512, hop_length=512), SR),  # Hann with no overlap: falls back
        (StftConfig(n_fft=512, hop_length=200), SR),  # hop does not divide n_fft: falls back
        (StftConfig(n_fft=512, hop_length=256, window="hamming"), SR - 77),
    ],
)
def test_other_grids_stay_exact(rng, cfg, n):
    y = (0.1 * rng.standard_normal((2, n))).astype(np.float32)
    S = stft(y, cfg)
    prob = rng.random(S.shape).astype(np.float32)
    stft_t = np.ascontiguousarray(S.transpose(0, 2, 1))
    prob_t = np.ascontiguousarray(prob.transpose(0, 2, 1))
    for rule in ("paper", "complement"):
        fast = separate_frames_major(
            stft_t, prob_t, alpha=0.5, rule=rule, config=cfg, length=n, mixture=y
        )
        np.testing.assert_allclose(fast, _plain(S, prob, cfg, 0.5, rule, n), atol=1e-5)


def test_separate_at_alpha_takes_the_mixture(rng):
    cfg = StftConfig(n_fft=512, hop_length=128)
    y, _S, prob = _track(rng, 2, cfg)
    res = mask_result_from_prob(y, SR, prob, stft_config=cfg)
    for rule in ("paper", "soft"):
        with_mix = separate_at_alpha(res, alpha=0.5, rule=rule, mixture=y)
        np.testing.assert_allclose(
            with_mix, separate_at_alpha(res, alpha=0.5, rule=rule), atol=1e-5
        )


def _inverted_frames(monkeypatch, **kwargs) -> int:
    """Frames passed to the inverse FFT by one ``separate_frames_major`` call."""
    count = [0]
    real = scipy.fft.irfft

    def counting(X, *args, **kw):  # noqa: ANN001, ANN002, ANN003
        count[0] += X.shape[0]
        return real(X, *args, **kw)

    monkeypatch.setattr(scipy.fft, "irfft", counting)
    separate_frames_major(**kwargs)
    monkeypatch.setattr(scipy.fft, "irfft", real)
    return count[0]


def test_with_the_mixture_about_one_inverse_fft_per_frame(rng, monkeypatch):
    cfg = StftConfig(n_fft=512, hop_length=128)
    y, S, prob = _track(rng, 2, cfg)
    prob[prob == 0.5] = 0.6  # no ties: the paper rule's masks add up to one at α = 0.5
    stft_t = np.ascontiguousarray(S.transpose(0, 2, 1))
    prob_t = np.ascontiguousarray(prob.transpose(0, 2, 1))
    frames = S.shape[0] * S.shape[2]
    common = dict(stft_t=stft_t, prob_t=prob_t, config=cfg, length=SR, block_frames=16)
    for rule in ("paper", "complement", "soft"):
        two = _inverted_frames(monkeypatch, alpha=0.5, rule=rule, **common)
        one = _inverted_frames(monkeypatch, alpha=0.5, rule=rule, mixture=y, **common)
        assert two > 1.5 * frames  # both sources (the silent quarter skipped by the vocals)
        assert one < 1.05 * frames  # the vocals only (and the 3 frames at the threads' cut)
    # the silent stretch: its vocal frames are all zero and never inverted
    assert _inverted_frames(monkeypatch, alpha=0.5, rule="paper", mixture=y, **common) < 0.8 * (
        frames
    )


def test_a_mixture_that_does_not_match_is_refused(rng):
    cfg = StftConfig(n_fft=512, hop_length=128)
    y, S, prob = _track(rng, 2, cfg)
    stft_t = np.ascontiguousarray(S.transpose(0, 2, 1))
    prob_t = np.ascontiguousarray(prob.transpose(0, 2, 1))
    with pytest.raises(InvalidConfigError, match="does not match"):
        separate_frames_major(
            stft_t, prob_t, alpha=0.5, config=cfg, length=SR, mixture=0.5 * y
        )
    with pytest.raises(InvalidConfigError, match="mixture must be"):
        separate_frames_major(stft_t, prob_t, alpha=0.5, config=cfg, length=SR, mixture=y[:1])


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("pattern", ["random", "interleaved"])
def test_confident_masks_take_the_correction_path_and_stay_exact(
    rng, channels, pattern, monkeypatch
):
    """A confident P (near 0 or 1, a few bins in between): the paper rule away from α = 0.5
    subtracts and corrects the few frames where the masks overlap or leave a gap. Interleaved
    uncertain and vocal-free frames make a block's runs many (inverted as one span)."""
    cfg = StftConfig(n_fft=512, hop_length=128)
    y = (0.1 * rng.standard_normal((channels, SR))).astype(np.float32)
    S = stft(y, cfg)
    r = rng.random(S.shape).astype(np.float32)
    prob = np.where(rng.random(S.shape) < 0.3, 0.95 + 0.05 * r, 0.05 * r).astype(np.float32)
    frames = np.arange(S.shape[2])
    if pattern == "random":
        unsure, silent, block = rng.random(S.shape[2]) < 0.15, frames < 10, 8
    else:
        unsure, silent, block = frames % 4 == 0, frames % 4 == 2, 64
    prob[:, 7, unsure] = 0.5  # frames with one uncertain bin
    prob[:, :, silent] = 0.02  # no vocal at all: the accompaniment's mask is all ones
    if pattern == "interleaved":  # a faint vocal bin too: its correction is the vocal frame
        prob[:, 3, silent] = 0.45
    stft_t = np.ascontiguousarray(S.transpose(0, 2, 1))
    prob_t = np.ascontiguousarray(prob.transpose(0, 2, 1))
    common = dict(stft_t=stft_t, prob_t=prob_t, config=cfg, length=SR, block_frames=block)
    for alpha in (0.2, 0.3, 0.7, 0.8):
        fast = separate_frames_major(alpha=alpha, mixture=y, **common)
        np.testing.assert_allclose(fast, _plain(S, prob, cfg, alpha, "paper", SR), atol=1e-5)
        one = _inverted_frames(monkeypatch, alpha=alpha, mixture=y, **common)
        two = _inverted_frames(monkeypatch, alpha=alpha, **common)
        assert one < 0.8 * two if pattern == "random" else one <= two
