"""AppTest smoke test over every registered page, plus the Home page's content."""

from __future__ import annotations

import json

import pytest

from dashboard.app import PAGES
from tests.conftest import REPO_ROOT, app_test

REGISTERED = [file for file, *_ in PAGES if (REPO_ROOT / "pages" / file).exists()]


def test_every_page_script_is_registered_and_home_ships():
    # a page is registered only when its script ships; no stray scripts outside the router
    scripts = sorted(p.name for p in (REPO_ROOT / "pages").glob("*.py") if p.name != "__init__.py")
    assert sorted(REGISTERED) == scripts
    assert "home.py" in REGISTERED


@pytest.mark.parametrize("page", REGISTERED)
def test_page_renders_without_exception(page):
    at = app_test(page, timeout=120)
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.title) == 1


def test_home_lists_the_labs_parts():
    at = app_test()
    assert not at.exception
    assert at.title[0].value == "GenEx Lab"
    headers = " ".join(s.value for s in at.subheader)
    for part in ("Composer models", "Separator models", "Demo tracks", "Evaluation runs"):
        assert part in headers


def test_home_counts_what_is_in_the_assets_folder(tmp_path, monkeypatch):
    (tmp_path / "composer").mkdir()
    (tmp_path / "composer" / "exp9.pt").write_bytes(b"x" * 2048)
    (tmp_path / "composer" / "exp9.pt.meta.json").write_text(
        json.dumps({"command": "genex train-composer --experiment 9", "summary": {"form": 1.0}})
    )
    track = tmp_path / "demo_tracks" / "song_a"
    track.mkdir(parents=True)
    import numpy as np
    import soundfile as sf

    sf.write(track / "mixture.wav", np.zeros(8000, np.float32), 8000)
    run = tmp_path / "results" / "demo"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"methods": ["dnn", "oracle"], "alphas": [0.5]}))
    monkeypatch.setenv("GENEX_ASSETS", str(tmp_path))
    monkeypatch.setenv("GENEX_RESULTS", str(tmp_path / "nothing"))
    at = app_test()
    assert not at.exception
    headers = [s.value for s in at.subheader]
    assert "Composer models (1)" in headers
    assert "Demo tracks (1)" in headers
    assert "Evaluation runs (1)" in headers
    models = at.dataframe[0].value
    assert models["model"].tolist() == ["exp9.pt"]
    assert "genex train-composer --experiment 9" in models["made by"].iloc[0]
    assert "form: 1.0" in models["measures"].iloc[0]
    runs = at.dataframe[3].value
    assert runs["methods"].iloc[0] == "dnn, oracle"


def _wav(folder, name="mixture.wav"):
    import numpy as np
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    sf.write(folder / name, np.zeros(8000, np.float32), 8000)


def test_home_tables_show_the_command_that_made_each_item(tmp_path, monkeypatch):
    made_corpus = "genex make-corpus --demo --out assets/demo_tracks --songs 1 --seed 7"
    shipped_run = "genex evaluate --data assets/demo_tracks --out assets/results/demo --overwrite"
    user_run = "genex evaluate --data ~/musdb --out results/mine"
    (tmp_path / "separator").mkdir()
    (tmp_path / "separator" / "dnn.pt").write_bytes(b"x" * 1024)
    (tmp_path / "separator" / "dnn.pt.meta.json").write_text(
        json.dumps({"command": "genex train-separator --out assets/separator/dnn.pt"})
    )
    _wav(tmp_path / "demo_tracks" / "song_a")
    _wav(tmp_path / "demo_tracks" / "song_b")  # added by hand: not in the corpus sidecar
    (tmp_path / "demo_tracks" / "tracks.meta.json").write_text(
        json.dumps({"command": made_corpus, "tracks": {"song_a": {"seed": 7}}})
    )
    shipped = tmp_path / "results" / "demo"
    shipped.mkdir(parents=True)
    (shipped / "config.json").write_text(json.dumps({"command": "genex evaluate (as run)"}))
    (shipped / "results.meta.json").write_text(json.dumps({"command": shipped_run}))
    mine = tmp_path / "user" / "mine"
    mine.mkdir(parents=True)
    (mine / "config.json").write_text(json.dumps({"command": user_run, "methods": ["dnn"]}))
    monkeypatch.setenv("GENEX_ASSETS", str(tmp_path))
    monkeypatch.setenv("GENEX_RESULTS", str(tmp_path / "user"))
    at = app_test()
    assert not at.exception
    tracks = at.dataframe[1].value
    assert dict(zip(tracks["track"], tracks["made by"], strict=True)) == {
        "song_a": made_corpus,
        "song_b": "(no sidecar)",
    }
    separators = at.dataframe[2].value
    assert separators["made by"].tolist() == ["genex train-separator --out assets/separator/dnn.pt"]
    runs = at.dataframe[3].value
    # the shipped run's asset sidecar names how it is regenerated; a user's run its config's
    assert runs["made by"].tolist() == [shipped_run, user_run]


def test_home_system_section_reports_the_preload():
    at = app_test()
    assert not at.exception
    system = " ".join(m.value for m in at.markdown)
    # AppTest is not a server: the preload is not started there (and says so)
    assert "**Preload (the pages' models and first views)**: not started" in system
