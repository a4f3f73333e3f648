"""Gateway speed: what AtlasGate adds over calling the model directly and over a bare proxy.

One run starts a fast local upstream (a fixed chat completion and a fixed KServe v1
prediction), a bare passthrough proxy on the same server stack (bench/passthrough.py)
and AtlasGate with its default policy and the decision log on, each in its own
process, and drives them from ``wrk`` (another process):

- serial (1 connection): latency per request, so "added" = gateway − direct;
- 32 connections: throughput, reported as a ratio of the bare passthrough;
- a fixed moderate rate (open loop, aiohttp client): p50/p99 under load that does
  not saturate the machine.

It also measures the decision log with ``sync: full``, the gateway on uvloop versus the
default asyncio loop, the stack choices (parser, loop, client, JSON library) on the
passthrough, and the policy's CEL cost per request in-process (and with cel-python when
it is installed). Requests rotate over many API keys so that the default flood rule
(per key) does not turn the load into 403s; every run reports its non-2xx count.

    python bench/bench_gateway.py            # about 3 minutes
    python bench/bench_gateway.py --quick    # about 30 seconds

Numbers on a shared 2-core machine are noisy: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import passthrough  # noqa: E402

CHAT_PATH = "/v1/chat/completions"
PREDICT_MODEL = "sample-digits"
PREDICT_PATH = f"/v1/models/{PREDICT_MODEL}:predict"
CHAT_BODY = orjson.dumps({"model": "sample-chat", "messages": [{"role": "user", "content": "hello"}]})
DIGIT_ROW = [
    0,
    0,
    5,
    13,
    9,
    1,
    0,
    0,
    0,
    0,
    13,
    15,
    10,
    15,
    5,
    0,
    0,
    3,
    15,
    2,
    0,
    11,
    8,
    0,
    0,
    4,
    12,
    0,
    0,
    8,
    8,
    0,
    0,
    5,
    8,
    0,
    0,
    9,
    8,
    0,
    0,
    4,
    11,
    0,
    1,
    12,
    7,
    0,
    0,
    2,
    14,
    5,
    10,
    12,
    0,
    0,
    0,
    0,
    6,
    13,
    10,
    0,
    0,
    0,
]
PREDICT_BODY = orjson.dumps({"instances": [[float(v) for v in DIGIT_ROW]]})
# The sample upstreams' answers to those two requests, byte for byte in shape and size.
CHAT_REPLY = orjson.dumps(
    {
        "id": "chatcmpl-6d632df7ae98ea624df63e65",
        "created": 1795630036,
        "model": "sample-chat",
        "system_fingerprint": "fp_atlasgate_sample",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Sample reply to: hello", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 4, "total_tokens": 5},
    }
)
PREDICT_REPLY = orjson.dumps(
    {"predictions": [[0.0007, 0.0011, 0.0009, 0.0013, 0.0021, 0.0042, 0.0018, 0.0006, 0.0031, 0.9842]]}
)

WORKLOADS = {"chat": (CHAT_PATH, CHAT_BODY), "predict": (PREDICT_PATH, PREDICT_BODY)}
KEY_COUNT = 1024
CONNECTIONS = 32


def bench_keys() -> list[str]:
    """Many callers, so per-key rules (flood, bulk querying) see ordinary traffic."""
    return [f"ag-bench-{i:05d}-0123456789abcdefghij" for i in range(KEY_COUNT)]


# --- the fast upstream ----------------------------------------------------------------------


def _http_response(status: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


class _UpstreamProtocol(asyncio.Protocol):
    """A keep-alive HTTP/1.1 responder with fixed answers: as cheap as Python can serve."""

    routes: ClassVar[dict[bytes, bytes]] = {
        CHAT_PATH.encode(): _http_response("200 OK", CHAT_REPLY),
        PREDICT_PATH.encode(): _http_response("200 OK", PREDICT_REPLY),
    }
    missing = _http_response("404 Not Found", b'{"error":"not found"}')

    def __init__(self) -> None:
        import httptools

        self.parser = httptools.HttpRequestParser(self)
        self.error = httptools.HttpParserError
        self.url = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except self.error:
            assert self.transport is not None
            self.transport.close()

    def on_message_begin(self) -> None:
        self.url = b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_message_complete(self) -> None:
        assert self.transport is not None
        self.transport.write(self.routes.get(self.url, self.missing))
        if not self.parser.should_keep_alive():
            self.transport.close()


def _serve_upstream(conn: Any) -> None:
    import uvloop

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        server = await loop.create_server(_UpstreamProtocol, "127.0.0.1", 0, backlog=1024)
        conn.send(server.sockets[0].getsockname()[1])
        await stop.wait()
        server.close()

    uvloop.run(main())


# --- the proxies ----------------------------------------------------------------------------


def _serve_passthrough(conn: Any, upstream: str, options: passthrough.Options) -> None:
    import gc

    from atlasgate.gateway.runtime import GC_THRESHOLDS

    # The collector schedule the gateway runs with (it saves the bare proxy about 8% of
    # its CPU too): the ratio compares the work each does, not a process setting.
    gc.set_threshold(*GC_THRESHOLDS)
    sock = passthrough.bind()
    conn.send(sock.getsockname()[1])
    passthrough.run(sock, upstream, options)


CONTENT_DETECTORS = ("injection", "jailbreak", "extraction", "obfuscation", "secrets", "pii", "leakage")


def gateway_config(upstream: str, data_dir: Path, sync: str, content: bool = True) -> dict[str, Any]:
    from atlasgate.auth import hash_key

    return {
        "detectors": {} if content else {name: {"enabled": False} for name in CONTENT_DETECTORS},
        "keys": [
            {"id": f"bench-{i}", "hash": hash_key(key), "tenant": "bench"}
            for i, key in enumerate(bench_keys())
        ],
        "upstreams": {
            "openai": [{"name": "sample", "base_url": f"{upstream}/v1", "models": ["sample-chat"]}],
            "predict": [{"name": PREDICT_MODEL, "base_url": upstream}],
        },
        "audit": {
            "path": str(data_dir / "decisions.db"),
            "signing_key": str(data_dir / "signing-key.pem"),
            "sync": sync,
        },
    }


def _serve_gateway(conn: Any, upstream: str, data_dir: str, sync: str, loop: str,
                   content: bool = True) -> None:
    """The gateway as ``atlasgate serve`` runs it (uvloop), or on the asyncio loop to compare."""
    from atlasgate.config.load import ConfigOrigin, build_config
    from atlasgate.gateway.runtime import Gateway
    from atlasgate.gateway.server import GatewayServer, configure_logging

    configure_logging()
    folder = Path(data_dir)
    config = build_config(gateway_config(upstream, folder, sync, content),
                          ConfigOrigin(None, folder, None))
    server = GatewayServer(Gateway(config), "127.0.0.1", 0)

    async def main() -> None:
        task = asyncio.get_running_loop().create_task(server.serve())
        await server.wait_started(task)
        conn.send(server.port)
        await task

    if loop == "uvloop":
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


@dataclass
class Service:
    """A server in a child process; ``stop()`` sends SIGTERM and waits for a clean exit."""

    name: str
    process: multiprocessing.process.BaseProcess
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.is_alive():
            os.kill(self.process.pid, signal.SIGTERM)  # type: ignore[arg-type]
            self.process.join(30)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


def start_service(name: str, target: Callable[..., None], *args: Any, timeout: float = 60) -> Service:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=target, args=(child, *args), name=name, daemon=True)
    process.start()
    if not parent.poll(timeout):
        process.kill()
        raise RuntimeError(f"{name} did not start within {timeout:g}s (exit code {process.exitcode})")
    service = Service(name, process, int(parent.recv()))
    try:
        wait_ready(service, timeout)
    except BaseException:
        service.stop()
        raise
    return service


def wait_ready(service: Service, timeout: float) -> None:
    """Until a chat request gets a 200: the server is up and the whole path works."""
    import http.client

    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not service.process.is_alive():
            raise RuntimeError(f"{service.name} exited with code {service.process.exitcode}")
        conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=5)
        try:
            conn.request(
                "POST",
                CHAT_PATH,
                CHAT_BODY,
                {"content-type": "application/json", "authorization": f"Bearer {bench_keys()[0]}"},
            )
            response = conn.getresponse()
            body = response.read()
            if response.status == 200:
                return
            last = f"HTTP {response.status}: {body[:200]!r}"
        except OSError as exc:
            last = str(exc)
        finally:
            conn.close()
        time.sleep(0.1)
    raise RuntimeError(f"{service.name} is not ready after {timeout:g}s ({last})")


# --- load generators ------------------------------------------------------------------------

_WRK_SCRIPT = """
local path, body = %s, %s
local keys = {%s}
local requests, i = {}, 0
init = function(args)
  -- Every chat prompt differs (more of them than the scan cache holds), as real
  -- prompts do: the bench measures scanning, not the cache.
  for k = 1, 8192 do
    local text = string.gsub(body, "hello", "hello " .. k)
    requests[k] = wrk.format("POST", path, {["Content-Type"] = "application/json",
                                           ["Authorization"] = "Bearer " .. keys[(k - 1) %% #keys + 1]},
                             text)
  end
end
request = function()
  i = i %% #requests + 1
  return requests[i]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\\"requests\\":%%d,\\"duration_us\\":%%d,\\"connect\\":%%d,\\"read\\":%%d," ..
    "\\"write\\":%%d,\\"status\\":%%d,\\"timeout\\":%%d,\\"p50\\":%%d,\\"p90\\":%%d," ..
    "\\"p99\\":%%d,\\"p999\\":%%d,\\"mean\\":%%f,\\"max\\":%%d}\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.mean, latency.max))
end
"""


def _lua_string(text: str | bytes) -> str:
    value = text.decode() if isinstance(text, bytes) else text
    return json.dumps(value)  # a JSON string of ASCII text is a valid Lua string literal


def write_wrk_scripts(folder: Path) -> dict[str, Path]:
    keys = ", ".join(_lua_string(k) for k in bench_keys())
    scripts = {}
    for name, (path, body) in WORKLOADS.items():
        script = folder / f"{name}.lua"
        script.write_text(_WRK_SCRIPT % (_lua_string(path), _lua_string(body), keys))
        scripts[name] = script
    return scripts


@dataclass
class Run:
    """One load run: requests per second and latency percentiles in milliseconds."""

    requests: int
    seconds: float
    p50: float
    p90: float
    p99: float
    p999: float
    mean: float
    max: float
    errors: int
    non_2xx: int
    cpu_us: float | None = None  # the server process's CPU time per request (all its threads)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk(url: str, script: Path, connections: int, seconds: int) -> Run:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", str(script), url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=False)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout}")
    data = json.loads(line[len("WRKJSON ") :])
    return Run(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50=data["p50"] / 1000,
        p90=data["p90"] / 1000,
        p99=data["p99"] / 1000,
        p999=data["p999"] / 1000,
        mean=data["mean"] / 1000,
        max=data["max"] / 1000,
        errors=data["connect"] + data["read"] + data["write"] + data["timeout"],
        non_2xx=data["status"],
    )


def _open_loop(conn: Any, url: str, body: bytes, rate: float, seconds: float) -> None:
    """Send at a fixed rate whatever the answers do (open loop); latency per request."""
    import aiohttp
    import uvloop

    keys = bench_keys()

    async def main() -> dict[str, Any]:
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        errors = 0
        lag = 0.0
        connector = aiohttp.TCPConnector(limit=256, keepalive_timeout=30)
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def one(key: str, i: int) -> None:
                nonlocal errors
                headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
                data = body.replace(b"hello", f"hello {i}".encode())  # a new prompt each time
                started = time.perf_counter()
                try:
                    async with session.post(url, data=data, headers=headers) as response:
                        await response.read()
                        statuses[response.status] += 1
                except (aiohttp.ClientError, TimeoutError):
                    errors += 1
                    return
                latencies.append((time.perf_counter() - started) * 1000)

            total = int(rate * seconds)
            tasks = []
            begin = time.perf_counter()
            for i in range(total):
                due = begin + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    lag = max(lag, -delay)
                tasks.append(asyncio.ensure_future(one(keys[i % len(keys)], i)))
            sent_in = time.perf_counter() - begin
            await asyncio.wait(tasks, timeout=10)
        latencies.sort()
        return {
            "latencies": latencies,
            "statuses": dict(statuses),
            "errors": errors,
            "sent": total,
            "send_seconds": sent_in,
            "max_send_lag_ms": lag * 1000,
        }

    conn.send(uvloop.run(main()))


def open_loop(url: str, body: bytes, rate: float, seconds: float) -> Run:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_open_loop, args=(child, url, body, rate, seconds), daemon=True)
    process.start()
    try:
        if not parent.poll(seconds + 60):
            raise RuntimeError("the open-loop client did not finish")
        data = parent.recv()
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()
    lat = data["latencies"]
    non_2xx = sum(n for status, n in data["statuses"].items() if not 200 <= status < 300)

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(q / 100 * len(lat)))] if lat else float("nan")

    return Run(
        requests=len(lat),
        seconds=data["send_seconds"],
        p50=pct(50),
        p90=pct(90),
        p99=pct(99),
        p999=pct(99.9),
        mean=statistics.fmean(lat) if lat else float("nan"),
        max=lat[-1] if lat else float("nan"),
        errors=data["sent"] - len(lat),
        non_2xx=non_2xx,
    )


# --- the policy's CEL cost, in-process -------------------------------------------------------


def _per_call_us(function: Callable[[], Any], iterations: int, budget: float) -> tuple[float, int]:
    """Mean µs per call over ``iterations`` calls, or fewer if ``budget`` seconds run out."""
    function()
    done = 0
    started = time.perf_counter()
    while done < iterations:
        batch = min(100, iterations - done)
        for _ in range(batch):
            function()
        done += batch
        if time.perf_counter() - started > budget:
            break
    return (time.perf_counter() - started) / done * 1e6, done


def typical_chat_event(gateway: Any) -> Any:
    """The Event a chat request carries when the request policy runs (content findings included)."""
    from atlasgate import event as ev
    from atlasgate.gateway.normalize import base_event, chat_fields

    scope = {"path": CHAT_PATH, "headers": [(b"authorization", b"Bearer x")], "client": ("127.0.0.1", 50000)}
    event = base_event(scope, None, "chat", None)
    event.update(
        {
            ev.CLIENT_KEY_ID: "bench-0",
            ev.CLIENT_TENANT: "bench",
            ev.USER_ID: "bench-0",
            ev.API_BODY_BYTES: len(CHAT_BODY),
        }
    )
    body = orjson.loads(CHAT_BODY)
    event.update(chat_fields(body))
    content = gateway.snapshot.content
    if content is not None:
        event.update(content.event_fields(content.inspect_request(body, "chat")))
    event[ev.API_MODEL] = "sample-chat"
    for _ in range(5):
        asyncio.run(gateway.windows.enrich(event, time.time()))
    event[ev.API_UPSTREAM] = "sample"
    return event


def measure_policy(
    data_dir: Path, iterations: int, main_budget: float, budget: float, celpy_budget: float
) -> dict[str, Any]:
    """µs per call of the shipped policy engine on a typical chat Event. ``decide`` runs
    ``iterations`` times or ``main_budget`` seconds, the others stop at ``budget`` seconds.

    Per rule: the direct evaluator on the flat fields (what the engine runs for rules in
    CEL's comparison-and-logic subset) against the CEL library, context conversion of
    the rule's fields included (what it runs for the rest)."""
    from atlasgate.config.load import ConfigOrigin, build_config
    from atlasgate.gateway.openai import response_fields
    from atlasgate.gateway.runtime import Gateway
    from atlasgate.policy.engine import PolicySet, _Plan

    config = build_config(
        gateway_config("http://127.0.0.1:9", data_dir, "normal"), ConfigOrigin(None, data_dir, None)
    )
    gateway = Gateway(config)
    policy = gateway.snapshot.policy
    event = typical_chat_event(gateway)
    request_rules = policy.for_phase("request")
    response_rules = policy.for_phase("response")
    decision = policy.decide(event, "request", "bench")
    result: dict[str, Any] = {
        "iterations": iterations,
        "rules": {"request": len(request_rules), "response": len(response_rules)},
        "decision": decision.action.name,
    }
    result["decide_us"], result["iterations"] = _per_call_us(
        lambda: policy.decide(event, "request", "bench"), iterations, main_budget
    )
    # The same rules without the index: every rule of the phase evaluated.
    every_rule = PolicySet(policy.rules, policy.revision, indexed=False)
    result["decide_unindexed_us"], _ = _per_call_us(
        lambda: every_rule.decide(event, "request", "bench"), iterations, budget
    )
    flat = event.flat()
    nested = event.nested()
    result["per_rule_us"] = {}
    share = budget / len(request_rules)
    for rule in request_rules:
        plan = _Plan.of((rule,))

        def on_cel(rule: Any = rule, plan: Any = plan) -> Any:
            return rule.matches(plan.context(nested)[0])

        result["per_rule_us"][rule.id] = {
            "direct": None if rule.direct is None else _per_call_us(
                lambda rule=rule: rule.direct(flat), iterations, share)[0],
            "cel": _per_call_us(on_cel, iterations, share)[0],
        }
    event.update(response_fields(orjson.loads(CHAT_REPLY)))
    result["decide_response_phase_us"], _ = _per_call_us(
        lambda: policy.decide(event, "response", "bench"), iterations, budget
    )
    result["decide_response_unindexed_us"], _ = _per_call_us(
        lambda: every_rule.decide(event, "response", "bench"), iterations, budget
    )
    result["celpy"] = measure_celpy(request_rules, nested, iterations, celpy_budget)
    return result


def measure_celpy(
    rules: tuple[Any, ...], nested: dict[str, Any], iterations: int, budget: float
) -> dict[str, Any]:
    """The same conditions with cel-python, for the record of why the Rust binding is used."""
    try:
        import celpy
    except ImportError:
        return {"available": False, "note": "pip install cel-python to compare"}
    env = celpy.Environment()
    out: dict[str, Any] = {"available": True, "version": _version("cel-python"), "per_rule_us": {}}
    total = 0.0
    for rule in rules:
        try:
            program = env.program(env.compile(rule.condition))

            def evaluate(rule: Any = rule, program: Any = program) -> Any:
                context = {root: nested[root] for root in rule.roots if root in nested}
                try:
                    return program.evaluate(celpy.json_to_cel(context))
                except celpy.CELEvalError:
                    return False

            us, _ = _per_call_us(evaluate, iterations, budget / max(1, len(rules)))
            out["per_rule_us"][rule.id] = us
            total += us
        except Exception as exc:  # cel-python's dialect differs; report instead of failing
            out["per_rule_us"][rule.id] = f"unsupported: {type(exc).__name__}: {exc}"[:160]
    out["sum_request_rules_us"] = total
    return out


# --- orchestration -------------------------------------------------------------------------


@dataclass
class Plan:
    rounds: int  # the paths take turns this many times
    serial: int  # seconds per serial run (wrk takes whole seconds)
    load: int  # seconds per 32-connection run
    warmup: int
    moderate: float  # seconds of open-loop load per path
    variants: bool
    variant_serial: int
    variant_load: int
    cel_iterations: int
    cel_main_budget: float  # seconds at most for the per-request decide() figure
    cel_budget: float  # seconds at most for each other in-process figure
    celpy_budget: float


PLANS = {
    "full": Plan(
        rounds=3,
        serial=1,
        load=2,
        warmup=1,
        moderate=3,
        variants=True,
        variant_serial=1,
        variant_load=2,
        cel_iterations=10_000,
        cel_main_budget=10,
        cel_budget=1,
        celpy_budget=2,
    ),
    "quick": Plan(
        rounds=1,
        serial=1,
        load=2,
        warmup=1,
        moderate=2,
        variants=False,
        variant_serial=0,
        variant_load=0,
        cel_iterations=10_000,
        cel_main_budget=1,
        cel_budget=0.5,
        celpy_budget=1,
    ),
}


@dataclass
class Results:
    rows: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def put(self, workload: str, path: str, kind: str, run: Run) -> None:
        entry = self.rows.setdefault(workload, {}).setdefault(path, {})
        entry[kind] = {**run.__dict__, "rps": run.rps}

    def get(self, workload: str, path: str, kind: str) -> dict[str, Any] | None:
        return self.rows.get(workload, {}).get(path, {}).get(kind)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far: a cost that other load on the machine
    does not inflate the way it inflates wall-clock latency."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def combine(runs: list[Run]) -> Run:
    """Rounds of one path: latency percentiles as the median over rounds, throughput over all."""
    if len(runs) == 1:
        return runs[0]
    requests = sum(r.requests for r in runs)

    def median(attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in runs)

    cpu = None
    if requests and all(r.cpu_us is not None for r in runs):
        cpu = sum(r.cpu_us * r.requests for r in runs) / requests  # type: ignore[operator]
    return Run(
        requests=requests,
        seconds=sum(r.seconds for r in runs),
        p50=median("p50"),
        p90=median("p90"),
        p99=median("p99"),
        p999=median("p999"),
        mean=median("mean"),
        max=max(r.max for r in runs),
        errors=sum(r.errors for r in runs),
        non_2xx=sum(r.non_2xx for r in runs),
        cpu_us=cpu,
    )


def load_run(service: Service, script: Path, seconds: int) -> Run:
    """A run at 32 connections, with the server's CPU time per request."""
    pid = service.process.pid
    assert pid is not None
    before = cpu_seconds(pid)
    run = wrk(service.url, script, CONNECTIONS, seconds)
    if run.requests:
        run.cpu_us = (cpu_seconds(pid) - before) / run.requests * 1e6
    return run


def closed_runs(
    services: dict[str, Service], script: Path, rounds: int, serial_seconds: int, load_seconds: int
) -> dict[str, tuple[Run, Run]]:
    """Serial and 32-connection runs, the paths taking turns so that they share the machine's
    noisy moments alike; returns (serial, load) per path."""
    serial: dict[str, list[Run]] = {name: [] for name in services}
    load: dict[str, list[Run]] = {name: [] for name in services}
    for _ in range(rounds):
        for name, service in services.items():
            serial[name].append(wrk(service.url, script, 1, serial_seconds))
    for _ in range(rounds):
        for name, service in services.items():
            load[name].append(load_run(service, script, load_seconds))
    return {name: (combine(serial[name]), combine(load[name])) for name in services}


def show(workload: str, name: str, serial: Run, load: Run) -> None:
    bad = serial.non_2xx + load.non_2xx + serial.errors + load.errors
    print(
        f"  {workload:8s} {name:32s} serial p50 {serial.p50:6.3f} ms p99 {serial.p99:7.3f} ms"
        f" | {CONNECTIONS} conns {load.rps:7.0f} req/s, {load.cpu_us or 0:6.0f} CPU µs/req"
        + (f"  [{bad} non-2xx/errors]" if bad else ""),
        flush=True,
    )


def measure_open(results: Results, plan: Plan, rate: float, workload: str, name: str, url: str) -> None:
    path, body = WORKLOADS[workload]
    steady = open_loop(url + path, body, rate, plan.moderate)
    results.put(workload, name, "moderate", steady)
    bad = steady.non_2xx + steady.errors
    print(
        f"  {workload:8s} {name:32s} at {rate:g} req/s: p50 {steady.p50:6.3f} ms "
        f"p99 {steady.p99:7.3f} ms" + (f"  [{bad} non-2xx/errors]" if bad else ""),
        flush=True,
    )


def decision_log_tally(db: Path) -> dict[str, Any]:
    """What the gateway logged: entries, actions and statuses (after a clean shutdown)."""
    if not db.exists():
        return {"entries": 0}
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        actions: Counter[str] = Counter()
        statuses: Counter[int] = Counter()
        count = 0
        for (blob,) in conn.execute("SELECT entry FROM entries"):
            record = orjson.loads(blob)["record"]
            count += 1
            if "decision" in record:
                actions[record["decision"]["action"]] += 1
                statuses[record["outcome"]["status"]] += 1
        checkpoints = conn.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0]
    return {
        "entries": count,
        "actions": dict(actions),
        "statuses": dict(statuses),
        "checkpoints": checkpoints,
    }


@contextlib.contextmanager
def running(service: Service) -> Iterator[Service]:
    try:
        yield service
    finally:
        service.stop()


def moderate_rate(requested: float | None, capacity: float) -> float:
    """A rate that loads the gateway without saturating it: a third of its measured capacity
    (the machine is shared, so capacity moves), at most 400/s."""
    if requested:
        return requested
    return max(10.0, min(400.0, capacity / 3 // 10 * 10))


def gateway_folder(work: Path, name: str) -> Path:
    folder = work / name.replace(" ", "_").replace("=", "-")
    folder.mkdir()
    return folder


def run_benchmark(plan: Plan, work: Path, rate: float | None) -> dict[str, Any]:
    scripts = write_wrk_scripts(work)
    results = Results()
    extra: dict[str, Any] = {"gateway_logs": {}, "choices": []}
    base = passthrough.Options()
    with contextlib.ExitStack() as stack:
        upstream = stack.enter_context(running(start_service("upstream", _serve_upstream)))
        proxy = stack.enter_context(
            running(start_service("passthrough", _serve_passthrough, upstream.url, base))
        )
        main_log = gateway_folder(work, "gateway")
        gateway = start_service("gateway", _serve_gateway, upstream.url, str(main_log), "normal", "uvloop")
        paths = {"direct": upstream, "passthrough": proxy, "gateway": gateway}
        with running(gateway):
            print(
                f"{CONNECTIONS} connections; {plan.rounds} round(s) of serial {plan.serial}s and "
                f"load {plan.load}s per path (passthrough: {base.label()})",
                flush=True,
            )
            for service in paths.values():
                wrk(service.url, scripts["chat"], CONNECTIONS, plan.warmup)
            for workload in WORKLOADS:
                runs = closed_runs(paths, scripts[workload], plan.rounds, plan.serial, plan.load)
                for name, (serial, load) in runs.items():
                    results.put(workload, name, "serial", serial)
                    results.put(workload, name, "load", load)
                    show(workload, name, serial, load)
            capacity = results.rows["chat"]["gateway"]["load"]["rps"]
            extra["moderate_rate"] = steady_rate = moderate_rate(rate, capacity)
            print(
                f"open loop for {plan.moderate:g}s per path at {steady_rate:g} req/s "
                f"(a third of the gateway's chat capacity, at most 400/s)",
                flush=True,
            )
            for workload in WORKLOADS if plan.variants else ("chat",):
                for name, service in paths.items():
                    measure_open(results, plan, steady_rate, workload, name, service.url)
            if plan.variants:
                print("choices (chat), each measured taking turns with its reference:", flush=True)
                for name, sync, loop, content in (
                    ("gateway sync=full", "full", "uvloop", True),
                    ("gateway on asyncio", "normal", "asyncio", True),
                    ("gateway, content detectors off", "normal", "uvloop", False),
                ):
                    folder = gateway_folder(work, name)
                    service = start_service(name, _serve_gateway, upstream.url, str(folder), sync, loop,
                                            content)
                    with running(service):
                        compare(extra, plan, scripts["chat"], "gateway", gateway, name, service)
                    extra["gateway_logs"][name] = decision_log_tally(folder / "decisions.db")
                for option, value in (
                    ("loop", "asyncio"),
                    ("http", "h11"),
                    ("client", "httpx"),
                    ("json", "orjson"),
                    ("json", "json"),
                ):
                    options = passthrough.Options(**{**base.__dict__, option: value})
                    if option == "client" and not _importable(value):
                        extra.setdefault("skipped", []).append(f"{options.label()}: {value} is not installed")
                        continue
                    name = f"passthrough {option}={value}"
                    service = start_service(name, _serve_passthrough, upstream.url, options)
                    with running(service):
                        compare(extra, plan, scripts["chat"], "passthrough", proxy, name, service)
        extra["gateway_logs"]["gateway"] = decision_log_tally(main_log / "decisions.db")
    print("policy evaluation in-process …", flush=True)
    cel_dir = work / "cel"
    cel_dir.mkdir()
    extra["policy"] = measure_policy(
        cel_dir, plan.cel_iterations, plan.cel_main_budget, plan.cel_budget, plan.celpy_budget
    )
    return {"results": results.rows, **extra}


def compare(
    extra: dict[str, Any], plan: Plan, script: Path, reference: str, ref: Service, name: str, service: Service
) -> None:
    wrk(service.url, script, CONNECTIONS, plan.warmup)
    runs = closed_runs({reference: ref, name: service}, script, 1, plan.variant_serial, plan.variant_load)
    (ref_serial, ref_load), (serial, load) = runs[reference], runs[name]
    show("chat", name, serial, load)
    extra["choices"].append(
        {
            "name": name,
            "reference": reference,
            "serial": serial.__dict__,
            "load": {**load.__dict__, "rps": load.rps},
            "reference_serial": ref_serial.__dict__,
            "reference_load": {**ref_load.__dict__, "rps": ref_load.rps},
        }
    )


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


# --- report -------------------------------------------------------------------------------


def _f(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def report(data: dict[str, Any]) -> list[str]:
    rows = data["results"]
    rate = data.get("moderate_rate", 0)
    lines = []
    header = (
        f"{'workload':8s} {'path':26s} {'req/s':>8s} {'CPU µs':>7s} {'p50 ms':>7s} {'p99 ms':>7s} "
        f"{'+p50 ms':>8s} {'+p99 ms':>8s} {'vs pass':>8s} {'@rate p50':>9s} {'@rate p99':>9s} "
        f"{'+p99@rate':>9s} {'non2xx':>6s}"
    )
    lines += [
        "",
        f"req/s: {CONNECTIONS} connections; p50/p99: serial (1 connection); "
        f"+: added over direct; vs pass: req/s ÷ passthrough req/s; CPU µs: the server "
        f"process's CPU time per request at {CONNECTIONS} connections; "
        f"@rate: open loop at {rate:g} req/s",
        header,
        "-" * len(header),
    ]
    for workload, paths in rows.items():
        direct = paths.get("direct", {})
        bare = paths.get("passthrough", {})
        for path, kinds in paths.items():
            serial, load, steady = kinds.get("serial"), kinds.get("load"), kinds.get("moderate")
            added50 = added99 = ratio = steady_added = None
            if serial and direct.get("serial"):
                added50 = serial["p50"] - direct["serial"]["p50"]
                added99 = serial["p99"] - direct["serial"]["p99"]
            if load and bare.get("load"):
                ratio = load["rps"] / bare["load"]["rps"]
            if steady and direct.get("moderate"):
                steady_added = steady["p99"] - direct["moderate"]["p99"]
            bad = sum(k["non_2xx"] + k["errors"] for k in kinds.values())
            lines.append(
                f"{workload:8s} {path:26s} {_f(load and load['rps'], 0):>8s} "
                f"{_f(load and load.get('cpu_us'), 0):>7s} "
                f"{_f(serial and serial['p50']):>7s} {_f(serial and serial['p99']):>7s} "
                f"{_f(added50):>8s} {_f(added99):>8s} {_f(ratio, 2):>8s} "
                f"{_f(steady and steady['p50']):>9s} {_f(steady and steady['p99']):>9s} "
                f"{_f(steady_added):>9s} {bad:>6d}"
            )
    chat = rows.get("chat", {})
    gw, direct, bare = chat.get("gateway", {}), chat.get("direct", {}), chat.get("passthrough", {})
    if gw.get("moderate") and direct.get("moderate") and bare:
        added50 = gw["serial"]["p50"] - direct["serial"]["p50"]
        added99 = gw["moderate"]["p99"] - direct["moderate"]["p99"]
        ratio = gw["load"]["rps"] / bare["load"]["rps"]
        lines += [
            "",
            "targets (chat):",
            f"  added p50 (serial)            {added50:6.3f} ms  ≤ 1 ms   "
            f"{'met' if added50 <= 1 else 'MISSED'}",
            f"  added p99 at {rate:4g} req/s      {added99:6.3f} ms  ≤ 5 ms   "
            f"{'met' if added99 <= 5 else 'MISSED'}",
            f"  throughput vs passthrough     {ratio:6.2f}     ≥ 0.60   "
            f"{'met' if ratio >= 0.6 else 'MISSED'}",
        ]
        if gw["load"].get("cpu_us") and bare["load"].get("cpu_us"):
            cpu_ratio = bare["load"]["cpu_us"] / gw["load"]["cpu_us"]
            lines.append(
                f"  CPU per request vs passthrough {cpu_ratio:5.2f}"
                "     (the throughput ratio each would reach on a core of its own)"
            )
    choices = data.get("choices") or []
    if choices:
        head = (
            f"{'choice (chat)':28s} {'vs':12s} {'req/s':>7s} {'ref':>7s} {'ratio':>6s} "
            f"{'CPU µs':>7s} {'ref':>7s} {'ratio':>6s} {'p50 ms':>7s} {'ref':>7s}"
        )
        lines += [
            "",
            "choices, each taking turns with its reference: req/s ratio = req/s ÷ reference;"
            " CPU ratio = reference CPU µs ÷ CPU µs (above 1: cheaper; steadier than req/s on a"
            " busy machine)",
            head,
            "-" * len(head),
        ]
        for c in choices:
            load, ref = c["load"], c["reference_load"]
            cpu_ratio = ref["cpu_us"] / load["cpu_us"] if load["cpu_us"] and ref["cpu_us"] else None
            lines.append(
                f"{c['name']:28s} {c['reference']:12s} {load['rps']:7.0f} {ref['rps']:7.0f} "
                f"{load['rps'] / ref['rps'] if ref['rps'] else 0:6.2f} {_f(load['cpu_us'], 0):>7s} "
                f"{_f(ref['cpu_us'], 0):>7s} {_f(cpu_ratio, 2):>6s} "
                f"{c['serial']['p50']:7.3f} {c['reference_serial']['p50']:7.3f}"
            )
    for skipped in data.get("skipped", []):
        lines.append(f"skipped: {skipped}")
    for name, tally in data.get("gateway_logs", {}).items():
        lines.append(f"decision log of '{name}': {tally}")
    policy = data.get("policy")
    if policy:
        lines += [
            "",
            f"policy (default pack, {policy['rules']['request']} request rules, "
            f"{policy['rules']['response']} response rules), typical chat Event, "
            "µs per call:",
            f"  decide(), request phase           {policy['decide_us']:8.1f}"
            f"   ({policy['iterations']} iterations; every rule evaluated: "
            f"{policy['decide_unindexed_us']:.1f})",
            f"  decide(), response phase          {policy['decide_response_phase_us']:8.1f}"
            f"   (every rule evaluated: {policy['decide_response_unindexed_us']:.1f})",
            f"  {'rule':39s} {'direct':>7s} {'CEL':>7s}" + ("  cel-python" if policy["celpy"].get(
                "available") else ""),
        ]
        celpy = policy["celpy"]
        for rule, cost in policy["per_rule_us"].items():
            other = celpy.get("per_rule_us", {}).get(rule) if celpy.get("available") else None
            other_text = (
                ""
                if other is None
                else (f"   {other:9.1f}" if isinstance(other, float) else f"   {other}")
            )
            direct = "-" if cost["direct"] is None else f"{cost['direct']:.2f}"
            lines.append(f"  {rule:39s} {direct:>7s} {cost['cel']:7.1f}{other_text}")
        totals = [sum(c[k] or 0.0 for c in policy["per_rule_us"].values()) for k in ("direct", "cel")]
        lines.append(f"  sum of request rules: direct {totals[0]:.1f} µs, CEL {totals[1]:.1f} µs"
                     + (f", cel-python {celpy['sum_request_rules_us']:.1f} µs"
                        if celpy.get("available") else ""))
    return lines


def environment() -> dict[str, Any]:
    packages = (
        "uvicorn",
        "httptools",
        "uvloop",
        "aiohttp",
        "orjson",
        "httpx",
        "h11",
        "common-expression-language",
        "cel-python",
    )
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "loadavg_before": os.getloadavg(),
        "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.splitlines()[
            0
        ]
        if shutil.which("wrk")
        else None,
        "packages": {name: _version(name) for name in packages},
        "git": _git("rev-parse", "--short", "HEAD"),
        "uncommitted_src_files": len((_git("status", "--porcelain", "--", "src") or "").splitlines()),
    }


def _git(*args: str) -> str | None:
    done = subprocess.run(["git", *args], cwd=HERE, capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="about 30 s: fewer and shorter runs")
    parser.add_argument(
        "--rate",
        type=float,
        help="open-loop rate in requests/s (default: half the gateway's chat capacity, at most 400)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=HERE / "results",
        help="folder for the JSON results (default bench/results)",
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("error: wrk is not installed (Debian/Ubuntu: apt-get install -y wrk)", file=sys.stderr)
        return 2
    plan = PLANS["quick" if args.quick else "full"]
    info = environment()
    busy = info["loadavg_before"][0]
    if busy > (info["cpus"] or 1):
        print(
            f"note: load average {busy:.1f} on {info['cpus']} CPUs: other work is running, so "
            "latencies and req/s will be noisy; CPU µs per request holds up better",
            flush=True,
        )
    started = time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="gateway-", dir=args.out))
    try:
        data = run_benchmark(plan, work, args.rate)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    info["loadavg_after"] = os.getloadavg()
    info["seconds"] = round(time.time() - started, 1)
    lines = report(data)
    print("\n".join(lines))
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started))
    target = args.out / f"gateway-{stamp}.json"
    target.write_bytes(
        orjson.dumps(
            {"plan": plan.__dict__, "environment": info, **data},
            option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS,
        )
    )
    print(
        f"\n{info['seconds']:g} s; load average before {info['loadavg_before'][0]:.2f}, "
        f"after {info['loadavg_after'][0]:.2f} (other work on the machine skews the numbers); "
        f"results in {target}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
