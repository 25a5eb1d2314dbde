"""Pure figure builders: arrays in, plotly figures or PNG images out (no Streamlit)."""
