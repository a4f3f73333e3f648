"""Model-access defence against real attacks (IBM ART) through a running gateway.

    pip install -e '.[bench]'
    python bench/bench_model_access.py            # full run, about 10-15 minutes on 2 cores
    python bench/bench_model_access.py --quick    # fewer runs, about 3 minutes

Victims are scikit-learn models on data sets scikit-learn ships (digits; breast cancer in
the full run), served over KServe v1 behind an in-process gateway. Every attack query is
an HTTP request with the attacker's own API key; the black-box classifier ART attacks
calls the gateway. Each attack runs twice:

- observe: the model-access rules only LOG, so the attack runs to the end and the table
  shows when it was first flagged and what the attacker had achieved by then;
- defended: the shipped default packs (CONSTRAIN / REVIEW / BLOCK) act, and the table
  shows how far the attack's success drops against the undefended run.

Benign streams (at least 50 keys: natural rows with 5% exact repeats, small noise, users
who stay within one class, bursty batch scoring) give the false-positive rate per key.
Latency and memory are measured on the monitor in the same process, as ratios against
the gateway without it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import http.client
import logging
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
import warnings
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import orjson
import pandas as pd
import yaml
from threadpoolctl import threadpool_limits

T = TypeVar("T")
CLASS_ALARMS = ("ma-probing-", "ma-membership-")
SYNTHETIC = ("ma-extraction-synthetic", "ma-extraction-prada")
PROGRESS = ("ma-extraction-progress-",)
EPSILON = 0.25  # evasion counts when the perturbation is within a quarter of the input's L2 norm


# ---- victims -------------------------------------------------------------------------------


@dataclass
class Victim:
    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    model: Any
    low: float
    high: float

    @property
    def classes(self) -> int:
        return int(self.y_train.max()) + 1

    def proba(self, X: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(np.asarray(X, dtype=float))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.proba(X).argmax(axis=1)


def make_victims(full: bool) -> list[Victim]:
    from sklearn.datasets import load_breast_cancer, load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    victims = []
    X, y = load_digits(return_X_y=True)
    a, b, c, d = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    model = make_pipeline(MinMaxScaler((0, 1)), LogisticRegression(max_iter=1000)).fit(a, c)
    victims.append(Victim("digits", a, c, b, d, model, 0.0, 16.0))
    if full:
        from sklearn.ensemble import RandomForestClassifier

        X, y = load_breast_cancer(return_X_y=True)
        a, b, c, d = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
        model = RandomForestClassifier(n_estimators=100, random_state=0).fit(a, c)
        victims.append(Victim("breast-cancer", a, c, b, d, model, float(X.min()), float(X.max())))
    return victims


# ---- servers in a background loop -------------------------------------------------------------


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 600) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


async def serve_victims(victims: list[Victim]) -> tuple[Any, int]:
    from aiohttp import web

    by_name = {v.name: v for v in victims}

    async def predict(request: web.Request) -> web.Response:
        victim = by_name.get(request.match_info["name"])
        if victim is None:
            return web.json_response({"error": "no such model"}, status=404)
        body = orjson.loads(await request.read())
        try:
            rows = np.asarray(body["instances"], dtype=float)
            scores = victim.proba(rows)
        except (KeyError, ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.Response(
            body=orjson.dumps({"predictions": scores.tolist()}), content_type="application/json"
        )

    app = web.Application()
    app.router.add_post(r"/v1/models/{name:[^/:]+}:predict", predict)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, runner.addresses[0][1]


@dataclass
class Gate:
    url: str
    gateway: Any
    server: Any
    task: Any
    entries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def record(self, entry: dict[str, Any]) -> None:
        if "event" in entry:
            self.entries.setdefault(entry["event"].get("client.key_id"), []).append(entry)


def start_gateway(thread: LoopThread, config: dict[str, Any], base: Path) -> Gate:
    from atlasgate.config.load import ConfigOrigin, build_config
    from atlasgate.gateway.runtime import Gateway
    from atlasgate.gateway.server import GatewayServer

    cfg = build_config(config, ConfigOrigin(None, base, None))
    gateway = Gateway(cfg)
    server = GatewayServer(gateway, "127.0.0.1", 0, handle_signals=False)

    async def launch() -> Any:
        task = asyncio.get_running_loop().create_task(server.serve())
        await server.wait_started(task)
        return task

    task = thread.run(launch())
    gate = Gate(f"127.0.0.1:{server.port}", gateway, server, task)
    gateway.observers.append(gate.record)
    return gate


def stop_gateway(thread: LoopThread, gate: Gate) -> None:
    gate.server.stop()
    thread.run(asyncio.wait_for(asyncio.shield(gate.task), 30))


def observe_only_rules() -> list[dict[str, Any]]:
    """The shipped model-access rules with every action turned into LOG."""
    from importlib import resources

    text = (resources.files("atlasgate.policy") / "defaults" / "model_access.yaml").read_text()
    rules = []
    for rule in yaml.safe_load(text)["rules"]:
        rule = {k: v for k, v in rule.items() if k != "constraint"}
        rule["action"] = "LOG"
        rules.append(rule)
    return rules


# ---- a caller --------------------------------------------------------------------------------


class Budget(Exception):
    """The attack used its query budget; what it sent so far is what it achieved."""


class Caller:
    """One API key talking to the gateway over a kept-alive HTTP connection."""

    def __init__(self, gate: Gate, key: str, key_id: str, victim: Victim, budget: int = 10**9) -> None:
        self.gate = gate
        self.key = key
        self.key_id = key_id
        self.victim = victim
        self.budget = budget
        host, port = gate.url.split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)
        self.sent: list[np.ndarray] = []
        self.answers: list[np.ndarray | None] = []

    def request(self, rows: np.ndarray) -> tuple[int, np.ndarray | None]:
        body = orjson.dumps({"instances": np.asarray(rows, dtype=float).tolist()})
        headers = {"authorization": f"Bearer {self.key}", "content-type": "application/json"}
        try:
            self.conn.request("POST", f"/v1/models/{self.victim.name}:predict", body, headers)
            reply = self.conn.getresponse()
            data = reply.read()
        except (ConnectionError, http.client.HTTPException):
            self.conn.close()
            self.conn.request("POST", f"/v1/models/{self.victim.name}:predict", body, headers)
            reply = self.conn.getresponse()
            data = reply.read()
        if reply.status != 200:
            return reply.status, None
        return 200, np.asarray(orjson.loads(data)["predictions"], dtype=float)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """ART's predict function: one request per row, as a careful attacker sends them."""
        out = np.zeros((x.shape[0], self.victim.classes))
        for i, row in enumerate(np.asarray(x, dtype=float).reshape(x.shape[0], -1)):
            if len(self.sent) >= self.budget:
                raise Budget
            _, scores = self.request(row[None, :])
            self.sent.append(row)
            self.answers.append(None if scores is None else scores[0])
            out[i] = scores[0] if scores is not None else 1.0 / self.victim.classes
        return out

    def classifier(self) -> Any:
        from art.estimators.classification import BlackBoxClassifier

        return BlackBoxClassifier(
            self.predict,
            (self.victim.X_train.shape[1],),
            self.victim.classes,
            clip_values=(self.victim.low, self.victim.high),
        )

    def flagged_at(self, prefixes: tuple[str, ...] = ("ma-",)) -> int | None:
        """Instances the caller had sent when a model-access rule first acted on it."""
        sent = 0
        for entry in self.gate.entries.get(self.key_id, []):
            sent += int(entry["event"].get("ml.instance_count") or 0)
            if any(r.startswith(prefixes) for r in entry["decision"].get("matched", [])):
                return sent
        return None

    def close(self) -> None:
        self.conn.close()


# ---- attacks -----------------------------------------------------------------------------------


def thief_model(victim: Victim) -> Any:
    from art.estimators.classification.scikitlearn import ScikitlearnLogisticRegression
    from sklearn.linear_model import LogisticRegression

    class Thief(ScikitlearnLogisticRegression):  # type: ignore[misc]
        """A copy whose fit takes (and ignores) the training settings ART passes."""

        def fit(self, x: np.ndarray, y: np.ndarray, **kwargs: Any) -> None:
            super().fit(x / victim.high if victim.low >= 0 else x, y)

        def predict(self, x: np.ndarray, **kwargs: Any) -> np.ndarray:
            return super().predict(x / victim.high if victim.low >= 0 else x)

    return Thief(LogisticRegression(max_iter=500), clip_values=(victim.low, victim.high))


def fidelity_of(rows: list[np.ndarray], answers: list[np.ndarray | None], victim: Victim) -> float:
    """Agreement with the victim on held-out data of a copy trained on these answers."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pairs = [(r, a) for r, a in zip(rows, answers, strict=True) if a is not None]
    if not pairs:
        return 0.0
    X = np.array([p[0] for p in pairs])
    y = np.array([int(np.argmax(p[1])) for p in pairs])
    truth = victim.predict(victim.X_test)
    if np.unique(y).size < 2:
        return float(np.mean(truth == y[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copy = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    return float(np.mean(copy.predict(victim.X_test) == truth))


def distortion(victim: Victim, x0: np.ndarray, label: int, x_adv: np.ndarray | None) -> float:
    """Relative L2 perturbation of a truly misclassified output; infinite if it is not one."""
    if x_adv is None or int(victim.predict(x_adv[None, :])[0]) == label:
        return float("inf")
    return float(np.linalg.norm(x_adv - x0)) / (float(np.linalg.norm(x0)) or 1.0)


def believed_best(caller: Caller, x0: np.ndarray, label: int, upto: int | None) -> np.ndarray | None:
    """The closest query the attacker was told is adversarial: its result if stopped here."""
    best = None
    for row, answer in list(zip(caller.sent, caller.answers, strict=True))[:upto]:
        if answer is None or int(np.argmax(answer)) == label:
            continue
        distance = float(np.linalg.norm(row - x0))
        if best is None or distance < best[0]:
            best = (distance, row)
    return None if best is None else best[1]


@dataclass
class Outcome:
    caught_at: int | None
    queries: int
    achieved_at_detection: float
    success: float


def run_evasion(kind: str, caller: Caller, victim: Victim, rng: np.random.Generator) -> Outcome:
    from art.attacks.evasion import BoundaryAttack, HopSkipJump

    index = int(rng.integers(len(victim.X_test)))
    x0 = victim.X_test[index].astype(float)
    label = int(victim.predict(x0[None, :])[0])
    classifier = caller.classifier()
    if kind == "hsj":
        attack = HopSkipJump(
            classifier,
            targeted=False,
            norm=2,
            max_iter=5,
            max_eval=100,
            init_eval=10,
            init_size=20,
            verbose=False,
        )
    else:
        attack = BoundaryAttack(
            classifier,
            targeted=False,
            delta=0.05,
            epsilon=0.05,
            max_iter=30,
            num_trial=10,
            sample_size=5,
            init_size=20,
            verbose=False,
        )
    x_adv = None
    try:
        x_adv = attack.generate(x=x0[None, :].astype(np.float32))[0].astype(float)
    except Budget:
        x_adv = believed_best(caller, x0, label, None)
    caught = caller.flagged_at()
    achieved = distortion(victim, x0, label, believed_best(caller, x0, label, caught)) if caught else 0.0
    return Outcome(caught, len(caller.sent), achieved, distortion(victim, x0, label, x_adv))


def run_extraction(
    kind: str, caller: Caller, victim: Victim, rng: np.random.Generator, stolen: int
) -> Outcome:
    from art.attacks.extraction import CopycatCNN, KnockoffNets

    classifier = caller.classifier()
    d = victim.X_train.shape[1]
    if kind.endswith("uniform"):
        source = rng.uniform(victim.low, victim.high, (stolen, d))
    else:
        source = victim.X_test[rng.permutation(len(victim.X_test))]
    if kind.startswith("copycat"):
        attack = CopycatCNN(
            classifier,
            batch_size_fit=16,
            batch_size_query=16,
            nb_epochs=1,
            nb_stolen=min(stolen, len(source)),
            use_probability=True,
        )
    else:
        attack = KnockoffNets(
            classifier,
            batch_size_fit=16,
            batch_size_query=16,
            nb_epochs=1,
            nb_stolen=min(stolen, len(source)),
            sampling_strategy="random",
            use_probability=True,
        )
    # ValueError: every answer the defended gateway gave was one class, the thief cannot train
    with contextlib.suppress(Budget, ValueError):
        attack.extract(source.astype(np.float32), thieved_classifier=thief_model(victim))
    caught = caller.flagged_at()
    upto = caught or len(caller.sent)
    achieved = fidelity_of(caller.sent[:upto], caller.answers[:upto], victim)
    success = fidelity_of(caller.sent, caller.answers, victim)
    return Outcome(caught, len(caller.sent), achieved, success)


def jacobian_augmentation(
    oracle: Callable[[np.ndarray], np.ndarray],
    seed: np.ndarray,
    low: float,
    high: float,
    rounds: int,
    step: float,
    classes: int,
) -> tuple[np.ndarray, Any]:
    """Papernot et al.'s substitute training: label, fit, step along the sign of the Jacobian.

    The substitute is a softmax regression, whose Jacobian is analytic:
    d p_c / d x = p_c (w_c - sum_k p_k w_k) in the scaled input space.
    """
    from sklearn.linear_model import LogisticRegression

    span = high - low
    X = seed.astype(float)
    labels = oracle(X).argmax(axis=1)
    substitute = None
    for round_ in range(rounds + 1):
        scaled = (X - low) / span
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if np.unique(labels).size > 1:
                substitute = LogisticRegression(max_iter=500).fit(scaled, labels)
        if round_ == rounds or substitute is None:
            break
        probs = substitute.predict_proba(scaled)
        weights = substitute.coef_
        if weights.shape[0] == 1:  # binary: expand to two classes
            weights = np.vstack([-weights[0] / 2, weights[0] / 2])
        full = np.zeros((len(X), classes))
        full[:, substitute.classes_] = probs
        w_full = np.zeros((classes, X.shape[1]))
        w_full[substitute.classes_] = weights
        mean_w = full @ w_full
        grads = full[np.arange(len(X)), labels, None] * (w_full[labels] - mean_w)
        direction = (-1) ** round_  # Papernot's periodic step size flips the sign each round
        fresh = np.clip(X + direction * step * span * np.sign(grads), low, high)
        X = np.vstack([X, fresh])
        labels = np.concatenate([labels, oracle(fresh).argmax(axis=1)])
    return X, substitute


def run_jacobian(caller: Caller, victim: Victim, rng: np.random.Generator, rounds: int) -> Outcome:
    per_class = [np.flatnonzero(victim.y_test == c)[0] for c in range(victim.classes)]
    seed = victim.X_test[per_class]
    extra = (
        victim.X_test[rng.choice(len(victim.X_test), 10 - len(seed), replace=False)]
        if len(seed) < 10
        else np.empty((0, seed.shape[1]))
    )
    seed = np.vstack([seed, extra])
    with contextlib.suppress(Budget):
        jacobian_augmentation(caller.predict, seed, victim.low, victim.high, rounds, 0.1, victim.classes)
    caught = caller.flagged_at()
    upto = caught or len(caller.sent)
    return Outcome(
        caught,
        len(caller.sent),
        fidelity_of(caller.sent[:upto], caller.answers[:upto], victim),
        fidelity_of(caller.sent, caller.answers, victim),
    )


def run_membership(kind: str, caller: Caller, victim: Victim, rng: np.random.Generator, size: int) -> Outcome:
    from art.attacks.inference.membership_inference import (
        LabelOnlyDecisionBoundary,
        MembershipInferenceBlackBox,
    )

    members = rng.choice(len(victim.X_train), 2 * size, replace=False)
    outsiders = rng.choice(len(victim.X_test), 2 * size, replace=False)
    xm, ym = victim.X_train[members].astype(np.float32), victim.y_train[members]
    xo, yo = victim.X_test[outsiders].astype(np.float32), victim.y_test[outsiders]
    classifier = caller.classifier()
    truth = np.concatenate([np.ones(size), np.zeros(size)])
    targets_x = np.vstack([xm[size:], xo[size:]])
    targets_y = np.concatenate([ym[size:], yo[size:]])
    accuracy = 0.5
    try:
        if kind == "mi-blackbox":
            attack = MembershipInferenceBlackBox(classifier, attack_model_type="rf")
            attack.fit(xm[:size], ym[:size], xo[:size], yo[:size])
            accuracy = float(np.mean(np.ravel(attack.infer(targets_x, targets_y)) == truth))
        else:
            hsj = {
                "norm": 2,
                "max_iter": 1,
                "max_eval": 20,
                "init_eval": 5,
                "init_size": 10,
                "verbose": False,
            }
            attack = LabelOnlyDecisionBoundary(classifier)
            attack.calibrate_distance_threshold(xm[:size], ym[:size], xo[:size], yo[:size], **hsj)
            accuracy = float(np.mean(np.ravel(attack.infer(targets_x, targets_y, **hsj)) == truth))
    except Budget:
        pass
    caught = caller.flagged_at()
    known = victim.X_train[members].astype(np.float32)  # ART sends float32 values
    probed = sum(1 for row in caller.sent[: caught or len(caller.sent)]
                 if (np.abs(known - row.astype(np.float32)).max(axis=1) == 0).any())
    return Outcome(caught, len(caller.sent), float(probed), accuracy)


# ---- benign traffic ------------------------------------------------------------------------------


def benign_streams(
    victim: Victim, keys: int, rng: np.random.Generator, scale: float
) -> list[tuple[str, list[np.ndarray]]]:
    """(kind, list of requests) per key; each request is an (n, d) batch."""
    X, y = victim.X_test, victim.y_test
    noise = 0.05 * victim.X_train.std(axis=0)  # small measurement noise, per feature
    lows, highs = victim.X_train.min(axis=0), victim.X_train.max(axis=0)
    streams = []
    kinds = ("natural", "noisy", "one-class", "batch")
    for i in range(keys):
        kind = kinds[i % len(kinds)]
        length = int(rng.integers(40, 121) * scale)
        pool = np.flatnonzero(y == y[rng.integers(len(y))]) if kind == "one-class" else np.arange(len(X))
        picks = rng.choice(pool, size=min(length, pool.size), replace=False)
        rows = X[picks].astype(float)
        if kind == "noisy":
            rows = np.clip(rows + rng.normal(0, 1, rows.shape) * noise, lows, highs)
        requests: list[np.ndarray] = []
        if kind == "batch":
            for start in range(0, len(rows), 20):
                requests.append(rows[start : start + int(rng.integers(10, 30))])
        else:
            for row in rows:
                requests.append(row[None, :])
                if rng.random() < 0.05:
                    requests.append(row[None, :])  # an exact repeat (an honest retry)
        streams.append((kind, requests))
    return streams


# ---- latency and memory ------------------------------------------------------------------------


def measure_monitor(victim: Victim, registry: Path, samples: int) -> dict[str, float]:
    from atlasgate.config.load import ConfigOrigin, build_config
    from atlasgate.event import Event
    from atlasgate.features.model_access.monitor import ModelAccessMonitor
    from atlasgate.features.store import MemoryStateStore

    config = build_config(
        {"detectors": {"model_access": {"registry": str(registry)}}}, ConfigOrigin(None, Path.cwd(), None)
    )
    monitor = ModelAccessMonitor(config, MemoryStateStore())
    rng = np.random.default_rng(0)
    rows = victim.X_test[rng.integers(0, len(victim.X_test), samples)].astype(float)
    reply = {"predictions": victim.proba(rows[:1]).tolist()}
    timings = []

    async def loop() -> None:
        for i, row in enumerate(rows):
            event = Event(
                {
                    "event.id": str(i),
                    "client.tenant": "t",
                    "client.key_id": f"k{i % 50}",
                    "api.model": victim.name,
                    "ml.instance_count": 1,
                }
            )
            body = {"instances": [row.tolist()]}
            start = time.perf_counter()
            await monitor.observe(event, body, "v1")
            await monitor.observe_response(event, reply, "v1")
            timings.append(time.perf_counter() - start)

    asyncio.run(loop())
    timings.sort()
    fresh = ModelAccessMonitor(config, MemoryStateStore())
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]

    async def fill() -> None:
        for key in range(50):
            for i in range(100):
                event = Event(
                    {
                        "event.id": f"{key}-{i}",
                        "client.tenant": "t",
                        "client.key_id": f"m{key}",
                        "api.model": victim.name,
                    }
                )
                await fresh.observe(event, {"instances": [rows[(key * 7 + i) % len(rows)].tolist()]}, "v1")
                await fresh.observe_response(event, reply, "v1")

    asyncio.run(fill())
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {
        "p50_ms": 1000 * timings[len(timings) // 2],
        "p99_ms": 1000 * timings[int(len(timings) * 0.99)],
        "bytes_per_key": (after - before) / 50,
    }


def measure_gateway(thread: LoopThread, configs: tuple[dict[str, Any], dict[str, Any]], base: Path,
                    victim: Victim, keys: tuple[tuple[str, str], tuple[str, str]], samples: int
                    ) -> tuple[float, float]:
    """Serial p50 through two gateways (monitor on, monitor off), requests interleaved so
    that the load of a shared machine falls on both alike."""
    gates = [start_gateway(thread, config, base) for config in configs]
    callers = [Caller(gate, key, key_id, victim) for gate, (key, key_id) in zip(gates, keys, strict=True)]
    rows = victim.X_test.astype(float)
    timings: tuple[list[float], list[float]] = ([], [])
    for i in range(samples):
        for side in (0, 1):
            start = time.perf_counter()
            callers[side].request(rows[i % len(rows)][None, :])
            timings[side].append(time.perf_counter() - start)
    for caller, gate in zip(callers, gates, strict=True):
        caller.close()
        stop_gateway(thread, gate)
    return tuple(1000 * float(np.median(t)) for t in timings)  # type: ignore[return-value]


# ---- the run ---------------------------------------------------------------------------------


@dataclass
class Row:
    attack: str
    victim: str
    runs: int = 0
    caught: list[int | None] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    achieved: list[float] = field(default_factory=list)
    success_open: list[float] = field(default_factory=list)
    success_defended: list[float] = field(default_factory=list)


def percentile(values: list[int], q: float) -> str:
    if not values:
        return "-"
    return f"{np.percentile(values, q):.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (about 3 minutes)")
    args = parser.parse_args(argv)
    logging.getLogger("atlasgate").setLevel(logging.CRITICAL)
    warnings.filterwarnings("ignore")
    try:
        import art  # noqa: F401
    except ImportError:
        print("this benchmark needs the bench extra: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    from atlasgate.auth import hash_key
    from atlasgate.features.model_access.registry import register

    started = time.perf_counter()
    quick = args.quick
    runs = (
        {
            "hsj": 3,
            "boundary": 2,
            "copycat-uniform": 2,
            "copycat-natural": 2,
            "knockoff-natural": 1,
            "jacobian": 2,
            "mi-blackbox": 2,
            "label-only": 1,
        }
        if quick
        else {
            "hsj": 10,
            "boundary": 5,
            "copycat-uniform": 5,
            "copycat-natural": 4,
            "knockoff-natural": 3,
            "jacobian": 5,
            "mi-blackbox": 4,
            "label-only": 3,
        }
    )
    benign_keys = 52 if quick else 80
    with threadpool_limits(limits=1):
        victims = make_victims(full=not quick)
        base = Path(tempfile.mkdtemp(prefix="atlasgate-bench-"))
        registry = base / "models"
        for victim in victims:
            frame = pd.DataFrame(victim.X_train, columns=[f"x{i}" for i in range(victim.X_train.shape[1])])
            frame["label"] = victim.y_train
            register(victim.name, frame, "label", registry, source=f"{victim.name}-train")
        print(
            f"registered {', '.join(v.name for v in victims)} in {time.perf_counter() - started:.0f}s",
            flush=True,
        )
        thread = LoopThread()
        runner, port = thread.run(serve_victims(victims))
        keys = [(f"bench-key-{i:04d}-abcdefghijklmnop", f"k{i:04d}") for i in range(2000)]
        common = {
            "keys": [{"id": kid, "hash": hash_key(k), "tenant": "bench"} for k, kid in keys],
            "upstreams": {
                "predict": [{"name": v.name, "base_url": f"http://127.0.0.1:{port}"} for v in victims]
            },
            "review": {"timeout": "50ms", "default": "BLOCK"},
        }

        def config(mode: str, subdir: str, monitor: bool = True) -> dict[str, Any]:
            path = base / subdir
            path.mkdir(exist_ok=True)
            out = dict(common)
            out["audit"] = {"path": str(path / "decisions.db"), "signing_key": str(path / "key.pem")}
            out["detectors"] = {"model_access": {"registry": str(registry), "enabled": monitor}}
            if mode == "observe":
                out["policy"] = {"include_defaults": False, "rules": observe_only_rules()}
            elif mode == "bare":
                out["policy"] = {"include_defaults": False, "rules": []}
            return out

        observe = start_gateway(thread, config("observe", "observe"), base)
        defended = start_gateway(thread, config("defended", "defended"), base)
        next_key = iter(keys)
        rows: list[Row] = []
        rng = np.random.default_rng(2024)
        for victim in victims:
            attacks = (
                list(runs)
                if victim.name == "digits"
                else ["hsj", "copycat-uniform", "copycat-natural", "mi-blackbox", "label-only"]
            )
            for attack in attacks:
                row = Row(attack, victim.name)
                for run in range(runs[attack]):
                    for mode, gate in (("observe", observe), ("defended", defended)):
                        seed = np.random.default_rng(1000 * run + len(rows))
                        key, key_id = next(next_key)
                        budget = 300 if quick else 500
                        caller = Caller(gate, key, key_id, victim, budget=budget)
                        if attack in ("hsj", "boundary"):
                            outcome = run_evasion(attack, caller, victim, seed)
                        elif attack == "jacobian":
                            outcome = run_jacobian(caller, victim, seed, 3 if quick else 4)
                        elif attack.startswith(("copycat", "knockoff")):
                            outcome = run_extraction(attack, caller, victim, seed, 150 if quick else 300)
                        else:
                            outcome = run_membership(
                                attack, caller, victim, seed, 5 if attack == "label-only" else 25
                            )
                        caller.close()
                        if mode == "observe":
                            row.runs += 1
                            row.caught.append(outcome.caught_at)
                            row.queries.append(outcome.queries)
                            row.achieved.append(outcome.achieved_at_detection)
                            row.success_open.append(outcome.success)
                        else:
                            row.success_defended.append(outcome.success)
                rows.append(row)
                print(
                    f"  {victim.name:>13} {attack:<17} done ({time.perf_counter() - started:.0f}s)",
                    flush=True,
                )

        natural_curve = natural_warning(observe, victims[0], next_key, rng)
        false_positives: dict[str, dict[str, int]] = {}
        benign_total = 0
        for victim in victims:
            for kind, requests in benign_streams(victim, benign_keys, rng, 0.6 if quick else 1.0):
                key, key_id = next(next_key)
                caller = Caller(observe, key, key_id, victim)
                for batch in requests:
                    caller.request(batch)
                caller.close()
                benign_total += 1
                entries = observe.entries.get(key_id, [])
                matched = {r for e in entries for r in e["decision"].get("matched", [])}
                tally = false_positives.setdefault(
                    kind, {"keys": 0, "alarm": 0, "synthetic": 0, "progress": 0}
                )
                tally["keys"] += 1
                tally["alarm"] += any(r.startswith(CLASS_ALARMS) for r in matched)
                tally["synthetic"] += any(r.startswith(SYNTHETIC) for r in matched)
                tally["progress"] += any(r.startswith(PROGRESS) for r in matched)
        print(f"  benign streams done ({time.perf_counter() - started:.0f}s)", flush=True)
        stop_gateway(thread, observe)
        stop_gateway(thread, defended)

        monitor = measure_monitor(victims[0], registry, 600 if quick else 2000)
        samples = 300 if quick else 800
        with_monitor, without = measure_gateway(
            thread, (config("bare", "lat-on"), config("bare", "lat-off", monitor=False)), base,
            victims[0], (next(next_key), next(next_key)), samples)
        thread.run(runner.cleanup())

    print_report(
        rows,
        false_positives,
        benign_total,
        natural_curve,
        monitor,
        with_monitor,
        without,
        time.perf_counter() - started,
    )
    return 0


def natural_warning(gate: Gate, victim: Victim, keys: Any, rng: np.random.Generator) -> dict[str, Any]:
    """Natural-data extraction: when the warning fired, and what fidelity the copy had then."""
    key, key_id = next(keys)
    caller = Caller(gate, key, key_id, victim)
    order = rng.permutation(len(victim.X_test))
    for index in order[:300]:
        caller.predict(victim.X_test[index][None, :].astype(float))
    warned = caller.flagged_at(PROGRESS)
    fidelity_at_warning = (
        fidelity_of(caller.sent[:warned], caller.answers[:warned], victim) if warned else None
    )
    reached = None
    for n in range(10, len(caller.sent) + 1, 10):
        if fidelity_of(caller.sent[:n], caller.answers[:n], victim) >= 0.9:
            reached = n
            break
    caller.close()
    return {"warned_at": warned, "fidelity_at_warning": fidelity_at_warning, "fidelity_0.9_at": reached}


def _evasion(distortions: list[float]) -> str:
    """Share of runs evading within EPSILON, and the median distortion of those that evaded."""
    if not distortions:
        return "-"
    within = [d for d in distortions if d <= EPSILON]
    finite = [d for d in distortions if np.isfinite(d)]
    median = f"{np.median(finite):.2f}" if finite else "-"
    return f"{len(within) / len(distortions):.2f} (d {median})"


def _rounded(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def print_report(
    rows: list[Row],
    false_positives: dict[str, dict[str, int]],
    benign_total: int,
    natural: dict[str, Any],
    monitor: dict[str, float],
    with_monitor: float,
    without: float,
    elapsed: float,
) -> None:
    measure = {
        "hsj": f"evasion rate within L2 {EPSILON:g}x|x| (median distortion)",
        "boundary": f"evasion rate within L2 {EPSILON:g}x|x| (median distortion)",
        "copycat-uniform": "copy fidelity",
        "copycat-natural": "copy fidelity",
        "knockoff-natural": "copy fidelity",
        "jacobian": "copy fidelity",
        "mi-blackbox": "MI accuracy",
        "label-only": "MI accuracy",
    }
    at_detection = {"mi-blackbox": "members probed", "label-only": "members probed"}
    print()
    print(
        f"{'attack':<17} {'victim':<13} {'runs':>4} {'detected':>8} {'q50':>5} {'q90':>5} "
        f"{'achieved when caught':>26} {'success open':>15} {'defended':>15}  measure"
    )
    for row in rows:
        caught = [c for c in row.caught if c is not None]
        rate = len(caught) / row.runs if row.runs else 0.0
        if row.attack in ("hsj", "boundary"):
            achieved = _evasion(row.achieved)
            opened, defended = _evasion(row.success_open), _evasion(row.success_defended)
        else:
            label = at_detection.get(row.attack, measure[row.attack])
            achieved = f"{statistics.mean(row.achieved):.2f} {label}" if row.achieved else "-"
            opened = f"{statistics.mean(row.success_open):.2f}"
            defended = f"{statistics.mean(row.success_defended):.2f}"
        print(f"{row.attack:<17} {row.victim:<13} {row.runs:>4} {rate:>8.0%} "
              f"{percentile(caught, 50):>5} {percentile(caught, 90):>5} {achieved:>26} "
              f"{opened:>15} {defended:>15}  {measure[row.attack]}")
    print()
    print(
        "benign keys (false positives per key: class alarms = probing/membership rules, "
        "synthetic = OOD/PRADA rules, progress = natural-extraction warning)"
    )
    total = {"keys": 0, "alarm": 0, "synthetic": 0, "progress": 0}
    for kind, tally in sorted(false_positives.items()):
        for k in total:
            total[k] += tally[k]
        print(
            f"  {kind:<10} keys {tally['keys']:>4}  alarms {tally['alarm']:>3}  "
            f"synthetic {tally['synthetic']:>3}  progress warnings {tally['progress']:>3}"
        )
    n = max(total["keys"], 1)
    print(
        f"  {'all':<10} keys {total['keys']:>4}  alarm FPR {total['alarm'] / n:.2%}  "
        f"synthetic FPR {total['synthetic'] / n:.2%}  progress-warning rate {total['progress'] / n:.2%}"
    )
    print()
    print(
        f"natural-data extraction (one key, digits, natural rows): warning at query "
        f"{natural['warned_at']}, copy fidelity then "
        f"{_rounded(natural['fidelity_at_warning'])}; "
        f"fidelity first >= 0.9 at query {natural['fidelity_0.9_at']}"
    )
    print(
        f"monitor cost per request (observe + observe_response, in process): p50 "
        f"{monitor['p50_ms']:.3f} ms, p99 {monitor['p99_ms']:.3f} ms; memory per key "
        f"{monitor['bytes_per_key'] / 1024:.1f} KiB"
    )
    print(
        f"gateway p50 per request, serial: {with_monitor:.3f} ms with the monitor, {without:.3f} ms "
        f"without (ratio {with_monitor / without:.2f}, +{with_monitor - without:.3f} ms)"
    )
    print(f"total {elapsed:.0f}s (2 shared cores: numbers are noisy)")


if __name__ == "__main__":
    sys.exit(main())
