"""Mask explorer glue helpers that need no running page (the page: test_page_mask_explorer)."""

from __future__ import annotations

import pytest

from dashboard import mask_explorer_view as ev


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
