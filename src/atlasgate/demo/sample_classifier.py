"""Sample predict upstream: a digits classifier trained at start-up, served over KServe v1 and v2.

It is a real model (scikit-learn's LogisticRegression on the digits data set that scikit-learn
ships), so extraction and inversion scenarios against the gateway act on genuine scores. It is
named ``sample-digits`` everywhere so nobody mistakes it for a production model.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from aiohttp import web

MODEL_NAME = "sample-digits"
N_FEATURES = 64
N_CLASSES = 10
RANDOM_STATE = 0
MAX_BODY_BYTES = 16 * 1024 * 1024
_PIXEL_MAX = 16.0
_NUMERIC_KINDS = frozenset("iuf")
_V2_DATATYPES = frozenset(
    {"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32",
     "UINT64"}
)
_V2_OUTPUTS = ("probabilities", "label")
_JSON = "application/json"


@dataclass(frozen=True, eq=False)
class SampleClassifier:
    """The trained sample model plus the data it learnt from.

    ``X``/``y`` are the whole digits data set (raw pixel intensities 0-16, as callers send them),
    kept so a demo can draw natural queries; ``accuracy`` is measured on a held-out quarter.
    """

    name: str
    accuracy: float
    n_features: int
    n_classes: int
    X: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    weights: np.ndarray = field(repr=False)
    bias: np.ndarray = field(repr=False)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities for raw pixel rows; the softmax of the linear model, in numpy.

        Computed from the fitted coefficients instead of calling scikit-learn so the serving path
        avoids its per-call validation overhead; the result equals ``predict_proba``.
        """
        logits = np.asarray(X, dtype=np.float64) @ self.weights + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        return logits

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.predict_proba(X).argmax(axis=1)


@functools.cache
def train_sample_classifier(random_state: int = RANDOM_STATE) -> SampleClassifier:
    """Train once per process: every test and benchmark that starts an upstream shares it."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from threadpoolctl import threadpool_limits

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=random_state, stratify=y
    )
    model = LogisticRegression(max_iter=1000, random_state=random_state)
    # One BLAS thread: on a busy machine a threaded fit of this small problem runs ~30x slower.
    with threadpool_limits(limits=1):
        model.fit(X_train / _PIXEL_MAX, y_train)
    accuracy = float(model.score(X_test / _PIXEL_MAX, y_test))
    return SampleClassifier(
        name=MODEL_NAME,
        accuracy=accuracy,
        n_features=X.shape[1],
        n_classes=len(model.classes_),
        X=X,
        y=y,
        weights=np.ascontiguousarray((model.coef_ / _PIXEL_MAX).T),
        bias=model.intercept_.copy(),
    )


class BadInput(ValueError):
    """A request the model cannot score; its message goes back to the caller with a 400."""


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY),
        status=status,
        content_type=_JSON,
    )


def _error(message: str, status: int) -> web.Response:
    return _json({"error": message}, status)


async def _read_json(request: web.Request) -> Any:
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise BadInput(f"request body is not valid JSON: {exc}") from None


def _as_matrix(rows: Any, where: str) -> np.ndarray:
    """Rows of numbers → (n, 64) float array, rejecting strings, booleans, nulls and bad widths."""
    if not isinstance(rows, list | np.ndarray):
        raise BadInput(f"{where} must be a list of rows of {N_FEATURES} numbers")
    try:
        array = np.asarray(rows)
    except ValueError:
        raise BadInput(
            f"{where} must be rows of {N_FEATURES} numbers (rows differ in length)"
        ) from None
    if array.dtype.kind not in _NUMERIC_KINDS:
        raise BadInput(f"{where} must contain only numbers")
    if array.ndim != 2 or array.shape[0] == 0:
        raise BadInput(f"{where} must be a non-empty list of rows of {N_FEATURES} numbers")
    if array.shape[1] != N_FEATURES:
        raise BadInput(
            f"{where} rows must have {N_FEATURES} features (8x8 pixel intensities 0-16), "
            f"got {array.shape[1]}"
        )
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise BadInput(f"{where} must contain only finite numbers")
    return array


def _v2_matrix(body: Any) -> np.ndarray:
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise BadInput('request must be an object with an "inputs" list')
    inputs = body["inputs"]
    if len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise BadInput(f"{MODEL_NAME} takes exactly one input tensor, got {len(inputs)}")
    tensor = inputs[0]
    datatype = tensor.get("datatype")
    if datatype not in _V2_DATATYPES:
        raise BadInput(f"input datatype must be a numeric type such as FP32, got {datatype!r}")
    shape = tensor.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) != 2
        or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape)
        or shape[0] < 1
        or shape[1] != N_FEATURES
    ):
        raise BadInput(f"input shape must be [n, {N_FEATURES}] with n >= 1, got {shape!r}")
    data = tensor.get("data")
    if not isinstance(data, list):
        raise BadInput('input must carry its values in a "data" list')
    if data and not isinstance(data[0], list):
        if len(data) != shape[0] * N_FEATURES:
            raise BadInput(
                f"input data has {len(data)} values but shape {shape} needs "
                f"{shape[0] * N_FEATURES}"
            )
        try:
            flat = np.asarray(data)
        except ValueError:
            raise BadInput("input data must contain only numbers") from None
        if flat.ndim != 1:
            raise BadInput("input data must be flat or nested as the shape says")
        data = flat.reshape(shape[0], N_FEATURES)
    matrix = _as_matrix(data, "input data")
    if matrix.shape[0] != shape[0]:
        raise BadInput(f"input data has {matrix.shape[0]} rows but shape says {shape[0]}")
    return matrix


def _requested_outputs(body: dict[str, Any]) -> tuple[str, ...]:
    wanted = body.get("outputs")
    if wanted is None:
        return _V2_OUTPUTS
    if not isinstance(wanted, list) or not all(
        isinstance(o, dict) and o.get("name") in _V2_OUTPUTS for o in wanted
    ):
        raise BadInput(f"requested outputs must name some of {list(_V2_OUTPUTS)}")
    return tuple(o["name"] for o in wanted)


def create_classifier_app(classifier: SampleClassifier) -> web.Application:
    """The predict upstream: KServe/TF-Serving v1 and Open Inference Protocol v2 routes."""
    name = classifier.name
    v2_metadata = orjson.dumps({
        "name": name,
        "versions": ["1"],
        "platform": "sklearn",
        "inputs": [{"name": "input-0", "datatype": "FP32", "shape": [-1, classifier.n_features]}],
        "outputs": [
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, classifier.n_classes]},
            {"name": "label", "datatype": "INT64", "shape": [-1]},
        ],
        "parameters": {
            "sample": True,
            "description": "Sample model: LogisticRegression on sklearn.datasets.load_digits",
            "held_out_accuracy": classifier.accuracy,
        },
    })
    v1_status = orjson.dumps({"name": name, "ready": True})

    def unknown(model: str) -> web.Response:
        return _error(f"Model with name {model} does not exist.", 404)

    async def v1_predict(request: web.Request) -> web.Response:
        model = request.match_info["name"]
        if model != name:
            return unknown(model)
        try:
            body = await _read_json(request)
            if not isinstance(body, dict) or "instances" not in body:
                raise BadInput('request must be an object with an "instances" list')
            matrix = _as_matrix(body["instances"], "instances")
        except BadInput as exc:
            return _error(str(exc), 400)
        return _json({"predictions": classifier.predict_proba(matrix)})

    async def v1_status_handler(request: web.Request) -> web.Response:
        model = request.match_info["name"]
        if model != name:
            return unknown(model)
        return web.Response(body=v1_status, content_type=_JSON)

    async def v1_list(request: web.Request) -> web.Response:
        return _json({"models": [name]})

    async def v2_infer(request: web.Request) -> web.Response:
        model = request.match_info["name"]
        if model != name:
            return unknown(model)
        try:
            body = await _read_json(request)
            matrix = _v2_matrix(body)
            wanted = _requested_outputs(body)
        except BadInput as exc:
            return _error(str(exc), 400)
        probabilities = classifier.predict_proba(matrix)
        n = matrix.shape[0]
        outputs = []
        for output in wanted:
            if output == "probabilities":
                outputs.append({
                    "name": "probabilities",
                    "shape": [n, classifier.n_classes],
                    "datatype": "FP32",
                    "data": probabilities.astype(np.float32).ravel(),
                })
            else:
                outputs.append({
                    "name": "label",
                    "shape": [n],
                    "datatype": "INT64",
                    "data": probabilities.argmax(axis=1),
                })
        response: dict[str, Any] = {"model_name": name, "model_version": "1", "outputs": outputs}
        if "id" in body:
            response["id"] = body["id"]
        return _json(response)

    async def v2_model(request: web.Request) -> web.Response:
        model = request.match_info["name"]
        if model != name:
            return unknown(model)
        return web.Response(body=v2_metadata, content_type=_JSON)

    async def v2_model_ready(request: web.Request) -> web.Response:
        model = request.match_info["name"]
        if model != name:
            return unknown(model)
        return _json({"name": name, "ready": True})

    async def v2_ready(request: web.Request) -> web.Response:
        return _json({"ready": True})

    async def v2_live(request: web.Request) -> web.Response:
        return _json({"live": True})

    async def v2_server(request: web.Request) -> web.Response:
        return _json({"name": "atlasgate-sample-predict", "version": "1", "extensions": []})

    app = web.Application(middlewares=[_json_http_errors], client_max_size=MAX_BODY_BYTES)
    app.router.add_post(r"/v1/models/{name:[^/:]+}:predict", v1_predict)
    app.router.add_get(r"/v1/models/{name:[^/:]+}", v1_status_handler)
    app.router.add_get("/v1/models", v1_list)
    app.router.add_post("/v2/models/{name}/infer", v2_infer)
    app.router.add_get("/v2/models/{name}", v2_model)
    app.router.add_get("/v2/models/{name}/ready", v2_model_ready)
    app.router.add_get("/v2/health/ready", v2_ready)
    app.router.add_get("/v2/health/live", v2_live)
    app.router.add_get("/v2", v2_server)
    return app


@web.middleware
async def _json_http_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Unknown paths and wrong methods answer in the protocol's JSON error shape, not HTML."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(f"{exc.reason}: {request.method} {request.path}", exc.status)
