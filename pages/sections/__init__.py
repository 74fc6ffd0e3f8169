"""Parts of a page, one drawing function each (kept in a sub-package so Streamlit never lists them as pages)."""
