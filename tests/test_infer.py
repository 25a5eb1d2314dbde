"""The torch-free separator (core.karaoke.infer) against the torch network it mirrors."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")

from core.checkpoint import save_checkpoint  # noqa: E402
from core.errors import CheckpointError, InvalidConfigError  # noqa: E402
from core.karaoke import dnn as dnn_module  # noqa: E402
from core.karaoke import infer  # noqa: E402
from core.karaoke.dnn import KaraokeDNN, load_separator, predict_prob, save_separator  # noqa: E402
from core.karaoke.dnn_config import DnnConfig  # noqa: E402
from core.karaoke.infer import (  # noqa: E402
    TorchFreeReadError,
    load_separator_weights,
    predict_prob_fast,
    read_separator_weights,
    weights_of_model,
)
from core.karaoke.separate import default_model_file  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TINY = dict(sr=8000, n_fft=128, hop_length=64, frames=5, hidden=24, proj=8, basis=6)


def _tiny(seed: int = 0, **overrides) -> KaraokeDNN:
    torch.manual_seed(seed)
    model = KaraokeDNN(DnnConfig(**{**TINY, **overrides})).eval()
    with torch.no_grad():  # a spread of probabilities, and a calibration that is not identity
        model.in_mean.normal_(0.0, 1.0)
        model.in_std.uniform_(0.5, 3.0)
        model.calibration.copy_(torch.tensor([1.7, -0.3]))
    return model


def _mag(rng, bins: int, frames: int, ch: int = 2) -> np.ndarray:
    return (np.abs(rng.standard_normal((ch, bins, frames))) * 3).astype(np.float32)


@pytest.mark.parametrize(
    "overrides",
    [
        {},  # the shipped kind: factorised, ReLU, logit averaging
        {"average": "prob"},
        {"activation": "sigmoid"},
        {"proj": 0, "basis": 0, "activation": "sigmoid", "average": "prob"},  # the paper's
        {"proj": 0, "basis": 6},
        {"proj": 8, "basis": 0, "average": "logit"},
    ],
)
def test_numpy_equals_torch_on_tiny_random_networks(rng, overrides):
    model = _tiny(**overrides)
    weights = weights_of_model(model)
    for frames in (37, 3, 1):  # longer than a window, and shorter (padded)
        mag = _mag(rng, model.config.n_bins, frames)
        want = predict_prob(model, mag)
        for chunk in (4, 2048):
            got = predict_prob_fast(weights, mag, chunk=chunk)
            assert got.shape == want.shape and got.dtype == np.float32
            np.testing.assert_allclose(got, want, atol=1e-5)
    # a model passed directly gives the same
    np.testing.assert_array_equal(predict_prob_fast(model, mag), predict_prob_fast(weights, mag))


def test_shipped_checkpoint_read_without_torch_equals_the_torch_loader(rng):
    path = default_model_file("dnn")
    weights = read_separator_weights(path)
    model = load_separator(path)
    assert weights.reader == "numpy" and weights.config == model.config
    assert weights.meta == model.meta
    for name, value in model.state_dict().items():  # bit for bit, fp16/int8 widened alike
        np.testing.assert_array_equal(weights.weights[name], value.numpy(), err_msg=name)
    # a few seconds of a real mixture's magnitudes: probabilities agree to float32 rounding
    mix, sr = sf.read(next((REPO / "assets" / "demo_tracks").glob("*/mixture.flac")),
                      dtype="float32", always_2d=True)  # fmt: skip
    from core.signal.audio import resample
    from core.signal.stft import stft

    y = resample(mix.T[:, : 6 * sr].mean(axis=0, keepdims=True), orig_sr=sr, target_sr=22050)
    mag = np.abs(stft(y, weights.config.stft_config))
    diff = np.abs(predict_prob_fast(weights, mag) - predict_prob(model, mag))
    assert diff.max() < 1e-4


@pytest.mark.parametrize("storage", ["fp16", "int8", "fp32"])
def test_every_weight_storage_reads_as_torch_does(tmp_path, storage):
    model = _tiny(seed=3)
    path = save_separator(tmp_path / f"{storage}.pt", model, storage=storage, meta={"x": 1})
    weights = read_separator_weights(path)
    back = load_separator(path)
    assert weights.meta["x"] == 1 and weights.meta["weight_storage"] == storage
    for name, value in back.state_dict().items():
        np.testing.assert_array_equal(weights.weights[name], value.numpy(), err_msg=name)


def test_a_legacy_torch_file_falls_back_to_torch(rng, tmp_path):
    model = _tiny(seed=4)
    good = save_separator(tmp_path / "new.pt", model)
    payload = torch.load(good, weights_only=True)
    legacy = tmp_path / "legacy.pt"
    torch.save(payload, legacy, _use_new_zipfile_serialization=False)  # the pre-1.6 format
    assert not zipfile.is_zipfile(legacy)
    with pytest.raises(TorchFreeReadError):
        read_separator_weights(legacy)
    weights = load_separator_weights(legacy)
    assert weights.reader == "torch"
    mag = _mag(rng, model.config.n_bins, 20)
    np.testing.assert_array_equal(predict_prob_fast(weights, mag), predict_prob_fast(good, mag))


def test_bad_checkpoints_get_typed_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_separator_weights(tmp_path / "missing.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_separator_weights(tmp_path / "empty.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(TorchFreeReadError):
        read_separator_weights(tmp_path / "junk.pt")
    with pytest.raises(CheckpointError, match="corrupt"):  # the torch fallback's verdict
        load_separator_weights(tmp_path / "junk.pt")
    other = save_checkpoint(tmp_path / "c.pt", kind="composer", config={}, state_dict={})
    with pytest.raises(CheckpointError, match="composer"):
        read_separator_weights(other)
    wrong = save_checkpoint(tmp_path / "w.pt", kind="separator",
                            config={"dnn": DnnConfig(**TINY).to_dict()},
                            state_dict={"hidden.weight": torch.zeros(3, 3)})  # fmt: skip
    with pytest.raises(CheckpointError, match="does not match"):
        read_separator_weights(wrong)
    # a pickle naming anything but tensors is refused, never run
    evil = tmp_path / "evil.pt"
    torch.save({"format_version": 1, "kind": "separator", "config": {}, "meta": {},
                "state_dict": {"x": torch.zeros(2)}, "f": print}, evil)  # fmt: skip
    with pytest.raises(TorchFreeReadError, match="print"):
        read_separator_weights(evil)
    with pytest.raises(InvalidConfigError, match="mag must be"):
        predict_prob_fast(_tiny(), np.ones((1, 3, 10), np.float32))
    with pytest.raises(InvalidConfigError, match="KaraokeDNN"):
        predict_prob_fast(object(), np.ones((1, 65, 10), np.float32))


def test_the_int8_suffix_is_the_checkpoint_writers():
    assert infer._INT8_SCALE == dnn_module._SCALE
    assert infer._KIND == dnn_module.KIND


def test_genex_separate_with_the_shipped_model_never_imports_torch(tmp_path):
    rng = np.random.default_rng(0)
    sr = 44100
    y = (0.1 * rng.standard_normal((int(1.5 * sr), 2))).astype(np.float32)
    sf.write(tmp_path / "mix.wav", y, sr, subtype="FLOAT")
    code = (
        "import sys\n"
        "from core.cli import main\n"
        f"rc = main(['separate', {str(tmp_path / 'mix.wav')!r}, '--out', "
        f"{str(tmp_path / 'out')!r}, '--block-seconds', '0.5'])\n"
        "print('rc', rc, 'torch' in sys.modules, 'scipy' in sys.modules, "
        "'librosa' in sys.modules)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "rc 0 False False False"
    out, _ = sf.read(tmp_path / "out" / "vocals.wav", dtype="float32")
    assert out.shape == y.shape
