"""Streamlit entry point: a router over ``pages/`` (``streamlit run dashboard/app.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run` puts only dashboard/ on sys.path
    sys.path.insert(0, str(ROOT))

PAGES = [
    ("home.py", "Home", ":material/home:", ""),
    ("composer.py", "Composer", ":material/piano:", "composer"),
    ("mask_explorer.py", "Mask explorer", ":material/graphic_eq:", "mask_explorer"),
    ("metrics.py", "Metrics", ":material/monitoring:", "metrics"),
]

st.set_page_config(page_title="GenEx Lab", page_icon=":material/music_note:", layout="wide")
pg = st.navigation(
    [
        st.Page(
            ROOT / "pages" / file, title=title, icon=icon, url_path=url or None, default=not url
        )
        for file, title, icon, url in PAGES
    ]
)
pg.run()
