"""Label Studio's brush RLE: the bit stream its ``brushlabels`` results carry in ``value.rle``.

The stream packs a flat array of ``count`` words (an RGBA image, row-major, 4 words per pixel)
most significant bit first, in bytes (a list of ints 0..255), zero-padded to a whole byte:

* header: ``count`` (32 bits), word size - 1 (5 bits), four run-length field sizes - 1 (4 bits
  each; Label Studio writes 3, 4, 8 and 16);
* then chunks until ``count`` words are out: a repeat flag (1 bit), which field size follows (2
  bits), the run length - 1 in that many bits, then one word repeated that many times (flag 1)
  or that many literal words (flag 0).

Only the alpha channel carries the mask. ``encode_mask`` writes a boolean mask as 255 in all four
channels where it is set (what Label Studio's own converter writes); ``decode_alpha`` returns the
alpha channel, and a pixel belongs to the region when its alpha is at least 128.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alseg.errors import DataError

#: Run-length field sizes in bits (Label Studio's own choice): runs up to 8, 16, 256, 65536 words.
FIELD_BITS = (3, 4, 8, 16)
WORD_BITS = 8
#: Alpha at or above this marks a pixel as painted.
ALPHA_THRESHOLD = 128


def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lengths, values) of the runs of equal consecutive values."""
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    lengths = np.diff(np.r_[starts, len(values)])
    return lengths, values[starts]


def encode_words(words: np.ndarray) -> list[int]:
    """The RLE byte list of a flat array of 8-bit words (every chunk a repeat chunk)."""
    lengths, values = _runs(np.asarray(words, dtype=np.uint8).ravel())
    limit = 1 << FIELD_BITS[-1]
    pieces = np.maximum(1, -(-lengths // limit))  # runs longer than the widest field are split
    run_of_piece = np.repeat(np.arange(len(lengths)), pieces)
    first = np.cumsum(pieces) - pieces
    piece_lengths = np.full(len(run_of_piece), limit, dtype=np.int64)
    last = first + pieces - 1
    piece_lengths[last] = lengths - (pieces - 1) * limit
    size_index = np.searchsorted(np.asarray([1 << b for b in FIELD_BITS]), piece_lengths)
    field_bits = np.asarray(FIELD_BITS)[size_index]
    # fields per chunk: flag (1), size index (2), length - 1 (field bits), word
    count = len(piece_lengths)
    field_values = np.stack(
        [np.ones(count, np.int64), size_index, piece_lengths - 1, values[run_of_piece]], axis=1
    ).ravel()
    field_widths = np.stack(
        [np.ones(count, np.int64), np.full(count, 2), field_bits, np.full(count, WORD_BITS)],
        axis=1,
    ).ravel()
    header_values = [words.size, WORD_BITS - 1, *(b - 1 for b in FIELD_BITS)]
    header_widths = [32, 5, 4, 4, 4, 4]
    field_values = np.r_[np.asarray(header_values, np.int64), field_values]
    field_widths = np.r_[np.asarray(header_widths, np.int64), field_widths]
    total = int(field_widths.sum())
    starts = np.cumsum(field_widths) - field_widths
    shift = np.repeat(starts + field_widths - 1, field_widths) - np.arange(total)
    bits = (np.repeat(field_values, field_widths) >> shift) & 1
    return np.packbits(bits.astype(np.uint8)).tolist()


def encode_mask(mask: np.ndarray) -> list[int]:
    """The RLE of a boolean HxW mask: RGBA 255 where set, 0 elsewhere."""
    return encode_words(np.repeat(np.where(np.asarray(mask).ravel(), 255, 0), 4))


def decode_words(rle: Sequence[int], where: str) -> np.ndarray:
    """The flat word array of an RLE byte list; DataError naming ``where`` if it is malformed."""
    try:
        data = np.asarray(rle, dtype=np.int64)
        if data.ndim != 1 or data.size < 7 or data.min() < 0 or data.max() > 255:
            raise ValueError("not a list of bytes")
        bits = (np.unpackbits(data.astype(np.uint8)) + ord("0")).tobytes().decode("ascii")
        position = 0

        def take(width: int) -> str:
            nonlocal position
            if position + width > len(bits):
                raise ValueError("the stream ends inside a chunk")
            position += width
            return bits[position - width : position]

        count, word = int(take(32), 2), int(take(5), 2) + 1
        sizes = [int(take(4), 2) + 1 for _ in range(4)]
        out = np.zeros(count, dtype=np.int64)
        weights = 1 << np.arange(word - 1, -1, -1, dtype=np.int64)
        done = 0
        while done < count:
            repeat = take(1) == "1"
            size = sizes[int(take(2), 2)]
            end = done + 1 + int(take(size), 2)
            if end > count:
                raise ValueError(f"a run ends at word {end} of {count}")
            if repeat:
                out[done:end] = int(take(word), 2)
            else:
                digits = np.frombuffer(take((end - done) * word).encode("ascii"), np.uint8)
                out[done:end] = (digits - ord("0")).reshape(-1, word).astype(np.int64) @ weights
            done = end
    except (ValueError, IndexError, TypeError) as exc:
        raise DataError(f"{where}: not a valid Label Studio brush RLE ({exc})") from None
    return out


def decode_mask(rle: Sequence[int], height: int, width: int, where: str) -> np.ndarray:
    """The boolean HxW mask of an RLE (alpha >= ALPHA_THRESHOLD)."""
    words = decode_words(rle, where)
    if words.size != height * width * 4:
        raise DataError(
            f"{where}: brush RLE holds {words.size} values, not {height} x {width} x 4 "
            "(its image size)"
        )
    return words[3::4].reshape(height, width) >= ALPHA_THRESHOLD
