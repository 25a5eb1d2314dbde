"""Streamlit entry point: a router over ``pages/`` (``streamlit run dashboard/app.py``).

Offline: the tab icon is the app's own PNG (a ``:material/...`` page icon makes the browser
fetch an SVG from an external font host); the page icons come from the Material Symbols font
that Streamlit serves itself. After the first script run, :mod:`dashboard.preload` warms the
pages' caches in a background thread, once per process.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run` puts only dashboard/ on sys.path
    sys.path.insert(0, str(ROOT))

from dashboard import preload  # noqa: E402  (needs the repo root on sys.path)

#: The tab icon, served by the app itself (``/media/...``).
PAGE_ICON = Path(__file__).resolve().parent / "static" / "genex-icon.png"

PAGES = [
    ("home.py", "Home", ":material/home:", ""),
    ("composer.py", "Composer", ":material/piano:", "composer"),
    ("mask_explorer.py", "Mask explorer", ":material/graphic_eq:", "mask_explorer"),
    ("metrics.py", "Metrics", ":material/monitoring:", "metrics"),
]

st.set_page_config(page_title="GenEx Lab", page_icon=PAGE_ICON, layout="wide")
pg = st.navigation(
    [
        st.Page(
            ROOT / "pages" / file, title=title, icon=icon, url_path=url or None, default=not url
        )
        for file, title, icon, url in PAGES
    ]
)
try:
    pg.run()
finally:  # also after st.stop(): the first run of any page starts the preload
    if preload.in_server():
        preload.start_preload()
