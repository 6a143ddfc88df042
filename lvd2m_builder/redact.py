"""Credentials a user put in a URL (``https://user:pass@host/v1?api-key=...``) stay in the request that needs them.

Settings are written into the manifest, every row's provenance and the card, and URLs appear in error messages and
logs: all of those get :func:`public_url`'s form, which keeps the scheme, host, port and path (what a reader needs
to know where a model ran) and masks the user info and every query value.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

MASK = "***"


def public_url(url: str) -> str:
    """``url`` with its user info and query values masked; anything that is not a URL comes back unchanged."""
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # an unparsable authority: show nothing of it rather than risk a secret
        return url.split("://", 1)[0] + "://" + MASK
    netloc = (f"{MASK}@" if parts.username is not None or parts.password is not None else "") + (
        f"[{host}]" if ":" in host else host) + (f":{port}" if port is not None else "")
    query = urlencode([(name, MASK) for name, _ in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
    # by hand, not urlunsplit: that drops the ``//`` of an empty host (``memory:///x`` would read ``memory:/x``)
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "") + (
        f"#{parts.fragment}" if parts.fragment else "")


def public_settings(value: Any) -> Any:
    """A settings tree (``BuildConfig.to_dict()``) with every URL in it passed through :func:`public_url`."""
    if isinstance(value, dict):
        return {k: public_settings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [public_settings(v) for v in value]
    return public_url(value) if isinstance(value, str) else value
