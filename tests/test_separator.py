from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from core.checkpoint import save_checkpoint  # noqa: E402
from core.errors import CheckpointError, InvalidConfigError  # noqa: E402
from core.karaoke.dnn import (  # noqa: E402
    DnnConfig,
    KaraokeDNN,
    build_windows,
    load_separator,
    log_features,
    predict_prob,
    save_separator,
    train_separator,
)
from core.karaoke.masks import context_windows, overlap_average  # noqa: E402
from core.types import ProgressEvent  # noqa: E402

TINY = dict(sr=8000, n_fft=128, hop_length=64, frames=4, hidden=16, proj=8, basis=6,
            batch_size=32, chunk_windows=4)


def _example(rng, seconds=1.0, sr=8000, ch=1):
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f0 = rng.uniform(600, 1200)
    gate = (np.sin(2 * np.pi * 2 * t) > 0).astype(np.float32)
    vocals = 0.4 * gate * np.sin(2 * np.pi * f0 * t)
    accomp = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 300) * t) + 0.02 * rng.standard_normal(n)
    refs = np.stack([vocals, accomp])[:, None, :].repeat(ch, axis=1).astype(np.float32)
    return refs.sum(0), refs, sr


def _windows_of(model, mag):
    """Per-window logits (windows, frames, bins) computed one isolated window at a time."""
    f = model.config.frames
    win = context_windows(log_features(mag), frames=f)  # (windows, frames * bins)
    x = torch.from_numpy(np.ascontiguousarray(win.reshape(len(win), f, -1)))
    with torch.inference_mode():
        return model(x)[:, 0].numpy()  # each window alone: (windows, frames, bins)


@pytest.mark.parametrize("proj, basis", [(8, 6), (0, 0)])
def test_tiny_model_overfits_one_batch(rng, proj, basis):
    cfg = DnnConfig(**{**TINY, "hidden": 64, "proj": proj, "basis": basis}, gain_db=0.0, seed=0)
    data = build_windows([_example(rng)], cfg, step=4)
    idx = np.arange(min(32, len(data.starts)))
    rows = data.starts[idx][:, None] + np.arange(cfg.frames)
    x = torch.from_numpy(data.features[rows])  # (32, frames, bins): one window per row
    y = torch.from_numpy(data.targets[rows].astype(np.float32))[:, None]
    torch.manual_seed(0)
    model = KaraokeDNN(cfg)
    model.in_mean.copy_(torch.from_numpy(data.features.mean(0)))
    model.in_std.copy_(torch.from_numpy(data.features.std(0) + 1e-3))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(200):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.15 * first
    acc = ((torch.sigmoid(model(x)) > 0.5).float() == y).float().mean()
    assert acc > 0.97


def test_sliding_forward_equals_isolated_windows(rng):
    cfg = DnnConfig(**TINY)
    torch.manual_seed(0)
    model = KaraokeDNN(cfg).eval()
    mag = np.abs(rng.standard_normal((cfg.n_bins, 15))).astype(np.float32)
    alone = _windows_of(model, mag)
    with torch.inference_mode():
        slid = model(torch.from_numpy(np.ascontiguousarray(log_features(mag).T))[None])[0]
    assert slid.shape == (15 - cfg.frames + 1, cfg.frames, cfg.n_bins)
    np.testing.assert_allclose(slid.numpy(), alone, atol=1e-5)


@pytest.mark.parametrize("average", ["prob", "logit"])
def test_predict_prob_is_overlap_average_of_window_predictions(rng, average):
    cfg = DnnConfig(**TINY, average=average)
    torch.manual_seed(0)
    model = KaraokeDNN(cfg).eval()
    mag = np.abs(rng.standard_normal((1, cfg.n_bins, 15))).astype(np.float32)
    logits = _windows_of(model, mag[0])  # (windows, frames, bins)
    if average == "prob":  # the paper: mean of the window masks
        expected = overlap_average(1 / (1 + np.exp(-logits)), n_frames=15)
    else:  # mean of the window logits, then the sigmoid
        expected = 1 / (1 + np.exp(-overlap_average(logits, n_frames=15)))
    for chunk in (3, 1000):
        np.testing.assert_allclose(predict_prob(model, mag, chunk=chunk)[0], expected, atol=1e-5)
    # a stored calibration is applied on top: sigmoid(a * logit(p) + b)
    model.calibration.copy_(torch.tensor([2.0, -0.5]))
    z = np.log(expected / (1 - expected))
    np.testing.assert_allclose(predict_prob(model, mag)[0], 1 / (1 + np.exp(-(2 * z - 0.5))),
                               atol=1e-4)


def test_train_save_load_predict_roundtrip(rng, tmp_path):
    cfg = DnnConfig(**TINY, epochs=3, patience=2, train_step=2, seed=1)
    train = [_example(rng) for _ in range(2)]
    valid = [_example(rng)]
    seen: list[ProgressEvent] = []
    res = train_separator(cfg, data=(train, valid), progress=seen.append)
    assert len(seen) == len(res.history) >= 1
    assert seen[0].stage == "epoch" and seen[0].total == 3 and "valid_loss" in seen[0].metrics
    assert res.history[-1]["valid_loss"] > 0 and 1 <= res.best_epoch <= 3
    cal = res.calibration
    assert cal["bce_after"] <= cal["bce_before"] + 1e-6  # Platt scaling never hurts the fit set
    assert 0 <= cal["ece_after"] <= 1 and 0 <= cal["ece_before"] <= 1
    path = save_separator(tmp_path / "sep.pt", res, meta={"command": "test"})
    model = load_separator(path)
    assert model.meta["command"] == "test" and model.meta["seed"] == 1
    assert model.meta["calibration"]["a"] == pytest.approx(cal["a"])
    assert model.config == cfg
    np.testing.assert_allclose(model.calibration.numpy(), [cal["a"], cal["b"]], rtol=1e-6)
    mag = np.abs(rng.standard_normal((2, cfg.n_bins, 37))).astype(np.float32)
    p1 = predict_prob(res.model, mag, chunk=7)
    p2 = predict_prob(model, mag, chunk=1000)
    assert p1.shape == mag.shape and p1.dtype == np.float32
    assert p1.min() >= 0 and p1.max() <= 1
    np.testing.assert_allclose(p1, p2, atol=5e-3)  # fp16 storage
    # shorter than one window still works (padded)
    assert predict_prob(model, mag[:, :, :2]).shape == (2, cfg.n_bins, 2)
    with pytest.raises(InvalidConfigError):
        predict_prob(model, mag[:, :10])


def test_wrong_kind_and_corrupt_checkpoints(tmp_path):
    bad = save_checkpoint(tmp_path / "c.pt", kind="composer", config={}, state_dict={})
    with pytest.raises(CheckpointError, match="composer"):
        load_separator(bad)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        load_separator(junk)
    with pytest.raises(CheckpointError):
        load_separator(tmp_path / "missing.pt")
    wrong = save_checkpoint(
        tmp_path / "w.pt",
        kind="separator",
        config={"dnn": DnnConfig(**TINY).to_dict()},
        state_dict={"hidden.weight": torch.zeros(3, 3)},
    )
    with pytest.raises(CheckpointError):
        load_separator(wrong)


def test_config_validation():
    for bad in (dict(loss="l1"), dict(hidden=0), dict(proj=-1), dict(average="median"),
                dict(activation="tanh"), dict(optimizer="lbfgs"), dict(remix=1.5)):
        with pytest.raises(InvalidConfigError):
            DnnConfig(**bad)  # type: ignore[arg-type]
    assert DnnConfig().window_size == 20 * 513
    paper = DnnConfig.paper()
    assert (paper.sr, paper.n_fft, paper.hop_length, paper.hidden) == (44100, 2048, 512, 20500)
    assert (paper.proj, paper.basis, paper.activation, paper.loss) == (0, 0, "sigmoid", "mse")
    assert (paper.optimizer, paper.lr, paper.momentum, paper.average) == ("sgd", 0.1, 0.5, "prob")
    # the arithmetic of the brief: 2 x frames x bins x hidden for the dense paper net
    dense = DnnConfig(hidden=128, proj=0, basis=0, average="prob")
    assert dense.macs_per_frame == 2 * 20 * 513 * 128
    assert DnnConfig(hidden=128).macs_per_frame < dense.macs_per_frame / 4


def test_remix_augmentation_trains(rng):
    cfg = DnnConfig(**TINY, epochs=2, patience=2, remix=0.5, eq_db=6.0, seed=2)
    res = train_separator(cfg, data=([_example(rng) for _ in range(2)], [_example(rng)]))
    assert np.isfinite(res.best_valid_loss) and len(res.history) >= 1
    with pytest.raises(InvalidConfigError, match="keep_stems"):
        train_separator(cfg, data=(build_windows([_example(rng)], cfg, step=4),
                                   build_windows([_example(rng)], cfg, step=4)))


def test_storage_falls_back_to_int8(rng, tmp_path):
    cfg = DnnConfig(sr=8000, n_fft=256, hop_length=64, frames=8, hidden=64, proj=16, basis=8)
    torch.manual_seed(0)
    model = KaraokeDNN(cfg).eval()
    mag = np.abs(rng.standard_normal((1, cfg.n_bins, 25))).astype(np.float32)
    for storage in ("fp16", "int8"):
        back = load_separator(save_separator(tmp_path / f"{storage}.pt", model, storage=storage))
        assert back.meta["weight_storage"] == storage
        np.testing.assert_allclose(predict_prob(back, mag), predict_prob(model, mag), atol=1e-2)
    fp16 = (tmp_path / "fp16.pt").stat().st_size
    assert (tmp_path / "int8.pt").stat().st_size < fp16


def test_warp_and_cosine_schedule_train(rng):
    from core.karaoke.dnn import _random_warp

    re, im = rng.standard_normal((2, 3, 5, 40))
    x = (re + 1j * im).astype(np.complex64)
    same = _random_warp(np.random.default_rng(0), x, 1e-9)
    np.testing.assert_array_equal(same, x)  # no warp: identity
    warped = _random_warp(np.random.default_rng(0), x, 0.3)
    assert warped.shape == x.shape and not np.array_equal(warped, x)
    # every output bin is one of the same stretch's input bins (a pure re-indexing)
    assert all(np.isin(warped[i], x[i]).all() for i in range(3))
    cfg = DnnConfig(**TINY, epochs=3, patience=3, remix=0.5, warp=0.2, lr_schedule="cosine", seed=2)
    res = train_separator(cfg, data=([_example(rng) for _ in range(2)], [_example(rng)]))
    assert np.isfinite(res.best_valid_loss) and len(res.history) == 3
    with pytest.raises(InvalidConfigError, match="warp"):
        DnnConfig(warp=2.0)
    with pytest.raises(InvalidConfigError, match="lr_schedule"):
        DnnConfig(lr_schedule="step")  # type: ignore[arg-type]
