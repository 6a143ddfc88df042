"""Where preview may read a row's clip from: what a dataset's rows name is not trusted when the dataset is not ours.

A Hub repo is anyone's: its rows may name local files, hosts on the user's network or ``s3://`` buckets the
user's own credentials open. So a Hub dataset's clips are read only from that repo's own files (a relative path,
or an ``hf://`` URL of the same repo), or from the ``--sources`` the user names (looked up by ``video_id``, as
``lvd2m materialize`` does). A local directory is the user's own build or import, and its rows' paths and URLs
are followed as given (a relative path under the input roots its manifest keeps). Whatever is fetched is capped
in size (``Fetch(max_bytes=...)``).
"""

from __future__ import annotations

import posixpath
from typing import Optional

from lvd2m_builder.materialize.sources import SourceIndex
from lvd2m_builder.redact import public_url
from lvd2m_builder.store.reader import DatasetSource


class Origins:
    """``resolve(rec)`` -> (URI to read, "") or (None, why not). ``repo``: the Hub dataset previewed (None: a
    local one, whose rows are followed, found through ``own``: the output's index, materialize/sources.py)."""

    def __init__(self, repo: Optional[DatasetSource] = None, sources: Optional[str] = None,
                 own: Optional[SourceIndex] = None) -> None:
        self.repo = repo
        self.index = SourceIndex(sources) if sources is not None else None
        self.own = own or SourceIndex()

    def public(self, text: str, uri: str) -> str:
        """A reason about ``uri`` as the page shows it (the page may be shared): see ``SourceIndex.public``."""
        return self.own.public(text, uri)

    def resolve(self, rec: dict) -> tuple[Optional[str], str]:
        if self.index is not None:
            found = self.index.lookup(rec)
            if found:
                return found, ""
        url = rec["url"][len("file://"):] if rec["url"].startswith("file://") else rec["url"]
        if not url:
            return None, "the row names no source"
        if self.repo is None:
            found = self.own.lookup(rec)
            return (found, "") if found else (None, f"{url} is under none of the build's input roots")
        inside = self._in_repo(self.repo, url)
        if inside is None:
            return None, (f"{public_url(url)} is not a file of {self.repo.label}: preview reads only the repo's "
                          "own files (pass --sources with your copies of the videos)")
        return inside, ""

    @staticmethod
    def _in_repo(repo: DatasetSource, url: str) -> Optional[str]:
        """The ``hf://`` URI of ``url`` when it names a file of ``repo``, else None."""
        root = repo.root.split("@", 1)[0]  # datasets/NAME/REPO
        if url.startswith("hf://"):
            path = posixpath.normpath(url[len("hf://"):])
            return f"hf://{path}" if path.startswith(root + "/") else None
        if "://" in url or url.startswith("/"):
            return None
        rel = posixpath.normpath(url)
        if rel == ".." or rel.startswith("../") or not repo.exists(rel):  # a build's relative names are not repo files
            return None
        return f"hf://{repo.path(rel)}"
