"""The Theory page's parts, one module each (named like explorer/theory/)."""
