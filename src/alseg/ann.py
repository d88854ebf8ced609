"""Near-duplicates of a large pool: a coarse quantiser proposes candidate lists, exact distances
decide.

Exact all-pairs search costs N^2 D: hours at a million 1,024-d embeddings on two cores. Here:

1. Lists. A faiss k-means quantiser, trained on ``SAMPLE_PER_LIST`` random images per centroid,
   cuts the pool into about N / ``list_size`` lists (``list_size`` sqrt(N) within
   ``LIST_SIZE_RANGE``); a list holding more than ``SPLIT_FACTOR`` times its share of the sample
   is split by a k-means of its own. Every image is owned by the list of its nearest centroid and
   visits the lists of its next ``assignments`` - 1 nearest as a guest. In high dimensions a
   centroid near the pool's mean is the nearest of every scattered image (a hub), so a list owns
   at most ``OWN_FACTOR`` x ``list_size`` images (the farther ones move on to their next
   centroid and visit the list they left) and takes at most ``GUEST_FACTOR`` x max(own images,
   ``list_size``) guests, the nearest to it.
2. Exact distances. Within each list the distances between its own images and all its members
   come from one float32 matrix product per block (the list centred on its centroid); pairs whose
   float32 value lies within the rounding bound of the radius are recomputed in float64 from
   direct differences. Candidate pairs from the caller (frames close in time, the likeliest
   near-duplicates) that no list sees are computed in float64 directly.

So every near-duplicate found is one (no false positives: counts can only fall short), and each
pair counts once: in the list that owns one image and sees the other, the smaller list number
when two lists do. A pair is missed only when neither image visits the other's list and no
candidate pair names it. Cost: N k D to assign plus about N x (own + guests) D over the lists,
minutes at a million; ``benchmarks/bench_index_1m.py`` measures time, memory and recall.
"""

from __future__ import annotations

import math

import faiss
import numpy as np
import torch

from alseg.distances import dot_error_factor, exact_squared_pairs, paired_distances

#: Bounds of the mean number of images per list (the images whose nearest centroid it is).
LIST_SIZE_RANGE = (64, 512)
#: Lists every image joins (its nearest centroids).
ASSIGNMENTS = 3
#: A list owns at most this many times the list size images ...
OWN_FACTOR = 4
#: ... the others move on to their next nearest centroid, up to this one.
CHOICES = 8
#: A list takes at most this many times max(own images, list size) guests.
GUEST_FACTOR = 2
#: Training images per centroid, drawn at random.
SAMPLE_PER_LIST = 64
#: A list holding more than this many times ``SAMPLE_PER_LIST`` training images is split.
SPLIT_FACTOR = 4
KMEANS_ITERATIONS = 8


def approximate_neighbours(
    embeddings: np.ndarray,
    radius: float,
    *,
    candidate_pairs: tuple[np.ndarray, np.ndarray] | None = None,
    chunk: int = 2048,
    seed: int = 0,
    list_size: int | None = None,
    assignments: int = ASSIGNMENTS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per image: the exact distance to the nearest other image found (float64, an upper bound
    of the true one), that image, and how many images were found within ``radius`` (exact
    distances, a lower bound of the true count). ``embeddings`` may be any float array (a
    float16 memmap too): rows are read a list at a time. ``list_size`` defaults to sqrt(N)
    within ``LIST_SIZE_RANGE``, which balances the assignment against the lists."""
    x = embeddings
    n = x.shape[0]
    if list_size is None:
        list_size = int(np.clip(round(math.sqrt(n)), *LIST_SIZE_RANGE))
    centroids = _centroids(x, max(1, round(n / list_size)), seed)
    lists = _memberships(x, centroids, assignments, list_size, chunk)
    found = _Found(n, float(radius))
    if candidate_pairs is not None:
        found.check_pairs(x, *candidate_pairs, lists)
    members = _by_list(lists[:, :1], len(centroids))
    guests = _by_list(lists[:, 1:], len(centroids))
    for c in range(len(centroids)):
        if members[c].size:
            rows = np.concatenate([members[c], guests[c]])
            found.check_list(x, rows, members[c].size, centroids[c], lists, chunk)
    found.nearest_of_the_rest(x, chunk)
    distance = np.full(n, np.inf)
    hit = np.flatnonzero(found.index >= 0)
    distance[hit] = paired_distances(x, hit, found.index[hit])
    return distance, found.index, found.count


class _Found:
    """Counts of near-duplicates and nearest candidates gathered list by list."""

    def __init__(self, n: int, radius: float) -> None:
        self.radius_sq = radius * radius
        self.count = np.zeros(n, dtype=np.int64)
        self.best = np.full(n, np.inf)
        self.index = np.full(n, -1, dtype=np.int64)

    def check_pairs(
        self, x: np.ndarray, first: np.ndarray, second: np.ndarray, lists: np.ndarray
    ) -> None:
        """Count given pairs within the radius that no list will see (exact distances)."""
        a, b = np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64)
        a, b = np.minimum(a, b), np.maximum(a, b)
        code = np.unique(a[a != b] * x.shape[0] + b[a != b])
        a, b = code // x.shape[0], code % x.shape[0]
        unseen = ~(_holds(lists[a], lists[b, 0]) | _holds(lists[b], lists[a, 0]))
        a, b = a[unseen], b[unseen]
        squared = exact_squared_pairs(x, a, b)
        self._offer(a, b, squared)
        self._offer(b, a, squared)
        within = squared <= self.radius_sq
        self._add(a[within], b[within])

    def check_list(
        self,
        x: np.ndarray,
        rows: np.ndarray,
        own: int,
        centre: np.ndarray,
        lists: np.ndarray,
        chunk: int,
    ) -> None:
        """All pairs of one list that involve one of its ``own`` first rows (the images whose
        nearest centroid it is; the rest are guests)."""
        points = torch.from_numpy(np.asarray(x[rows], dtype=np.float32) - centre)
        squares = (points * points).sum(1)
        norms = squares.sqrt().double().numpy()
        slack = 2 * dot_error_factor(points)
        cut = self.radius_sq + slack * (2 * float(norms.max())) ** 2
        for start in range(0, own, chunk):
            stop = min(start + chunk, own)
            for col in range(start, rows.size, chunk):
                block = points[start:stop] @ points[col : col + chunk].T
                block *= -2
                block += squares[start:stop, None]
                block += squares[None, col : col + chunk]
                if col == start:  # each pair of own rows once, no self-pairs
                    _hide_lower(block, min(stop - start, block.shape[1]))
                self._nearest(rows, start, col, block)
                i, j = torch.nonzero(block <= cut, as_tuple=True)
                value = block[i, j].double().numpy()
                i, j = i.numpy() + start, j.numpy() + col
                keep = _owned(rows[i], rows[j], j >= own, lists[rows[0], 0], lists)
                i, j, value = i[keep], j[keep], value[keep]
                bound = slack * (norms[i] + norms[j]) ** 2
                self._count_within(x, rows[i], rows[j], value, bound)

    def nearest_of_the_rest(self, x: np.ndarray, chunk: int) -> None:
        """Exact nearest image of the (rare) images that no list paired with another."""
        alone = np.flatnonzero(self.index < 0)
        for begin in range(0, alone.size, chunk):
            lone = alone[begin : begin + chunk]
            queries = torch.from_numpy(np.asarray(x[lone], dtype=np.float64))
            for start in range(0, x.shape[0], chunk):
                refs = torch.from_numpy(np.asarray(x[start : start + chunk], dtype=np.float64))
                block = torch.cdist(queries, refs).square_()
                columns = torch.arange(start, start + refs.shape[0])
                block[torch.from_numpy(lone)[:, None] == columns[None, :]] = float("inf")
                values, positions = block.min(1)
                self._offer(lone, positions.numpy() + start, values.numpy())

    def _nearest(self, rows: np.ndarray, start: int, col: int, block: torch.Tensor) -> None:
        values, positions = block.min(1)
        self._offer(rows[start : start + block.shape[0]], rows[positions.numpy() + col], values)
        values, positions = block.min(0)
        self._offer(rows[col : col + block.shape[1]], rows[positions.numpy() + start], values)

    def _offer(self, points: np.ndarray, others: np.ndarray, values: object) -> None:
        """Take ``others`` as the nearest of ``points`` where their squared distance is smaller
        (the smallest per point when a point comes more than once)."""
        values = np.asarray(values, dtype=np.float64)
        order = np.lexsort((values, points))
        points, others, values = points[order], others[order], values[order]
        first = np.ones(points.size, dtype=bool)
        first[1:] = points[1:] != points[:-1]
        points, others, values = points[first], others[first], values[first]
        closer = values < self.best[points]
        self.best[points[closer]] = values[closer]
        self.index[points[closer]] = others[closer]

    def _count_within(
        self,
        x: np.ndarray,
        first: np.ndarray,
        second: np.ndarray,
        value: np.ndarray,
        bound: np.ndarray,
    ) -> None:
        """Count the pairs within the radius, recomputing in float64 those whose float32
        squared distance ``value`` lies within its rounding ``bound`` of the radius."""
        within = value <= self.radius_sq
        doubtful = np.abs(value - self.radius_sq) <= bound
        if doubtful.any():
            exact = exact_squared_pairs(x, first[doubtful], second[doubtful])
            within[doubtful] = exact <= self.radius_sq
        self._add(first[within], second[within])

    def _add(self, first: np.ndarray, second: np.ndarray) -> None:
        np.add.at(self.count, first, 1)
        np.add.at(self.count, second, 1)


def _owned(
    first: np.ndarray, second: np.ndarray, guest: np.ndarray, c: int, lists: np.ndarray
) -> np.ndarray:
    """Whether list ``c`` counts the pair: a guest's own list counts it instead when that list
    sees the pair too and has the smaller number."""
    other = lists[second, 0]
    return ~guest | ~(_holds(lists[first], other) & (other < c))


def _holds(lists: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Row-wise: whether ``c`` is among ``lists``."""
    return (lists == c[:, None]).any(1)


def _hide_lower(block: torch.Tensor, size: int) -> None:
    """+inf on and below the diagonal of the square lists-left ``size`` x ``size`` part."""
    block[:size, :size].masked_fill_(torch.ones(size, size, dtype=torch.bool).tril(), np.inf)


def _by_list(lists: np.ndarray, k: int) -> list[np.ndarray]:
    """Row numbers of every list (increasing), from a row-per-image table of list numbers (-1:
    none)."""
    rows = np.repeat(np.arange(lists.shape[0]), lists.shape[1])
    flat = lists.ravel()
    order = np.argsort(flat, kind="stable")
    bounds = np.searchsorted(flat[order], np.arange(k + 1))
    return [rows[order[bounds[c] : bounds[c + 1]]] for c in range(k)]


def _memberships(
    x: np.ndarray, centroids: np.ndarray, assignments: int, list_size: int, chunk: int
) -> np.ndarray:
    """(N, m) lists of every image: the one it owns first, then up to m - 1 it visits as a guest
    (-1: none).

    In high dimensions a centroid near the pool's mean is the nearest of every scattered image
    and the second nearest of most others; two caps keep such a hub from pairing a large part of
    the pool with itself. A list owns at most ``OWN_FACTOR`` x ``list_size`` images, the
    nearest; the others move on to their next nearest centroid (up to the ``CHOICES``-th) and
    visit the lists they left as guests. A list takes at most ``GUEST_FACTOR`` x max(own
    images, ``list_size``) guests, those nearest to it relative to their own centroid."""
    k = len(centroids)
    distances, choices = _assign(x, centroids, min(CHOICES, k), chunk)
    rank = _balanced_choice(distances, choices, OWN_FACTOR * list_size)
    rows = np.arange(x.shape[0])
    own = choices[rows, rank]
    # the first m - 1 other choices, nearest first
    others = min(assignments, choices.shape[1]) - 1
    visits = np.argsort(choices == own[:, None], axis=1, kind="stable")[:, :others]
    guest_lists = np.take_along_axis(choices, visits, 1)
    margin = np.take_along_axis(distances, visits, 1) - distances[rows, rank][:, None]
    flat = guest_lists.ravel()
    order = np.lexsort((margin.ravel(), flat))
    start = np.searchsorted(flat[order], np.arange(k))
    position = np.empty(order.size, dtype=np.int64)
    position[order] = np.arange(order.size) - start[flat[order]]
    owned = np.bincount(own, minlength=k)
    flat[position >= GUEST_FACTOR * np.maximum(owned, list_size)[flat]] = -1
    return np.concatenate([own[:, None], flat.reshape(guest_lists.shape)], axis=1)


def _balanced_choice(distances: np.ndarray, choices: np.ndarray, capacity: int) -> np.ndarray:
    """Per image, the rank of the centroid that owns it: its nearest, unless that list already
    owns ``capacity`` nearer images; then the next (the last choice keeps whatever comes)."""
    n, m = choices.shape
    rows = np.arange(n)
    rank = np.zeros(n, dtype=np.int64)
    for _ in range(m - 1):
        own = choices[rows, rank]
        crowded = np.flatnonzero(np.bincount(own)[own] > capacity)
        order = crowded[np.lexsort((distances[crowded, rank[crowded]], own[crowded]))]
        lists = own[order]
        position = np.arange(order.size) - np.searchsorted(lists, lists)
        moved = order[(position >= capacity) & (rank[order] < m - 1)]
        if moved.size == 0:
            break
        rank[moved] += 1
    return rank


def _centroids(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k-means centroids of a seeded sample; lists too large on the sample are split."""
    rng = np.random.default_rng(seed)
    size = min(x.shape[0], k * SAMPLE_PER_LIST)
    sample = np.asarray(x[np.sort(rng.choice(x.shape[0], size, replace=False))], np.float32)
    centroids = _kmeans(sample, k, seed)
    assigned = _assign(sample, centroids, 1, len(sample))[1][:, 0]
    sizes = np.bincount(assigned, minlength=len(centroids))
    parts = [centroids[sizes <= SPLIT_FACTOR * SAMPLE_PER_LIST]]
    for c in np.flatnonzero(sizes > SPLIT_FACTOR * SAMPLE_PER_LIST):
        parts.append(_kmeans(sample[assigned == c], math.ceil(sizes[c] / SAMPLE_PER_LIST), seed))
    return np.ascontiguousarray(np.concatenate(parts))


def _kmeans(points: np.ndarray, k: int, seed: int) -> np.ndarray:
    if k <= 1:
        return points.mean(0, keepdims=True, dtype=np.float64).astype(np.float32)
    kmeans = faiss.Kmeans(
        points.shape[1],
        k,
        niter=KMEANS_ITERATIONS,
        seed=seed,
        min_points_per_centroid=1,
        max_points_per_centroid=len(points),
    )
    kmeans.train(np.ascontiguousarray(points))
    return kmeans.centroids


def _assign(
    x: np.ndarray, centroids: np.ndarray, m: int, chunk: int
) -> tuple[np.ndarray, np.ndarray]:
    """Squared distances to the ``m`` nearest centroids of every row and their numbers, nearest
    first."""
    index = faiss.IndexFlatL2(centroids.shape[1])
    index.add(centroids)
    distances = np.empty((x.shape[0], m), dtype=np.float32)
    lists = np.empty((x.shape[0], m), dtype=np.int64)
    step = max(chunk, 8192)
    for start in range(0, x.shape[0], step):
        rows = np.ascontiguousarray(x[start : start + step], dtype=np.float32)
        distances[start : start + step], lists[start : start + step] = index.search(rows, m)
    return distances, lists
