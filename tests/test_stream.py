"""Block-by-block separation (core.karaoke.stream) against the whole-file, in-memory path."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from core.cli import main
from core.errors import InvalidAudioError, InvalidConfigError
from core.karaoke.dnn import KaraokeDNN
from core.karaoke.dnn_config import DnnConfig
from core.karaoke.nmf import NmfConfig, fit_nmf
from core.karaoke.separate import (
    MaskResult,
    input_stft_config,
    probability_mask,
    separate_at_alpha,
)
from core.karaoke.stream import separate_file
from core.signal.stft import StftConfig, stft

OUTPUTS = ("vocals.wav", "accompaniment.wav", "prob_mask.npy")


def _song(rng, sr, seconds, ch):
    n = int(sr * seconds)
    t = np.arange(n) / sr
    voc = 0.3 * np.sin(2 * np.pi * 600 * t) * (np.sin(2 * np.pi * 2 * t) > 0)
    acc = 0.3 * np.sin(2 * np.pi * 150 * t) + 0.02 * rng.standard_normal(n)
    return np.stack([voc + acc, 0.5 * voc + acc])[:ch].astype(np.float32)


@pytest.fixture(scope="module")
def dnn():
    torch.manual_seed(0)
    cfg = DnnConfig(sr=16000, n_fft=256, hop_length=64, frames=6, hidden=16, proj=8, basis=4)
    model = KaraokeDNN(cfg).eval()
    with torch.no_grad():
        model.in_std.fill_(3.0)  # spread the probabilities over [0, 1]
    return model


@pytest.fixture(scope="module")
def nmf():
    rng = np.random.default_rng(1)
    cfg = NmfConfig(sr=8000, n_fft=128, hop_length=64, frames=4, n_components=3, train_step=2,
                    max_windows=200, max_iter=20, test_step=2, test_max_iter=10)  # fmt: skip
    t = np.arange(8000) / 8000
    voc = 0.3 * np.sin(2 * np.pi * 600 * t) * (np.sin(2 * np.pi * 2 * t) > 0)
    acc = 0.3 * np.sin(2 * np.pi * 150 * t) + 0.02 * rng.standard_normal(t.size)
    refs = np.stack([voc, acc])[:, None].astype(np.float32)  # (2, 1, n)
    return fit_nmf(cfg, data=[(refs.sum(0), refs, 8000)])


def _whole_file(y, sr, model, *, method="dnn", alpha=0.5, rule="paper"):
    """The in-memory result with the streaming path's channel rule (mono-downmix mask)."""
    mono = y.mean(axis=0, keepdims=True, dtype=np.float32)
    r = probability_mask(mono, sr, method=method, checkpoint=model)
    res = MaskResult(
        prob=np.repeat(r.prob, y.shape[0], 0),
        mixture_stft=stft(y, r.stft_config),
        stft_config=r.stft_config,
        sr=sr,
        length=y.shape[1],
        method=method,
    )
    return r.prob, separate_at_alpha(res, alpha=alpha, rule=rule)


def _read(path):
    y, _ = sf.read(path, dtype="float32", always_2d=True)
    return y.T


@pytest.mark.parametrize(
    ("sr", "ch", "seconds"), [(44100, 2, 7.0), (44100, 1, 7.0), (48000, 2, 5.3), (16000, 1, 0.05)]
)
def test_dnn_blocks_equal_the_whole_file(rng, tmp_path, dnn, sr, ch, seconds):
    y = _song(rng, sr, seconds, ch)
    sf.write(tmp_path / "mix.wav", y.T, sr, subtype="FLOAT")
    prob, stems = _whole_file(y, sr, dnn, rule="soft")
    res = separate_file(tmp_path / "mix.wav", tmp_path / "out", checkpoint=dnn, rule="soft",
                        block_seconds=2.0, mask_dtype="float32")  # fmt: skip
    assert res.blocks == int(np.ceil(seconds / 2.0)) and res.channels == ch and res.sr == sr
    saved = np.load(tmp_path / "out" / "prob_mask.npy")
    # the mask of the mono downmix, stored once whatever the channels
    assert saved.shape == (1,) + prob.shape[1:] and saved.dtype == np.float32
    np.testing.assert_allclose(saved, prob, atol=1e-5)
    for j, name in enumerate(("vocals.wav", "accompaniment.wav")):
        out = _read(tmp_path / "out" / name)
        assert out.shape == y.shape
        np.testing.assert_allclose(out, stems[j], atol=1e-5)


def test_binary_rule_equals_the_whole_file_with_the_same_mask(rng, tmp_path, dnn):
    # thresholds of masks equal to ~1e-7 could flip a bin at exactly alpha: compare the stems
    # against the whole-file reconstruction of the streamed (float16-rounded) mask
    sr = 22050
    y = _song(rng, sr, 4.0, 2)
    sf.write(tmp_path / "mix.wav", y.T, sr, subtype="FLOAT")
    separate_file(tmp_path / "mix.wav", tmp_path / "out", checkpoint=dnn, alpha=0.4,
                  block_seconds=1.0)  # fmt: skip
    saved = np.load(tmp_path / "out" / "prob_mask.npy")
    assert saved.dtype == np.float16 and saved.shape[0] == 1
    prob, _ = _whole_file(y, sr, dnn)
    np.testing.assert_allclose(saved.astype(np.float32), prob, atol=1e-3)
    cfg = input_stft_config(sr)
    res = MaskResult(
        prob=np.repeat(saved.astype(np.float32), 2, 0),
        mixture_stft=stft(y, cfg),
        stft_config=cfg,
        sr=sr,
        length=y.shape[1],
        method="dnn",
    )
    stems = separate_at_alpha(res, alpha=0.4, rule="paper")
    np.testing.assert_allclose(_read(tmp_path / "out" / "vocals.wav"), stems[0], atol=1e-5)
    # --from-mask in the streaming path gives the same stems bit for bit
    separate_file(tmp_path / "mix.wav", tmp_path / "again", from_mask=tmp_path / "out" /
                  "prob_mask.npy", alpha=0.4, block_seconds=1.5)  # fmt: skip
    np.testing.assert_array_equal(_read(tmp_path / "again" / "vocals.wav"),
                                  _read(tmp_path / "out" / "vocals.wav"))  # fmt: skip
    assert not (tmp_path / "again" / "prob_mask.npy").exists()


def test_nmf_blocks_equal_the_whole_file(rng, tmp_path, nmf):
    sr = 16000
    y = _song(rng, sr, 9.0, 2)
    sf.write(tmp_path / "mix.wav", y.T, sr, subtype="FLOAT")
    prob, stems = _whole_file(y, sr, nmf, method="traditional", rule="soft")
    separate_file(tmp_path / "mix.wav", tmp_path / "out", method="traditional", checkpoint=nmf,
                  rule="soft", block_seconds=2.0, mask_dtype="float32")  # fmt: skip
    np.testing.assert_allclose(np.load(tmp_path / "out" / "prob_mask.npy")[:1], prob, atol=1e-5)
    np.testing.assert_allclose(_read(tmp_path / "out" / "vocals.wav"), stems[0], atol=1e-5)


def test_nan_in_a_late_block_leaves_nothing(rng, tmp_path, dnn):
    sr = 16000
    y = _song(rng, sr, 6.0, 2)
    y[1, 5 * sr + 17] = np.nan
    sf.write(tmp_path / "mix.wav", y.T, sr, subtype="FLOAT")
    with pytest.raises(InvalidAudioError, match="NaN"):
        separate_file(tmp_path / "mix.wav", tmp_path / "out", checkpoint=dnn, block_seconds=1.0)
    assert not (tmp_path / "out").exists()
    # an existing folder keeps what it held, and gets no partial or temporary file
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "notes.txt").write_text("mine")
    with pytest.raises(InvalidAudioError):
        separate_file(tmp_path / "mix.wav", tmp_path / "keep", checkpoint=dnn, block_seconds=1.0)
    assert [p.name for p in (tmp_path / "keep").iterdir()] == ["notes.txt"]


def test_bad_files_get_typed_errors(tmp_path, dnn):
    sf.write(tmp_path / "empty.wav", np.zeros((0, 1), np.float32), 16000)
    sf.write(tmp_path / "quad.wav", np.zeros((1600, 4), np.float32), 16000)
    sf.write(tmp_path / "low.wav", np.zeros((1600, 1), np.float32), 4000)
    (tmp_path / "text.wav").write_text("not audio")
    (tmp_path / "zero.wav").write_bytes(b"")
    for name, match in (("empty", "zero samples"), ("quad", "4 channels"), ("low", "4000 Hz"),
                        ("text", "could not be decoded"), ("zero", "0 bytes"),
                        ("missing", "does not exist")):  # fmt: skip
        with pytest.raises(InvalidAudioError, match=match):
            separate_file(tmp_path / f"{name}.wav", tmp_path / "out", checkpoint=dnn)
    sf.write(tmp_path / "long.wav", np.zeros((16000, 1), np.float32), 16000)
    with pytest.raises(InvalidAudioError, match="limit"):
        separate_file(tmp_path / "long.wav", tmp_path / "out", checkpoint=dnn, max_seconds=0.5)
    with pytest.raises(InvalidConfigError, match="alpha"):
        separate_file(tmp_path / "long.wav", tmp_path / "out", checkpoint=dnn, alpha=2.0)
    with pytest.raises(InvalidConfigError, match="reference"):
        separate_file(tmp_path / "long.wav", tmp_path / "out", method="oracle")  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError, match="block_seconds"):
        separate_file(tmp_path / "long.wav", tmp_path / "out", checkpoint=dnn, block_seconds=0)
    np.save(tmp_path / "wrong.npy", np.zeros((1, 3, 4), np.float16))
    with pytest.raises(InvalidConfigError, match="another file"):
        separate_file(tmp_path / "long.wav", tmp_path / "out", from_mask=tmp_path / "wrong.npy")
    assert not (tmp_path / "out").exists()


def test_progress_reports_every_block(rng, tmp_path, dnn):
    sf.write(tmp_path / "mix.wav", _song(rng, 16000, 2.5, 1).T, 16000, subtype="FLOAT")
    events = []
    separate_file(tmp_path / "mix.wav", tmp_path / "out", checkpoint=dnn, block_seconds=1.0,
                  save_mask=False, progress=events.append)  # fmt: skip
    assert [(e.stage, e.done, e.total) for e in events] == [("block", i, 3) for i in (1, 2, 3)]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(OUTPUTS[:2])


def test_cli_streams_and_reapplies_alpha(rng, tmp_path, dnn, capsys):
    from core.karaoke.dnn import save_separator

    ckpt = save_separator(tmp_path / "tiny.pt", dnn)
    sr = 44100
    y = _song(rng, sr, 3.0, 2)
    sf.write(tmp_path / "mix.flac", y.T, sr)
    out = tmp_path / "out"
    rc = main(["separate", str(tmp_path / "mix.flac"), "--checkpoint", str(ckpt), "--alpha",
               "0.3", "--block-seconds", "1", "--out", str(out)])  # fmt: skip
    assert rc == 0 and "4 block(s)" in capsys.readouterr().out  # 1 s blocks are 86 hops
    settings = json.loads((out / "separation.json").read_text())
    assert settings["mask_channels"] == "mono downmix" and settings["channels"] == 2
    assert _read(out / "vocals.wav").shape == y.shape
    rc = main(["separate", str(tmp_path / "mix.flac"), "--from-mask", str(out / "prob_mask.npy"),
               "--alpha", "0.3", "--out", str(tmp_path / "again")])  # fmt: skip
    assert rc == 0
    np.testing.assert_array_equal(_read(tmp_path / "again" / "vocals.wav"),
                                  _read(out / "vocals.wav"))  # fmt: skip
    assert json.loads((tmp_path / "again" / "separation.json").read_text())["from_mask"]


@pytest.mark.parametrize(("rule", "alpha"), [("paper", 0.5), ("paper", 0.3), ("paper", 0.7),
                                             ("complement", 0.5), ("soft", 0.5)])  # fmt: skip
def test_stems_of_every_rule_equal_the_whole_file(rng, tmp_path, rule, alpha):
    # the accompaniment is made as mixture - vocals where the masks add up to one, plus the
    # frames where they do not (the paper rule: bins at exactly 0.5, both or neither source)
    sr = 22050
    y = _song(rng, sr, 3.0, 2)
    sf.write(tmp_path / "mix.wav", y.T, sr, subtype="FLOAT")
    cfg = input_stft_config(sr)
    n_frames = 1 + y.shape[1] // cfg.hop_length
    mask = rng.choice(np.float16([0.1, 0.3, 0.5, 0.7, 0.9]), size=(1, cfg.n_bins, n_frames))
    mask[:, :, : n_frames // 2] = np.float16(0.9)  # whole frames without a 0.5
    np.save(tmp_path / "mask.npy", mask)
    separate_file(tmp_path / "mix.wav", tmp_path / "out", from_mask=tmp_path / "mask.npy",
                  alpha=alpha, rule=rule, block_seconds=1.0)  # fmt: skip
    res = MaskResult(prob=np.repeat(mask.astype(np.float32), 2, 0), mixture_stft=stft(y, cfg),
                     stft_config=cfg, sr=sr, length=y.shape[1], method="dnn")  # fmt: skip
    stems = separate_at_alpha(res, alpha=alpha, rule=rule)
    for j, name in enumerate(("vocals.wav", "accompaniment.wav")):
        np.testing.assert_allclose(_read(tmp_path / "out" / name), stems[j], atol=1e-5)
    if rule == "paper" and alpha == 0.5:  # bins at 0.5 go to neither: not mixture - vocals
        leak = y - _read(tmp_path / "out" / "vocals.wav") - _read(tmp_path / "out" / OUTPUTS[1])
        assert np.abs(leak).max() > 1e-2


def test_a_checkpoint_file_streams_through_the_torch_free_reader(rng, tmp_path, dnn):
    from core.karaoke.dnn import save_separator

    ckpt = save_separator(tmp_path / "tiny.pt", dnn, storage="fp32")
    sr = 16000
    y = _song(rng, sr, 2.0, 1)
    sf.write(tmp_path / "mix.wav", y.T, sr, subtype="FLOAT")
    res = separate_file(tmp_path / "mix.wav", tmp_path / "a", checkpoint=ckpt, block_seconds=0.5)
    assert res.info["dnn_reader"] == "numpy" and res.info["checkpoint"] == str(ckpt)
    separate_file(tmp_path / "mix.wav", tmp_path / "b", checkpoint=dnn, block_seconds=0.7)
    for name in OUTPUTS:  # the file and the in-memory network give the same outputs
        a, b = (tmp_path / d / name for d in ("a", "b"))
        load = np.load if name.endswith(".npy") else _read
        np.testing.assert_allclose(load(a).astype(np.float32), load(b).astype(np.float32),
                                   atol=1e-3 if name.endswith(".npy") else 1e-6)  # fmt: skip


def test_stereo_mask_is_saved_once_and_round_trips_through_from_mask(rng, tmp_path, dnn):
    # the mask comes from the mono downmix: prob_mask.npy holds it once, (1, bins, frames),
    # frames-major; --from-mask broadcasts it to both channels and gives the same stems
    sr = 44100
    y = _song(rng, sr, 3.0, 2)
    sf.write(tmp_path / "mix.wav", y.T, sr, subtype="FLOAT")
    separate_file(tmp_path / "mix.wav", tmp_path / "out", checkpoint=dnn, block_seconds=1.0)
    cfg = input_stft_config(sr)
    mask_path = tmp_path / "out" / "prob_mask.npy"
    saved = np.load(mask_path)
    assert saved.shape == (1, cfg.n_bins, 1 + y.shape[1] // cfg.hop_length)
    assert saved.dtype == np.float16 and saved.flags.f_contiguous
    np.testing.assert_array_equal(np.load(mask_path, mmap_mode="r"), saved)
    vocals = _read(tmp_path / "out" / "vocals.wav")
    assert np.abs(vocals).max() > 1e-3  # not a trivially silent stem
    # a 1-channel mask and the 2-channel, C-order file of earlier versions: the same stems
    np.save(tmp_path / "old.npy", np.ascontiguousarray(np.repeat(saved, 2, axis=0)))
    for name, mask in (("again", mask_path), ("old", tmp_path / "old.npy")):
        separate_file(tmp_path / "mix.wav", tmp_path / name, from_mask=mask, block_seconds=1.0)
        for stem in ("vocals.wav", "accompaniment.wav"):
            np.testing.assert_array_equal(_read(tmp_path / name / stem),
                                          _read(tmp_path / "out" / stem))  # fmt: skip


def test_a_mask_per_channel_masks_each_channel_by_its_own_row(rng, tmp_path):
    sr = 22050
    y = _song(rng, sr, 2.0, 2)
    sf.write(tmp_path / "mix.wav", y.T, sr, subtype="FLOAT")
    cfg = input_stft_config(sr)
    mask = rng.uniform(size=(2, cfg.n_bins, 1 + y.shape[1] // cfg.hop_length)).astype(np.float32)
    np.save(tmp_path / "mask.npy", mask)
    separate_file(tmp_path / "mix.wav", tmp_path / "out", from_mask=tmp_path / "mask.npy",
                  alpha=0.5, block_seconds=0.7)  # fmt: skip
    res = MaskResult(prob=mask, mixture_stft=stft(y, cfg), stft_config=cfg, sr=sr,
                     length=y.shape[1], method="dnn")  # fmt: skip
    stems = separate_at_alpha(res, alpha=0.5)
    for j, name in enumerate(("vocals.wav", "accompaniment.wav")):
        np.testing.assert_allclose(_read(tmp_path / "out" / name), stems[j], atol=1e-5)
    # the two rows differ, so the channels were not masked alike
    assert not np.allclose(stems[0][0] / (np.abs(y[0]).max()), stems[0][1] / np.abs(y[1]).max())


def test_interp_rows_equals_the_full_interpolation_bit_for_bit(rng):
    # the 44.1 kHz fast path: weights 0, 1 or ~1e-15 (frames on the model's up to rounding)
    from core.karaoke.stream import _interp, _interp_rows

    x = rng.uniform(size=(40, 7)).astype(np.float32)
    x[3] = 1e-9  # tiny values, where a weight of 1e-15 still moves the result
    i0 = np.sort(rng.integers(0, 39, size=30))
    i1 = i0 + 1
    w = rng.choice(np.float32([0.0, 0.0, 1.0, 1.8e-15, 0.25]), size=30)
    np.testing.assert_array_equal(_interp_rows(x, i0, i1, w), _interp(x, i0, i1, w, axis=0))
    zero = np.zeros(30, np.float32)
    np.testing.assert_array_equal(_interp_rows(x, i0, i1, zero), x[i0])


@pytest.mark.parametrize("wav_max_bytes", [None, 1000])
def test_stems_are_float_wavs_other_readers_read(rng, tmp_path, monkeypatch, wav_max_bytes):
    # our own header for WAV (libsndfile's converting writer costs twice the CPU); libsndfile
    # for RF64, taken above 4 GiB (here forced by a tiny limit)
    import scipy.io.wavfile

    import core.karaoke.stream as stream

    if wav_max_bytes is not None:
        monkeypatch.setattr(stream, "_WAV_MAX_BYTES", wav_max_bytes)
    sr = 16000
    y = _song(rng, sr, 1.3, 2)
    sf.write(tmp_path / "mix.wav", y.T, sr, subtype="FLOAT")
    mask = np.full((1, 129, 1 + y.shape[1] // 64), 0.75, np.float32)
    np.save(tmp_path / "mask.npy", mask)
    separate_file(tmp_path / "mix.wav", tmp_path / "out", from_mask=tmp_path / "mask.npy",
                  stft_config=StftConfig(n_fft=256, hop_length=64), block_seconds=0.4)  # fmt: skip
    for name in ("vocals.wav", "accompaniment.wav"):
        info = sf.info(tmp_path / "out" / name)
        assert (info.format, info.subtype) == ("RF64" if wav_max_bytes else "WAV", "FLOAT")
        assert (info.frames, info.channels, info.samplerate) == (y.shape[1], 2, sr)
    vocals = _read(tmp_path / "out" / "vocals.wav")
    np.testing.assert_allclose(vocals, y, atol=1e-5)  # a mask of 0.75 > 0.5 everywhere
    if wav_max_bytes is None:  # an independent reader of the header
        rate, data = scipy.io.wavfile.read(tmp_path / "out" / "vocals.wav")
        assert rate == sr and data.dtype == np.float32
        np.testing.assert_array_equal(data, vocals.T)


def test_the_separate_command_lets_glibc_reuse_freed_memory():
    import platform

    from core.cli.separator import _reuse_freed_memory

    took = _reuse_freed_memory()
    assert took == (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")


def test_a_failed_write_on_the_worker_fails_the_run_and_leaves_nothing(rng, tmp_path, dnn,
                                                                      monkeypatch):
    # the worker thread writes the blocks: its error must reach the caller, not be lost
    import core.karaoke.stream as stream

    calls = []

    def full_disk(self, y):
        calls.append(len(y))
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        self.fh.write(np.ascontiguousarray(y, dtype="<f4").data)

    monkeypatch.setattr(stream._FloatWav, "write", full_disk)
    sr = 16000
    sf.write(tmp_path / "mix.wav", _song(rng, sr, 4.0, 2).T, sr, subtype="FLOAT")
    with pytest.raises(OSError, match="No space"):
        separate_file(tmp_path / "mix.wav", tmp_path / "out", checkpoint=dnn, block_seconds=0.5)
    assert not (tmp_path / "out").exists()
    assert 3 <= len(calls) < 16  # stopped early: 8 blocks, two stems each
