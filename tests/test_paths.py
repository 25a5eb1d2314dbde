"""core.paths: the repository's folders and the one repo-relative path helper."""

from __future__ import annotations

from pathlib import Path

from core.paths import REPO_ROOT, assets_dir, repo_relative, results_dir


def test_repo_root_holds_the_package():
    assert (REPO_ROOT / "core" / "paths.py").is_file()


def test_repo_relative_inside_the_repository_is_posix_and_relative():
    assert repo_relative(REPO_ROOT / "assets" / "results" / "demo") == "assets/results/demo"
    assert repo_relative(str(REPO_ROOT / "core")) == "core"
    assert repo_relative(REPO_ROOT) == "."


def test_repo_relative_outside_the_repository_is_unchanged(tmp_path):
    assert repo_relative(tmp_path) == str(tmp_path)
    assert repo_relative(str(tmp_path / "x.wav")) == str(tmp_path / "x.wav")


def test_folders_follow_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("GENEX_ASSETS", raising=False)
    monkeypatch.delenv("GENEX_RESULTS", raising=False)
    assert assets_dir() == REPO_ROOT / "assets"
    assert results_dir() == REPO_ROOT / "results"
    monkeypatch.setenv("GENEX_ASSETS", str(tmp_path / "a"))
    monkeypatch.setenv("GENEX_RESULTS", str(tmp_path / "r"))
    assert assets_dir() == Path(tmp_path / "a")
    assert results_dir() == Path(tmp_path / "r")
