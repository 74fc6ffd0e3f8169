"""A figure's JSON for the browser, its numeric arrays in plotly.js's binary typed-array form.

Plotly's own path (``_plotly_utils.utils.convert_to_base64``, then
``plotly.io.json.to_json_plotly``) asks of every value in the figure whether it
is a NumPy, pandas or narwhals array, and was the largest single cost of a live
frame on a class's server (issue #13: 11 % of the interpreter's time with 30
students). Our figures are plain dicts and lists whose arrays are NumPy's, so
one walk that looks for ``np.ndarray`` does the same, and orjson writes the rest.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import orjson

from explorer.core.figures import Figure

# plotly.js's names of the dtypes it decodes; int64 and uint64 are narrowed to the smallest that holds the values
_SHORT = {"int8": "i1", "uint8": "u1", "int16": "i2", "uint16": "u2", "int32": "i4", "uint32": "u4",
          "float32": "f4", "float64": "f8"}
_NARROWER = {"int64": (np.int8, np.int16, np.int32), "uint64": (np.uint8, np.uint16, np.uint32)}
_SKIPPED = frozenset({"geojson", "layer", "layers", "range"})  # keys whose arrays plotly.js reads as plain lists
_CONTAINERS = (dict, list, tuple, np.ndarray)


def typed_array(values: np.ndarray) -> Any:
    """plotly.js's typed-array spec of a numeric array ({"dtype", "bdata"[, "shape"]}); other arrays unchanged.

    float64 goes as float32: a chart needs no more than its 7 digits, and a class's frames are half the size
    on the school's network (an Inside page frame ~385 kB with float64)."""
    if values.size == 0:
        return values
    if values.dtype == np.float64:
        values = values.astype(np.float32)
    name = str(values.dtype)
    if name in _NARROWER:
        low, high = values.min(), values.max()
        fitting = [t for t in _NARROWER[name] if np.iinfo(t).min <= low and high <= np.iinfo(t).max]
        if not fitting:
            return values
        values, name = values.astype(fitting[0]), np.dtype(fitting[0]).name
    if name not in _SHORT:
        return values
    spec = {"dtype": _SHORT[name], "bdata": base64.b64encode(np.ascontiguousarray(values)).decode("ascii")}
    if values.ndim > 1:
        spec["shape"] = ", ".join(map(str, values.shape))
    return spec


def with_typed_arrays(obj: Any) -> Any:
    """A copy of a figure (or any part of one) whose NumPy arrays are typed-array specs (but under _SKIPPED keys)."""
    if isinstance(obj, np.ndarray):
        return typed_array(obj)
    if isinstance(obj, dict):
        return {key: value if key in _SKIPPED or not isinstance(value, _CONTAINERS) else with_typed_arrays(value)
                for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [with_typed_arrays(value) if isinstance(value, _CONTAINERS) else value for value in obj]
    return obj


def _plain(value: Any) -> Any:
    """What orjson does not write itself: a NumPy array it cannot (not contiguous, objects) or a NumPy scalar."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    raise TypeError(f"a figure holds a {type(value).__name__}, which JSON cannot represent")


def figure_json(fig: Figure) -> bytes:
    """The JSON (UTF-8) that plotly.js draws ``fig`` from; NaN and infinities become null, as in plotly's own.
    Bytes, as orjson writes them: a live chart hands them to the browser as they are, not escaped into a string
    of the component's JSON arguments (``pages.ui.live``)."""
    return orjson.dumps(with_typed_arrays(fig), default=_plain, option=orjson.OPT_SERIALIZE_NUMPY)
