"""Streamlit helpers shared by the pages (kept in a sub-package so Streamlit never lists them as pages)."""
