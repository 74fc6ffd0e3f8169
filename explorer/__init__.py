"""Dropout Explorer's backend: datasets, dropout variants, models, a chunked trainer,
analyses and plotly figures. It never imports streamlit, so it works from a
notebook or the command line (``python -m explorer``) as well as from the app.
"""
