"""The numbers the pages quote from finished runs (assets/reference_numbers.json) still tell what the code measures.

Reruns every quoted run (the co-adaptation page's: about 30 s on one thread, with kernels that round alike on every
x86 CPU: explorer/tools/reference.py) and compares: the same network ahead on every number, each within a fifth of
the pair's larger value. A failure names the command that regenerates the file; a change that moves the numbers must
update the file and so the prose.
"""

from __future__ import annotations

from explorer.tools import reference


def test_the_quoted_numbers_are_what_the_runs_measure_now():
    stored, fresh = reference.load(), reference.measure()  # in a process of its own, with portable kernels
    assert set(stored) == set(fresh)
    for page in reference.QUOTED:
        assert stored[page]["settings"] == fresh[page]["settings"], (
            f"{page}: the page's defaults changed since the file was written; regenerate: {reference.COMMAND}")
        old, new = stored[page], fresh[page]
        for key in new["dropout"]:
            pair = [old["dropout"][key], old["no_dropout"][key]], [new["dropout"][key], new["no_dropout"][key]]
            scale = reference.TOLERANCE * max(abs(v) for v in pair[0] + pair[1])
            assert (pair[0][0] < pair[0][1]) == (pair[1][0] < pair[1][1]) and all(
                abs(a - b) <= scale for a, b in zip(*pair)), (
                f"{page} {key}: the file says {pair[0][0]:.6g} with dropout, {pair[0][1]:.6g} without; the code "
                f"measures {pair[1][0]:.6g} and {pair[1][1]:.6g}; regenerate with: {reference.COMMAND}")
