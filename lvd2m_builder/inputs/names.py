"""What a name says: a URL or a local path, a video file or not (by extension)."""

from __future__ import annotations

from pathlib import PurePosixPath

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".3gp", ".ogv"}
)


def is_url(text: str) -> bool:
    return "://" in text and not text.startswith("file://")


def without_file_scheme(item: str) -> str:
    """A ``file://`` URL as the plain path it names; anything else as it is."""
    return item[len("file://"):] if item.startswith("file://") else item


def is_video_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in VIDEO_EXTENSIONS
