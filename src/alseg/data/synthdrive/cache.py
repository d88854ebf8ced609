"""A process-wide memory of rendered synthdrive frames.

Rendering a frame costs about 2 ms on a CPU; a study renders the same frames again in every run
(training, the inference pass and evaluation read them repeatedly). Frames are a pure function of
(seed, drive, frame, size), so they are kept, least recently used first out, within a byte budget
and shared by every dataset of the process. Each read returns fresh copies (callers may write to
them); masks are stored as uint8 (trainIds and 255) and returned as int64, as rendered.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

#: The default budget of the cache, in MiB (a 64x128 frame takes 32 KiB: 16,000 frames).
DEFAULT_CACHE_MB = 512

FrameKey = tuple[int, int, int, int, int]  # seed, drive, frame, height, width


class FrameCache:
    """LRU memory of (image, mask) pairs within ``budget_bytes``; a budget of 0 keeps nothing."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self.used_bytes = 0
        self._frames: OrderedDict[FrameKey, tuple[np.ndarray, np.ndarray]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._frames)

    def get(self, key: FrameKey) -> tuple[np.ndarray, np.ndarray] | None:
        """Copies of the stored image (uint8) and mask (int64), or None when not stored."""
        stored = self._frames.get(key)
        if stored is None:
            return None
        self._frames.move_to_end(key)
        image, mask = stored
        return image.copy(), mask.astype(np.int64)

    def put(self, key: FrameKey, image: np.ndarray, mask: np.ndarray) -> None:
        """Store a frame (copied), evicting the least recently used ones beyond the budget."""
        size = image.nbytes + mask.size
        if size > self.budget_bytes or key in self._frames:
            return
        self._frames[key] = (image.copy(), mask.astype(np.uint8))
        self.used_bytes += size
        self._evict()

    def resize(self, budget_bytes: int) -> None:
        """Set the budget, evicting what no longer fits."""
        self.budget_bytes = budget_bytes
        self._evict()

    def _evict(self) -> None:
        while self.used_bytes > self.budget_bytes:
            _, (image, mask) = self._frames.popitem(last=False)
            self.used_bytes -= image.nbytes + mask.nbytes


#: The cache every synthdrive dataset of this process reads and fills.
FRAMES = FrameCache(DEFAULT_CACHE_MB * 2**20)
