"""How lvd2m logs: plain lines for people, or one JSON object per event for monitoring (``--log-format json``).

The settings travel to worker processes through the environment (``LVD2M_LOG_FORMAT``, ``LVD2M_LOG_FILE``), so a
spawned pool worker writes the same format to the same place as the process that started it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any, Optional

FORMATS = ("text", "json")
TEXT = "%(levelname)s %(name)s: %(message)s"
_HANDLER = "lvd2m"  # the name of the one handler configure() installs (and replaces on the next call)
#: Fields a clip event carries (``log.info(..., extra={"event": {...}})``), copied into the JSON object.
EVENT = "event"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and the event's own fields when it has any."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(getattr(record, EVENT, None) or {})
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def configure(level: int, fmt: str = "text", file: Optional[str] = None) -> None:
    """Send the package's logs to stderr (or ``file``, appended) in ``fmt``; children inherit it (environment)."""
    handler: logging.Handler = logging.FileHandler(file, encoding="utf-8") if file else logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT))
    handler.set_name(_HANDLER)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER]:  # ours from an earlier call; others stay
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    os.environ["LVD2M_LOG_FORMAT"] = fmt
    if file:
        os.environ["LVD2M_LOG_FILE"] = os.path.abspath(file)
    else:
        os.environ.pop("LVD2M_LOG_FILE", None)


def configure_worker(level: int) -> None:
    """A spawned worker logs like its parent (it starts with no logging set up)."""
    configure(level, os.environ.get("LVD2M_LOG_FORMAT", "text"), os.environ.get("LVD2M_LOG_FILE"))


def bar_disabled(progress: Optional[bool]) -> Optional[bool]:
    """tqdm's ``disable`` for a ``progress`` setting: None leaves it to tqdm (a bar only on a terminal)."""
    return None if progress is None else not progress


_EVENTS = logging.getLogger("lvd2m_builder.events")


def log_clips(clips):
    """Pass clips through, logging one event each as it leaves the pipeline (INFO: shown with -v, or as JSON)."""
    for clip in clips:
        if _EVENTS.isEnabledFor(logging.INFO):
            stage = clip.rejection.stage if clip.rejected else None
            event = {"clip": clip.ref.key, "url": clip.ref.uri, "decision": "rejected" if stage else "accepted",
                     "stage": stage, "reason": clip.rejection.reason if stage else None,
                     "seconds": round(sum(clip.seconds.values()), 4)}
            _EVENTS.info("%s %s%s", clip.ref.key, event["decision"], f" at {stage}: {event['reason']}" if stage else "",
                         extra={EVENT: event})
        yield clip
