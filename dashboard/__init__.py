"""GenEx Lab dashboard: the Streamlit app shell, cached resources and pure figure builders."""
