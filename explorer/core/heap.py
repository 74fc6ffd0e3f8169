"""Giving freed memory back to the system, so that a server whose visitors left shrinks again.

glibc's allocator keeps what a process frees for its own reuse. In a threaded
server (Streamlit runs one thread per session) it also makes up to eight arenas
per core, and freed tensors end up scattered over all of them: measured in
issue #13, a server that 30 students had left stayed at its peak (965 MB) for
minutes. Fewer arenas and an explicit trim after a release let the pages go
back; elsewhere (not glibc) both are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import cache

_M_ARENA_MAX = -8  # mallopt's parameter number (glibc's malloc.h)


@cache
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return libc if libc is not None and hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:
        return None


def limit_arenas(arenas: int) -> bool:
    """At most ``arenas`` malloc arenas for threads made from now on (as MALLOC_ARENA_MAX); False if not glibc."""
    libc = _glibc()
    return bool(libc and libc.mallopt(_M_ARENA_MAX, int(arenas)) == 1)


def give_back() -> bool:
    """Collect unreachable objects (cycles too), then return free heap pages to the system; False if not glibc."""
    gc.collect()
    libc = _glibc()
    return bool(libc and libc.malloc_trim(0) == 1)
