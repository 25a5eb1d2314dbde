"""AppTest of the Mask explorer page, on the real core and tiny real data.

Two tiny demo tracks (1.5 s at 8 kHz: a vibrato tone over a low chord + noise) are written to a
temporary ``GENEX_ASSETS`` and read by the real :mod:`core.karaoke.tracks`. The oracle methods
run for real; the models are replaced on the module attribute
``core.karaoke.separate.probability_mask`` by a smooth mask on the real input grid, built as a
real :class:`~core.karaoke.separate.MaskResult` (no network): these tests check the page, not
the model. ``test_real_demo_track_*`` runs the shipped separator on the shipped demo tracks.

The reliability diagram (an expander at the end of the α fragment) is checked on a demo track
with stems (ECE shown, computed once however α moves), an oracle and a stemless upload
(a caption saying why there is none).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.karaoke import separate
from core.karaoke.methods import METHOD_SPECS, method_spec
from core.karaoke.separate import MaskResult, input_stft_config, mask_result_from_prob
from core.signal.stft import stft
from dashboard import mask_explorer_view as ev
from tests.conftest import APP

SR = 8000
REAL_PROBABILITY_MASK = separate.probability_mask
#: ``(method, checkpoint)`` of every mask computed, in order.
CALLS: list[tuple[str, object]] = []


def tiny_probability_mask(
    mixture, sr, *, method="dnn", references=None, checkpoint=None
) -> MaskResult:
    """The real oracles; for the models a smooth, method-dependent real mask (no network)."""
    CALLS.append((method, checkpoint))
    if method_spec(method).needs_references:
        return REAL_PROBABILITY_MASK(mixture, sr, method=method, references=references)
    mag = np.abs(stft(mixture, input_stft_config(sr)))
    scale = np.median(mag) if method == "dnn" else np.mean(mag)
    return mask_result_from_prob(mixture, sr, mag / (mag + scale + 1e-9), method=method)


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
def tiny_core(monkeypatch, tmp_path):
    """Tiny model masks and a GENEX_ASSETS with demo tracks ``alpha`` and ``beta``."""
    monkeypatch.setattr(separate, "probability_mask", tiny_probability_mask)
    assets = tmp_path / "assets"
    write_track(assets / "demo_tracks" / "alpha", make_stems(f0=440.0, seed=1))
    write_track(assets / "demo_tracks" / "beta", make_stems(f0=660.0, seed=2))
    monkeypatch.setenv("GENEX_ASSETS", str(assets))
    CALLS.clear()
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


def chart_spec(at, key: str) -> dict:
    """The figure JSON of the one plotly chart with widget key ``key``."""
    import json

    charts = [c for c in at.get("plotly_chart") if c.proto.id.endswith(f"-{key}")]
    assert len(charts) == 1, [c.proto.id for c in at.get("plotly_chart")]
    return json.loads(charts[0].proto.spec)


def figure_spec(at) -> dict:
    return chart_spec(at, "sep.figure")


def image_sources(at) -> list[str]:
    return [im["source"] for im in figure_spec(at)["layout"]["images"]]


def image_names(at) -> list[str]:
    return [im["name"] for im in figure_spec(at)["layout"]["images"]]


def canvas(at) -> dict:
    """The data of the one live α canvas (the component's bytes, decoded as the browser does)."""
    from dashboard.alpha_canvas import unpack

    comps = [c for c in at.get("bidi_component") if c.proto.component_name == "genex_alpha_canvas"]
    assert len(comps) == 1
    assert comps[0].proto.WhichOneof("data") == "bytes"  # binary: no base64, no big JSON
    return unpack(comps[0].proto.bytes)


def canvas_planes(at) -> np.ndarray:
    """The canvas's planes decoded as the browser does (inflated)."""
    import zlib

    data = canvas(at)
    raw = zlib.decompress(data["planes"])
    return np.frombuffer(raw, np.uint8).reshape(data["n_planes"], data["rows"], data["cols"])


def audio_srcs(at) -> list[str]:
    return [a.proto.url for a in at.get("audio")]


def errors(at) -> str:
    return " ".join(e.value for e in at.error)


# ----------------------------------------------------------------------------- page tests
def test_default_demo_track_renders_all_panels(tiny_core):
    at = explorer()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Mask explorer"
    assert at.selectbox(key="sep.demo").value == "alpha"
    names = image_names(at)
    assert len(names) == 3  # mixture, ideal mask, probability; the α panels are the canvas
    assert names[1].startswith("Ideal binary mask")
    assert all(s.startswith("data:image/png;base64,") for s in image_sources(at))
    data = canvas(at)
    assert data["step"] == 50 and data["active"] and data["mode"] == "levels"
    assert not at.slider(key="sep.alpha").disabled
    # players: mixture, two references, two estimates; downloads of both stems
    assert len(at.get("audio")) == 5
    assert len(at.get("download_button")) == 2
    assert "vocals" in at.caption[0].value and "accompaniment" in at.caption[0].value
    assert "Time-frequency bins kept" in captions(at)
    assert at.query_params.get("track") == "alpha"
    assert at.query_params.get("method") == "dnn"
    assert at.query_params.get("alpha") == "0.50"


def test_moving_alpha_changes_binary_mask_and_stems_without_rerunning_the_mask(tiny_core):
    at = explorer()
    before_img, before_audio = image_sources(at), audio_srcs(at)
    before_canvas = canvas(at)
    calls = len(CALLS)
    at.slider(key="sep.alpha").set_value(0.8).run()
    assert not at.exception, [e.value for e in at.exception]
    after_img, after_audio = image_sources(at), audio_srcs(at)
    assert after_img == before_img  # α-independent panels unchanged
    after_canvas = canvas(at)
    assert after_canvas["step"] == 80  # the canvas follows the page's α ...
    assert after_canvas["token"] == before_canvas["token"]  # ... with the same planes
    assert after_canvas["planes"] == before_canvas["planes"]
    assert after_audio[-2:] != before_audio[-2:]  # stems changed
    assert len(CALLS) == calls  # the mask was not recomputed
    assert at.query_params.get("alpha") == "0.80"


def test_method_switch_and_soft_rule(tiny_core):
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
    assert canvas(at)["mode"] == "soft" and not canvas(at)["active"]
    assert at.slider(key="sep.alpha").disabled
    assert "soft rule" in captions(at)


def test_query_params_preselect_track_method_alpha(tiny_core):
    at = explorer({"track": "beta", "method": "oracle-irm", "alpha": "0.7"})
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="sep.demo").value == "beta"
    assert at.selectbox(key="sep.method").value == "oracle-irm"
    assert at.slider(key="sep.alpha").value == pytest.approx(0.7)
    assert canvas(at)["step"] == 70
    # the page's own later changes are not undone by the (now stale) link parameters
    at.slider(key="sep.alpha").set_value(0.3).run()
    assert at.slider(key="sep.alpha").value == pytest.approx(0.3)
    assert at.query_params.get("alpha") == "0.30"


def test_unknown_linked_track_warns_and_falls_back(tiny_core):
    at = explorer({"track": "no-such-track", "alpha": "5"})
    assert not at.exception
    assert "no-such-track" in " ".join(w.value for w in at.warning)
    assert at.slider(key="sep.alpha").value == pytest.approx(0.99)  # clipped


def test_dataset_folder_lists_and_loads_tracks(tiny_core, tmp_path):
    root = tmp_path / "data"
    write_track(root / "song_x", make_stems(seed=3))
    write_track(root / "song_y", make_stems(seed=4))
    at = explorer()
    at.radio(key="sep.source").set_value("dataset").run()
    assert not at.exception
    at.text_input(key="sep.root").input(str(root)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="sep.folder").options == ["song_x", "song_y"]
    assert len(image_names(at)) == 3
    assert at.query_params.get("track") == str(root / "song_x")


def test_upload_mixture_only_offers_no_oracle(tiny_core):
    stems = make_stems()
    at = explorer()
    at.radio(key="sep.source").set_value("upload").run()
    at.file_uploader(key="sep.up.mixture").set_value(
        ("mix.wav", wav_bytes(stems.sum(0)[0]), "audio/wav")
    ).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="sep.method").options == [
        m.label for m in METHOD_SPECS if not m.needs_references
    ]
    assert len(image_names(at)) == 2  # no ideal mask without references
    assert "track" not in at.query_params


def test_upload_with_one_reference_derives_the_other(tiny_core):
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
    assert len(image_names(at)) == 3
    assert "oracle" in at.selectbox(key="sep.method").options[2].lower()


def test_bad_upload_shows_error_and_page_keeps_running(tiny_core):
    at = explorer()
    at.radio(key="sep.source").set_value("upload").run()
    at.file_uploader(key="sep.up.mixture").set_value(
        ("mix.wav", b"not a wav file at all", "audio/wav")
    ).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "InvalidAudioError" in errors(at)
    assert at.title[0].value == "Mask explorer"


def test_mismatched_reference_length_shows_error(tiny_core):
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


def test_mismatched_stems_in_a_dataset_track_shows_error(tiny_core, tmp_path):
    folder = write_track(tmp_path / "data" / "broken", make_stems())
    sf.write(folder / "vocals.wav", make_stems(0.5)[0, 0], SR)
    at = explorer({"track": str(folder)})
    assert not at.exception, [e.value for e in at.exception]
    assert "DatasetError" in errors(at)


def test_missing_demo_tracks_says_what_to_do(tiny_core, monkeypatch, tmp_path):
    monkeypatch.setenv("GENEX_ASSETS", str(tmp_path / "empty"))
    at = explorer()
    assert not at.exception
    assert "No demo tracks" in " ".join(i.value for i in at.info)


# ----------------------------------------------------------------------------- real core
@pytest.mark.slow
def test_real_demo_track_with_shipped_separator_moves_alpha():
    """The shipped DNN on the first shipped demo track; α moves without re-running it."""
    calls = []
    real = separate.probability_mask

    def counting(*args, **kwargs):
        calls.append(kwargs.get("method"))
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(separate, "probability_mask", counting)
        at = explorer()
        assert not at.exception, [e.value for e in at.exception]
        assert not at.error, errors(at)
        n_calls = len(calls)
        before = audio_srcs(at)
        at.slider(key="sep.alpha").set_value(0.8).run()
        assert not at.exception, [e.value for e in at.exception]
        assert canvas(at)["step"] == 80
        assert audio_srcs(at)[-2:] != before[-2:]
        assert len(calls) == n_calls
        at.selectbox(key="sep.method").set_value("traditional").run()
        assert not at.exception, [e.value for e in at.exception]
        assert not at.error, errors(at)


def test_frequency_range_zooms_the_panels(tiny_core):
    at = explorer()
    assert figure_spec(at)["layout"]["yaxis"]["range"][1] == pytest.approx(SR / 2)
    before = image_sources(at)
    at.selectbox(key="sep.fmax").set_value(2000.0).run()
    assert not at.exception, [e.value for e in at.exception]
    lay = figure_spec(at)["layout"]
    assert 2000.0 <= lay["yaxis"]["range"][1] < 2100.0
    assert image_sources(at)[0] != before[0]  # re-pooled from the kept bins, not just zoomed


def test_coming_back_from_another_page_restores_the_url_state(tiny_core):
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


def test_switching_method_after_a_failing_method_is_not_undone(tiny_core, monkeypatch):
    from core.errors import CheckpointError

    def failing(mixture, sr, *, method="dnn", **kw):
        if method == "dnn":
            raise CheckpointError("the shipped separator 'dnn.pt' is missing")
        return tiny_probability_mask(mixture, sr, method=method, **kw)

    monkeypatch.setattr(separate, "probability_mask", failing)
    at = explorer({"method": "dnn"})
    assert not at.exception
    assert "CheckpointError" in errors(at)
    at.selectbox(key="sep.method").set_value("traditional").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error
    assert at.selectbox(key="sep.method").value == "traditional"
    assert len(image_names(at)) == 3


def test_linked_dataset_folder_opens_that_track(tiny_core, tmp_path):
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


def test_a_typed_model_file_is_passed_to_the_method(tiny_core, tmp_path):
    seen = CALLS
    at = explorer()
    assert ("dnn", None) in seen
    at.text_input(key="sep.checkpoint").input(str(tmp_path / "my.pt")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert ("dnn", tmp_path / "my.pt") in seen
    at.selectbox(key="sep.method").set_value("oracle-irm").run()
    assert not at.exception, [e.value for e in at.exception]
    assert seen[-1] == ("oracle-irm", None)  # oracles ignore the model file


# ----------------------------------------------------------------------------- reliability
RELIABILITY = "Calibration on this track: reliability diagram"
ECE_TEXT = re.compile(r"\*\*ECE (\d\.\d{3})\*\*")


def captions(at) -> str:
    return " ".join(c.value for c in at.caption)


def shown_ece(at) -> float:
    match = ECE_TEXT.search(captions(at))
    assert match, captions(at)
    return float(match.group(1))


def has_reliability_chart(at) -> bool:
    return any(c.proto.id.endswith("-sep.reliability") for c in at.get("plotly_chart"))


def test_reliability_diagram_for_a_model_is_computed_once_and_follows_alpha(tiny_core, monkeypatch):
    computed = []
    real = ev.stem_reliability

    def counting(*args, **kwargs):
        computed.append(kwargs.get("weights") is not None)
        return real(*args, **kwargs)

    monkeypatch.setattr(ev, "stem_reliability", counting)
    at = explorer()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, errors(at)
    assert RELIABILITY in [e.label for e in at.expander]
    ece = shown_ece(at)
    assert 0.0 <= ece <= 1.0
    spec = chart_spec(at, "sep.reliability")
    assert [tr["name"] for tr in spec["data"]] == [
        "Perfect calibration",
        "Observed",
        "Share of bins",
    ]
    assert f"ECE {ece:.3f}" in spec["layout"]["title"]["text"]
    assert spec["layout"]["shapes"][0]["x0"] == pytest.approx(0.5)
    assert computed == [False]
    at.slider(key="sep.alpha").set_value(0.8).run()
    assert not at.exception, [e.value for e in at.exception]
    assert chart_spec(at, "sep.reliability")["layout"]["shapes"][0]["x0"] == pytest.approx(0.8)
    assert shown_ece(at) == ece
    assert computed == [False]  # α does not recompute the curve
    at.checkbox(key="sep.rel.weighted").check().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "weighted by mixture magnitude" in captions(at)
    assert computed == [False, True]
    at.selectbox(key="sep.rule").set_value("soft").run()
    assert not chart_spec(at, "sep.reliability")["layout"].get("shapes")  # soft: no α


def test_reliability_diagram_is_not_offered_for_an_oracle(tiny_core):
    at = explorer({"method": "oracle-irm"})
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, errors(at)
    assert "No reliability diagram for an oracle mask" in captions(at)
    assert not has_reliability_chart(at)


def test_stemless_upload_explains_why_there_is_no_reliability_diagram(tiny_core):
    at = explorer()
    at.radio(key="sep.source").set_value("upload").run()
    at.file_uploader(key="sep.up.mixture").set_value(
        ("mix.wav", wav_bytes(make_stems().sum(0)[0]), "audio/wav")
    ).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, errors(at)
    assert RELIABILITY in [e.label for e in at.expander]
    assert "No reliability diagram: it compares P with the ideal binary mask" in captions(at)
    assert not has_reliability_chart(at)
    assert not ECE_TEXT.search(captions(at))


@pytest.mark.slow
def test_real_demo_track_shows_the_shipped_separators_reliability():
    """The shipped DNN on the first shipped demo track (which has stems): an ECE, no error."""
    at = explorer()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, errors(at)
    assert at.selectbox(key="sep.method").value == "dnn"
    ece = shown_ece(at)
    assert 0.0 <= ece < 0.5  # a calibrated model, not P = 1 - IBM
    spec = chart_spec(at, "sep.reliability")
    assert f"ECE {ece:.3f}" in spec["layout"]["title"]["text"]


# ----------------------------------------------------------------------------- live α canvas
def test_canvas_planes_are_the_real_mask_of_the_page_track(tiny_core):
    """The component gets the planes of the cached full-resolution mask, at the page's α."""
    from core.karaoke.masks import threshold_masks
    from dashboard.figures import spectrogram as sg

    at = explorer()
    assert not at.exception, [e.value for e in at.exception]
    data, planes = canvas(at), canvas_planes(at)
    track = ev.load_track(tiny_core / "demo_tracks" / "alpha")
    res = tiny_probability_mask(track.mixture, track.sr, method="dnn")
    panels = sg.alpha_panels(res)
    np.testing.assert_array_equal(planes[:3], panels.codes)
    np.testing.assert_array_equal(planes[3:], panels.estimate)
    assert data["duration_s"] == pytest.approx(1.5) and data["max_hz"] == pytest.approx(SR / 2)
    # thresholding the planes in the browser's way = the real mask, thresholded, then pooled
    fb, ff, ch = panels.cell
    for step in (20, 50, 80):
        vocal, _ = threshold_masks(res.prob, alpha=step / 100)
        kept = sg._cells(vocal, fb, ff).sum(axis=-1)[::-1]
        n = ch * fb * ff
        real = (kept >= 1).astype(np.uint8) + (kept >= (n + 1) // 2) + (kept >= n)
        np.testing.assert_array_equal((planes[:3] >= step).sum(axis=0), real)


def test_oracle_ibm_disables_alpha_and_its_panel_is_identical_across_alpha(tiny_core):
    at = explorer({"method": "oracle"})
    assert not at.exception, [e.value for e in at.exception]
    data, planes = canvas(at), canvas_planes(at)
    assert not data["active"] and "no effect" in data["note"]
    assert at.slider(key="sep.alpha").disabled
    assert "α has no effect on the Oracle ideal binary mask" in captions(at)
    levels = [(planes[:3] >= step).sum(axis=0) for step in range(1, 100)]
    assert all(np.array_equal(lv, levels[0]) for lv in levels)
    assert len(np.unique(levels[0])) > 1  # not a blank panel
    # a soft-valued oracle (the ratio mask) keeps α live
    at.selectbox(key="sep.method").set_value("oracle-irm").run()
    assert canvas(at)["active"] and not at.slider(key="sep.alpha").disabled


def _set_view(at, alpha: float = 0.7, fmax: float = 4000.0):
    at.slider(key="sep.alpha").set_value(alpha).run()
    at.selectbox(key="sep.fmax").set_value(fmax).run()
    assert not at.exception, [e.value for e in at.exception]


def _assert_view_kept(at, alpha: float = 0.7, fmax: float = 4000.0):
    """α and Frequencies kept, and sent to the browser as set values: a browser forgets
    widgets a run did not draw and would otherwise show their defaults (α 0.01, no range)."""
    assert not at.exception, [e.value for e in at.exception]
    assert at.slider(key="sep.alpha").value == pytest.approx(alpha)
    assert at.selectbox(key="sep.fmax").value == fmax
    slider, box = at.slider(key="sep.alpha").proto, at.selectbox(key="sep.fmax").proto
    assert slider.set_value and list(slider.value) == pytest.approx([alpha])
    assert box.set_value and box.raw_value == ev.fmax_label(fmax)
    assert canvas(at)["step"] == round(alpha * 100)
    assert at.query_params.get("alpha") == f"{alpha:.2f}"


def test_alpha_and_frequencies_survive_an_upload_step_with_no_file(tiny_core):
    at = explorer()
    _set_view(at)
    at.radio(key="sep.source").set_value("upload").run()  # no file yet: the page stops
    assert not at.get("bidi_component")
    at.radio(key="sep.source").set_value("demo").run()
    _assert_view_kept(at)


def test_alpha_and_frequencies_survive_a_bad_upload(tiny_core):
    at = explorer()
    _set_view(at, alpha=0.23, fmax=2000.0)
    at.radio(key="sep.source").set_value("upload").run()
    at.file_uploader(key="sep.up.mixture").set_value(("x.wav", b"not audio", "audio/wav")).run()
    assert "InvalidAudioError" in errors(at)
    at.file_uploader(key="sep.up.mixture").set_value(
        ("mix.wav", wav_bytes(make_stems().sum(0)[0]), "audio/wav")
    ).run()
    _assert_view_kept(at, alpha=0.23, fmax=2000.0)


def test_alpha_and_frequencies_survive_an_empty_dataset_folder(tiny_core, tmp_path):
    at = explorer()
    _set_view(at, alpha=0.66, fmax=8000.0)
    at.radio(key="sep.source").set_value("dataset").run()  # empty path
    at.text_input(key="sep.root").input(str(tmp_path / "nothing-here")).run()
    assert "No track folders" in " ".join(w.value for w in at.warning)
    root = tmp_path / "data"
    write_track(root / "song_x", make_stems(seed=3))
    at.text_input(key="sep.root").input(str(root)).run()
    _assert_view_kept(at, alpha=0.66, fmax=8000.0)
