"""The Co-adaptation page's backend: its analyses, live state and figures."""
