"""blues."""
