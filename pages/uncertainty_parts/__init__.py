"""The Uncertainty page's parts, one module each (named like explorer/uncertainty/)."""
