"""What rows call an input: a local file by its path relative to the input the user gave, a URL without credentials.

Rows, reject reasons, stats.json, the card and the preview are published (``lvd2m push``); the absolute path a
file had on the user's machine (``/home/alice/footage/trip/clip.mp4``) names a user and a directory layout. So
a local input is named relative to its *root*: the directory the user gave (``lvd2m build /home/alice/footage``
-> ``trip/clip.mp4``), the directory of a file given directly (-> its name) or of a glob's fixed part. A file a
clip table names outside every root is its own root (-> its name). The roots stay home, in the manifest, so
materialize and preview find the files again (:func:`candidates`); ``inputs.absolute_paths`` keeps paths as given.
"""

from __future__ import annotations

import os
import re
from typing import Iterable, Optional

from lvd2m_builder.inputs.names import is_url, without_file_scheme
from lvd2m_builder.redact import public_url

_MAGIC = re.compile(r"[*?\[]")


def absolute_names(settings: dict) -> bool:
    """Whether an output built with ``settings`` names local inputs by absolute path (``inputs.absolute_paths``;
    an output from before that setting did)."""
    return bool((settings.get("inputs") or {"absolute_paths": True})["absolute_paths"])


def input_roots(inputs: Iterable[str]) -> list[str]:
    """The directory each local input names (a directory, a file's directory, a glob's fixed part), absolute."""
    roots = []
    for item in map(without_file_scheme, inputs):
        if is_url(item):
            continue
        magic = _MAGIC.search(item)
        if magic is not None:  # ``footage/**/*.mp4``: the directory before the first wildcard
            roots.append(os.path.abspath(os.path.dirname(item[: magic.start()]) or "."))
        else:
            roots.append(os.path.abspath(item if os.path.isdir(item) else os.path.dirname(item) or "."))
    return sorted(set(roots))


def local_path(uri: str) -> Optional[str]:
    """The local file a ref's URI reads (a tar member's tar; a clip table row's table), None for a URL."""
    if uri.startswith("tar://") and "::" in uri:
        uri = uri.split("::", 1)[1]
    uri = without_file_scheme(uri)
    return None if is_url(uri) else uri.split("#", 1)[0]


def root_of(uri: str, roots: list[str]) -> Optional[str]:
    """The deepest of ``roots`` that holds ``uri``'s file, else the file's own directory; None for a URL."""
    path = local_path(uri)
    if path is None:
        return None
    held = [root for root in roots if path.startswith(root.rstrip(os.sep) + os.sep)]
    return max(held, key=len) if held else os.path.dirname(path)


def _strip(text: str, root: str) -> str:
    """``text`` with every absolute path under ``root`` made relative to it (``file://`` forms too); a path is
    matched only where one starts, so ``root`` ``/`` strips leading slashes and nothing inside a name."""
    prefix = re.escape(root.rstrip(os.sep) + os.sep)
    return re.sub(rf"(?<![\w.{re.escape(os.sep)}-])(?:file://)?{prefix}", "", text)


def public_name(uri: str, root: Optional[str]) -> str:
    """``uri`` as rows show it: relative to ``root`` when given, with the credentials of any URL in it masked."""
    if root is not None:
        uri = _strip(uri, root)
    head, sep, tail = uri.partition("::")  # a tar member: tar://MEMBER::TAR_URL; only the tar's URL is a URL
    return head + sep + public_url(tail) if sep and head.startswith("tar://") else public_url(uri)


def public_reason(reason: str, uri: str, root: Optional[str], copy: Optional[str] = None) -> str:
    """A reject reason as outputs show it: the ref's URI (and ``copy``, a local copy of a remote input) by its
    public name, and any other path under ``root`` relative to it. The user's log keeps the full text."""
    name = public_name(uri, root)
    reason = reason.replace(uri, name)
    if copy is not None and copy != uri:
        reason = reason.replace(copy, name)
    return _strip(reason, root) if root is not None else reason


def candidates(url: str, roots: Iterable[str]) -> list[str]:
    """The files a row's ``url`` may name: a relative name under each root that holds it (more than one only when
    two roots hold the same name: the caller tells them apart by the row's key); anything else (a URL, an
    absolute path) as it is."""
    head, sep, tail = url.partition("::")
    if sep and head.startswith("tar://"):  # a tar member: the tar is the file to find
        return [f"{head}::file://{without_file_scheme(path)}" if not is_url(path) else f"{head}::{path}"
                for path in candidates(tail, roots)]
    if is_url(url) or os.path.isabs(without_file_scheme(url)):
        return [url]
    return [path for path in (os.path.join(root, url) for root in roots) if os.path.exists(path)]
