from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from core.checkpoint import save_checkpoint  # noqa: E402
from core.errors import CheckpointError, InvalidConfigError  # noqa: E402
from core.separator import (  # noqa: E402
    DnnConfig,
    KaraokeDNN,
    build_windows,
    load_separator,
    predict_prob,
    save_separator,
    train_separator,
)

TINY = dict(sr=8000, n_fft=128, hop_length=64, frames=4, hidden=16, batch_size=32)


def _example(rng, seconds=1.0, sr=8000, ch=1):
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f0 = rng.uniform(600, 1200)
    gate = (np.sin(2 * np.pi * 2 * t) > 0).astype(np.float32)
    vocals = 0.4 * gate * np.sin(2 * np.pi * f0 * t)
    accomp = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 300) * t) + 0.02 * rng.standard_normal(n)
    refs = np.stack([vocals, accomp])[:, None, :].repeat(ch, axis=1).astype(np.float32)
    return refs.sum(0), refs, sr


def test_tiny_model_overfits_one_batch(rng):
    cfg = DnnConfig(**{**TINY, "hidden": 64}, gain_db=0.0, seed=0)
    data = build_windows([_example(rng)], cfg, step=4)
    idx = np.arange(min(32, len(data.starts)))
    rows = data.starts[idx][:, None] + np.arange(cfg.frames)
    x = torch.from_numpy(data.features[rows])
    y = torch.from_numpy(data.targets[rows].astype(np.float32))
    torch.manual_seed(0)
    model = KaraokeDNN(cfg)
    model.in_mean.copy_(torch.from_numpy(data.features.mean(0)))
    model.in_std.copy_(torch.from_numpy(data.features.std(0) + 1e-3))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(150):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.1 * first
    acc = ((torch.sigmoid(model(x)) > 0.5).float() == y).float().mean()
    assert acc > 0.98


def test_train_save_load_predict_roundtrip(rng, tmp_path):
    cfg = DnnConfig(**TINY, epochs=3, patience=2, train_step=2, seed=1)
    train = [_example(rng) for _ in range(2)]
    valid = [_example(rng)]
    seen = []
    res = train_separator(cfg, data=(train, valid), progress=lambda *a: seen.append(a))
    assert len(seen) == len(res.history) >= 1
    assert res.history[-1]["valid_loss"] > 0 and 1 <= res.best_epoch <= 3
    path = save_separator(tmp_path / "sep.pt", res, meta={"command": "test"})
    model = load_separator(path)
    assert model.meta["command"] == "test" and model.meta["seed"] == 1
    assert model.config == cfg
    mag = np.abs(rng.standard_normal((2, cfg.n_bins, 37))).astype(np.float32)
    p1 = predict_prob(res.model, mag, batch_size=7)
    p2 = predict_prob(model, mag, batch_size=1000)
    assert p1.shape == mag.shape and p1.dtype == np.float32
    assert p1.min() >= 0 and p1.max() <= 1
    np.testing.assert_allclose(p1, p2, atol=5e-3)  # fp16 storage
    # shorter than one window still works (zero padded)
    assert predict_prob(model, mag[:, :, :2]).shape == (2, cfg.n_bins, 2)
    with pytest.raises(InvalidConfigError):
        predict_prob(model, mag[:, :10])


def test_predict_prob_is_overlap_average_of_window_predictions(rng):
    from core.masking import context_windows, overlap_average
    from core.separator import log_features

    cfg = DnnConfig(**TINY)
    torch.manual_seed(0)
    model = KaraokeDNN(cfg).eval()
    mag = np.abs(rng.standard_normal((1, cfg.n_bins, 15))).astype(np.float32)
    win = np.ascontiguousarray(context_windows(log_features(mag[0]), frames=cfg.frames))
    with torch.inference_mode():
        preds = torch.sigmoid(model(torch.from_numpy(win))).numpy()
    expected = overlap_average(preds, n_frames=15)
    np.testing.assert_allclose(predict_prob(model, mag, batch_size=3)[0], expected, atol=1e-5)


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
    with pytest.raises(InvalidConfigError):
        DnnConfig(loss="l1")  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError):
        DnnConfig(hidden=0)
    assert DnnConfig().window_size == 20 * 513


def test_remix_augmentation_trains(rng):
    cfg = DnnConfig(**TINY, epochs=2, patience=2, train_step=2, remix=0.5, seed=2)
    res = train_separator(cfg, data=([_example(rng) for _ in range(2)], [_example(rng)]))
    assert np.isfinite(res.best_valid_loss) and len(res.history) >= 1
    with pytest.raises(InvalidConfigError):
        DnnConfig(remix=1.5)


def test_int8_storage_when_fp16_would_not_fit(rng, tmp_path):
    cfg = DnnConfig(sr=8000, n_fft=1024, hop_length=256, frames=20, hidden=128)
    torch.manual_seed(0)
    model = KaraokeDNN(cfg).eval()
    path = save_separator(tmp_path / "big.pt", model)
    assert path.stat().st_size <= 3_000_000
    back = load_separator(path)
    assert back.meta["weight_storage"] == "int8"
    mag = np.abs(rng.standard_normal((1, cfg.n_bins, 25))).astype(np.float32)
    np.testing.assert_allclose(predict_prob(back, mag), predict_prob(model, mag), atol=5e-3)
