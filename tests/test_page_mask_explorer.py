"""AppTest of the Mask explorer page.

Most tests run the page against a small, fast fake of ``core.corpus`` / ``core.separation``
(installed through the seams ``dashboard.explorer_view._corpus`` / ``_separation``) and two
tiny demo tracks written to a temporary ``GENEX_ASSETS``: they check the page's logic, not the
model. ``test_real_demo_track_*`` runs the shipped separator on the shipped demo tracks.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from core.audio import load_audio
from core.errors import DatasetError, InvalidConfigError
from core.masking import threshold_masks
from core.stft import StftConfig, istft, stft
from dashboard import explorer_view as ev
from tests.conftest import APP

SR = 8000
CFG = StftConfig(n_fft=256, hop_length=64)


# ----------------------------------------------------------------------------- fake core
@dataclass(frozen=True)
class FakeTrack:
    name: str
    sr: int
    mixture: np.ndarray
    references: np.ndarray | None
    path: Path | None = None


@dataclass(frozen=True)
class FakeMaskResult:
    prob: np.ndarray
    mixture_stft: np.ndarray
    stft_config: StftConfig
    sr: int
    length: int
    method: str


def _list_tracks(root: Path) -> list[Path]:
    return sorted(p for p in Path(root).iterdir() if (p / "mixture.wav").is_file())


def _load_track(folder: Path, *, sr: int | None = None, max_seconds: float = 600) -> FakeTrack:
    folder = Path(folder)
    mix, rate = load_audio(folder / "mixture.wav", max_seconds=max_seconds)
    refs = []
    for stem in ("vocals", "accompaniment"):
        if (folder / f"{stem}.wav").exists():
            y, _ = load_audio(folder / f"{stem}.wav")
            if y.shape != mix.shape:
                raise DatasetError(f"{stem} has {y.shape[1]} samples, mixture {mix.shape[1]}")
            refs.append(y)
    return FakeTrack(folder.name, rate, mix, np.stack(refs) if len(refs) == 2 else None, folder)


def _probability_mask(mixture, sr, *, method="dnn", references=None, checkpoint=None):
    S = stft(mixture, CFG)
    mag = np.abs(S)
    if method in ("oracle", "oracle-irm"):
        if references is None:
            raise InvalidConfigError("oracle needs references")
        v, a = np.abs(stft(references[0], CFG)), np.abs(stft(references[1], CFG))
        prob = (v > a).astype(np.float32) if method == "oracle" else v / (v + a + 1e-9)
    else:  # a smooth, method-dependent "probability" in [0, 1]
        scale = np.median(mag) if method == "dnn" else np.mean(mag)
        prob = mag / (mag + scale + 1e-9)
    _probability_mask.calls += 1
    return FakeMaskResult(prob.astype(np.float32), S, CFG, sr, mixture.shape[-1], method)


_probability_mask.calls = 0


def _separate_at_alpha(result, *, alpha, rule="paper"):
    vm, am = threshold_masks(result.prob, alpha=alpha, rule=rule)
    return np.stack(
        [istft(result.mixture_stft * m, CFG, length=result.length) for m in (vm, am)]
    ).astype(np.float32)


FAKE_CORPUS = SimpleNamespace(Track=FakeTrack, list_tracks=_list_tracks, load_track=_load_track)
FAKE_SEPARATION = SimpleNamespace(
    METHODS=("dnn", "traditional", "oracle", "oracle-irm"),
    MaskResult=FakeMaskResult,
    probability_mask=_probability_mask,
    separate_at_alpha=_separate_at_alpha,
    default_checkpoint=lambda: Path("fake.pt"),
)


def make_stems(seconds: float = 1.5, *, f0: float = 440.0, seed: int = 0) -> np.ndarray:
    """``(2, 1, n)`` float32 [vocals, accompaniment]: a vibrato tone and a low chord + noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    vocals = 0.3 * np.sin(2 * np.pi * f0 * t + 3 * np.sin(2 * np.pi * 5 * t)) * (t % 0.5 < 0.35)
    acc = 0.2 * (np.sin(2 * np.pi * 110 * t) + np.sin(2 * np.pi * 165 * t))
    acc = acc + 0.01 * rng.standard_normal(t.size)
    return np.stack([vocals, acc])[:, None, :].astype(np.float32)


def write_track(folder: Path, stems: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    sf.write(folder / "vocals.wav", stems[0, 0], SR)
    sf.write(folder / "accompaniment.wav", stems[1, 0], SR)
    sf.write(folder / "mixture.wav", stems.sum(0)[0], SR)
    return folder


def wav_bytes(y: np.ndarray, sr: int = SR) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV")
    return buf.getvalue()


@pytest.fixture
def fake_core(monkeypatch, tmp_path):
    """Fake corpus/separation seams and a GENEX_ASSETS with demo tracks ``alpha`` and ``beta``."""
    monkeypatch.setattr(ev, "_corpus", lambda: FAKE_CORPUS)
    monkeypatch.setattr(ev, "_separation", lambda: FAKE_SEPARATION)
    assets = tmp_path / "assets"
    write_track(assets / "demo_tracks" / "alpha", make_stems(f0=440.0, seed=1))
    write_track(assets / "demo_tracks" / "beta", make_stems(f0=660.0, seed=2))
    monkeypatch.setenv("GENEX_ASSETS", str(assets))
    _probability_mask.calls = 0
    return assets


# ----------------------------------------------------------------------------- helpers
def explorer(query: dict[str, str] | None = None, *, timeout: float = 120):
    """The real router, switched to the Mask explorer, optionally with query parameters."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=timeout)
    at.run()
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.switch_page("../pages/mask_explorer.py").run()
    return at


def figure_spec(at) -> dict:
    import json

    charts = at.get("plotly_chart")
    assert len(charts) == 1
    return json.loads(charts[0].proto.spec)


def image_sources(at) -> list[str]:
    return [im["source"] for im in figure_spec(at)["layout"]["images"]]


def image_names(at) -> list[str]:
    return [im["name"] for im in figure_spec(at)["layout"]["images"]]


def audio_srcs(at) -> list[str]:
    return [a.proto.url for a in at.get("audio")]


def errors(at) -> str:
    return " ".join(e.value for e in at.error)


# ----------------------------------------------------------------------------- fake-core tests
def test_default_demo_track_renders_all_panels(fake_core):
    at = explorer()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Mask explorer"
    assert at.selectbox(key="sep.demo").value == "alpha"
    names = image_names(at)
    assert len(names) == 5  # mixture, ideal mask, probability, binary at α, estimate
    assert names[1].startswith("Ideal binary mask")
    assert names[3] == "Binary vocal mask at α = 0.50"
    assert all(s.startswith("data:image/png;base64,") for s in image_sources(at))
    # players: mixture, two references, two estimates; downloads of both stems
    assert len(at.get("audio")) == 5
    assert len(at.get("download_button")) == 2
    assert "vocals" in at.caption[0].value and "accompaniment" in at.caption[0].value
    assert at.query_params.get("track") == "alpha"
    assert at.query_params.get("method") == "dnn"
    assert at.query_params.get("alpha") == "0.50"


def test_moving_alpha_changes_binary_mask_and_stems_without_rerunning_the_mask(fake_core):
    at = explorer()
    before_img, before_audio = image_sources(at), audio_srcs(at)
    calls = _probability_mask.calls
    at.slider(key="sep.alpha").set_value(0.8).run()
    assert not at.exception, [e.value for e in at.exception]
    after_img, after_audio = image_sources(at), audio_srcs(at)
    assert after_img[:3] == before_img[:3]  # α-independent panels unchanged
    assert after_img[3] != before_img[3]  # binary mask at α
    assert after_img[4] != before_img[4]  # estimated vocal spectrogram
    assert image_names(at)[3] == "Binary vocal mask at α = 0.80"
    assert after_audio[-2:] != before_audio[-2:]  # stems changed
    assert _probability_mask.calls == calls  # the mask was not recomputed
    assert at.query_params.get("alpha") == "0.80"


def test_method_switch_and_soft_rule(fake_core):
    at = explorer()
    prob_dnn = image_sources(at)[2]
    at.selectbox(key="sep.method").set_value("traditional").run()
    assert not at.exception
    assert image_sources(at)[2] != prob_dnn
    assert at.query_params.get("method") == "traditional"
    at.selectbox(key="sep.method").set_value("oracle").run()
    assert not at.exception
    at.selectbox(key="sep.rule").set_value("soft").run()
    assert not at.exception
    assert image_names(at)[3].startswith("Soft vocal mask")


def test_query_params_preselect_track_method_alpha(fake_core):
    at = explorer({"track": "beta", "method": "oracle", "alpha": "0.7"})
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="sep.demo").value == "beta"
    assert at.selectbox(key="sep.method").value == "oracle"
    assert at.slider(key="sep.alpha").value == pytest.approx(0.7)
    assert image_names(at)[3] == "Binary vocal mask at α = 0.70"
    # the page's own later changes are not undone by the (now stale) link parameters
    at.slider(key="sep.alpha").set_value(0.3).run()
    assert at.slider(key="sep.alpha").value == pytest.approx(0.3)
    assert at.query_params.get("alpha") == "0.30"


def test_unknown_linked_track_warns_and_falls_back(fake_core):
    at = explorer({"track": "no-such-track", "alpha": "5"})
    assert not at.exception
    assert "no-such-track" in " ".join(w.value for w in at.warning)
    assert at.slider(key="sep.alpha").value == pytest.approx(0.99)  # clipped


def test_dataset_folder_lists_and_loads_tracks(fake_core, tmp_path):
    root = tmp_path / "data"
    write_track(root / "song_x", make_stems(seed=3))
    write_track(root / "song_y", make_stems(seed=4))
    at = explorer()
    at.radio(key="sep.source").set_value("dataset").run()
    assert not at.exception
    at.text_input(key="sep.root").input(str(root)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="sep.folder").options == ["song_x", "song_y"]
    assert len(image_names(at)) == 5
    assert at.query_params.get("track") == str(root / "song_x")


def test_upload_mixture_only_offers_no_oracle(fake_core):
    stems = make_stems()
    at = explorer()
    at.radio(key="sep.source").set_value("upload").run()
    at.file_uploader(key="sep.up.mixture").set_value(
        ("mix.wav", wav_bytes(stems.sum(0)[0]), "audio/wav")
    ).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="sep.method").options == [
        "DNN (Deep Karaoke)",
        "Traditional (supervised NMF)",
    ]
    assert len(image_names(at)) == 4  # no ideal mask without references
    assert "track" not in at.query_params


def test_upload_with_one_reference_derives_the_other(fake_core):
    stems = make_stems()
    at = explorer()
    at.radio(key="sep.source").set_value("upload").run()
    at.file_uploader(key="sep.up.mixture").set_value(
        ("mix.wav", wav_bytes(stems.sum(0)[0]), "audio/wav")
    )
    at.file_uploader(key="sep.up.vocals").set_value(
        ("voc.wav", wav_bytes(stems[0, 0]), "audio/wav")
    ).run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(image_names(at)) == 5
    assert "oracle" in at.selectbox(key="sep.method").options[2].lower()


def test_bad_upload_shows_error_and_page_keeps_running(fake_core):
    at = explorer()
    at.radio(key="sep.source").set_value("upload").run()
    at.file_uploader(key="sep.up.mixture").set_value(
        ("mix.wav", b"not a wav file at all", "audio/wav")
    ).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "InvalidAudioError" in errors(at)
    assert at.title[0].value == "Mask explorer"


def test_mismatched_reference_length_shows_error(fake_core):
    stems = make_stems()
    at = explorer()
    at.radio(key="sep.source").set_value("upload").run()
    at.file_uploader(key="sep.up.mixture").set_value(
        ("mix.wav", wav_bytes(stems.sum(0)[0]), "audio/wav")
    )
    at.file_uploader(key="sep.up.accompaniment").set_value(
        ("acc.wav", wav_bytes(stems[1, 0][: SR // 2]), "audio/wav")
    ).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "DatasetError" in errors(at) and "accompaniment" in errors(at)
    assert not at.get("plotly_chart")


def test_mismatched_stems_in_a_dataset_track_shows_error(fake_core, tmp_path):
    folder = write_track(tmp_path / "data" / "broken", make_stems())
    sf.write(folder / "vocals.wav", make_stems(0.5)[0, 0], SR)
    at = explorer({"track": str(folder)})
    assert not at.exception, [e.value for e in at.exception]
    assert "DatasetError" in errors(at)


def test_missing_demo_tracks_says_what_to_do(fake_core, monkeypatch, tmp_path):
    monkeypatch.setenv("GENEX_ASSETS", str(tmp_path / "empty"))
    at = explorer()
    assert not at.exception
    assert "No demo tracks" in " ".join(i.value for i in at.info)


# ----------------------------------------------------------------------------- real core
@pytest.mark.slow
def test_real_demo_track_with_shipped_separator_moves_alpha():
    """The shipped DNN on the first shipped demo track; α moves without re-running it."""
    import core.separation

    calls = []
    real = core.separation.probability_mask

    def counting(*args, **kwargs):
        calls.append(kwargs.get("method"))
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(core.separation, "probability_mask", counting)
        at = explorer()
        assert not at.exception, [e.value for e in at.exception]
        assert not at.error, errors(at)
        n_calls = len(calls)
        before = image_sources(at)
        at.slider(key="sep.alpha").set_value(0.8).run()
        assert not at.exception, [e.value for e in at.exception]
        after = image_sources(at)
        assert after[-2] != before[-2]
        assert len(calls) == n_calls
        at.selectbox(key="sep.method").set_value("traditional").run()
        assert not at.exception, [e.value for e in at.exception]
        assert not at.error, errors(at)


def test_frequency_range_zooms_the_panels(fake_core):
    at = explorer()
    assert figure_spec(at)["layout"]["yaxis"]["range"][1] == pytest.approx(SR / 2)
    before = image_sources(at)
    at.selectbox(key="sep.fmax").set_value(2000.0).run()
    assert not at.exception, [e.value for e in at.exception]
    lay = figure_spec(at)["layout"]
    assert 2000.0 <= lay["yaxis"]["range"][1] < 2100.0
    assert image_sources(at)[0] != before[0]  # re-pooled from the kept bins, not just zoomed


def test_coming_back_from_another_page_restores_the_url_state(fake_core):
    at = explorer({"track": "beta", "alpha": "0.7"})
    at.slider(key="sep.alpha").set_value(0.3).run()
    qp = dict(at.query_params)
    assert qp["alpha"] == "0.30"
    at.switch_page("../pages/home.py").run()  # the explorer's widget state is dropped meanwhile
    assert not at.exception
    at.query_params.clear()
    at.query_params.update(qp)  # e.g. a link with the values the page last wrote
    at.switch_page("../pages/mask_explorer.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.slider(key="sep.alpha").value == pytest.approx(0.3)
    assert at.selectbox(key="sep.demo").value == "beta"


def test_switching_method_after_a_failing_method_is_not_undone(fake_core, monkeypatch):
    from core.errors import CheckpointError

    def failing(mixture, sr, *, method="dnn", **kw):
        if method == "dnn":
            raise CheckpointError("the shipped separator 'dnn.pt' is missing")
        return _probability_mask(mixture, sr, method=method, **kw)

    monkeypatch.setattr(FAKE_SEPARATION, "probability_mask", failing)
    at = explorer({"method": "dnn"})
    assert not at.exception
    assert "CheckpointError" in errors(at)
    at.selectbox(key="sep.method").set_value("traditional").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error
    assert at.selectbox(key="sep.method").value == "traditional"
    assert len(image_names(at)) == 5


def test_linked_dataset_folder_opens_that_track(fake_core, tmp_path):
    root = tmp_path / "corpus" / "test"
    write_track(root / "song_a", make_stems(seed=5))
    folder = write_track(root / "song_b", make_stems(seed=6))
    at = explorer({"track": str(folder), "method": "oracle-irm", "alpha": "0.35"})
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, errors(at)
    assert at.radio(key="sep.source").value == "dataset"
    assert at.text_input(key="sep.root").value == str(root)
    assert at.selectbox(key="sep.folder").value == str(folder)
    assert at.selectbox(key="sep.method").value == "oracle-irm"
    assert at.slider(key="sep.alpha").value == pytest.approx(0.35)
    assert at.query_params.get("track") == str(folder)


def test_a_typed_model_file_is_passed_to_the_method(fake_core, monkeypatch, tmp_path):
    seen = []

    def recording(mixture, sr, *, method="dnn", checkpoint=None, **kw):
        seen.append((method, checkpoint))
        return _probability_mask(mixture, sr, method=method, checkpoint=checkpoint, **kw)

    monkeypatch.setattr(FAKE_SEPARATION, "probability_mask", recording)
    at = explorer()
    assert ("dnn", None) in seen
    at.text_input(key="sep.checkpoint").input(str(tmp_path / "my.pt")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert ("dnn", tmp_path / "my.pt") in seen
    at.selectbox(key="sep.method").set_value("oracle-irm").run()
    assert not at.exception, [e.value for e in at.exception]
    assert seen[-1] == ("oracle-irm", None)  # oracles ignore the model file
