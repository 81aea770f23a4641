"""Arrow columns from numpy buffers: string views gathered from small tables, no copies.

The simulator's frames are millions of rows whose strings come from a few small sets
(pages, products, devices, customer ids) or follow a pattern (numbered ids). Building them
as Python strings, or letting polars format them, copies every string byte per row. Here:

* A string column is an Arrow **string view** array: one 16-byte view per row, holding
  the length and either the whole string (up to 12 bytes, inline) or a 4-byte prefix,
  a buffer index and an offset into shared data buffers. :class:`Text` keeps the views of
  a small table of strings and its buffers; gathering rows is a numpy ``take`` of views,
  and the string bytes are never copied.
* Numbered strings (``A739312-0`` ... ``A739312-1499999``) are written by
  :func:`number_blocks` as ASCII matrices with 64-bit word arithmetic, a run of 1,000
  numbers at a time, and turned into views by :func:`strings`.
* Arrays, structs and lists are assembled with ``pyarrow.Array.from_buffers`` over numpy
  memory (validity bitmaps packed from booleans, lists as flat values plus offsets), all-null
  columns over untouched zero pages, and :func:`frame` hands them to polars without a copy.

Views are written for little-endian machines (the layout of the view's words).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

_LUT3 = np.frombuffer("".join(f"{i:03d}" for i in range(1000)).encode(), np.uint8).reshape(-1, 3)
VIEW = np.dtype(np.complex128)  # one Arrow string view (16 bytes) as a numpy item
assert sys.byteorder == "little", "string views are written for little-endian machines"


@dataclass(frozen=True)
class Text:
    """Strings as Arrow string views: one 16-byte view per row and the buffers they point into.

    Gathering rows is a numpy ``take`` of views (inline strings of up to 12 bytes travel in
    their view); the string data itself is never copied.
    """

    views: np.ndarray
    buffers: tuple[pa.Buffer, ...] = ()
    valid: np.ndarray | None = None

    @classmethod
    def of(cls, values: pl.Series | list[str | None]) -> Text:
        """The views of a polars string Series or a list of strings (``None`` is null)."""
        series = values if isinstance(values, pl.Series) else pl.Series(values, dtype=pl.Utf8)
        arr = series.rechunk().to_arrow(compat_level=pl.CompatLevel.newest())
        if len(arr) == 0:
            return cls(np.zeros(0, VIEW))
        buffers = arr.buffers()
        views = np.frombuffer(buffers[1], VIEW, count=arr.offset + len(arr))[arr.offset :]
        valid = arr.is_valid().to_numpy(zero_copy_only=False) if arr.null_count else None
        return cls(views, tuple(b for b in buffers[2:] if b is not None), valid)

    def array(
        self, views: np.ndarray | None = None, valid: np.ndarray | pa.Buffer | None = None
    ) -> pa.Array:
        """An Arrow string array of ``views`` (rows of this text; all of it by default)."""
        views = self.views if views is None else views
        buffers = [bitmap(valid), pa.py_buffer(np.ascontiguousarray(views)), *self.buffers]
        return pa.Array.from_buffers(pa.string_view(), views.size, buffers)

    def concat(self, other: Text) -> Text:
        """The rows of both texts, ``other`` after these (neither may hold nulls)."""
        extra = other.views.copy()
        words = extra.view("<u4").reshape(-1, 4)
        words[words[:, 0] > 12, 2] += len(self.buffers)  # buffer index of long strings
        return Text(np.concatenate([self.views, extra]), self.buffers + other.buffers)


def strings(blocks: list[tuple[np.ndarray, int]], shared: int = 0) -> Text:
    """Strings from ASCII blocks: (rows, stride) matrices of ``width``-byte rows.

    Rows are zero padded to ``stride``, a multiple of 8; the first ``shared`` bytes are the
    same on every row. Views are computed with 64-bit word arithmetic; blocks of strings over
    12 bytes become data buffers as they are.
    """
    n = sum(block.shape[0] for block, _ in blocks)
    views = np.empty((n, 2), np.uint64)
    buffers: list[pa.Buffer] = []
    row = 0
    for block, width in blocks:
        m, stride = block.shape
        words = block.view(np.uint64)
        out = views[row : row + m]
        # length, then the first four bytes (prefix or start of the inline string)
        if shared >= 4 and m:
            out[:, 0] = (words[0, 0] << np.uint64(32)) | np.uint64(width)
        else:
            out[:, 0] = (words[:, 0] << np.uint64(32)) | np.uint64(width)
        if width <= 12:  # inline: bytes 4 to 11 of the string
            out[:, 1] = words[:, 0] >> np.uint64(32)
            if stride > 8:
                out[:, 1] |= words[:, 1] << np.uint64(32)
        else:  # buffer index, then offset of the row in its block
            assert m * stride < 2**31
            step = stride << 32
            out[:, 1] = np.arange(len(buffers), len(buffers) + m * step, step, dtype=np.uint64)
            buffers.append(pa.py_buffer(block))
        row += m
    return Text(views.view(VIEW).ravel(), tuple(buffers))


def digits(values: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded decimal digits of non-negative integers: a (rows, width) ASCII matrix."""
    out = np.empty((values.size, width), np.uint8)
    rest = values.astype(np.int64)
    for k in range(width - 1, -1, -1):
        rest, out[:, k] = np.divmod(rest, 10)
    return out + ord("0")


def number_blocks(prefix: str, n: int, suffix: str = "") -> list[tuple[np.ndarray, int]]:
    """``f"{prefix}{i}{suffix}"`` for i in 0..n-1 as ``strings`` blocks, one per digit count.

    Numbers of d >= 4 digits come in runs of 1,000 sharing their leading d-3 digits: a run
    is the bitwise OR of its head (prefix and leading digits) and a shared tail (the last
    three digits and the suffix), so there is no per-row arithmetic.
    """
    pre, suf = np.frombuffer(prefix.encode(), np.uint8), np.frombuffer(suffix.encode(), np.uint8)
    blocks, lo, d = [], 0, 1
    while lo < n:
        hi = min(n, 10**d)
        width = pre.size + d + suf.size
        stride = -(-width // 8) * 8
        if d <= 3:
            block = np.zeros((hi - lo, stride), np.uint8)
            block[:, : pre.size] = pre
            block[:, pre.size : pre.size + d] = _LUT3[lo:hi, 3 - d :]
            block[:, pre.size + d : width] = suf
        else:
            lead = np.arange(lo // 1000, (hi - 1) // 1000 + 1)
            head = np.zeros((lead.size, stride), np.uint8)
            head[:, : pre.size] = pre
            head[:, pre.size : pre.size + d - 3] = digits(lead, d - 3)
            tail = np.zeros((1000, stride), np.uint8)
            tail[:, pre.size + d - 3 : pre.size + d] = _LUT3
            tail[:, pre.size + d : width] = suf
            block = np.repeat(head, 1000, axis=0)
            block.view(np.uint64).reshape(lead.size, -1)[:] |= tail.view(np.uint64).reshape(1, -1)
            block = block[: hi - lo]
        blocks.append((block, width))
        lo, d = hi, d + 1
    return blocks


def numbered(prefix: str, n: int, suffix: str = "") -> Text:
    """``f"{prefix}{i}{suffix}"`` for i in 0..n-1."""
    return strings(number_blocks(prefix, n, suffix), shared=len(prefix.encode()))


def constant(value: str, n: int) -> pa.Array:
    """``value`` on ``n`` rows."""
    text = Text.of([value])
    return text.array(np.full(n, text.views[0]))


def bitmap(valid: np.ndarray | pa.Buffer | None) -> pa.Buffer | None:
    """An Arrow validity bitmap from booleans (or the bitmap itself)."""
    if valid is None or isinstance(valid, pa.Buffer):
        return valid
    return pa.py_buffer(np.packbits(valid, bitorder="little"))


def nibbles(bits: np.ndarray) -> pa.Buffer:
    """The bitmap of rows that are groups of four values, from each group's 4 validity bits."""
    if bits.size % 2:
        bits = np.append(bits, np.uint8(0))
    return pa.py_buffer(bits[::2] | (bits[1::2] << 4))


def values(
    values: np.ndarray, valid: np.ndarray | pa.Buffer | None = None, type: pa.DataType | None = None
) -> pa.Array:
    """A numeric Arrow array over ``values`` (no copy), null where ``valid`` is False."""
    values = np.ascontiguousarray(values)
    type = type or pa.from_numpy_dtype(values.dtype)
    return pa.Array.from_buffers(type, values.size, [bitmap(valid), pa.py_buffer(values)])


def nulls(type: pa.DataType, n: int) -> pa.Array:
    """``n`` nulls of a fixed-width type (string views included), on untouched zero pages."""
    width = 16 if type == pa.string_view() else type.bit_width // 8
    bits, data = np.zeros((n + 7) // 8, np.uint8), np.zeros(n * width, np.uint8)
    return pa.Array.from_buffers(type, n, [pa.py_buffer(bits), pa.py_buffer(data)], null_count=n)


def struct(children: dict[str, pa.Array], valid: np.ndarray | None = None) -> pa.Array:
    """A struct array of ``children`` (equal lengths), null where ``valid`` is False."""
    fields = [pa.field(name, array.type) for name, array in children.items()]
    n = len(next(iter(children.values())))
    return pa.Array.from_buffers(
        pa.struct(fields), n, [bitmap(valid)], children=list(children.values())
    )


def lists(items: pa.Array, offsets: np.ndarray) -> pa.Array:
    """Large lists of ``items``: row i holds ``items[offsets[i]:offsets[i + 1]]``."""
    offsets = np.ascontiguousarray(offsets, np.int64)
    return pa.Array.from_buffers(
        pa.large_list(items.type),
        offsets.size - 1,
        [None, pa.py_buffer(offsets)],
        children=[items],
    )


def param_structs(key: pa.Array, string: pa.Array, integer: pa.Array) -> pa.Array:
    """GA4 ``{key, value: {string_value, int_value, float_value, double_value}}`` structs."""
    null = nulls(pa.float64(), len(key))
    value = struct(
        {"string_value": string, "int_value": integer, "float_value": null, "double_value": null}
    )
    return struct({"key": key, "value": value})


def frame(columns: dict[str, pa.Array]) -> pl.DataFrame:
    """A polars frame over Arrow arrays (no copy)."""
    table = pa.Table.from_arrays(list(columns.values()), names=list(columns))
    return pl.from_arrow(table, rechunk=False)
