"""Mask explorer glue helpers that need no running page (the page: test_page_mask_explorer)."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest

from dashboard import alpha_canvas as ac
from dashboard import mask_explorer_view as ev
from dashboard.figures import spectrogram as sg


# ----------------------------------------------------------------------------- small helpers
@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.7", 0.7), ("0.123", 0.12), ("5", 0.99), ("-1", 0.01), ("nan", 0.5), ("x", 0.5),
     (None, 0.5)],
)  # fmt: skip
def test_parse_alpha(value, expected):
    assert ev.parse_alpha(value) == pytest.approx(expected)


def test_fmax_label():
    assert ev.fmax_label(None) == "full band" and ev.fmax_label(4000.0) == "0–4 kHz"


def test_shares_text():
    hi = {"vocals": 2 / 6, "accompaniment": 2 / 6, "both": 0.0, "neither": 2 / 6, "p99": 0.7}
    assert "in neither (dropped)" in ev.shares_text(hi)
    assert "both" not in ev.shares_text(hi)
    assert "lower α" not in ev.shares_text(hi)
    rare = {"vocals": 0.0, "accompaniment": 0.5, "both": 0.0, "neither": 0.5, "p99": 0.7}
    assert "lower α" in ev.shares_text(rare)


def test_method_and_rule_labels_come_from_the_registry():
    from core.karaoke.methods import METHOD_SPECS, RULE_LABELS

    assert [ev.method_label(m.id) for m in METHOD_SPECS] == [m.label for m in METHOD_SPECS]
    assert ev.rule_label("soft") == RULE_LABELS["soft"]
    assert ev.checkpoint_for("oracle", "x.pt") is None
    assert ev.checkpoint_for("dnn", "  ") is None
    assert ev.checkpoint_for("dnn", "~/x.pt").endswith("/x.pt")


# ----------------------------------------------------------------------------- live α canvas
def decode_planes(data: dict) -> np.ndarray:
    """The canvas's planes as the browser decodes them: the wire format, then inflate."""
    wire = ac.unpack(ac.pack(data))
    assert {k: v for k, v in wire.items() if k != "planes"} == json.loads(
        json.dumps({k: v for k, v in data.items() if k != "planes"})
    )
    raw = zlib.decompress(wire["planes"])
    return np.frombuffer(raw, np.uint8).reshape(data["n_planes"], data["rows"], data["cols"])


def _panels(rng):
    """A real mask result (random P on the real STFT grid of 1 s of stereo) and its panels."""
    from core.karaoke.separate import mask_result_from_prob

    y = (0.1 * rng.standard_normal((2, 8000))).astype(np.float32)
    prob = rng.random((2, 187, 87)).astype(np.float32)
    res = mask_result_from_prob(y, 8000, prob)
    return res, sg.alpha_panels(res, max_bins=64, max_frames=16)


def test_canvas_payload_carries_the_real_mask_planes(rng):
    res, panels = _panels(rng)
    data = ac.payload(panels, alpha=0.37, rule="paper", active=True)
    assert isinstance(data["planes"], bytes)  # sent raw (pack), not as base64 in JSON
    planes = decode_planes(data)
    np.testing.assert_array_equal(planes[:3], panels.codes)
    np.testing.assert_array_equal(planes[3:], panels.estimate)
    assert data["step"] == 37 and data["active"] and data["mode"] == "levels"
    assert (data["rows"], data["cols"]) == panels.shape
    assert data["duration_s"] == pytest.approx(1.0)
    assert len(data["lut_mask"]) == len(data["lut_db"]) == 768
    assert "{alpha}" in data["titles"]["mask"]
    fb, ff, ch = panels.cell
    assert f"{fb} frequency bin(s) × {ff} frame(s) × {ch} channel(s)" in data["legend"]
    # the token names the planes: the same planes keep it, other α too, new planes change it
    assert ac.payload(panels, alpha=0.9, rule="paper", active=True)["token"] == data["token"]
    _, other = _panels(np.random.default_rng(1))
    assert ac.payload(other, alpha=0.37, rule="paper", active=True)["token"] != data["token"]


def test_canvas_payload_soft_rule_is_disabled_and_draws_p(rng):
    res, panels = _panels(rng)
    soft = sg.soft_planes(res, max_bins=64, max_frames=16)
    data = ac.payload(panels, alpha=0.5, rule="soft", active=True, soft=soft)
    assert data["mode"] == "soft" and not data["active"]
    planes = decode_planes(data)
    np.testing.assert_array_equal(planes[0], soft[0])
    np.testing.assert_array_equal(planes[1], soft[1])
    assert "α is not used" in data["legend"]


@pytest.mark.parametrize(("alpha", "step"), [(0.01, 1), (0.5, 50), (0.99, 99), (0.7000001, 70)])
def test_alpha_step(alpha, step):
    assert sg.alpha_step(alpha) == step
    assert sg.ALPHA_GRID[step - 1] == pytest.approx(round(alpha, 2))


def test_alpha_note_says_why_the_slider_is_disabled():
    assert ev.alpha_note("dnn", "paper", True) == ""
    assert "soft rule" in ev.alpha_note("dnn", "soft", True)
    note = ev.alpha_note("oracle", "paper", False)
    assert "no effect" in note and "Oracle ideal binary mask" in note
