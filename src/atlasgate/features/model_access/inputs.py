"""Numeric rows out of predict requests, and labels out of predict responses.

Both protocols the gateway serves are read: KServe v1 (``instances`` or
``inputs``: rows of numbers, or objects by feature name) and Open Inference v2
(``inputs`` tensors with a shape). Anything that is not plainly numeric yields
None, so the monitor skips its features for that request instead of guessing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

_NUMERIC = frozenset("iuf")
_FP_TYPES = ("FP16", "FP32", "FP64", "BF16")


def _matrix(rows: Any) -> np.ndarray | None:
    try:
        array = np.asarray(rows)
    except (ValueError, TypeError, OverflowError):
        return None
    if array.dtype.kind not in _NUMERIC or array.size == 0:
        return None
    if array.ndim == 1:
        array = array[:, None]
    elif array.ndim > 2:
        array = array.reshape(array.shape[0], -1)
    array = array.astype(np.float64, copy=False)
    if not np.isfinite(array).all():
        return None
    return array


def _named(rows: list[Any], features: Sequence[str] | None) -> np.ndarray | None:
    names = list(features) if features else sorted(rows[0])
    try:
        table = [[row[name] for name in names] for row in rows]
    except (KeyError, TypeError):
        return None
    return _matrix(table)


def request_rows(body: dict[str, Any], version: str, features: Sequence[str] | None = None
                 ) -> np.ndarray | None:
    """The request's instances as an (n, d) float array, or None when they are not numeric."""
    if version == "v1":
        rows = body.get("instances", body.get("inputs"))
        if not isinstance(rows, list) or not rows:
            return None
        if isinstance(rows[0], dict):
            return _named(rows, features)
        return _matrix(rows)
    tensors = body.get("inputs")
    if not isinstance(tensors, list) or not tensors:
        return None
    if len(tensors) == 1:
        return _tensor(tensors[0])
    columns = [_tensor(t) for t in tensors]
    if any(c is None for c in columns):
        return None
    heights = {c.shape[0] for c in columns if c is not None}
    if len(heights) != 1:
        return None
    return np.hstack([c for c in columns if c is not None])


def _tensor(tensor: Any) -> np.ndarray | None:
    if not isinstance(tensor, dict):
        return None
    shape, data = tensor.get("shape"), tensor.get("data")
    if not isinstance(shape, list) or not shape or not isinstance(data, list) or not data:
        return None
    if not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        return None
    flat = _matrix(data)
    if flat is None or flat.size != int(np.prod(shape)):
        return None
    return flat.reshape(shape[0], -1)


def response_labels(body: dict[str, Any], version: str) -> tuple[np.ndarray | None, bool]:
    """Predicted class per instance, and whether full score vectors were returned."""
    if version == "v1" or "predictions" in body:
        predictions = body.get("predictions")
        if not isinstance(predictions, list) or not predictions:
            return None, False
        return _labels_of(_matrix(predictions))
    outputs = body.get("outputs")
    if not isinstance(outputs, list):
        return None, False
    labels = None
    for output in outputs:
        if not isinstance(output, dict):
            continue
        matrix = _tensor(output)
        if matrix is None:
            continue
        if str(output.get("datatype", "")).upper() in _FP_TYPES and matrix.shape[1] > 1:
            return _labels_of(matrix)
        if matrix.shape[1] == 1 and labels is None:
            labels = matrix[:, 0].astype(np.int64)
    return labels, False


def _labels_of(matrix: np.ndarray | None) -> tuple[np.ndarray | None, bool]:
    if matrix is None:
        return None, False
    if matrix.shape[1] == 1:
        return matrix[:, 0].astype(np.int64), False
    nonzero = np.count_nonzero(matrix, axis=1)
    return matrix.argmax(axis=1), bool(np.any(nonzero > 1))
