"""Seeds derived from a run's seed, so every random choice of a cycle is reproducible."""

from __future__ import annotations

import numpy as np

#: What a derived seed is for (the third key of ``cycle_seed``).
MODEL_INIT, TRAINING, INFERENCE, SELECTION = 0, 1, 2, 3


def cycle_seed(seed: int, cycle: int, purpose: int) -> int:
    """A seed for ``purpose`` in ``cycle`` of the run seeded ``seed``."""
    return int(np.random.SeedSequence([seed, cycle, purpose]).generate_state(1)[0])
