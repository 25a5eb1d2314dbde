from __future__ import annotations

import numpy as np
import pytest

from core.errors import CheckpointError, InvalidConfigError
from core.karaoke.nmf import NmfConfig, fit_nmf, load_nmf, nmf_prob, save_nmf
from core.karaoke.separate import probability_mask, separate_at_alpha

SR = 8000
CFG = NmfConfig(sr=SR, n_fft=256, hop_length=128, frames=4, n_components=4, train_step=2,
                max_iter=100, test_step=2, test_max_iter=60, seed=0)


def _tones(rng, n=SR, f_voc=1500.0, f_acc=300.0):
    t = np.arange(n) / SR
    voc = 0.4 * np.sin(2 * np.pi * f_voc * t + rng.uniform(0, 6))
    acc = 0.4 * np.sin(2 * np.pi * f_acc * t + rng.uniform(0, 6))
    refs = np.stack([voc, acc])[:, None, :].astype(np.float32)
    return refs.sum(0), refs, SR


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(0)
    return fit_nmf(CFG, data=[_tones(rng) for _ in range(2)])


def test_bases_shape_and_save_load(model, tmp_path):
    assert model.bases.shape == (2, 4, 4 * 129)
    assert model.bases.min() >= 0
    path = save_nmf(tmp_path / "nmf.npz", model, meta={"command": "x"})
    back = load_nmf(path)
    assert back.config == CFG and back.meta["command"] == "x"
    big = model.bases > 1e-3 * model.bases.max(axis=2, keepdims=True)
    rel = np.abs(back.bases - model.bases)[big] / model.bases[big]
    assert rel.max() < 0.05  # 8-bit log codes: 0.3 dB steps


def test_nmf_masks_in_unit_interval_and_separate_disjoint_tones(model, rng):
    mix, refs, sr = _tones(rng)
    from core.signal.stft import stft

    mag = np.abs(stft(mix, CFG.stft_config))
    prob = nmf_prob(model, mag, chunk=7)
    assert prob.shape == mag.shape and prob.dtype == np.float32
    assert prob.min() >= 0 and prob.max() <= 1
    vbin, abin = round(1500 / SR * 256), round(300 / SR * 256)
    assert prob[0, vbin].mean() > 0.9 and prob[0, abin].mean() < 0.1
    res = probability_mask(mix, sr, method="traditional", checkpoint=model)
    est = separate_at_alpha(res, alpha=0.5)
    for j in range(2):
        mid = slice(800, -800)
        err = np.sum((est[j, :, mid] - refs[j, :, mid]) ** 2) / np.sum(refs[j, :, mid] ** 2)
        assert err < 0.05


def test_bad_files_and_config(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"junk")
    with pytest.raises(CheckpointError):
        load_nmf(junk)
    with pytest.raises(CheckpointError):
        load_nmf(tmp_path / "none.npz")
    with pytest.raises(InvalidConfigError):
        NmfConfig(test_step=30)
