"""The file name of a row's clip (``clips/NAME.mp4``), shared by materialize and preview.

A key is percent-encoded so any key makes a legal name, but a file name may not pass 255 bytes (300 ASCII
characters, or about 28 CJK ones once encoded, already do): a name that would pass ``MAX_NAME_BYTES`` is cut at a
whole escape and ends with ``=`` and the SHA-1 of the key. ``=`` never appears in an encoded key, so a cut name can
never equal another key's full one; the margin leaves room for a suffix and a temporary name's decorations.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import quote

MAX_NAME_BYTES = 192
_ESCAPE_TAIL = re.compile(r"%[0-9A-F]?$")  # a cut that would split a %XX escape


def clip_stem(key: str) -> str:
    """The key's file-name stem: the key percent-encoded, or a prefix of it plus its hash when that is too long."""
    encoded = quote(key, safe="")
    if len(encoded) <= MAX_NAME_BYTES:
        return encoded
    digest = hashlib.sha1(key.encode()).hexdigest()
    prefix = encoded[: MAX_NAME_BYTES - len(digest) - 1]
    return _ESCAPE_TAIL.sub("", prefix) + "=" + digest
