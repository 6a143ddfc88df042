"""The ``source`` stage: give each clip a local path; remote inputs are copied to scratch and removed after."""

from __future__ import annotations

import os
import tempfile
from pathlib import PurePosixPath
from typing import Iterable, Iterator

import fsspec

from lvd2m_builder.errors import SourceError
from lvd2m_builder.inputs.names import is_url
from lvd2m_builder.inputs.tars import copy_member, member_uri
from lvd2m_builder.records import Clip
from lvd2m_builder.stages.base import Stage


def _why(error: Exception) -> str:
    """A fetch failure's reason, without the URI again (remote filesystems raise FileNotFoundError(url))."""
    if isinstance(error, SourceError):
        return error.why
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return "no such file" if isinstance(error, FileNotFoundError) else str(error)


def _copy(src, dst, uri: str, max_bytes: int | None) -> None:
    """``shutil.copyfileobj`` that stops past ``max_bytes`` (a server may send more than its listing said)."""
    copied = 0
    while chunk := src.read(1 << 20):
        copied += len(chunk)
        if max_bytes is not None and copied > max_bytes:
            raise SourceError(uri, f"larger than the {max_bytes}-byte cap for a fetched file")
        dst.write(chunk)


class Fetch(Stage):
    """Give each clip a local path: local files as they are, remote ones copied into a scratch directory.

    The copy is removed once the clip has passed the rest of the stages (see ``release``), so at most a few
    remote files sit on disk at a time.
    """

    stage = "source"

    def __init__(self, scratch: str | None = None, max_bytes: int | None = None) -> None:
        self.scratch = scratch or tempfile.gettempdir()
        self.max_bytes = max_bytes  # the most a remote copy may take (None: no cap)

    def __call__(self, clips: Iterable[Clip]) -> Iterator[Clip]:
        for clip in clips:
            if clip.ref.error is not None and not clip.rejected:
                clip.reject(self.stage, clip.ref.error)  # listing found the ref unusable (a malformed table row)
            if not clip.rejected:
                try:
                    clip.path = self._local(clip.ref.uri)
                except (OSError, ValueError) as e:
                    clip.reject(self.stage, f"cannot read {clip.ref.uri}: {_why(e)}")
            yield clip

    def _local(self, uri: str) -> str:
        if not is_url(uri):
            if not os.path.exists(uri):
                raise FileNotFoundError(2, "no such file")
            if os.path.isdir(uri):
                raise IsADirectoryError(21, "is a directory")
            if not os.access(uri, os.R_OK):
                raise PermissionError(13, "permission denied")
            return uri
        member = uri.split("::", 1)[0]  # a chained URL (tar://KEY.mp4::s3://...) names the file first
        fd, local = tempfile.mkstemp(suffix=PurePosixPath(member).suffix or ".mp4", dir=self.scratch)
        try:
            with os.fdopen(fd, "wb") as dst:
                if member_uri(uri) is not None:
                    copy_member(uri, dst, self.max_bytes)
                else:
                    with fsspec.open(uri, "rb") as src:
                        _copy(src, dst, uri, self.max_bytes)
        except BaseException as e:
            os.remove(local)
            if isinstance(e, Exception) and not isinstance(e, (OSError, ValueError)):
                # fsspec backends raise their own types (botocore's NoCredentialsError, aiohttp's errors): this
                # clip's source is unreadable, which is a reject, not a failure of the whole shard
                raise SourceError(uri, f"{type(e).__name__}: {e}") from e
            raise
        return local

    @staticmethod
    def release(clip: Clip) -> None:
        """Delete a fetched copy; local inputs are never touched."""
        if clip.path and is_url(clip.ref.uri) and os.path.exists(clip.path):
            os.remove(clip.path)
