"""Pixel counts of label colours a dataset does not know, shared with DataLoader workers.

Masks are decoded in worker processes; a plain dict there would be lost with the worker. The
tally lives in shared memory (inherited by forked workers, passed to spawned ones), holds up to
``SLOTS`` distinct colours and counts the pixels of any further colour together.
"""

from __future__ import annotations

import multiprocessing
from typing import Any

SLOTS = 64


class ColorTally:
    def __init__(self) -> None:
        # [colour + 1, pixels] per slot (colour 0 = empty slot), then the overflow pixels
        self._cells = multiprocessing.Array("q", 2 * SLOTS + 1)

    def __getstate__(self) -> dict[str, Any]:
        if multiprocessing.context.get_spawning_popen() is not None:
            return {"cells": self._cells}  # a spawned worker shares the counts
        return {"snapshot": list(self._cells)}  # pickled elsewhere: an independent copy

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "cells" in state:
            self._cells = state["cells"]
        else:
            self._cells = multiprocessing.Array("q", 2 * SLOTS + 1)
            self._cells[:] = state["snapshot"]

    def add(self, counts: dict[tuple[int, int, int], int]) -> list[tuple[int, int, int]]:
        """Add pixel counts per RGB colour; returns the colours seen for the first time."""
        new = []
        with self._cells.get_lock():
            cells = self._cells
            for (r, g, b), pixels in counts.items():
                code = (r << 16 | g << 8 | b) + 1
                for slot in range(SLOTS):
                    if cells[2 * slot] in (0, code):
                        if cells[2 * slot] == 0:
                            cells[2 * slot] = code
                            new.append((r, g, b))
                        cells[2 * slot + 1] += pixels
                        break
                else:
                    cells[2 * SLOTS] += pixels
        return new

    def counts(self) -> dict[tuple[int, int, int], int]:
        with self._cells.get_lock():
            cells = list(self._cells)
        found = {}
        for slot in range(SLOTS):
            code = cells[2 * slot]
            if code:
                code -= 1
                found[(code >> 16 & 255, code >> 8 & 255, code & 255)] = cells[2 * slot + 1]
        return found

    def overflow(self) -> int:
        return int(self._cells[2 * SLOTS])

    def total(self) -> int:
        return sum(self.counts().values()) + self.overflow()

    def notes(self) -> dict[str, Any]:
        """For results and stats: pixels per unknown colour (#rrggbb), most frequent first."""
        ordered = sorted(self.counts().items(), key=lambda item: -item[1])
        colors = {"#{:02x}{:02x}{:02x}".format(*color): pixels for color, pixels in ordered}
        notes: dict[str, Any] = {
            "unknown_label_pixels": self.total(),
            "unknown_label_colors": colors,
        }
        if self.overflow():
            notes["unknown_label_pixels_of_other_colors"] = self.overflow()
        return notes
