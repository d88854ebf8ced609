"""World generation: the cross streets, roadside structures, pedestrians and traffic of each
stretch of road or time, as box tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from alseg.data.synthdrive.boxes import BACKGROUND, FACADE, FOLIAGE, Boxes
from alseg.data.synthdrive.labels import BUILDING, POLE, SIGN, VEGETATION, WALL
from alseg.data.synthdrive.render import Z_DRAW
from alseg.data.synthdrive.style import M_ASPHALT, DriveStyle, seeded_rng

if TYPE_CHECKING:
    from alseg.data.synthdrive.drive import Drive

CHUNK_METRES = 120.0  # static world is generated per stretch of road
CHUNK_FRAMES = 100  # traffic events are generated per stretch of time
MAX_EVENT_FRAMES = 900  # traffic chunks this many frames old are no longer drawn


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


def intersections(style: DriveStyle, seed: int, chunk: int) -> np.ndarray:
    """(n, 4) rows (centre s, half width, has lights, red-light wait in frames) of the cross
    streets in one chunk; the camera stops before a red light and persons cross in front of it."""
    rng = seeded_rng(seed, style.drive, chunk, 3)
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


def static_chunk(drive: Drive, chunk: int) -> np.ndarray:
    """The fixed objects (and pedestrians) of one stretch of road."""
    style = drive.style
    boxes = Boxes(seeded_rng(drive.seed, style.drive, chunk, 2))
    crossings = drive.crossings(chunk)
    arrivals = [[drive.arrival(centre) if wait > 0 else np.nan] for centre, *_, wait in crossings]
    crossings = np.concatenate([crossings, np.reshape(arrivals, (-1, 1))], axis=1)
    build = {"city": _city, "highway": _highway, "country": _country}[style.road]
    build(boxes, style, chunk * CHUNK_METRES, crossings)
    return boxes.array()


def _city(boxes: Boxes, style: DriveStyle, start: float, crossings: np.ndarray) -> None:
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


def _crossing(boxes: Boxes, style: DriveStyle, crossing: np.ndarray) -> None:
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


def _highway(boxes: Boxes, style: DriveStyle, start: float, crossings: np.ndarray) -> None:
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


def _country(boxes: Boxes, style: DriveStyle, start: float, crossings: np.ndarray) -> None:
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


def traffic_chunk(drive: Drive, chunk: int) -> np.ndarray:
    """Moving vehicles that appear during one stretch of time."""
    style = drive.style
    boxes = Boxes(seeded_rng(drive.seed, style.drive, chunk, 4))
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


def _leading_vehicle(boxes: Boxes, drive: Drive, t_a: float, truck_share: float) -> None:
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
