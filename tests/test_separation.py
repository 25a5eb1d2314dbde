from __future__ import annotations

import numpy as np
import pytest

from core.errors import CheckpointError, InvalidAudioError, InvalidConfigError
from core.karaoke.methods import METHODS, method_spec
from core.karaoke.separate import (
    MODEL_SR,
    MODEL_STFT,
    default_model_file,
    input_stft_config,
    map_mask,
    mask_result_from_prob,
    probability_mask,
    separate_at_alpha,
)


def _stems(rng, sr, seconds=0.5, ch=2):
    n = int(sr * seconds)
    t = np.arange(n) / sr
    voc = 0.4 * np.sin(2 * np.pi * 2000 * t)
    acc = 0.4 * np.sin(2 * np.pi * 200 * t)
    refs = np.stack([voc, acc])[:, None, :].repeat(ch, axis=1)
    refs[:, -1] *= 0.7  # channels differ
    return refs.astype(np.float32)


def test_methods_come_from_the_registry():
    assert METHODS == ("dnn", "traditional", "oracle", "oracle-irm")
    assert [method_spec(m).needs_references for m in METHODS] == [False, False, True, True]


def test_default_model_file_is_the_registry_file_and_missing_is_a_checkpoint_error(
    tmp_path, monkeypatch
):
    assert default_model_file("dnn").name == method_spec("dnn").model_file == "dnn.pt"
    assert default_model_file("traditional").name == "nmf.npz"
    with pytest.raises(InvalidConfigError, match="no model file"):
        default_model_file("oracle")
    monkeypatch.setenv("GENEX_ASSETS", str(tmp_path / "empty"))
    with pytest.raises(CheckpointError, match="genex train-nmf"):
        default_model_file("traditional")


@pytest.mark.parametrize("sr,ch", [(44100, 2), (22050, 1), (16000, 2)])
def test_oracle_keeps_rate_channels_length_and_separates(rng, sr, ch):
    refs = _stems(rng, sr, ch=ch)
    mix = refs.sum(0)
    res = probability_mask(mix, sr, method="oracle", references=refs)
    assert res.prob.dtype == np.float32 and res.prob.shape == res.mixture_stft.shape
    est = separate_at_alpha(res, alpha=0.5)
    assert est.shape == (2, ch, mix.shape[1]) and est.dtype == np.float32
    mid = slice(sr // 10, -sr // 10)
    for j in range(2):
        err = np.sum((est[j, :, mid] - refs[j, :, mid]) ** 2) / np.sum(refs[j, :, mid] ** 2)
        assert err < 1e-2
    irm = probability_mask(mix, sr, method="oracle-irm", references=refs)
    soft = separate_at_alpha(irm, rule="soft")
    np.testing.assert_allclose(soft.sum(0), mix, atol=1e-4)  # soft masks sum to the mixture


def test_oracle_needs_references(rng):
    refs = _stems(rng, 16000)
    with pytest.raises(InvalidConfigError, match="reference"):
        probability_mask(refs.sum(0), 16000, method="oracle")
    with pytest.raises(InvalidConfigError):
        probability_mask(refs.sum(0), 16000, method="oracle", references=refs[:, :, :100])
    with pytest.raises(InvalidConfigError):
        probability_mask(refs.sum(0), 16000, method="wiener")  # type: ignore[arg-type]
    with pytest.raises(InvalidAudioError):
        probability_mask(np.full((1, 100), np.nan, np.float32), 16000, method="oracle",
                         references=np.zeros((2, 1, 100), np.float32))


def test_missing_or_wrong_checkpoint_is_an_error_never_the_input(rng, tmp_path, monkeypatch):
    from core.checkpoint import save_checkpoint

    mix = _stems(rng, 16000).sum(0)
    with pytest.raises(CheckpointError):
        probability_mask(mix, 16000, method="dnn", checkpoint=tmp_path / "none.pt")
    bad = save_checkpoint(tmp_path / "c.pt", kind="composer", config={}, state_dict={})
    with pytest.raises(CheckpointError):
        probability_mask(mix, 16000, method="dnn", checkpoint=bad)
    with pytest.raises(CheckpointError):
        probability_mask(mix, 16000, method="traditional", checkpoint=bad)
    monkeypatch.setenv("GENEX_ASSETS", str(tmp_path / "empty"))
    with pytest.raises(CheckpointError, match="missing"):
        probability_mask(mix, 16000, method="dnn")


def test_dnn_stereo_44k_in_stereo_44k_out(rng, tmp_path):
    import torch

    from core.karaoke.dnn import DnnConfig, KaraokeDNN, save_separator

    torch.manual_seed(0)
    model = KaraokeDNN(DnnConfig(sr=8000, n_fft=128, hop_length=64, frames=4, hidden=8))
    path = save_separator(tmp_path / "tiny.pt", model)
    mix = _stems(rng, 44100, seconds=0.3).sum(0)
    res = probability_mask(mix, 44100, method="dnn", checkpoint=path)
    assert res.sr == 44100 and res.model_sr == 8000 and res.channels == 2
    assert res.prob.min() >= 0 and res.prob.max() <= 1
    est = separate_at_alpha(res, alpha=0.3, rule="complement")
    assert est.shape == (2, 2, mix.shape[1])
    np.testing.assert_allclose(est.sum(0), mix, atol=1e-4)  # complementary binary masks
    mono = probability_mask(mix[:1], 44100, method="dnn", checkpoint=model)
    assert separate_at_alpha(mono, alpha=0.5).shape == (2, 1, mix.shape[1])
    again = mask_result_from_prob(mix, 44100, res.prob)
    np.testing.assert_array_equal(
        separate_at_alpha(again, alpha=0.4), separate_at_alpha(res, alpha=0.4)
    )
    with pytest.raises(InvalidConfigError):
        mask_result_from_prob(mix[:, :1000], 44100, res.prob)


def test_map_mask_is_exact_on_a_2x_grid(rng):
    cfg_in = input_stft_config(44100)
    assert (cfg_in.n_fft, cfg_in.hop_length) == (2048, 512)
    p = rng.random((1, MODEL_STFT.n_bins, 30)).astype(np.float32)
    out = map_mask(p, src_sr=MODEL_SR, src_config=MODEL_STFT, dst_sr=44100, dst_config=cfg_in,
                   n_frames=30)
    assert out.shape == (1, 1025, 30)
    np.testing.assert_array_equal(out[:, :513], p)
    np.testing.assert_array_equal(out[:, 513:], np.repeat(p[:, 512:513], 512, axis=1))
    same = map_mask(p, src_sr=MODEL_SR, src_config=MODEL_STFT, dst_sr=MODEL_SR,
                    dst_config=MODEL_STFT, n_frames=30)
    np.testing.assert_array_equal(same, p)
