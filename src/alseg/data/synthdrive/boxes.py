"""The box table: objects as boxes in road coordinates, and helpers that add composite
objects (vehicles, persons, trees, poles, signs, traffic lights)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from alseg.data.synthdrive.labels import CAR, LIGHT, PERSON, POLE, SIGN, TRUCK, VEGETATION

# Box table columns. A box spans s0..s0+length, u0..u0+width, h0..h0+height; it moves by
# (vs, vu) metres per frame from frame t0, the lateral move clipped to [du_min, du_max], and
# exists from frame t_start to t_end (exclusive).
(S0, LENGTH, U0, WIDTH, H0, HEIGHT, VS, VU, T0, DU_MIN, DU_MAX, T_START, T_END, CLS, SHAPE,
 RED, GREEN, BLUE, TEXTURE, LAYER, EMIT) = range(21)  # fmt: skip
N_COLUMNS = 21
BOX, ELLIPSE = 0, 1
PLAIN, FACADE, FOLIAGE, LAMP = 0, 1, 2, 3
BACKGROUND, FOREGROUND = 0, 1  # layers: roadside structures are drawn before objects

_CAR_COLORS = np.array(
    [(0.85, 0.85, 0.85), (0.1, 0.1, 0.11), (0.55, 0.56, 0.58), (0.6, 0.1, 0.1), (0.12, 0.2, 0.5),
     (0.3, 0.32, 0.35), (0.75, 0.7, 0.55), (0.15, 0.35, 0.2)], dtype=np.float32,
)  # fmt: skip
_SIGN_COLORS = np.array(
    [(0.85, 0.1, 0.1), (0.1, 0.25, 0.7), (0.9, 0.75, 0.1), (0.9, 0.9, 0.9)], dtype=np.float32
)
_CLOTHES_COLORS = np.array(
    [(0.1, 0.1, 0.12), (0.2, 0.25, 0.45), (0.6, 0.15, 0.15), (0.75, 0.75, 0.7), (0.35, 0.3, 0.2),
     (0.2, 0.4, 0.3), (0.85, 0.6, 0.2)], dtype=np.float32,
)  # fmt: skip
_INF = math.inf


class Boxes:
    """Collects box rows; helpers add composite objects (cars, persons, trees, ...)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.rows: list[tuple[float, ...]] = []

    def add(
        self, s: tuple[float, float], u: tuple[float, float], h: tuple[float, float], cls: int,
        color: Sequence[float], *, shape: int = BOX, texture: int = PLAIN,
        layer: int = FOREGROUND, emit: float = 0.0, motion: tuple[float, float, float] = (0, 0, 0),
        lateral: tuple[float, float] = (0.0, 0.0), active: tuple[float, float] = (-_INF, _INF),
    ) -> None:  # fmt: skip
        """A box spanning s = (s0, length), u = (u0, width), h = (h0, height)."""
        self.rows.append(
            (*s, *u, *h, *motion, *lateral, *active, cls, shape, *color, texture, layer, emit)
        )

    def array(self) -> np.ndarray:
        return np.array(self.rows, dtype=np.float64).reshape(-1, N_COLUMNS)

    def jitter(self, color: np.ndarray, amount: float = 0.05) -> np.ndarray:
        return np.clip(color + self.rng.uniform(-amount, amount, 3), 0, 1)

    def pick(self, colors: np.ndarray, amount: float = 0.05) -> np.ndarray:
        return self.jitter(colors[self.rng.integers(len(colors))], amount)

    def vehicle(self, s0: float, u_centre: float, truck: bool, **kw: Any) -> None:
        """A car (body and cabin) or a truck (cargo box and cab), with rear lamps."""
        rng = self.rng
        color = self.pick(_CAR_COLORS)
        if truck:
            length = rng.uniform(8.0, 12.0)
            cargo = self.jitter(np.array([0.8, 0.8, 0.78])) if rng.random() < 0.6 else color
            self.add((s0, length - 2.4), (u_centre - 1.25, 2.5), (0.9, 2.9), TRUCK, cargo, **kw)
            self.add(
                (s0 + length - 2.4, 2.4), (u_centre - 1.2, 2.4), (0.3, 2.6), TRUCK, color, **kw
            )
            self.add((s0, 0.3), (u_centre - 1.0, 2.0), (0.3, 0.6), TRUCK, (0.08,) * 3, **kw)
            cls, lamp_h, lamp_w = TRUCK, 1.0, 2.4
        else:
            width, length = rng.uniform(1.7, 1.9), rng.uniform(3.8, 4.8)
            self.add((s0, length), (u_centre - width / 2, width), (0.15, 0.85), CAR, color, **kw)
            cabin = (s0 + 0.9, length - 1.9), (u_centre - width / 2 + 0.1, width - 0.2)
            self.add(*cabin, (1.0, 0.45), CAR, (0.12, 0.14, 0.17), **kw)
            cls, lamp_h, lamp_w = CAR, 0.7, width
        for side in (-1, 1):
            u_lamp = u_centre + side * (lamp_w / 2 - 0.2) - 0.15
            self.add((s0 - 0.01, 0.05), (u_lamp, 0.3), (lamp_h, 0.15), cls, (0.9, 0.15, 0.1),
                     texture=LAMP, emit=1.0, **kw)  # fmt: skip

    def person(self, s: float, u_centre: float, **kw: Any) -> None:
        """Legs, torso and head."""
        k = self.rng.uniform(1.0, 1.15)
        legs, top = self.pick(_CLOTHES_COLORS), self.pick(_CLOTHES_COLORS)
        skin = self.jitter(np.array([0.75, 0.55, 0.42]) * self.rng.uniform(0.5, 1.1), 0.03)
        self.add((s, 0.3), (u_centre - 0.23, 0.46), (0.0, 0.85 * k), PERSON, legs, **kw)
        self.add((s, 0.3), (u_centre - 0.31, 0.62), (0.85 * k, 0.65 * k), PERSON, top, **kw)
        self.add((s, 0.25), (u_centre - 0.14, 0.28), (1.5 * k, 0.28 * k), PERSON, skin, **kw)

    def tree(self, s: float, u_centre: float, foliage: np.ndarray) -> None:
        """A trunk and an elliptic crown."""
        radius, trunk = self.rng.uniform(1.5, 3.0), self.rng.uniform(1.5, 3.0)
        crown = radius * self.rng.uniform(1.6, 2.4)
        self.add(
            (s, 0.3), (u_centre - 0.15, 0.3), (0.0, trunk + 0.5), VEGETATION, (0.3, 0.22, 0.15)
        )
        self.add((s - 0.1, 0.2), (u_centre - radius, 2 * radius), (trunk, crown), VEGETATION,
                 self.jitter(foliage, 0.08), shape=ELLIPSE, texture=FOLIAGE)  # fmt: skip

    def pole(self, s: float, u_centre: float, height: float, lamp: bool) -> None:
        grey = self.jitter(np.array([0.45, 0.45, 0.45]), 0.08)
        self.add((s, 0.45), (u_centre - 0.23, 0.46), (0.0, height), POLE, grey)
        if lamp:
            self.add((s - 0.05, 0.3), (u_centre - 0.3, 0.6), (height - 0.25, 0.25), POLE,
                     (1.0, 0.9, 0.7), texture=LAMP, emit=1.0)  # fmt: skip

    def sign(self, s: float, u_centre: float, size: float, height: float) -> None:
        """A post and a rectangular or round plate."""
        self.add((s + 0.05, 0.2), (u_centre - 0.12, 0.24), (0.0, height), POLE, (0.5, 0.5, 0.5))
        shape = ELLIPSE if self.rng.random() < 0.4 else BOX
        plate = (height, size * self.rng.uniform(0.8, 1.1))
        self.add((s, 0.05), (u_centre - size / 2, size), plate, SIGN, self.pick(_SIGN_COLORS),
                 shape=shape)  # fmt: skip

    def traffic_light(self, s: float, u_pole: float, u_light: float, green: bool) -> None:
        """A pole at ``u_pole`` with a light on it and an arm holding one over ``u_light``."""
        grey = (0.35, 0.36, 0.38)
        self.add((s, 0.45), (u_pole - 0.23, 0.46), (0.0, 5.6), POLE, grey)
        left, right = sorted((u_pole, u_light))
        self.add((s, 0.3), (left, right - left), (5.25, 0.3), POLE, grey)
        lamp = (0.2, 1.0, 0.4) if green else (1.0, 0.15, 0.1)
        for u_centre, bottom in ((u_light, 3.4), (u_pole, 2.2)):
            housing = (s - 0.1, 0.4), (u_centre - 0.4, 0.8), (bottom, 1.9)
            self.add(*housing, LIGHT, (0.12, 0.12, 0.1))
            lamp_h = bottom + (0.25 if green else 1.3)
            self.add((s - 0.15, 0.05), (u_centre - 0.22, 0.44), (lamp_h, 0.4), LIGHT, lamp,
                     texture=LAMP, emit=1.0)  # fmt: skip
