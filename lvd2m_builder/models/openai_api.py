"""The ``openai`` backend: any OpenAI-compatible ``/v1/chat/completions`` server (vLLM, SGLang, Ollama, llama.cpp).

Images travel as base64 JPEG data URLs. ``concurrency`` requests are in flight at once; 429, 5xx, timeouts,
dropped connections and malformed replies are retried ``retries`` times with exponential backoff (a server's
Retry-After is honoured, capped); other 4xx fail at once. Each request has a total deadline (``timeout_s``) and a
reply size cap, and a redirect is refused, never followed (see bounded_http.py). The API key is read from the
environment variable ``api_key_env`` for each request and never logged, stored in the config, or put in an error
message; user info or query values in ``base_url`` are sent, and shown masked.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from lvd2m_builder.config import ModelConfig
from lvd2m_builder.errors import ModelError
from lvd2m_builder.models.bounded_http import ReplyTooLarge, Target, post
from lvd2m_builder.models.interface import Reply, Request
from lvd2m_builder.redact import public_url

log = logging.getLogger(__name__)

JPEG_QUALITY = 90
MAX_RETRY_AFTER_S = 30.0
#: A chat reply of a few hundred tokens is a few KB; a server sending megabytes is not answering the request.
MAX_REPLY_BYTES = 8 << 20


class _Retryable(Exception):
    """A failure worth another try (rate limit, server error, timeout, malformed reply)."""


class OpenAIBackend:
    prefill = False  # not every server continues a prefilled reply; retries add a reminder instead

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.model = config.model
        self.batch_size = config.concurrency
        parts = urlsplit(config.base_url)  # a query in base_url (an api-key, say) stays after the path
        endpoint = urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/chat/completions"))
        self._target = Target.parse(endpoint)
        self.url = public_url(endpoint)  # what errors and the repr show: no credentials from base_url
        self._pool = ThreadPoolExecutor(config.concurrency, thread_name_prefix="openai")

    def __repr__(self) -> str:  # nothing secret lives here, and the repr says so plainly
        return f"OpenAIBackend(model={self.model!r}, url={self.url!r}, key from ${self.config.api_key_env})"

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        return list(self._pool.map(self._one, requests))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _one(self, request: Request) -> Reply:
        body = json.dumps(self._body(request)).encode()
        attempts = self.config.retries + 1
        for attempt in range(attempts):
            try:
                return self._post(body)
            except _Retryable as e:
                why, wait = str(e), getattr(e, "retry_after", None)
            except ModelError as e:
                return Reply(error=e.why)
            if attempt + 1 < attempts:
                delay = self.config.backoff_s * 2 ** attempt if wait is None else min(wait, MAX_RETRY_AFTER_S)
                log.debug("%s: %s; retry %d/%d in %.2fs", self.model, why, attempt + 1, self.config.retries, delay)
                time.sleep(delay)
        return Reply(error=f"{why} (after {attempts} attempt{'s' * (attempts > 1)})")

    def _body(self, request: Request) -> dict[str, Any]:
        content: Any = request.prompt
        if request.images:
            content = [{"type": "image_url", "image_url": {"url": data_url(im)}} for im in request.images]
            content.append({"type": "text", "text": request.prompt})
        messages = [{"role": "system", "content": request.system}] if request.system else []
        messages.append({"role": "user", "content": content})
        return {"model": self.model, "messages": messages, "max_tokens": request.max_new_tokens, "temperature": 0}

    def _post(self, body: bytes) -> Reply:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.config.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        elif self._target.auth:
            headers["Authorization"] = self._target.auth
        try:
            response = post(self._target, body, headers, self.config.timeout_s, MAX_REPLY_BYTES)
        except TimeoutError as e:
            raise _Retryable(f"no reply from {self.url} within {self.config.timeout_s:g}s") from e
        except ReplyTooLarge as e:
            raise ModelError(self.model, f"{e} from {self.url}") from e
        except (OSError, http.client.HTTPException) as e:
            raise _Retryable(f"cannot reach {self.url}: {type(e).__name__}: {e}") from e
        status = response.status
        if 300 <= status < 400:  # a POST is never re-sent elsewhere, and the key never goes with it
            where = public_url(response.headers.get("Location") or "(no Location)")
            raise ModelError(self.model, f"HTTP {status} from {self.url} redirects to {where}: not followed "
                                         "(set base_url to the address that answers)")
        if status >= 400:
            text = response.body[:300].decode("utf-8", "replace").strip()
            detail = f": {text}" if text else ""
            if status == 429 or status >= 500:
                error = _Retryable(f"HTTP {status} from {self.url}{detail}")
                error.retry_after = _retry_after(response.headers.get("Retry-After"))  # type: ignore[attr-defined]
                raise error
            raise ModelError(self.model, f"HTTP {status} from {self.url}{detail}")
        return _parse(response.body, self.url)


def _parse(raw: bytes, url: str) -> Reply:
    try:
        data = json.loads(raw)
        message = data["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise _Retryable(f"malformed JSON reply from {url}: {raw[:80]!r}") from e
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):  # some servers return content parts
        content = "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return Reply(text=content if isinstance(content, str) else "", tokens=_completion_tokens(data.get("usage")))


def _completion_tokens(usage: Any) -> int:
    """``usage.completion_tokens`` when it is a count; servers send null, strings or nothing, which count as 0."""
    count = usage.get("completion_tokens") if isinstance(usage, dict) else None
    if isinstance(count, bool) or not isinstance(count, (int, float)) or not 0 <= count < 2**31:
        return 0
    return int(count)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def data_url(image: np.ndarray) -> str:
    """An RGB uint8 image as a ``data:image/jpeg;base64,...`` URL."""
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError(f"cannot encode a {image.shape} image as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")
