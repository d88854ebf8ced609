"""Rendering: project the ground plane row by row, draw boxes far to near, then shade the
material and depth maps into an image."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from alseg.data.base import IGNORE_INDEX
from alseg.data.synthdrive.boxes import (
    BLUE,
    BOX,
    CLS,
    DU_MAX,
    DU_MIN,
    ELLIPSE,
    EMIT,
    FACADE,
    H0,
    HEIGHT,
    LAYER,
    LENGTH,
    RED,
    S0,
    SHAPE,
    T0,
    T_END,
    T_START,
    TEXTURE,
    U0,
    VS,
    VU,
    WIDTH,
)
from alseg.data.synthdrive.labels import BUILDING, ROAD, SIDEWALK, SKY, TERRAIN, VEGETATION
from alseg.data.synthdrive.style import (
    M_ASPHALT,
    M_CURB,
    M_LIT,
    M_PAINT,
    M_PATCH,
    M_SIDEWALK,
    M_SKY,
    M_SKYLINE,
    M_TERRAIN,
    M_WINDOW,
    N_DRIVE_MATERIALS,
    DriveStyle,
)

# Camera (metres; focal length and horizon relative to the image size).
CAM_HEIGHT = 1.4
FOCAL_PER_WIDTH = 0.75
HORIZON_PER_HEIGHT = 0.40
Z_NEAR, Z_DRAW = 1.0, 110.0  # nearest and farthest drawn object depth
Z_LABEL = 120.0  # ground farther than this is left unlabeled
SKY_DEPTH = 1e4

# (fine, coarse) texture amplitude of each drive material.
_MATERIAL_TEXTURE = np.array(
    [(0.01, 0.05), (0.07, 0.05), (0.04, 0.02), (0.06, 0.04), (0.04, 0.02), (0.12, 0.14),
     (0.12, 0.14), (0.04, 0.02), (0.02, 0.0), (0.03, 0.05)], dtype=np.float32,
)  # fmt: skip
# (fine, coarse) texture amplitude of each box texture kind (PLAIN, FACADE, FOLIAGE, LAMP).
_BOX_TEXTURE = np.array([(0.05, 0.03), (0.05, 0.04), (0.16, 0.2), (0.0, 0.0)], dtype=np.float32)


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


def render_frame(
    style: DriveStyle,
    s: float,
    frame: int,
    size: tuple[int, int],
    boxes: np.ndarray,
    crossings: np.ndarray,
    noise: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Image (uint8 HxWx3) and mask (int64 HxW trainIds, 255 unlabeled) of frame ``frame`` seen
    from road position ``s``: the ground with its cross streets ``crossings``, the skyline and the
    box table ``boxes``; ``noise`` draws the texture, rain and sensor noise."""
    height, width = size
    cam = _camera(style, s, frame, height, width)
    canvas = _Canvas(height, width)
    _paint_ground(canvas, cam, crossings)
    _paint_skyline(canvas, cam)
    table = _material_table(cam, *_paint_boxes(canvas, cam, boxes, frame), height)
    image = _shade(canvas, cam, table, noise)
    return image, canvas.label.astype(np.int64)
