"""The LLM endpoint: wire format against a loopback OpenAI-compatible stub, errors, the scripted
client, configuration from the environment, and the inconclusive path for claims."""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from optarena.selection.aggregate import vote
from optarena.selection.llm import (
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_MODEL,
    LLMClient,
    LLMError,
    LLMHTTPError,
    LLMResponseError,
    LLMTimeoutError,
    NoModelConfigured,
    OpenAICompatClient,
    ScriptedClient,
    as_proposer,
    client_from_env,
    model_or_inconclusive,
)

MSGS = [{"role": "user", "content": "What is 17 + 25?"}]


@contextmanager
def stub_server(behaviour, lifetime: float = 20.0):
    """An OpenAI-compatible stub on 127.0.0.1 (ephemeral port) in a daemon thread. ``behaviour``
    maps a parsed request to (status, body) or sleeps; every request is recorded. It shuts itself
    down after ``lifetime`` seconds even if the test forgets to."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length))
            seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
            status, payload = behaviour(body, len(seen))
            raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    killer = threading.Timer(lifetime, server.shutdown)
    killer.daemon = True
    killer.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", seen
    finally:
        killer.cancel()
        server.shutdown()
        server.server_close()
        thread.join(5)


def completion(n, text=lambda i: f"reply {i}"):
    # choices deliberately out of index order: the client must sort them
    return {
        "id": "x",
        "object": "chat.completion",
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": text(i)}, "finish_reason": "stop"}
            for i in reversed(range(n))
        ],
    }


def test_request_body_headers_and_n_choices():
    with stub_server(lambda body, k: (200, completion(body["n"]))) as (url, seen):
        client = OpenAICompatClient(url + "/", "tiny-model", api_key="sekrit", timeout=5)
        out = client.chat(MSGS, n=3, temperature=0.8, max_tokens=32, seed=7)
    assert out == ["reply 0", "reply 1", "reply 2"]
    (req,) = seen
    assert req["path"] == "/v1/chat/completions"
    assert req["body"] == {
        "model": "tiny-model",
        "messages": MSGS,
        "n": 3,
        "temperature": 0.8,
        "max_tokens": 32,
        "seed": 7,
    }
    assert req["headers"]["Authorization"] == "Bearer sekrit"
    assert req["headers"]["Content-Type"] == "application/json"


def test_no_seed_and_no_key_are_omitted():
    with stub_server(lambda body, k: (200, completion(1))) as (url, seen):
        OpenAICompatClient(url, "m", timeout=5).chat(MSGS)
    assert "seed" not in seen[0]["body"] and "Authorization" not in seen[0]["headers"]


def test_a_server_that_ignores_n_is_asked_again_with_shifted_seeds():
    with stub_server(lambda body, k: (200, completion(1, lambda i: f"call {k}"))) as (url, seen):
        out = OpenAICompatClient(url, "m", timeout=5).chat(MSGS, n=3, seed=10)
    assert out == ["call 1", "call 2", "call 3"]
    assert [r["body"]["seed"] for r in seen] == [10, 11, 12]
    assert [r["body"]["n"] for r in seen] == [3, 2, 1]


@pytest.mark.parametrize("status", [400, 401, 404, 429, 500, 503])
def test_error_statuses_raise_with_status_and_body(status):
    error = {"error": {"message": f"boom {status}"}}
    with stub_server(lambda body, k: (status, error)) as (url, _), pytest.raises(LLMHTTPError) as e:
        OpenAICompatClient(url, "m", timeout=5).chat(MSGS)
    assert e.value.status == status and f"HTTP {status}" in str(e.value) and f"boom {status}" in str(e.value)


@pytest.mark.parametrize(
    "payload, words",
    [
        (b"not json", "sent non-JSON"),
        ({"choices": []}, "no 'choices'"),
        ({"choices": [{"index": 0, "message": {"role": "assistant"}}]}, "has no message.content"),
        ([1, 2], "expected an object"),
    ],
)
def test_malformed_answers_raise(payload, words):
    with (
        stub_server(lambda body, k: (200, payload)) as (url, _),
        pytest.raises(LLMResponseError, match=words),
    ):
        OpenAICompatClient(url, "m", timeout=5).chat(MSGS)


def test_timeout_raises_a_timeout_error():
    def slow(body, k):
        time.sleep(1.0)
        return 200, completion(1)

    with stub_server(slow) as (url, _):
        t0 = time.perf_counter()
        with pytest.raises(LLMTimeoutError, match=r"did not answer within 0\.2 s"):
            OpenAICompatClient(url, "m", timeout=0.2).chat(MSGS)
        assert time.perf_counter() - t0 < 1.0


def test_unreachable_server_raises():
    with stub_server(lambda body, k: (200, completion(1))) as (url, _):
        pass  # closed: the port is free again
    with pytest.raises(LLMError, match="cannot reach the LLM server"):
        OpenAICompatClient(url, "m", timeout=2).chat(MSGS)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(n=0), "n (number of replies) must be an integer >= 1, got 0"),
        (dict(temperature=3.0), "temperature must be in [0, 2], got 3.0"),
        (dict(max_tokens=0), "max_tokens must be an integer >= 1, got 0"),
        (dict(messages=[]), "messages must be a non-empty list"),
        (dict(messages=[{"role": "robot", "content": "x"}]), "messages[0] must be a dict with role"),
    ],
)
def test_bad_requests_are_refused_before_sending(kwargs, words):
    client = ScriptedClient(["a"])
    args = {"messages": MSGS, **kwargs}
    with pytest.raises(ValueError) as e:
        client.chat(**args)
    assert words in str(e.value)
    with pytest.raises(ValueError, match="base_url must start with http"):
        OpenAICompatClient("localhost:8080", "m")


def test_scripted_client_is_deterministic_and_records_calls():
    c = ScriptedClient(["a", "b", "c"])
    assert isinstance(c, LLMClient)
    assert c.chat(MSGS, n=2) == ["a", "b"] and c.chat(MSGS, n=2, seed=3) == ["c", "a"]
    assert [call["seed"] for call in c.calls] == [None, 3]
    f = ScriptedClient(lambda m, n, t, s: [f"{s}-{i}" for i in range(n)])
    assert f.chat(MSGS, n=2, seed=5) == ["5-0", "5-1"]
    with pytest.raises(LLMResponseError, match="returned 1 replies for n = 2"):
        ScriptedClient(lambda m, n, t, s: ["x"]).chat(MSGS, n=2)


def test_a_client_drives_the_selection_pipelines():
    client = ScriptedClient(["answer: 42", "answer: 41", "answer: 42", "nonsense"])
    propose = as_proposer(client, lambda q: [{"role": "user", "content": q}], temperature=1.0)
    sel = vote("17 + 25?", propose, 4, lambda s: s.split("answer:")[1].strip() if "answer:" in s else None)
    assert sel.answer == "42" and client.calls[0]["messages"][0]["content"] == "17 + 25?"


def test_environment_configuration_and_the_inconclusive_path():
    with pytest.raises(NoModelConfigured, match=f"no model configured: set {ENV_BASE_URL} and {ENV_MODEL}"):
        client_from_env({})
    with pytest.raises(NoModelConfigured) as e:
        model_or_inconclusive({ENV_BASE_URL: "http://127.0.0.1:1/v1"})
    assert str(e.value).startswith("inconclusive: no model configured: set " + ENV_MODEL)
    c = client_from_env(
        {ENV_BASE_URL: "http://127.0.0.1:9/v1", ENV_MODEL: "smol", ENV_API_KEY: "k"}, timeout=3
    )
    assert (c.base_url, c.model, c.api_key, c.timeout) == ("http://127.0.0.1:9/v1", "smol", "k", 3)


def needs_model(seed: int, quick: bool) -> dict[str, float]:
    """A claim experiment that needs a real model (used by the test below)."""
    client = model_or_inconclusive()
    return {"acc": float(client.chat(MSGS)[0] == "42")}


def test_a_seed_without_a_model_fails_with_the_reason_and_the_verdict_is_inconclusive(monkeypatch):
    from optarena.bench.experiment import experiment_spec, run_experiment
    from optarena.claims.spec import Rule
    from optarena.claims.stats import evaluate_rule, verdict
    from optarena.core.types import TrialStatus

    monkeypatch.delenv(ENV_BASE_URL, raising=False)
    monkeypatch.delenv(ENV_MODEL, raising=False)
    spec = experiment_spec(
        "tests.selection.test_llm:needs_model", 0, quick=True, options={}, timeout=60, ruleset="t"
    )
    res = run_experiment(spec)
    assert res.status is TrialStatus.FAILED
    assert (
        res.error.strip()
        .splitlines()[-1]
        .endswith(
            "inconclusive: no model configured: set "
            f"{ENV_BASE_URL} and {ENV_MODEL} (an OpenAI-compatible "
            "endpoint, e.g. http://127.0.0.1:8080/v1 from llama-server) "
            f"and, if it needs one, {ENV_API_KEY}"
        )
    )
    outcome = evaluate_rule(Rule("r", "acc", "median", ">=", 0.5), [], missing=5)
    assert verdict([outcome], complete=False) == "inconclusive"


@pytest.mark.slow
def test_a_claim_without_a_model_is_inconclusive(tmp_path, monkeypatch):
    """A measure() that needs a model fails each seed with the 'inconclusive: no model' line, and
    the verdict is inconclusive (never reproduced, never not reproduced)."""
    from optarena.claims.engine import run_claim
    from optarena.claims.spec import load_claim

    monkeypatch.delenv(ENV_BASE_URL, raising=False)
    monkeypatch.delenv(ENV_MODEL, raising=False)
    (tmp_path / "needs-model.toml").write_text(
        'id = "needs-model"\nfamily = "preference"\npaper = "A. B., \\"C\\", 2025"\nsentence = "s"\n'
        'setting = "s"\nbaseline = "b"\ntuning = "t"\n'
        'experiment = "tests.selection.test_llm:needs_model"\nseeds = 5\n'
        '[[rules]]\nname = "r"\nmetric = "acc"\nstat = "median"\nop = ">="\nthreshold = 0.5\n'
    )
    claim = load_claim(tmp_path / "needs-model.toml")
    res = run_claim(claim, quick=True, root=tmp_path / "results", quiet=True)
    assert res.verdict == "inconclusive"
    assert res.failed and all("inconclusive: no model configured" in v for v in res.failed.values())
