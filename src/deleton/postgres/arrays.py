"""PostgreSQL's arrays of fixed-size numbers, read in binary straight into numpy arrays.

psycopg reads an array as a Python list, an object an element, in one C call that holds the
GIL: at 50,000 bikes the fleet's row of arrays took 40-90 ms so, and numpy as much again to
turn the lists into arrays, while every dashboard screen of the process waited. Read here, a
column is a view of the bytes received, converted to native order: about 4 ms for the row.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
from psycopg import DataError
from psycopg.abc import AdaptContext, Buffer
from psycopg.adapt import Loader
from psycopg.postgres import types
from psycopg.pq import Format

# PostgreSQL's binary array: dimensions, a flag for nulls and the element's type, then each
# dimension's size and lower bound, then each element as its length and its bytes (big end)
_HEADER = struct.Struct("!iii")
_ELEMENTS = {"int2": ">i2", "int4": ">i4", "int8": ">i8", "float4": ">f4", "float8": ">f8",
             "bool": "?"}  # fmt: skip


def _loader(element: str) -> type[Loader]:
    item = np.dtype(element)
    cell = np.dtype([("size", ">i4"), ("value", item)])
    native = item.newbyteorder("=")

    class NumpyArrayLoader(Loader):
        format = Format.BINARY

        def load(self, data: Buffer) -> Any:
            ndim, nulls, _ = _HEADER.unpack_from(data)
            if ndim == 0:  # '{}'
                return np.empty(0, native)
            if nulls:
                # numbers have no null: the caller's query must say what stands for one
                raise DataError("an array read into numpy holds a null")
            shape = struct.unpack_from(f"!{2 * ndim}i", data, _HEADER.size)[0::2]
            cells = np.frombuffer(
                data, cell, count=math.prod(shape), offset=_HEADER.size + 8 * ndim
            )
            return cells["value"].astype(native).reshape(shape)

    return NumpyArrayLoader


_LOADERS = {types[name].array_oid: _loader(element) for name, element in _ELEMENTS.items()}


def as_numpy(context: AdaptContext) -> None:
    """From now on, ``context`` (a cursor, best: it then changes nothing else) reads binary
    arrays of smallint, integer, bigint, real, double precision and boolean, of any
    dimensions, as numpy arrays in native order. A null inside one is an error: such a query
    coalesces its nulls to a value that stands for them."""
    for oid, loader in _LOADERS.items():
        context.adapters.register_loader(oid, loader)
