"""An LLM endpoint for the selection methods: one small interface, a real OpenAI-compatible HTTP
client (standard library only), and a deterministic scripted client for tests.

``LLMClient.chat(messages, n, temperature, max_tokens, seed) -> list[str]`` returns ``n`` sampled
replies. :class:`OpenAICompatClient` speaks the ``POST {base_url}/chat/completions`` protocol of
OpenAI's API, which llama.cpp's ``llama-server``, ``llama_cpp.server``, vLLM and Ollama (``/v1``)
serve too. :func:`client_from_env` builds one from ``OPTARENA_LLM_BASE_URL``, ``OPTARENA_LLM_MODEL``
and ``OPTARENA_LLM_API_KEY``; nothing is configured by default, and a claim that needs a model calls
:func:`model_or_inconclusive`, which raises :class:`NoModelConfigured` (its message starts with
"inconclusive: no model") so the claim's seeds fail with that reason and the verdict is
*inconclusive*, never faked.

Note: the results store keeps such a failed seed; after configuring a model, verify into a fresh
``--results`` directory (or delete the claim's store) to run it.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from optarena.core.errors import OptArenaError

__all__ = [
    "ENV_API_KEY",
    "ENV_BASE_URL",
    "ENV_MODEL",
    "LLMClient",
    "LLMError",
    "LLMHTTPError",
    "LLMResponseError",
    "LLMTimeoutError",
    "Message",
    "NoModelConfigured",
    "OpenAICompatClient",
    "ScriptedClient",
    "as_proposer",
    "client_from_env",
    "model_or_inconclusive",
]

ENV_BASE_URL = "OPTARENA_LLM_BASE_URL"
ENV_MODEL = "OPTARENA_LLM_MODEL"
ENV_API_KEY = "OPTARENA_LLM_API_KEY"

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}


class LLMError(OptArenaError, RuntimeError):
    """Base class of the endpoint's errors."""


class NoModelConfigured(LLMError):
    """No endpoint is configured (the environment variables are unset)."""


class LLMHTTPError(LLMError):
    """The server answered with an error status; ``status`` and the start of the body are kept."""

    def __init__(self, status: int, url: str, body: str) -> None:
        self.status, self.url, self.body = status, url, body
        super().__init__(f"LLM server {url} answered HTTP {status}: {body[:300]}")


class LLMTimeoutError(LLMError):
    """The server did not answer within the client's timeout."""


class LLMResponseError(LLMError):
    """The server's answer is not a chat completion (malformed JSON, no choices, no content)."""


@runtime_checkable
class LLMClient(Protocol):
    """Anything that samples chat replies."""

    def chat(
        self,
        messages: Sequence[Message],
        n: int = 1,
        temperature: float = 0.7,
        max_tokens: int = 512,
        seed: int | None = None,
    ) -> list[str]: ...


def _check_request(messages: Sequence[Message], n: int, temperature: float, max_tokens: int) -> list[Message]:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n (number of replies) must be an integer >= 1, got {n!r}")
    if not (isinstance(temperature, int | float) and 0 <= temperature <= 2):
        raise ValueError(f"temperature must be in [0, 2], got {temperature!r}")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise ValueError(f"max_tokens must be an integer >= 1, got {max_tokens!r}")
    msgs = list(messages)
    if not msgs:
        raise ValueError("messages must be a non-empty list of {'role', 'content'} dicts")
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
            raise ValueError(f"messages[{i}] must be a dict with role system/user/assistant, got {m!r}")
        if not isinstance(m.get("content"), str):
            raise ValueError(f"messages[{i}]['content'] must be a string, got {m.get('content')!r}")
    return msgs


@dataclass
class OpenAICompatClient:
    """Client of an OpenAI-compatible ``/chat/completions`` endpoint (stdlib ``urllib``).

    The request body holds ``model``, ``messages``, ``n``, ``temperature``, ``max_tokens`` and
    ``seed`` (omitted when None); the key, when given, goes in ``Authorization: Bearer``. The
    replies are ``choices[i].message.content`` in ``index`` order. Servers that ignore ``n``
    (llama.cpp's server returns one choice) are asked again for the missing replies, each with
    ``seed + i`` when a seed is given, so ``chat`` always returns ``n`` strings.

    Errors: HTTP error statuses raise :class:`LLMHTTPError` (status and body kept), a timeout
    :class:`LLMTimeoutError`, an unreachable server :class:`LLMError`, a malformed answer
    :class:`LLMResponseError`.
    """

    base_url: str
    model: str
    api_key: str | None = None
    timeout: float = 120.0
    max_requests: int = 64  # cap on the extra requests made for servers that ignore n
    extra_body: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {self.base_url!r}")
        if not self.model:
            raise ValueError("model must be a non-empty string")
        if not (self.timeout > 0):
            raise ValueError(f"timeout must be > 0 seconds, got {self.timeout!r}")
        self.base_url = self.base_url.rstrip("/")

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.url, json.dumps(body).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace") if exc.fp is not None else ""
            raise LLMHTTPError(exc.code, self.url, text) from None
        except TimeoutError as exc:  # socket.timeout is an alias
            raise LLMTimeoutError(f"LLM server {self.url} did not answer within {self.timeout} s") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise LLMTimeoutError(
                    f"LLM server {self.url} did not answer within {self.timeout} s"
                ) from exc
            raise LLMError(f"cannot reach the LLM server {self.url}: {exc.reason}") from exc
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            raise LLMResponseError(f"LLM server {self.url} sent non-JSON: {raw[:200]!r}") from None
        if not isinstance(data, dict):
            raise LLMResponseError(f"LLM server {self.url} sent {type(data).__name__}, expected an object")
        return data

    def _contents(self, data: dict[str, Any]) -> list[str]:
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            raise LLMResponseError(f"LLM server {self.url}: no 'choices' in the answer: {str(data)[:200]}")
        out = []
        for i, c in enumerate(sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0)):
            content = c.get("message", {}).get("content") if isinstance(c, dict) else None
            if not isinstance(content, str):
                raise LLMResponseError(f"LLM server {self.url}: choices[{i}] has no message.content: {c!r}")
            out.append(content)
        return out

    def chat(
        self,
        messages: Sequence[Message],
        n: int = 1,
        temperature: float = 0.7,
        max_tokens: int = 512,
        seed: int | None = None,
    ) -> list[str]:
        msgs = _check_request(messages, n, temperature, max_tokens)
        body: dict[str, Any] = {
            **self.extra_body,
            "model": self.model,
            "messages": msgs,
            "n": n,
            "temperature": float(temperature),
            "max_tokens": max_tokens,
        }
        if seed is not None:
            body["seed"] = int(seed)
        out = self._contents(self._post(body))[:n]
        extra = 0
        while len(out) < n:
            if extra >= self.max_requests:
                raise LLMResponseError(
                    f"LLM server {self.url} returned {len(out)} of n = {n} replies after {extra} extra requests"
                )
            extra += 1
            more = {**body, "n": n - len(out)}
            if seed is not None:
                more["seed"] = int(seed) + extra
            out += self._contents(self._post(more))[: n - len(out)]
        return out


@dataclass
class ScriptedClient:
    """A deterministic client for tests: ``script`` is either a list of replies served in order
    (cycling) or a function ``(messages, n, temperature, seed) -> list[str]``. Every call is kept
    in ``calls`` as a dict of its arguments."""

    script: Sequence[str] | Callable[[list[Message], int, float, int | None], Sequence[str]]
    calls: list[dict[str, Any]] = field(default_factory=list)
    _pos: int = field(default=0, repr=False)

    def chat(
        self,
        messages: Sequence[Message],
        n: int = 1,
        temperature: float = 0.7,
        max_tokens: int = 512,
        seed: int | None = None,
    ) -> list[str]:
        msgs = _check_request(messages, n, temperature, max_tokens)
        self.calls.append(dict(messages=msgs, n=n, temperature=temperature, max_tokens=max_tokens, seed=seed))
        if callable(self.script):
            out = [str(x) for x in self.script(msgs, n, temperature, seed)]
            if len(out) != n:
                raise LLMResponseError(f"the script returned {len(out)} replies for n = {n}")
            return out
        if not self.script:
            raise LLMResponseError("ScriptedClient has an empty script")
        out = [str(self.script[(self._pos + i) % len(self.script)]) for i in range(n)]
        self._pos += n
        return out


def client_from_env(env: dict[str, str] | None = None, **kwargs: Any) -> OpenAICompatClient:
    """An :class:`OpenAICompatClient` from ``OPTARENA_LLM_BASE_URL``, ``OPTARENA_LLM_MODEL`` and
    (optional) ``OPTARENA_LLM_API_KEY``; ``kwargs`` go to the client (e.g. ``timeout``).

    Raises:
        NoModelConfigured: the base URL or the model is unset.
    """
    env = dict(os.environ) if env is None else env
    url, model = env.get(ENV_BASE_URL, "").strip(), env.get(ENV_MODEL, "").strip()
    if not url or not model:
        missing = [k for k, v in ((ENV_BASE_URL, url), (ENV_MODEL, model)) if not v]
        raise NoModelConfigured(
            f"no model configured: set {' and '.join(missing)} (an OpenAI-compatible endpoint, e.g. "
            f"http://127.0.0.1:8080/v1 from llama-server) and, if it needs one, {ENV_API_KEY}"
        )
    return OpenAICompatClient(url, model, env.get(ENV_API_KEY) or None, **kwargs)


def model_or_inconclusive(env: dict[str, str] | None = None, **kwargs: Any) -> OpenAICompatClient:
    """The configured client, for a claim that needs a real model.

    Raises:
        NoModelConfigured: with a message starting "inconclusive: no model", so the claim's seeds
        fail with that reason and its verdict is inconclusive.
    """
    try:
        return client_from_env(env, **kwargs)
    except NoModelConfigured as exc:
        raise NoModelConfigured(f"inconclusive: {exc}") from None


def as_proposer(
    client: LLMClient,
    make_messages: Callable[[str], list[Message]],
    *,
    temperature: float = 0.7,
    max_tokens: int = 512,
    seed: int | None = None,
) -> Callable[[str, int], list[str]]:
    """A ``propose(prompt, n)`` callable for :mod:`optarena.selection.aggregate` from a client
    and a prompt template (``make_messages(prompt) -> messages``)."""

    def propose(prompt: str, n: int) -> list[str]:
        return client.chat(
            make_messages(prompt), n=n, temperature=temperature, max_tokens=max_tokens, seed=seed
        )

    return propose
