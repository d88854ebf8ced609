"""One drive: its world, built lazily, the camera's position over time and its frames."""

from __future__ import annotations

import math

import numpy as np

from alseg.data.synthdrive.render import Z_LABEL, render_frame
from alseg.data.synthdrive.style import make_style, seeded_rng
from alseg.data.synthdrive.world import (
    CHUNK_FRAMES,
    CHUNK_METRES,
    MAX_EVENT_FRAMES,
    intersections,
    static_chunk,
    traffic_chunk,
)

STOP_BEFORE_CROSSING = 9.0  # metres between a red light's stop position and the cross street


class Drive:
    """One drive's world, built lazily and kept (descriptions, never images): its style, its cross
    streets, where the camera waits at red lights, and the boxes of each stretch of road or time."""

    def __init__(self, seed: int, drive: int) -> None:
        self.seed = seed
        self.style = make_style(seed, drive)
        self._crossings: dict[int, np.ndarray] = {}
        self._static: dict[int, np.ndarray] = {}
        self._traffic: dict[int, np.ndarray] = {}
        # One row per red-light stop: crossing centre, stop position, arrival frame, wait frames.
        self._stops = np.zeros((0, 4))
        self._planned = 0  # chunks whose stops are in _stops

    def crossings(self, chunk: int) -> np.ndarray:
        if chunk not in self._crossings:
            self._crossings[chunk] = intersections(self.style, self.seed, chunk)
        return self._crossings[chunk]

    def _plan(self, distance: float) -> None:
        """Add the stops of every chunk up to road position ``distance``."""
        speed = self.style.speed
        while self._planned * CHUNK_METRES <= distance:
            for centre, half, _, wait in self.crossings(self._planned):
                if wait > 0:
                    s_prev, leave = 0.0, 0.0
                    if len(self._stops):
                        _, s_prev, arrive, waited = self._stops[-1]
                        leave = arrive + waited
                    stop = centre - half - STOP_BEFORE_CROSSING
                    row = [centre, stop, leave + (stop - s_prev) / speed, wait]
                    self._stops = np.vstack([self._stops, row])
            self._planned += 1

    def stops(self, distance: float) -> np.ndarray:
        """(n, 3) rows (stop position, arrival frame, wait in frames) of the red-light stops up to
        road position ``distance``."""
        self._plan(distance)
        return self._stops[self._stops[:, 1] <= distance, 1:]

    def position(self, t: float) -> float:
        """Road position of the camera in frame ``t``: driving at the drive's speed except while
        waiting at red lights."""
        speed = self.style.speed
        self._plan(speed * max(t, 0.0))
        k = int(np.searchsorted(self._stops[:, 2], t, side="right")) - 1
        if k < 0:
            return speed * t
        _, stop, arrive, wait = self._stops[k]
        return stop if t < arrive + wait else stop + speed * (t - arrive - wait)

    def arrival(self, centre: float) -> float:
        """The frame at which the camera stops at the red light of the crossing at ``centre``."""
        self._plan(centre)
        return float(self._stops[self._stops[:, 0] == centre, 2][0])

    def static(self, chunk: int) -> np.ndarray:
        if chunk not in self._static:
            self._static[chunk] = static_chunk(self, chunk)
        return self._static[chunk]

    def traffic(self, chunk: int) -> np.ndarray:
        if chunk not in self._traffic:
            self._traffic[chunk] = traffic_chunk(self, chunk)
        return self._traffic[chunk]

    def render(self, frame: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Image (uint8 HxWx3) and mask (int64 HxW trainIds, 255 unlabeled) of one frame."""
        s = self.position(frame)
        chunks = range(
            max(0, math.floor((s - 30.0) / CHUNK_METRES)),
            math.floor((s + Z_LABEL) / CHUNK_METRES) + 1,
        )
        times = range(max(0, (frame - MAX_EVENT_FRAMES) // CHUNK_FRAMES), frame // CHUNK_FRAMES + 1)
        boxes = np.concatenate([self.static(c) for c in chunks] + [self.traffic(c) for c in times])
        crossings = np.concatenate([self.crossings(c) for c in chunks])
        noise = seeded_rng(self.seed, self.style.drive, frame, 5)
        return render_frame(self.style, s, frame, (height, width), boxes, crossings, noise)
