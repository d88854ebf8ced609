"""Drive styles: the seeded condition, road, palette, lighting and weather of each drive."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

TIMES = ("day", "dusk", "night")
WEATHERS = ("clear", "fog", "rain")
ROAD_TYPES = ("city", "highway", "country")
#: Every (time, weather, road type); the validation split holds one drive of each.
CONDITIONS = tuple(itertools.product(TIMES, WEATHERS, ROAD_TYPES))

MAX_DRIVES = 1000  # train drives are 0..num_drives-1; validation drives start here

# Drive materials (per-drive colour table rows); boxes add their own colours after these.
M_SKY, M_ASPHALT, M_PAINT, M_SIDEWALK, M_CURB, M_TERRAIN, M_PATCH, M_WINDOW, M_LIT, M_SKYLINE = (
    range(10)
)
N_DRIVE_MATERIALS = 10
_FACADE_COLORS = np.array(
    [(0.72, 0.66, 0.55), (0.55, 0.55, 0.56), (0.6, 0.33, 0.25), (0.82, 0.8, 0.76),
     (0.45, 0.42, 0.4), (0.7, 0.55, 0.4), (0.5, 0.55, 0.62)], dtype=np.float32,
)  # fmt: skip


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


def seeded_rng(*keys: int) -> np.random.Generator:
    """A generator seeded by integer keys, e.g. (seed, drive, chunk, purpose)."""
    return np.random.default_rng([int(k) for k in keys])


def drive_condition(seed: int, drive: int) -> tuple[str, str, str]:
    """(time, weather, road type) of a drive: validation drives cover each condition once, train
    drives run through a seeded shuffle of all conditions, one round per 27 drives."""
    if drive >= MAX_DRIVES:
        return CONDITIONS[(drive - MAX_DRIVES) % len(CONDITIONS)]
    order = seeded_rng(seed, drive // len(CONDITIONS), 11).permutation(len(CONDITIONS))
    return CONDITIONS[int(order[drive % len(CONDITIONS)])]


def _mix(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    return (1.0 - w) * a + w * b


def make_style(seed: int, drive: int) -> DriveStyle:
    """The seeded style of one drive."""
    time, weather, road = drive_condition(seed, drive)
    rng = seeded_rng(seed, drive, 1)
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
