from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from atlasgate.demo.upstream import SampleUpstreams
from gateway_harness import (
    LoopThread,
    RunningGateway,
    base_config,
    start_gateway,
    start_samples,
)


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.stop()


@pytest.fixture(scope="session")
def samples(loop_thread: LoopThread) -> Iterator[SampleUpstreams]:
    upstreams = start_samples(loop_thread)
    yield upstreams
    loop_thread.run(upstreams.close())


@pytest.fixture
def make_gateway(
    loop_thread: LoopThread, samples: SampleUpstreams, tmp_path: Path
) -> Iterator[Callable[..., RunningGateway]]:
    started: list[RunningGateway] = []

    def make(config_path: Path | None = None, **overrides: Any) -> RunningGateway:
        config = base_config(samples, tmp_path, **overrides)
        running = start_gateway(loop_thread, config, tmp_path, config_path)
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway]) -> RunningGateway:
    return make_gateway()
