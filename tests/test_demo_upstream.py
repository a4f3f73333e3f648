"""The sample upstreams behave like the real APIs they stand in for, over real loopback HTTP."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import numpy as np
import openai
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from atlasgate.demo.sample_classifier import train_sample_classifier
from atlasgate.demo.upstream import SampleUpstreams, start_sample_upstreams

PII = "my email is jane.doe@example.com and my phone is 555-0100"


@pytest.fixture
async def upstreams() -> AsyncIterator[SampleUpstreams]:
    running = await start_sample_upstreams(slow_seconds=0.5)
    yield running
    await running.close()


@pytest.fixture
async def client(upstreams: SampleUpstreams) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=upstreams.chat_base_url, api_key="sample-key", max_retries=0
    ) as sdk:
        yield sdk


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(
    http: aiohttp.ClientSession, url: str, payload: Any = None, *, raw: bytes | None = None
) -> tuple[int, Any]:
    async with http.post(url, json=payload if raw is None else None, data=raw) as response:
        assert response.content_type == "application/json"
        return response.status, await response.json()


def digits_rows(upstreams: SampleUpstreams, n: int) -> list[list[float]]:
    return upstreams.classifier.X[:n].tolist()


# --- the classifier -------------------------------------------------------------------------


def test_classifier_is_a_real_digits_model_with_its_data() -> None:
    info = train_sample_classifier()
    assert info.name == "sample-digits"
    assert (info.n_features, info.n_classes) == (64, 10)
    assert info.X.shape == (1797, 64)
    assert info.y.shape == (1797,)
    assert 0.9 < info.accuracy <= 1.0


def test_served_probabilities_equal_scikit_learn_predict_proba() -> None:
    info = train_sample_classifier()
    X_train, X_test, y_train, _ = train_test_split(
        info.X, info.y, test_size=0.25, random_state=0, stratify=info.y
    )
    with threadpool_limits(limits=1):
        reference = LogisticRegression(max_iter=1000, random_state=0).fit(X_train / 16, y_train)
    np.testing.assert_allclose(
        info.predict_proba(X_test), reference.predict_proba(X_test / 16), atol=1e-9
    )


# --- predict: KServe / TF-Serving v1 --------------------------------------------------------


async def test_v1_predict_returns_a_probability_vector_per_instance(
    upstreams: SampleUpstreams, http: aiohttp.ClientSession
) -> None:
    url = f"{upstreams.predict_base_url}/v1/models/sample-digits:predict"
    status, body = await post(http, url, {"instances": digits_rows(upstreams, 20)})
    assert status == 200
    predictions = np.array(body["predictions"])
    assert predictions.shape == (20, 10)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, atol=1e-9)
    assert (predictions.argmax(axis=1) == upstreams.classifier.y[:20]).mean() >= 0.9


async def test_v1_model_status_and_list(
    upstreams: SampleUpstreams, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{upstreams.predict_base_url}/v1/models/sample-digits") as response:
        assert response.status == 200
        assert await response.json() == {"name": "sample-digits", "ready": True}
    async with http.get(f"{upstreams.predict_base_url}/v1/models") as response:
        assert await response.json() == {"models": ["sample-digits"]}


async def test_predict_is_deterministic(
    upstreams: SampleUpstreams, http: aiohttp.ClientSession
) -> None:
    url = f"{upstreams.predict_base_url}/v1/models/sample-digits:predict"
    payload = {"instances": digits_rows(upstreams, 5)}
    assert await post(http, url, payload) == await post(http, url, payload)


# --- predict: Open Inference Protocol v2 ----------------------------------------------------


async def test_v2_infer_accepts_flat_and_nested_data_alike(
    upstreams: SampleUpstreams, http: aiohttp.ClientSession
) -> None:
    url = f"{upstreams.predict_base_url}/v2/models/sample-digits/infer"
    rows = digits_rows(upstreams, 3)
    tensor = {"name": "input-0", "shape": [3, 64], "datatype": "FP32"}
    status, nested = await post(http, url, {"id": "r1", "inputs": [{**tensor, "data": rows}]})
    flat_data = [v for row in rows for v in row]
    _, flat = await post(http, url, {"id": "r1", "inputs": [{**tensor, "data": flat_data}]})
    assert status == 200
    assert nested == flat
    assert nested["model_name"] == "sample-digits"
    assert nested["id"] == "r1"
    probabilities, label = nested["outputs"]
    assert probabilities["name"] == "probabilities"
    assert probabilities["shape"] == [3, 10]
    assert probabilities["datatype"] == "FP32"
    assert len(probabilities["data"]) == 30
    assert label == {
        "name": "label", "shape": [3], "datatype": "INT64",
        "data": np.array(probabilities["data"]).reshape(3, 10).argmax(axis=1).tolist(),
    }
    assert label["data"] == upstreams.classifier.y[:3].tolist()


async def test_v2_infer_returns_only_the_requested_outputs(
    upstreams: SampleUpstreams, http: aiohttp.ClientSession
) -> None:
    url = f"{upstreams.predict_base_url}/v2/models/sample-digits/infer"
    payload = {
        "inputs": [{"name": "input-0", "shape": [1, 64], "datatype": "FP64",
                    "data": digits_rows(upstreams, 1)}],
        "outputs": [{"name": "label"}],
    }
    status, body = await post(http, url, payload)
    assert status == 200
    assert [o["name"] for o in body["outputs"]] == ["label"]


async def test_v2_metadata_and_health(
    upstreams: SampleUpstreams, http: aiohttp.ClientSession
) -> None:
    base = upstreams.predict_base_url
    async with http.get(f"{base}/v2/models/sample-digits") as response:
        metadata = await response.json()
    assert metadata["name"] == "sample-digits"
    assert metadata["inputs"] == [{"name": "input-0", "datatype": "FP32", "shape": [-1, 64]}]
    assert {o["name"] for o in metadata["outputs"]} == {"probabilities", "label"}
    assert metadata["parameters"]["held_out_accuracy"] == upstreams.classifier.accuracy
    async with http.get(f"{base}/v2/health/ready") as response:
        assert response.status == 200
        assert (await response.json())["ready"] is True


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/v1/models/other-model:predict", "POST"),
        ("/v1/models/other-model", "GET"),
        ("/v2/models/other-model/infer", "POST"),
        ("/v2/models/other-model", "GET"),
    ],
)
async def test_unknown_model_is_a_404_naming_it(
    upstreams: SampleUpstreams, http: aiohttp.ClientSession, path: str, method: str
) -> None:
    async with http.request(method, upstreams.predict_base_url + path, json={}) as response:
        assert response.status == 404
        assert "other-model" in (await response.json())["error"]


ROW = [0.0] * 64
V2 = {"name": "input-0", "shape": [1, 64], "datatype": "FP32", "data": ROW}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"instances": [[1.0, 2.0]]}, "64 features"),
        ({"instances": [["a"] * 64]}, "only numbers"),
        ({"instances": [[True] * 64]}, "only numbers"),
        ({"instances": [[None] * 64]}, "only numbers"),
        ({"instances": [ROW, ROW[:10]]}, "differ in length"),
        ({"instances": []}, "non-empty"),
        ({"instances": "pixels"}, "list of rows"),
        ({"rows": [ROW]}, '"instances"'),
        ([ROW], '"instances"'),
    ],
)
async def test_v1_malformed_input_is_a_400_saying_why(
    upstreams: SampleUpstreams, http: aiohttp.ClientSession, payload: Any, message: str
) -> None:
    url = f"{upstreams.predict_base_url}/v1/models/sample-digits:predict"
    status, body = await post(http, url, payload)
    assert status == 400
    assert message in body["error"]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"inputs": [{**V2, "shape": [1, 63]}]}, "shape must be [n, 64]"),
        ({"inputs": [{**V2, "data": ROW[:60]}]}, "has 60 values"),
        ({"inputs": [{**V2, "shape": [2, 64], "data": [ROW]}]}, "shape says 2"),
        ({"inputs": [{**V2, "datatype": "BYTES"}]}, "numeric type"),
        ({"inputs": [{**V2, "data": ["x"] * 64}]}, "only numbers"),
        ({"inputs": [V2, V2]}, "exactly one input"),
        ({"inputs": [{**V2, "data": None}]}, '"data" list'),
        ({"instances": [ROW]}, '"inputs" list'),
        ({"inputs": [V2], "outputs": [{"name": "logits"}]}, "requested outputs"),
    ],
)
async def test_v2_malformed_input_is_a_400_saying_why(
    upstreams: SampleUpstreams, http: aiohttp.ClientSession, payload: Any, message: str
) -> None:
    url = f"{upstreams.predict_base_url}/v2/models/sample-digits/infer"
    status, body = await post(http, url, payload)
    assert status == 400
    assert message in body["error"]


async def test_predict_answers_unknown_paths_and_methods_in_json(
    upstreams: SampleUpstreams, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{upstreams.predict_base_url}/v3/anything") as response:
        assert response.status == 404
        assert "/v3/anything" in (await response.json())["error"]
    async with http.get(
        f"{upstreams.predict_base_url}/v2/models/sample-digits/infer"
    ) as response:
        assert response.status == 405
        assert "error" in await response.json()


async def test_predict_takes_batches_larger_than_aiohttp_default_limit(
    upstreams: SampleUpstreams, http: aiohttp.ClientSession
) -> None:
    rows = np.tile(upstreams.classifier.X, (2, 1)).tolist()
    url = f"{upstreams.predict_base_url}/v1/models/sample-digits:predict"
    status, body = await post(http, url, {"instances": rows})
    assert status == 200
    assert len(body["predictions"]) == len(rows)


async def test_predict_rejects_a_body_that_is_not_json(
    upstreams: SampleUpstreams, http: aiohttp.ClientSession
) -> None:
    url = f"{upstreams.predict_base_url}/v1/models/sample-digits:predict"
    status, body = await post(http, url, raw=b'{"instances": [[1, 2')
    assert status == 400
    assert "not valid JSON" in body["error"]


# --- chat through the official openai SDK ----------------------------------------------------


async def test_models_list_names_the_samples(client: openai.AsyncOpenAI) -> None:
    ids = [model.id async for model in client.models.list()]
    assert sorted(ids) == ["sample-chat", "sample-embed", "sample-slow"]
    assert (await client.models.retrieve("sample-embed")).id == "sample-embed"


async def test_chat_reply_repeats_the_last_user_message_with_usage(
    client: openai.AsyncOpenAI,
) -> None:
    completion = await client.chat.completions.create(
        model="sample-chat",
        messages=[
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": PII},
        ],
    )
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == f"Sample reply to: {PII}"
    assert choice.finish_reason == "stop"
    assert "sample" in completion.model
    assert completion.usage is not None
    assert completion.usage.completion_tokens == len(choice.message.content.split())
    assert completion.usage.prompt_tokens == len(
        f"You are helpful. first question first answer {PII}".split()
    )
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


async def test_chat_accepts_content_parts(client: openai.AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(
        model="sample-chat",
        messages=[{"role": "user", "content": [{"type": "text", "text": "parts work"}]}],
    )
    assert completion.choices[0].message.content == "Sample reply to: parts work"


async def test_max_tokens_truncates_and_reports_length(client: openai.AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(
        model="sample-chat", messages=[{"role": "user", "content": PII}], max_tokens=4
    )
    choice = completion.choices[0]
    assert choice.message.content == "Sample reply to: my"
    assert choice.finish_reason == "length"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 4


async def test_logprobs_cover_every_token_with_ranked_alternatives(
    client: openai.AsyncOpenAI,
) -> None:
    completion = await client.chat.completions.create(
        model="sample-chat",
        messages=[{"role": "user", "content": "tell me the weights"}],
        logprobs=True,
        top_logprobs=5,
    )
    choice = completion.choices[0]
    assert choice.logprobs is not None
    assert choice.logprobs.content is not None
    entries = choice.logprobs.content
    assert "".join(e.token for e in entries) == choice.message.content
    for entry in entries:
        assert entry.logprob <= 0
        assert entry.bytes == list(entry.token.encode())
        assert len(entry.top_logprobs) == 5
        assert entry.top_logprobs[0].token == entry.token
        ranked = [t.logprob for t in entry.top_logprobs]
        assert ranked == sorted(ranked, reverse=True)
        assert len(set(ranked)) == 5


async def test_chat_without_logprobs_has_none(client: openai.AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(
        model="sample-chat", messages=[{"role": "user", "content": "hello"}]
    )
    assert completion.choices[0].logprobs is None


async def test_chat_is_deterministic_across_restarts(client: openai.AsyncOpenAI) -> None:
    request: dict[str, Any] = {
        "model": "sample-chat",
        "messages": [{"role": "user", "content": "same question"}],
        "logprobs": True,
        "top_logprobs": 3,
    }
    first = await client.chat.completions.create(**request)
    async with (
        await start_sample_upstreams() as other,
        openai.AsyncOpenAI(base_url=other.chat_base_url, api_key="k", max_retries=0) as sdk,
    ):
        second = await sdk.chat.completions.create(**request)
    assert first.choices[0].model_dump() == second.choices[0].model_dump()
    assert first.usage == second.usage


async def test_n_returns_that_many_choices(client: openai.AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(
        model="sample-chat", messages=[{"role": "user", "content": "hi"}], n=3
    )
    assert [c.index for c in completion.choices] == [0, 1, 2]
    assert {c.message.content for c in completion.choices} == {"Sample reply to: hi"}


async def test_stream_sends_role_then_tokens_then_finish_then_usage(
    client: openai.AsyncOpenAI,
) -> None:
    stream = await client.chat.completions.create(
        model="sample-chat",
        messages=[{"role": "user", "content": PII}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    expected = f"Sample reply to: {PII}"
    n_tokens = len(expected.split())
    assert len(chunks) == n_tokens + 3
    assert len({c.id for c in chunks}) == 1
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == ""
    tokens = [c.choices[0].delta.content for c in chunks[1 : n_tokens + 1]]
    assert "".join(tokens) == expected
    assert all(c.choices[0].finish_reason is None for c in chunks[: n_tokens + 1])
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == n_tokens
    assert all(c.usage is None for c in chunks[:-1])


async def test_stream_honours_max_tokens_and_logprobs(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="sample-chat",
        messages=[{"role": "user", "content": PII}],
        stream=True,
        max_tokens=3,
        logprobs=True,
        top_logprobs=2,
    )
    chunks = [chunk async for chunk in stream]
    assert len(chunks) == 5
    content_chunks = chunks[1:4]
    assert "".join(c.choices[0].delta.content or "" for c in content_chunks) == "Sample reply to:"
    for chunk in content_chunks:
        logprobs = chunk.choices[0].logprobs
        assert logprobs is not None
        assert logprobs.content is not None
        assert logprobs.content[0].token == chunk.choices[0].delta.content
        assert len(logprobs.content[0].top_logprobs) == 2
    assert chunks[-1].choices[0].finish_reason == "length"


async def test_stream_arrives_chunk_by_chunk_with_the_configured_delay() -> None:
    delay = 0.08
    async with (
        await start_sample_upstreams(chunk_delay=delay) as running,
        openai.AsyncOpenAI(base_url=running.chat_base_url, api_key="k", max_retries=0) as sdk,
    ):
        stream = await sdk.chat.completions.create(
            model="sample-chat", messages=[{"role": "user", "content": "a b c d"}], stream=True
        )
        arrivals = [time.monotonic() async for _ in stream]
    assert len(arrivals) == 9
    assert arrivals[-1] - arrivals[0] >= 0.5 * delay * (len(arrivals) - 1)


# --- legacy completions and embeddings ------------------------------------------------------


async def test_legacy_completions_for_string_and_list_prompts(
    client: openai.AsyncOpenAI,
) -> None:
    single = await client.completions.create(model="sample-chat", prompt="once upon a time")
    assert single.choices[0].text == "Sample completion of: once upon a time"
    assert single.choices[0].finish_reason == "stop"
    several = await client.completions.create(
        model="sample-chat", prompt=["one", "two"], max_tokens=3, logprobs=2
    )
    assert [c.index for c in several.choices] == [0, 1]
    assert [c.text for c in several.choices] == ["Sample completion of:"] * 2
    assert all(c.finish_reason == "length" for c in several.choices)
    logprobs = several.choices[0].logprobs
    assert logprobs is not None
    assert logprobs.tokens == ["Sample", " completion", " of:"]
    assert logprobs.text_offset == [0, 6, 17]
    assert logprobs.top_logprobs is not None
    assert all(len(top) == 2 for top in logprobs.top_logprobs)


async def test_legacy_completions_stream(client: openai.AsyncOpenAI) -> None:
    stream = await client.completions.create(model="sample-chat", prompt="x y", stream=True)
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].text for c in chunks) == "Sample completion of: x y"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])


async def test_embeddings_are_normalised_deterministic_and_similarity_aware(
    client: openai.AsyncOpenAI,
) -> None:
    texts = ["the quick brown fox", "the quick brown fox!", "invoice 4471 overdue"]
    as_float = await client.embeddings.create(
        model="sample-embed", input=texts, encoding_format="float"
    )
    as_base64 = await client.embeddings.create(
        model="sample-embed", input=texts, encoding_format="base64"
    )
    vectors = np.array([d.embedding for d in as_float.data])
    assert vectors.shape == (3, 64)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    decoded = [
        np.frombuffer(base64.b64decode(str(d.embedding)), dtype="<f4") for d in as_base64.data
    ]
    np.testing.assert_array_equal(vectors.astype(np.float32), np.array(decoded))
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert [d.index for d in as_float.data] == [0, 1, 2]
    assert as_float.usage.prompt_tokens == 4 + 4 + 3
    sdk_default = await client.embeddings.create(model="sample-embed", input=texts[0])
    np.testing.assert_array_equal(
        np.array(sdk_default.data[0].embedding, dtype=np.float32), vectors[0].astype(np.float32)
    )


async def test_embedding_dimensions_shorten_the_vector(client: openai.AsyncOpenAI) -> None:
    result = await client.embeddings.create(
        model="sample-embed", input="short", dimensions=16, encoding_format="float"
    )
    assert len(result.data[0].embedding) == 16
    assert np.linalg.norm(result.data[0].embedding) == pytest.approx(1.0, abs=1e-6)


# --- errors in OpenAI's shape ----------------------------------------------------------------


async def test_unknown_model_is_404_model_not_found(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.code == "model_not_found"
    assert "gpt-4o" in caught.value.message


@pytest.mark.parametrize(
    ("call", "param"),
    [
        ({"model": "sample-embed", "messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "sample-chat", "messages": []}, "messages"),
        ({"model": "sample-chat", "messages": [{"content": "no role"}]}, "messages[0]"),
        ({"model": "sample-chat", "messages": [{"role": "user", "content": "x"}],
          "max_tokens": 0}, "max_tokens"),
        ({"model": "sample-chat", "messages": [{"role": "user", "content": "x"}],
          "top_logprobs": 3}, "top_logprobs"),
    ],
)
async def test_invalid_chat_requests_are_400_naming_the_param(
    client: openai.AsyncOpenAI, call: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(**call)
    assert caught.value.param == param
    assert caught.value.type == "invalid_request_error"


async def test_bad_json_and_unknown_paths_use_the_openai_error_shape(
    upstreams: SampleUpstreams, http: aiohttp.ClientSession
) -> None:
    status, body = await post(
        http, f"{upstreams.chat_base_url}/chat/completions", raw=b'{"model": "sample-'
    )
    assert status == 400
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert "JSON" in body["error"]["message"]
    async with http.get(f"{upstreams.chat_base_url}/assistants") as response:
        assert response.status == 404
        assert (await response.json())["error"]["type"] == "not_found_error"
    async with http.get(f"{upstreams.chat_base_url}/chat/completions") as response:
        assert response.status == 405
        assert "message" in (await response.json())["error"]


# --- sample-slow ----------------------------------------------------------------------------


async def test_sample_slow_waits_before_answering(client: openai.AsyncOpenAI) -> None:
    started = time.monotonic()
    completion = await client.chat.completions.create(
        model="sample-slow", messages=[{"role": "user", "content": "hi"}]
    )
    assert time.monotonic() - started >= 0.5
    assert completion.choices[0].message.content == "Sample reply to: hi"


async def test_sample_slow_makes_a_client_time_out_and_does_not_hold_shutdown() -> None:
    running = await start_sample_upstreams(slow_seconds=30.0)
    try:
        async with openai.AsyncOpenAI(
            base_url=running.chat_base_url, api_key="k", max_retries=0, timeout=0.3
        ) as sdk:
            with pytest.raises(openai.APITimeoutError):
                await sdk.chat.completions.create(
                    model="sample-slow", messages=[{"role": "user", "content": "hi"}]
                )
    finally:
        closing = time.monotonic()
        await running.close()
    assert time.monotonic() - closing < 10


# --- standalone entry point ------------------------------------------------------------------


async def test_standalone_entry_serves_until_interrupted() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "atlasgate.demo.upstream", "--chat-port", "0",
        "--predict-port", "0",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        chat_line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        predict_line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        chat_url = chat_line.split()[1]
        predict_url = predict_line.split()[1]
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{chat_url}/models") as response:
                assert response.status == 200
            async with http.get(f"{predict_url}/v2/health/ready") as response:
                assert response.status == 200
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_standalone_entry_rejects_a_bad_port_clearly() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "atlasgate.demo.upstream", "--chat-port", "70000"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2
    assert "--chat-port must be between 0 and 65535" in result.stderr
    assert "Traceback" not in result.stderr
