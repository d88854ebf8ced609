"""``synthdrive``: procedurally rendered driving videos with Cityscapes trainId labels.

Every drive is its own world: a curved road (city street, highway or country road) lined with
buildings, walls, vegetation, poles and signs, with traffic, pedestrians and, in cities,
intersections with traffic lights and crossing persons. A forward-moving camera renders each frame
by projecting the ground plane row by row and drawing boxes (objects in road coordinates) from far
to near. Lighting (day, dusk, night), weather (clear, fog, rain), palette, texture noise and blur
vary per drive. Frames are deterministic per ``(seed, drive, frame)``; nothing is written to disk.

Road coordinates: ``s`` metres along the road, ``u`` metres to the right of its centre line, ``h``
metres above the ground. Time ``t`` is the frame number.
"""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from alseg.data.base import IGNORE_INDEX, FrameMeta, Sample, SegDataset
from alseg.data.cityscapes import CLASS_COLORS, CLASS_NAMES
from alseg.errors import ConfigError

CITYSCAPES_CLASS_NAMES = CLASS_NAMES
CITYSCAPES_CLASS_COLORS = CLASS_COLORS

ROAD, SIDEWALK, BUILDING, WALL, POLE, LIGHT, SIGN = 0, 1, 2, 3, 5, 6, 7
VEGETATION, TERRAIN, SKY, PERSON, CAR, TRUCK = 8, 9, 10, 11, 13, 14
USED_CLASS_IDS = (
    ROAD,
    SIDEWALK,
    BUILDING,
    WALL,
    POLE,
    LIGHT,
    SIGN,
    VEGETATION,
    TERRAIN,
    SKY,
    PERSON,
    CAR,
    TRUCK,
)

TIMES = ("day", "dusk", "night")
WEATHERS = ("clear", "fog", "rain")
ROAD_TYPES = ("city", "highway", "country")
#: Every (time, weather, road type); the validation split holds one drive of each.
CONDITIONS = tuple(itertools.product(TIMES, WEATHERS, ROAD_TYPES))

MAX_DRIVES = 1000  # train drives are 0..num_drives-1; validation drives start here
MAX_FRAMES_PER_DRIVE = 100_000
MAX_VAL_FRAMES_PER_DRIVE = 200
VAL_FIRST_FRAME, VAL_FRAME_STEP = 20, 40
MIN_SIZE, MAX_HEIGHT, MAX_WIDTH, SIZE_STEP = 32, 256, 512, 16

# Camera (metres; focal length and horizon relative to the image size).
CAM_HEIGHT = 1.4
FOCAL_PER_WIDTH = 0.75
HORIZON_PER_HEIGHT = 0.40
Z_NEAR, Z_DRAW = 1.0, 110.0  # nearest and farthest drawn object depth
Z_LABEL = 120.0  # ground farther than this is left unlabeled
SKY_DEPTH = 1e4

CHUNK_METRES = 120.0  # static world is generated per stretch of road
CHUNK_FRAMES = 100  # traffic events are generated per stretch of time
MAX_EVENT_FRAMES = 900
STOP_BEFORE_CROSSING = 9.0  # metres between a red light's stop position and the cross street

# Drive materials (per-drive colour table rows); boxes add their own colours after these.
M_SKY, M_ASPHALT, M_PAINT, M_SIDEWALK, M_CURB, M_TERRAIN, M_PATCH, M_WINDOW, M_LIT, M_SKYLINE = (
    range(10)
)
N_DRIVE_MATERIALS = 10
# (fine, coarse) texture amplitude of each drive material.
_MATERIAL_TEXTURE = np.array(
    [(0.01, 0.05), (0.07, 0.05), (0.04, 0.02), (0.06, 0.04), (0.04, 0.02), (0.12, 0.14),
     (0.12, 0.14), (0.04, 0.02), (0.02, 0.0), (0.03, 0.05)], dtype=np.float32,
)  # fmt: skip

# Box table columns. A box spans s0..s0+length, u0..u0+width, h0..h0+height; it moves by
# (vs, vu) metres per frame from frame t0, the lateral move clipped to [du_min, du_max], and
# exists from frame t_start to t_end (exclusive).
(S0, LENGTH, U0, WIDTH, H0, HEIGHT, VS, VU, T0, DU_MIN, DU_MAX, T_START, T_END, CLS, SHAPE,
 RED, GREEN, BLUE, TEXTURE, LAYER, EMIT) = range(21)  # fmt: skip
N_COLUMNS = 21
BOX, ELLIPSE = 0, 1
PLAIN, FACADE, FOLIAGE, LAMP = 0, 1, 2, 3
_BOX_TEXTURE = np.array([(0.05, 0.03), (0.05, 0.04), (0.16, 0.2), (0.0, 0.0)], dtype=np.float32)
BACKGROUND, FOREGROUND = 0, 1  # layers: roadside structures are drawn before objects

_CAR_COLORS = np.array(
    [(0.85, 0.85, 0.85), (0.1, 0.1, 0.11), (0.55, 0.56, 0.58), (0.6, 0.1, 0.1), (0.12, 0.2, 0.5),
     (0.3, 0.32, 0.35), (0.75, 0.7, 0.55), (0.15, 0.35, 0.2)], dtype=np.float32,
)  # fmt: skip
_FACADE_COLORS = np.array(
    [(0.72, 0.66, 0.55), (0.55, 0.55, 0.56), (0.6, 0.33, 0.25), (0.82, 0.8, 0.76),
     (0.45, 0.42, 0.4), (0.7, 0.55, 0.4), (0.5, 0.55, 0.62)], dtype=np.float32,
)  # fmt: skip
_SIGN_COLORS = np.array(
    [(0.85, 0.1, 0.1), (0.1, 0.25, 0.7), (0.9, 0.75, 0.1), (0.9, 0.9, 0.9)], dtype=np.float32
)
_CLOTHES_COLORS = np.array(
    [(0.1, 0.1, 0.12), (0.2, 0.25, 0.45), (0.6, 0.15, 0.15), (0.75, 0.75, 0.7), (0.35, 0.3, 0.2),
     (0.2, 0.4, 0.3), (0.85, 0.6, 0.2)], dtype=np.float32,
)  # fmt: skip
_INF = math.inf


@dataclass(frozen=True)
class DriveStyle:
    """Everything about one drive that does not change from frame to frame."""

    drive: int
    time: str
    weather: str
    road: str
    speed: float  # metres per frame
    half_width: float  # road half width
    sidewalk: float  # sidewalk width, 0 for none
    lane: float  # camera offset right of the road centre
    curve: np.ndarray  # (K, 3): amplitude (m), wavenumber (rad/m), phase of the centre line
    jitter: np.ndarray  # (2, 3): yaw and pitch amplitude (rad), frequency (rad/frame), phase
    # (yaw follows the distance driven: its frequency is per frame of driving)
    materials: np.ndarray  # (N_DRIVE_MATERIALS, 3) base colours in 0..1
    sky: np.ndarray  # (2, 3): colour at the top and at the horizon
    facades: np.ndarray  # (k, 3) building and wall colours of this drive
    ambient: float
    tint: np.ndarray  # (3,)
    headlights: float
    fog_distance: float
    fog_color: np.ndarray  # (3,)
    noise: float  # sensor noise std in 0..1 units
    blur: float  # blur sigma in pixels at 128 px width
    rain: float  # streak density, 0 for none
    skyline: float  # skyline height as a viewing angle (rad)
    skyline_phase: float


# ---------------------------------------------------------------------------------------------
# Drive styles


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng([int(k) for k in keys])


def drive_condition(seed: int, drive: int) -> tuple[str, str, str]:
    """(time, weather, road type) of a drive: validation drives cover each condition once, train
    drives run through a seeded shuffle of all conditions, one round per 27 drives."""
    if drive >= MAX_DRIVES:
        return CONDITIONS[(drive - MAX_DRIVES) % len(CONDITIONS)]
    order = _rng(seed, drive // len(CONDITIONS), 11).permutation(len(CONDITIONS))
    return CONDITIONS[int(order[drive % len(CONDITIONS)])]


def _mix(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    return (1.0 - w) * a + w * b


def make_style(seed: int, drive: int) -> DriveStyle:
    """The seeded style of one drive."""
    time, weather, road = drive_condition(seed, drive)
    rng = _rng(seed, drive, 1)
    u = rng.uniform
    half_width = {"city": u(4.6, 6.2), "highway": u(7.6, 8.4), "country": u(3.0, 3.8)}[road]
    sidewalk = u(3.0, 4.5) if road == "city" else 0.0
    lane = {"city": u(1.6, 2.0), "highway": u(1.8, 2.2), "country": half_width / 2}[road]
    speed = {"city": u(0.28, 0.36), "highway": u(0.48, 0.6), "country": u(0.36, 0.44)}[road]
    wavelengths = rng.uniform(
        *{"city": (150, 500), "highway": (400, 1200), "country": (120, 400)}[road], size=3
    )
    wavenumbers = 2 * np.pi / wavelengths
    max_curvature = {"city": 1 / 250, "highway": 1 / 900, "country": 1 / 150}[road]
    amplitudes = rng.uniform(0.3, 1.0, size=3) * max_curvature / 3 / wavenumbers**2
    curve = np.stack([amplitudes, wavenumbers, rng.uniform(0, 2 * np.pi, 3)], axis=1)
    jitter = np.array(
        [[u(0.0015, 0.004), u(0.03, 0.09), u(0, 2 * np.pi)],
         [u(0.0005, 0.0015), u(0.1, 0.3), u(0, 2 * np.pi)]]
    )  # fmt: skip

    asphalt = np.full(3, u(0.25, 0.45)) + rng.uniform(-0.03, 0.03, 3)
    tiles = rng.choice(
        [np.array([0.6, 0.58, 0.55]), np.array([0.62, 0.45, 0.4]), np.array([0.45, 0.47, 0.5])]
    )
    sidewalk_color = _mix(tiles, asphalt, u(0.2, 0.8))  # sidewalks often look like the road
    if road == "country" and rng.random() < 0.5:
        terrain = _mix(np.array([0.45, 0.38, 0.28]), asphalt, u(0.2, 0.6))  # dirt, road-like
    else:
        terrain = np.array([u(0.25, 0.45), u(0.4, 0.6), u(0.15, 0.3)])
    patch = _mix(terrain, np.array([0.5, 0.45, 0.3]), u(0.2, 0.5))
    paint = np.array([0.85, 0.85, 0.8]) if rng.random() < 0.8 else np.array([0.85, 0.75, 0.3])
    window = np.array([0.18, 0.22, 0.28]) + u(0, 0.15)
    lit = np.array([1.0, 0.85, 0.5])
    facades = _FACADE_COLORS[rng.choice(len(_FACADE_COLORS), size=3, replace=False)]
    facades = np.clip(facades + rng.uniform(-0.05, 0.05, facades.shape), 0, 1)

    sky_top, sky_horizon = {
        "day": (np.array([0.3, 0.5, 0.85]), np.array([0.7, 0.8, 0.92])),
        "dusk": (np.array([0.25, 0.25, 0.45]), np.array([0.95, 0.6, 0.35])),
        "night": (np.array([0.04, 0.05, 0.12]), np.array([0.18, 0.17, 0.22])),
    }[time]
    skyline_color = {
        "city": facades.mean(axis=0) * 0.8,
        "highway": terrain * 0.6,
        "country": terrain * 0.6,
    }[road]
    materials = np.stack(
        [
            sky_horizon,
            asphalt,
            paint,
            sidewalk_color,
            sidewalk_color * 0.85,
            terrain,
            patch,
            window,
            lit,
            skyline_color,
        ]
    )
    ambient, tint, headlights = {
        "day": (u(0.9, 1.1), np.array([1.0, 1.0, 1.0]), 0.0),
        "dusk": (u(0.55, 0.7), np.array([1.05, 0.88, 0.75]), 0.3),
        "night": (u(0.35, 0.45), np.array([0.85, 0.9, 1.1]), 1.0),
    }[time]
    fog_distance = u(45.0, 80.0) if weather == "fog" else {"clear": 900.0, "rain": 250.0}[weather]
    fog_color = (sky_horizon * 0.5 + 0.35) * (1.0 if time == "day" else ambient)
    noise = {"clear": 0.02, "fog": 0.03, "rain": 0.04}[weather] + (0.01 if time == "night" else 0)
    return DriveStyle(
        drive=drive, time=time, weather=weather, road=road, speed=speed,
        half_width=half_width, sidewalk=sidewalk, lane=lane, curve=curve, jitter=jitter,
        materials=np.clip(materials, 0, 1).astype(np.float32),
        sky=np.stack([sky_top, sky_horizon]).astype(np.float32), facades=facades,
        ambient=ambient, tint=tint.astype(np.float32), headlights=headlights,
        fog_distance=fog_distance, fog_color=fog_color.astype(np.float32), noise=noise,
        blur=u(0.3, 0.55) + (0.2 if weather != "clear" else 0.0),
        rain=u(0.6, 1.0) if weather == "rain" else 0.0,
        skyline=u(0.01, 0.03) if road == "city" else u(0.005, 0.02),
        skyline_phase=u(0, 1000),
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# World generation: boxes in road coordinates


class _Boxes:
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


def _walk(rng: np.random.Generator, n: int, low: float, high: float, step: float) -> np.ndarray:
    """A bounded random walk of n values (smoothly varying heights)."""
    values = rng.uniform(low, high) + np.cumsum(rng.normal(0.0, step, n))
    return np.abs(np.mod(values - low, 2 * (high - low)) - (high - low)) + low


def _segments(
    rng: np.random.Generator, start: float, lengths: tuple[float, float]
) -> list[tuple[float, float]]:
    """Consecutive (s0, length) pieces covering one chunk."""
    pieces, s = [], start
    while s < start + CHUNK_METRES:
        length = rng.uniform(*lengths)
        pieces.append((s, length))
        s += length
    return pieces


def _spaced(rng: np.random.Generator, start: float, gaps: tuple[float, float]) -> list[float]:
    """Positions along one chunk, ``gaps`` apart."""
    positions, s = [], start + rng.uniform(0.0, gaps[1])
    while s < start + CHUNK_METRES:
        positions.append(s)
        s += rng.uniform(*gaps)
    return positions


def _intersections(style: DriveStyle, seed: int, chunk: int) -> np.ndarray:
    """(n, 4) rows (centre s, half width, has lights, red-light wait in frames) of the cross
    streets in one chunk; the camera stops before a red light and persons cross in front of it."""
    rng = _rng(seed, style.drive, chunk, 3)
    chance, lit = {"city": (0.8, 1.0), "highway": (0.0, 0.0), "country": (0.2, 0.4)}[style.road]
    if rng.random() >= chance:
        return np.zeros((0, 4))
    centre = chunk * CHUNK_METRES + rng.uniform(0.3, 0.9) * CHUNK_METRES
    lights = rng.random() < lit
    wait = rng.uniform(110.0, 170.0) if lights and rng.random() < 0.75 else 0.0
    return np.array([[centre, rng.uniform(5.0, 7.0), float(lights), wait]])


def _free(s0: float, s1: float, crossings: np.ndarray, margin: float = 0.0) -> bool:
    """Whether road stretch s0..s1 avoids every cross street."""
    return not any(s1 > c - w - margin and s0 < c + w + margin for c, w in crossings[:, :2])


def _static_chunk(drive: Drive, chunk: int) -> np.ndarray:
    """The fixed objects (and pedestrians) of one stretch of road."""
    style = drive.style
    boxes = _Boxes(_rng(drive.seed, style.drive, chunk, 2))
    crossings = drive.crossings(chunk)
    arrivals = [[drive.arrival(centre) if wait > 0 else np.nan] for centre, *_, wait in crossings]
    crossings = np.concatenate([crossings, np.reshape(arrivals, (-1, 1))], axis=1)
    build = {"city": _city, "highway": _highway, "country": _country}[style.road]
    build(boxes, style, chunk * CHUNK_METRES, crossings)
    return boxes.array()


def _city(boxes: _Boxes, style: DriveStyle, start: float, crossings: np.ndarray) -> None:
    rng, hw, sw = boxes.rng, style.half_width, style.sidewalk
    foliage = np.array([0.2, 0.38, 0.15])
    for side in (-1, 1):
        pieces = _segments(rng, start, (12.0, 35.0))
        for (s0, length), height in zip(
            pieces, _walk(rng, len(pieces), 6.0, 24.0, 4.0), strict=True
        ):
            if not _free(s0, s0 + length, crossings):
                continue
            setback = hw + sw + rng.uniform(0.0, 1.0)
            color = boxes.pick(style.facades, 0.04)
            if rng.random() < 0.85:
                u = (setback, 12.0) if side > 0 else (-setback - 12.0, 12.0)
                boxes.add((s0, length - 0.3), u, (0.0, height), BUILDING, color, texture=FACADE,
                          layer=BACKGROUND)  # fmt: skip
            else:  # a wall with greenery behind it
                u = (setback, 0.4) if side > 0 else (-setback - 0.4, 0.4)
                boxes.add((s0, length), u, (0.0, rng.uniform(1.5, 2.8)), WALL, color,
                          layer=BACKGROUND)  # fmt: skip
                u = (setback + 1.0, 8.0) if side > 0 else (-setback - 9.0, 8.0)
                boxes.add((s0, length), u, (0.0, rng.uniform(4.0, 7.0)), VEGETATION,
                          boxes.jitter(foliage), texture=FOLIAGE, layer=BACKGROUND)  # fmt: skip
        for s in _spaced(rng, start, (30.0, 45.0)):
            if _free(s, s + 1, crossings, 1.0):
                boxes.pole(s, side * (hw + 0.5), rng.uniform(6.0, 8.0), lamp=True)
        for s in _spaced(rng, start, (30.0, 60.0)):
            if _free(s, s + 1, crossings, 1.0):
                boxes.sign(s, side * (hw + 0.7), rng.uniform(1.2, 1.7), rng.uniform(1.9, 2.6))
        parked, density = False, rng.uniform(0.0, 0.5) if hw > 5.2 else 0.0
        for s in np.arange(start, start + CHUNK_METRES, 6.0):  # parked cars, in runs
            parked = rng.random() < (0.8 if parked else density * 0.25)
            if parked and _free(s, s + 6.0, crossings, 3.0):
                boxes.vehicle(s, side * (hw - 1.1), truck=rng.random() < 0.1)
        if rng.random() < 0.4:
            for s in _spaced(rng, start, (10.0, 16.0)):
                if _free(s - 3, s + 3, crossings):
                    boxes.tree(s, side * (hw + sw - 0.8), foliage)
    walk_start = start / style.speed  # the frame at which the camera reaches this chunk
    for _ in range(rng.poisson(6.0)):  # pedestrians on the sidewalks, mostly near the curb
        s, side = rng.uniform(start, start + CHUNK_METRES), rng.choice([-1, 1])
        velocity = rng.choice([-1, 1]) * rng.uniform(0.03, 0.07)
        for k in range(rng.integers(1, 4)):
            u = side * (hw + 0.5 + (sw - 1.0) * rng.uniform(0, 1) ** 2)
            boxes.person(s + 0.8 * k, u, motion=(velocity, 0.0, walk_start))
    for crossing in crossings:
        _crossing(boxes, style, crossing)


def _crossing(boxes: _Boxes, style: DriveStyle, crossing: np.ndarray) -> None:
    """Traffic lights at an intersection; at a red light, persons cross on the zebra from right to
    left in front of the waiting camera, clearing its lane before it drives on."""
    rng, hw = boxes.rng, style.half_width
    centre, half, lights, wait, arrival = crossing
    if lights:
        for s, u_pole, u_light in (
            (centre - half - 0.5, hw + 0.4, style.lane),
            (centre + half + 0.5, -hw - 0.4, -style.lane),
            (centre + half + 0.5, hw + 0.4, style.lane),
        ):
            boxes.traffic_light(s, u_pole, u_light, green=wait == 0)
    if wait == 0:
        return
    zebra = centre - half - 2.0
    distance = 2 * hw + 1.0
    start = arrival + rng.uniform(0, 10)
    for _ in range(rng.integers(2, 7)):
        walk = rng.uniform(0.08, 0.11)
        motion = (0.0, -walk, start + rng.uniform(0, 12))
        u = hw + 0.5 + rng.uniform(0, 1.0)
        boxes.person(zebra + rng.uniform(-1.0, 1.0), u, motion=motion, lateral=(-distance, 0.0))


def _highway(boxes: _Boxes, style: DriveStyle, start: float, crossings: np.ndarray) -> None:
    rng, hw = boxes.rng, style.half_width
    foliage = np.array([0.18, 0.33, 0.14])
    concrete = style.materials[M_ASPHALT] * 1.25  # barriers look like the road
    for s0, length in _segments(rng, start, (15.0, 20.0)):  # median barrier
        boxes.add((s0, length), (-0.3, 0.6), (0.0, 0.8), WALL, boxes.jitter(concrete, 0.02))
    for side in (-1, 1):
        barrier = rng.random() < 0.35
        pieces = _segments(rng, start, (15.0, 30.0))
        for (s0, length), height in zip(
            pieces, _walk(rng, len(pieces), 5.0, 14.0, 2.0), strict=True
        ):
            if barrier:
                u = (hw + 2.0, 0.4) if side > 0 else (-hw - 2.4, 0.4)
                boxes.add((s0, length), u, (0.0, 3.5), WALL, boxes.jitter(concrete, 0.03),
                          layer=BACKGROUND)  # fmt: skip
            elif rng.random() < 0.75:
                setback = hw + rng.uniform(5.0, 12.0)
                u = (setback, 8.0) if side > 0 else (-setback - 8.0, 8.0)
                boxes.add((s0, length), u, (0.0, height), VEGETATION, boxes.jitter(foliage, 0.06),
                          texture=FOLIAGE, layer=BACKGROUND)  # fmt: skip
        for s in _spaced(rng, start, (50.0, 110.0)):
            boxes.sign(s, side * (hw + 1.8), rng.uniform(1.4, 2.2), rng.uniform(1.8, 2.5))
    for k, s in enumerate(_spaced(rng, start, (25.0, 25.0))):  # lamps, alternating sides
        boxes.pole(s, (-1) ** k * (hw + 1.2), rng.uniform(9.0, 11.0), lamp=True)
    if rng.random() < 0.4:  # a gantry with sign boards over the camera's carriageway
        s, grey = rng.uniform(start, start + CHUNK_METRES), (0.45, 0.45, 0.47)
        for u in ((hw + 0.6, 0.4), (-0.2, 0.4)):
            boxes.add((s, 0.4), u, (0.0, 7.5), POLE, grey)
        boxes.add((s, 0.3), (-0.2, hw + 1.2), (7.2, 0.35), POLE, grey)
        board = boxes.pick(np.array([[0.1, 0.35, 0.2], [0.1, 0.2, 0.6]]))
        for centre in (hw * 0.3, hw * 0.72):
            boxes.add((s - 0.1, 0.1), (centre - 1.6, 3.2), (5.0, 2.2), SIGN, board)


def _country(boxes: _Boxes, style: DriveStyle, start: float, crossings: np.ndarray) -> None:
    rng, hw = boxes.rng, style.half_width
    foliage = np.array([0.2, 0.35, 0.13]) * rng.uniform(0.8, 1.2)
    for side in (-1, 1):
        forest = rng.random() < 0.5
        pieces = _segments(rng, start, (15.0, 30.0))
        for (s0, length), height in zip(
            pieces, _walk(rng, len(pieces), 7.0, 16.0, 2.0), strict=True
        ):
            if not _free(s0, s0 + length, crossings):
                continue
            roll = rng.random()
            if forest and roll < 0.85:
                setback = hw + rng.uniform(3.0, 7.0)
                u = (setback, 10.0) if side > 0 else (-setback - 10.0, 10.0)
                boxes.add((s0, length), u, (0.0, height), VEGETATION, boxes.jitter(foliage, 0.05),
                          texture=FOLIAGE, layer=BACKGROUND)  # fmt: skip
            elif roll < 0.15:  # a farm house behind a low wall of the same stone
                setback = hw + rng.uniform(6.0, 18.0)
                color = boxes.pick(style.facades)
                u = (setback, 9.0) if side > 0 else (-setback - 9.0, 9.0)
                boxes.add((s0, length * 0.8), u, (0.0, rng.uniform(4.0, 8.0)), BUILDING, color,
                          texture=FACADE, layer=BACKGROUND)  # fmt: skip
                wall = (side * (hw + 2.5) - 0.25, 0.5), (0.0, rng.uniform(0.8, 1.5))
                boxes.add((s0 - 4, 4 + length), *wall, WALL, color * 0.9, layer=BACKGROUND)
        for s in _spaced(rng, start, (8.0, 18.0)):  # tree rows
            if rng.random() < 0.6 and _free(s - 3, s + 3, crossings):
                boxes.tree(s, side * (hw + rng.uniform(2.0, 6.0)), foliage)
    side = rng.choice([-1, 1])
    for s in _spaced(rng, start, (35.0, 35.0)):  # utility poles
        boxes.pole(s, side * (hw + 1.5), rng.uniform(7.0, 9.0), lamp=False)
    if rng.random() < 0.5:
        s = rng.uniform(start, start + CHUNK_METRES)
        boxes.sign(s, rng.choice([-1, 1]) * (hw + 1.2), rng.uniform(1.2, 1.7), 2.0)
    if rng.random() < 0.35:  # a group of walkers on the shoulder
        s, velocity = rng.uniform(start, start + CHUNK_METRES), rng.uniform(-0.07, 0.07)
        for k in range(rng.integers(1, 4)):
            u = hw + rng.uniform(0.5, 1.5)
            boxes.person(s + 1.0 * k, u, motion=(velocity, 0.0, start / style.speed))
    for crossing in crossings:
        _crossing(boxes, style, crossing)


def _traffic_chunk(drive: Drive, chunk: int) -> np.ndarray:
    """Moving vehicles that appear during one stretch of time."""
    style = drive.style
    boxes = _Boxes(_rng(drive.seed, style.drive, chunk, 4))
    rng, v = boxes.rng, style.speed
    rates = {"city": (1.2, 0.4, 0.1), "highway": (2.0, 0.5, 0.6), "country": (0.5, 0.35, 0.3)}
    oncoming, leading, truck_share = rates[style.road]
    for _ in range(rng.poisson(oncoming)):  # oncoming: appear far ahead and pass on the left
        t_a = (chunk + rng.random()) * CHUNK_FRAMES
        speed = rng.uniform(0.4, 0.9)
        t_end = t_a + (Z_DRAW + 20.0) / (v + speed)
        u = -style.lane if style.road != "highway" else -rng.choice([2.0, 5.7])
        boxes.vehicle(drive.position(t_a) + Z_DRAW, u, truck=rng.random() < truck_share,
                      motion=(-speed, 0.0, t_a), active=(t_a, t_end))  # fmt: skip
    if style.road == "highway" and rng.random() < 0.6:  # a slower vehicle on the outer lane
        t_a = (chunk + rng.random()) * CHUNK_FRAMES
        closing = rng.uniform(0.08, 0.25)
        boxes.vehicle(drive.position(t_a) + Z_DRAW, rng.uniform(5.4, 6.0),
                      truck=rng.random() < truck_share,
                      motion=(v - closing, 0.0, t_a),
                      active=(t_a, t_a + (Z_DRAW + 15.0) / closing))  # fmt: skip
    if rng.random() < leading:
        _leading_vehicle(boxes, drive, (chunk + rng.random()) * CHUNK_FRAMES, truck_share)
    return boxes.array()


def _leading_vehicle(boxes: _Boxes, drive: Drive, t_a: float, truck_share: float) -> None:
    """A vehicle 60 m ahead in the camera's lane: caught up with, followed 10-25 m behind for a
    while, then it moves right (pulls over or changes lane) and is passed. One vehicle, drawn as
    three sets of boxes, one per phase."""
    rng, style = boxes.rng, drive.style
    v = style.speed
    truck = rng.random() < truck_share
    gap, closing, follow = rng.uniform(10.0, 25.0), rng.uniform(0.3, 0.6), rng.uniform(60, 200)
    slowing = rng.uniform(0.15, 0.3)
    shift = 3.7 if style.road == "highway" else style.half_width - style.lane - 1.0
    t_b = t_a + (60.0 - gap) / closing
    t_c = t_b + follow
    t_d = t_c + (gap + 15.0) / slowing
    phases = [
        (drive.position(t_a) + 60.0, (v - closing, 0.0, t_a), (t_a, t_b)),
        (drive.position(t_b) + gap, (v, 0.0, t_b), (t_b, t_c)),
        (drive.position(t_c) + gap, (v - slowing, 0.08, t_c), (t_c, t_d)),
    ]
    look = rng.bit_generator.state  # the same colour and size in every phase
    for s0, motion, active in phases:
        rng.bit_generator.state = look
        boxes.vehicle(s0, style.lane, truck, motion=motion, lateral=(0.0, shift), active=active)


# ---------------------------------------------------------------------------------------------
# Rendering


def _hash(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """Deterministic pseudo-random non-negative integers from integer arrays."""
    h = (a.astype(np.int64) * 73856093) ^ (np.asarray(b, dtype=np.int64) * 19349663)
    h = (h ^ (h >> 13)) * 1274126177
    return (h ^ (h >> 16)) & 0x7FFFFFFF


@dataclass(frozen=True)
class _Camera:
    s: float  # position along the road
    lane: float  # offset right of the centre line
    yaw: float  # heading relative to the road tangent (rad, positive = right)
    heading: float  # heading relative to the road's start direction
    focal: float
    cx: float
    horizon: float
    style: DriveStyle

    def offset(self, z: np.ndarray) -> np.ndarray:
        """x_camera - u at depth z: how far right of the road coordinate a point appears."""
        a, k, p = self.style.curve.T
        base = self.s * k + p
        zk = np.multiply.outer(np.asarray(z, dtype=np.float64), k)
        bend = (a * (np.sin(base + zk) - np.sin(base) - np.cos(base) * zk)).sum(-1)
        return -bend - self.lane - self.yaw * z


def _camera(style: DriveStyle, s: float, t: int, height: int, width: int) -> _Camera:
    """The camera at road position ``s`` in frame ``t``: steering wobble (yaw, lane position)
    follows the distance driven, vibration (pitch) the time."""
    yaw_a, yaw_f, yaw_p = style.jitter[0]
    pitch_a, pitch_f, pitch_p = style.jitter[1]
    yaw = yaw_a * math.sin(yaw_f / style.speed * s + yaw_p)
    pitch = pitch_a * math.sin(pitch_f * t + pitch_p)
    a, k, p = style.curve.T
    heading = float((a * k * np.cos(s * k + p)).sum()) + yaw
    focal = FOCAL_PER_WIDTH * width
    lane = style.lane + 0.25 * math.sin(0.011 / style.speed * s + style.curve[0, 2])
    return _Camera(
        s, lane, yaw, heading, focal, width / 2, HORIZON_PER_HEIGHT * height + pitch * focal, style
    )


class _Canvas:
    """Label, material and depth maps being painted for one frame."""

    def __init__(self, height: int, width: int) -> None:
        self.label = np.full((height, width), SKY, dtype=np.uint8)
        self.material = np.full((height, width), M_SKY, dtype=np.int32)
        self.depth = np.full((height, width), SKY_DEPTH, dtype=np.float32)
        self.height, self.width = height, width


def _paint_ground(canvas: _Canvas, cam: _Camera, crossings: np.ndarray) -> None:
    style = cam.style
    height, width = canvas.height, canvas.width
    dy = np.arange(height) + 0.5 - cam.horizon
    first = int(np.searchsorted(dy, 0.5, side="right"))
    if first >= height:
        return
    z = cam.focal * CAM_HEIGHT / dy[first:]
    s = cam.s + z
    xn = (np.arange(width) + 0.5 - cam.cx) / cam.focal
    u = xn[None, :] * z[:, None] - cam.offset(z)[:, None]
    au = np.abs(u)
    hw, sw = style.half_width, style.sidewalk
    label = np.full(u.shape, TERRAIN, dtype=np.uint8)
    material = np.where(
        _hash(np.floor(u / 3.0), np.floor(s / 3.0)[:, None]) % 3 == 0, M_PATCH, M_TERRAIN
    ).astype(np.int32)
    road = au < hw
    if sw > 0:
        walk = (au >= hw) & (au < hw + sw)
        label[walk], material[walk] = SIDEWALK, M_SIDEWALK
        material[walk & (au < hw + 0.3)] = M_CURB
    label[road], material[road] = ROAD, M_ASPHALT
    dash = (np.mod(s, 9.0) < 3.5)[:, None]
    paint = (au < 0.07) & dash if style.road != "highway" else (np.abs(u) < 0.12)
    if style.road == "highway":
        paint |= (np.abs(au - hw / 2) < 0.07) & dash
    if style.road != "city":
        paint |= np.abs(au - (hw - 0.3)) < 0.08
    for centre, half in crossings[:, :2]:
        across = np.abs(s - centre) < half
        paint[across] = False
        corner = (np.abs(s - centre) >= half) & (np.abs(s - centre) < half + sw)
        corner_walk = corner[:, None] & (au >= hw)
        label[corner_walk], material[corner_walk] = SIDEWALK, M_SIDEWALK
        label[across], material[across] = ROAD, M_ASPHALT
        zebra = ((s > centre - half - 3.5) & (s < centre - half - 0.5))[:, None]
        paint |= zebra & road & (np.mod(u, 1.0) < 0.5)
    material[paint] = M_PAINT
    label[z > Z_LABEL] = IGNORE_INDEX
    canvas.label[first:] = label
    canvas.material[first:] = material
    canvas.depth[first:] = z[:, None]


def _paint_skyline(canvas: _Canvas, cam: _Camera) -> None:
    """Distant buildings (cities) or tree lines just above the horizon."""
    style = cam.style
    angle = cam.heading + (np.arange(canvas.width) + 0.5 - cam.cx) / cam.focal
    if style.road == "city":
        block = np.floor(angle * 40.0 + style.skyline_phase)
        rise = 0.3 + 0.7 * (_hash(block.astype(np.int64), style.drive) % 1000) / 1000.0
    else:
        rise = 0.6 + 0.25 * np.sin(angle * 23.0 + style.skyline_phase) + 0.15 * np.sin(angle * 71.0)
    top = cam.horizon - cam.focal * style.skyline * rise
    rows = np.arange(canvas.height)[:, None] + 0.5
    mask = (rows >= top[None, :]) & (rows < cam.horizon + 0.5) & (canvas.label == SKY)
    canvas.label[mask] = BUILDING if style.road == "city" else VEGETATION
    canvas.material[mask] = M_SKYLINE
    canvas.depth[mask] = 400.0


def _spans(a: np.ndarray, b: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel index ranges whose centres lie in [a, b), widened to one pixel when the span is at
    least 0.3 px wide but covers no centre; clipped to 0..limit."""
    lo, hi = np.floor(a + 0.5), np.floor(b + 0.5)
    thin = (hi <= lo) & (b - a >= 0.3)
    lo = np.where(thin, np.floor((a + b) / 2), lo)
    hi = np.where(thin, lo + 1, hi)
    return np.clip(lo, 0, limit).astype(np.int64), np.clip(hi, 0, limit).astype(np.int64)


def _windows(
    along: np.ndarray, up: np.ndarray, top: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Window and lit-window masks on a facade from metres along it and above its base."""
    col, row = np.floor(along / 3.2), np.floor(up / 3.3)
    window = (np.mod(along, 3.2) > 0.9) & (np.mod(up, 3.3) > 1.0) & (up > 0.8) & (up < top - 0.8)
    lit = window & (_hash(col.astype(np.int64) + seed, row.astype(np.int64)) % 3 == 0)
    return window, lit


def _paint_side(
    canvas: _Canvas, cam: _Camera, box: list[float], material: int, span: tuple[int, ...],
    ends: tuple[float, float, float, float],
) -> None:  # fmt: skip
    """The face of a box parallel to the road: a quad whose depth varies along its columns."""
    c0, c1, r0, r1 = span
    near_col, far_col, z_near, z_far = ends
    f, yh = cam.focal, cam.horizon
    w = np.clip((np.arange(c0, c1) + 0.5 - near_col) / (far_col - near_col), 0.0, 1.0)
    inv_z = 1.0 / z_near + w * (1.0 / z_far - 1.0 / z_near)
    z = 1.0 / inv_z
    tops = yh + f * (CAM_HEIGHT - box[H0] - box[HEIGHT]) * inv_z
    bottoms = yh + f * (CAM_HEIGHT - box[H0]) * inv_z
    rows = np.arange(r0, r1)[:, None] + 0.5
    inside = (rows >= tops) & (rows < bottoms)
    mat = np.where(inside, material, canvas.material[r0:r1, c0:c1])
    if box[TEXTURE] == FACADE:
        up = CAM_HEIGHT - (rows - yh) * z / f - box[H0]
        window, lit = _windows(z + cam.s, up, box[HEIGHT], int(box[S0]))
        mat = np.where(inside & window, np.where(lit, M_LIT, M_WINDOW), mat)
    canvas.material[r0:r1, c0:c1] = mat
    canvas.label[r0:r1, c0:c1][inside] = int(box[CLS])
    depth = canvas.depth[r0:r1, c0:c1]
    depth[inside] = np.broadcast_to(z.astype(np.float32), inside.shape)[inside]


def _paint_front(
    canvas: _Canvas, cam: _Camera, box: list[float], material: int, span: tuple[int, ...],
    rect: tuple[float, float, float, float, float],
) -> None:  # fmt: skip
    """The face of a box toward the camera (constant depth): a rectangle or an ellipse."""
    c0, c1, r0, r1 = span
    left, right, top, bottom, z = rect
    window = (slice(r0, r1), slice(c0, c1))
    if box[SHAPE] == ELLIPSE:
        yy = (np.arange(r0, r1)[:, None] + 0.5 - (top + bottom) / 2) / max((bottom - top) / 2, 0.5)
        xx = (np.arange(c0, c1) + 0.5 - (left + right) / 2) / max((right - left) / 2, 0.5)
        inside = yy**2 + xx**2 <= 1.0
        canvas.label[window][inside] = int(box[CLS])
        canvas.material[window][inside] = material
        canvas.depth[window][inside] = z
        return
    canvas.label[window] = int(box[CLS])
    canvas.depth[window] = z
    if box[TEXTURE] == FACADE:
        along = (np.arange(c0, c1) + 0.5 - left) * z / cam.focal
        up = CAM_HEIGHT - (np.arange(r0, r1)[:, None] + 0.5 - cam.horizon) * z / cam.focal
        window_mask, lit = _windows(along, up - box[H0], box[HEIGHT], int(box[U0]))
        canvas.material[window] = np.where(window_mask, np.where(lit, M_LIT, M_WINDOW), material)
    else:
        canvas.material[window] = material


def _paint_boxes(
    canvas: _Canvas, cam: _Camera, boxes: np.ndarray, t: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw the visible boxes, roadside structures first, then far to near. Returns, per kept
    box k (whose faces use materials N_DRIVE_MATERIALS + 2k and + 2k + 1), its (side, front)
    colours, texture kind and emission."""
    elapsed = t - boxes[:, T0]
    s0 = boxes[:, S0] + boxes[:, VS] * elapsed
    u0 = boxes[:, U0] + np.clip(boxes[:, VU] * elapsed, boxes[:, DU_MIN], boxes[:, DU_MAX])
    z_near = s0 - cam.s
    z_far = z_near + boxes[:, LENGTH]
    active = (boxes[:, T_START] <= t) & (t < boxes[:, T_END])
    keep = np.flatnonzero(active & (z_far > Z_NEAR) & (z_near < Z_DRAW))
    boxes, u0, z_near, z_far = boxes[keep], u0[keep], z_near[keep], z_far[keep]
    zc = np.maximum(z_near, Z_NEAR)
    f, cx, yh = cam.focal, cam.cx, cam.horizon
    offsets = cam.offset(np.concatenate([zc, z_far]))
    off_near, off_far = offsets[: len(zc)], offsets[len(zc) :]
    x0, x1 = u0 + off_near, u0 + boxes[:, WIDTH] + off_near
    top_h, bottom_h = CAM_HEIGHT - boxes[:, H0] - boxes[:, HEIGHT], CAM_HEIGHT - boxes[:, H0]
    left, right = cx + f * x0 / zc, cx + f * x1 / zc
    top, bottom = yh + f * top_h / zc, yh + f * bottom_h / zc
    fc0, fc1 = _spans(left, right, canvas.width)
    fr0, fr1 = _spans(top, bottom, canvas.height)
    front = (z_near >= Z_NEAR) & (fc1 > fc0) & (fr1 > fr0)
    # The side face toward the camera: the left face of boxes right of it, and vice versa.
    side_u = np.where(x0 > 0, u0, u0 + boxes[:, WIDTH])
    near_col = cx + f * (side_u + off_near) / zc
    far_col = cx + f * (side_u + off_far) / z_far
    sc0, sc1 = _spans(np.minimum(near_col, far_col), np.maximum(near_col, far_col), canvas.width)
    top_far, bottom_far = yh + f * top_h / z_far, yh + f * bottom_h / z_far
    sr0 = np.floor(np.minimum(top, top_far) + 0.5).clip(0, canvas.height).astype(np.int64)
    sr1 = np.floor(np.maximum(bottom, bottom_far) + 0.5).clip(0, canvas.height).astype(np.int64)
    side = (
        ((x0 > 0) | (x1 < 0)) & (boxes[:, LENGTH] >= 1.0) & (boxes[:, SHAPE] == BOX)
        & (np.abs(far_col - near_col) > 1e-6) & (sc1 > sc0) & (sr1 > sr0)
    )  # fmt: skip
    drawn = front | side
    order = np.flatnonzero(drawn)[np.lexsort((-zc[drawn], boxes[drawn, LAYER]))]
    per_box = zip(
        order.tolist(),
        boxes[order].tolist(),
        front[order].tolist(),
        np.stack([fc0, fc1, fr0, fr1], axis=1)[order].tolist(),
        np.stack([left, right, top, bottom, zc], axis=1)[order].tolist(),
        side[order].tolist(),
        np.stack([sc0, sc1, sr0, sr1], axis=1)[order].tolist(),
        np.stack([near_col, far_col, zc, z_far], axis=1)[order].tolist(),
        strict=True,
    )
    for k, box, has_front, front_span, rect, has_side, side_span, ends in per_box:
        material = N_DRIVE_MATERIALS + 2 * k
        if has_side:
            _paint_side(canvas, cam, box, material, side_span, ends)
        if has_front:
            _paint_front(canvas, cam, box, material + 1, front_span, rect)
    colors = boxes[:, RED : BLUE + 1].astype(np.float32)
    return (
        np.stack([colors, colors * 0.8], axis=1),
        boxes[:, TEXTURE].astype(np.int64),
        boxes[:, EMIT].astype(np.float32),
    )


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Approximate Gaussian blur: one [1, 2, 1] / 4 pass per 0.5 of variance and axis."""
    passes = max(1, round(2 * sigma**2))
    if passes > 3:
        return ndimage.gaussian_filter(image, (sigma, sigma, 0), mode="nearest")
    for _ in range(passes):
        out = image.copy()
        out[1:-1] = 0.5 * image[1:-1] + 0.25 * (image[:-2] + image[2:])
        image = out.copy()
        image[:, 1:-1] = 0.5 * out[:, 1:-1] + 0.25 * (out[:, :-2] + out[:, 2:])
    return image


def _material_table(
    cam: _Camera, box_colors: np.ndarray, box_textures: np.ndarray, box_emit: np.ndarray,
    height: int,
) -> np.ndarray:  # fmt: skip
    """Rows (r, g, b, fine texture, coarse texture, emission) for the drive materials, the box
    faces, then one sky colour per image row."""
    style = cam.style
    glow = {"day": 0.0, "dusk": 0.3, "night": 1.0}[style.time]
    drive = np.concatenate(
        [style.materials, _MATERIAL_TEXTURE, np.zeros((N_DRIVE_MATERIALS, 1), np.float32)], 1
    )
    drive[M_LIT, 5] = glow
    faces = np.concatenate(
        [
            box_colors.reshape(-1, 3),
            np.repeat(_BOX_TEXTURE[box_textures], 2, axis=0),
            np.repeat(box_emit * glow, 2)[:, None],
        ],
        axis=1,
    )
    depth = np.clip((np.arange(height) + 0.5) / max(cam.horizon, 1.0), 0.0, 1.0) ** 2
    sky_rgb = style.sky[0] + (style.sky[1] - style.sky[0]) * depth[:, None]
    sky = np.concatenate(
        [sky_rgb, np.tile(_MATERIAL_TEXTURE[M_SKY], (height, 1)), np.ones((height, 1))], 1
    )
    return np.concatenate([drive, faces, sky]).astype(np.float32)


def _shade(
    canvas: _Canvas, cam: _Camera, table: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Turn the material and depth maps into an RGB image (uint8)."""
    style = cam.style
    height, width = canvas.height, canvas.width
    sky_rows = len(table) - height + np.arange(height, dtype=np.int32)[:, None]
    material = np.where(canvas.material == M_SKY, sky_rows, canvas.material)
    props = table[material]
    block = max(2, width // 32)
    coarse = rng.standard_normal((height // block + 1, width // block + 1), dtype=np.float32)
    coarse = np.repeat(np.repeat(coarse, block, 0), block, 1)[:height, :width]
    fine = rng.standard_normal((height, width), dtype=np.float32)
    depth = canvas.depth
    light = np.float32(style.ambient)
    if style.headlights > 0:
        beam = np.exp(-(((np.arange(width) + 0.5 - cam.cx) / (0.45 * width)) ** 2))
        light = light + style.headlights * np.exp(-depth / 14.0) * beam.astype(np.float32)
    emit = props[..., 5]
    factor = (1.0 + props[..., 3] * fine + props[..., 4] * coarse) * (light + (1 - light) * emit)
    image = props[..., :3] * (factor[..., None] * style.tint)
    fog = (1.0 - np.exp(-depth / np.float32(style.fog_distance)))[..., None]
    image += (style.fog_color - image) * fog
    if style.rain > 0:
        count = int(style.rain * height * width / 60)
        length = max(2, height // 12)
        ys = rng.integers(0, height, count)[:, None] + np.arange(length)[None, :]
        xs = rng.integers(0, width, count)[:, None] + np.arange(length)[None, :] // 3
        inside = (ys < height) & (xs < width)
        image[ys[inside], xs[inside]] += 0.12
        image *= 0.9
    image = _blur(image, style.blur * width / 128)
    image += np.float32(style.noise) * rng.standard_normal((height, width, 1), dtype=np.float32)
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


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
            self._crossings[chunk] = _intersections(self.style, self.seed, chunk)
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
            self._static[chunk] = _static_chunk(self, chunk)
        return self._static[chunk]

    def traffic(self, chunk: int) -> np.ndarray:
        if chunk not in self._traffic:
            self._traffic[chunk] = _traffic_chunk(self, chunk)
        return self._traffic[chunk]

    def render(self, frame: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Image (uint8 HxWx3) and mask (int64 HxW trainIds, 255 unlabeled) of one frame."""
        cam = _camera(self.style, self.position(frame), frame, height, width)
        chunks = range(
            max(0, math.floor((cam.s - 30.0) / CHUNK_METRES)),
            math.floor((cam.s + Z_LABEL) / CHUNK_METRES) + 1,
        )
        times = range(max(0, (frame - MAX_EVENT_FRAMES) // CHUNK_FRAMES), frame // CHUNK_FRAMES + 1)
        boxes = np.concatenate([self.static(c) for c in chunks] + [self.traffic(c) for c in times])
        canvas = _Canvas(height, width)
        _paint_ground(canvas, cam, np.concatenate([self.crossings(c) for c in chunks]))
        _paint_skyline(canvas, cam)
        table = _material_table(cam, *_paint_boxes(canvas, cam, boxes, frame), height)
        image = _shade(canvas, cam, table, _rng(self.seed, self.style.drive, frame, 5))
        return image, canvas.label.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# The dataset


class SynthDrive(SegDataset):
    """Frames ``(drive, frame)`` of the procedurally rendered drives; see the module docstring."""

    name = "synthdrive"
    class_names = CITYSCAPES_CLASS_NAMES
    class_colors = CITYSCAPES_CLASS_COLORS
    #: The trainIds that occur in the masks; the other Cityscapes classes never do.
    used_class_ids = USED_CLASS_IDS

    def __init__(
        self, drives: Sequence[int], frames_per_drive: int, first_frame: int, frame_step: int,
        image_size: tuple[int, int], seed: int, cache_size: int = 0,
    ) -> None:  # fmt: skip
        self.drives = tuple(int(d) for d in drives)
        self.frames_per_drive = frames_per_drive
        self.first_frame, self.frame_step = first_frame, frame_step
        self.image_size = image_size
        self.seed = seed
        self.cache_size = cache_size
        self._drives: dict[int, Drive] = {}
        self._cache: OrderedDict[int, Sample] = OrderedDict()

    def __len__(self) -> int:
        return len(self.drives) * self.frames_per_drive

    def locate(self, index: int) -> tuple[int, int]:
        """(drive id, frame number) of sample ``index``."""
        drive = self.drives[index // self.frames_per_drive]
        return drive, self.first_frame + self.frame_step * (index % self.frames_per_drive)

    def meta(self, index: int) -> FrameMeta:
        drive, frame = self.locate(index)
        return FrameMeta(
            sequence=f"drive_{drive:03d}",
            frame=frame,
            path=f"synthdrive://seed{self.seed}/drive{drive}/frame{frame}",
        )

    def drive(self, drive: int) -> Drive:
        if drive not in self._drives:
            self._drives[drive] = Drive(self.seed, drive)
        return self._drives[drive]

    def style(self, drive: int) -> DriveStyle:
        return self.drive(drive).style

    def load(self, index: int) -> Sample:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        drive, frame = self.locate(index)
        image, mask = self.render(drive, frame)
        sample = Sample(image=image, mask=mask, meta=self.meta(index))
        if self.cache_size > 0:
            self._cache[index] = sample
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return sample

    def render(self, drive: int, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """Image (uint8 HxWx3) and mask (int64 HxW trainIds, 255 unlabeled) of one frame."""
        return self.drive(drive).render(frame, *self.image_size)


# ---------------------------------------------------------------------------------------------
# Factory

_DEFAULTS: dict[str, Any] = {
    "image_size": (64, 128),
    "seed": 0,
    "num_drives": 20,
    "frames_per_drive": 300,
    "val_frames_per_drive": 9,
    "cache_size": 0,
}


def _int_option(name: str, value: Any, low: int, high: int) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or not low <= value <= high
    ):
        raise ConfigError(f"synthdrive option {name}={value!r} must be an integer in {low}..{high}")
    return int(value)


def parse_image_size(value: Any) -> tuple[int, int]:
    """(height, width) from a pair of ints or a "HxW" string, checked against the allowed sizes."""
    allowed = (
        f"HxW with H in {MIN_SIZE}..{MAX_HEIGHT}, W in {MIN_SIZE}..{MAX_WIDTH}, "
        f"both multiples of {SIZE_STEP}"
    )
    try:
        if isinstance(value, str):
            parts = [int(p) for p in value.lower().split("x")]
        else:
            parts = [int(p) for p in value if not isinstance(p, bool) and p == int(p)]
    except (TypeError, ValueError):
        parts = []
    if len(parts) != 2:
        raise ConfigError(f"synthdrive image_size {value!r} is not {allowed}")
    height, width = parts
    if not (
        MIN_SIZE <= height <= MAX_HEIGHT and MIN_SIZE <= width <= MAX_WIDTH
        and height % SIZE_STEP == 0 and width % SIZE_STEP == 0
    ):  # fmt: skip
        raise ConfigError(f"synthdrive image_size {height}x{width} is not {allowed}")
    return height, width


def create(split: str, root: Any = None, **options: Any) -> SynthDrive:
    """The ``synthdrive`` dataset. Train: drives 0..num_drives-1, every frame 0..frames_per_drive-1.
    Val: one held-out drive per (time, weather, road type), ``val_frames_per_drive`` frames spaced
    40 apart; it ignores num_drives and frames_per_drive, so it is the same for every train size."""
    if root is not None:
        raise ConfigError(f"synthdrive is generated on the fly and takes no data root (got {root})")
    unknown = sorted(set(options) - set(_DEFAULTS))
    if unknown:
        raise ConfigError(
            f"unknown synthdrive option {unknown[0]!r}; allowed: {', '.join(sorted(_DEFAULTS))}"
        )
    opts = {**_DEFAULTS, **options}
    image_size = parse_image_size(opts["image_size"])
    seed = _int_option("seed", opts["seed"], 0, 2**31 - 1)
    num_drives = _int_option("num_drives", opts["num_drives"], 1, MAX_DRIVES)
    frames = _int_option("frames_per_drive", opts["frames_per_drive"], 1, MAX_FRAMES_PER_DRIVE)
    val_frames = _int_option(
        "val_frames_per_drive", opts["val_frames_per_drive"], 1, MAX_VAL_FRAMES_PER_DRIVE
    )
    cache_size = _int_option("cache_size", opts["cache_size"], 0, 1_000_000)
    if split == "train":
        return SynthDrive(range(num_drives), frames, 0, 1, image_size, seed, cache_size)
    if split == "val":
        drives = range(MAX_DRIVES, MAX_DRIVES + len(CONDITIONS))
        return SynthDrive(
            drives, val_frames, VAL_FIRST_FRAME, VAL_FRAME_STEP, image_size, seed, cache_size
        )
    raise ConfigError(f"unknown split {split!r}; allowed: train, val")
