"""Which files of an output directory lvd2m wrote, and so may replace or delete: never anyone else's.

An output is marked by ``.lvd2m-output.json`` (written when lvd2m first writes into it); an older output, or one
downloaded from the Hub, is recognised by its ``_manifest.json`` or its shards. Inside it, lvd2m owns the files of
its own layout (``OWNED``: shards, manifest, stats, plots, videos, tars, clips, preview, temporary files) and a
``README.md`` that still carries the signature its card was written with (``sign_card``): a README.md the user
wrote, or a card edited by hand, is theirs. ``--overwrite`` deletes only owned files and refuses when anything
else is there; a non-empty directory that is not an lvd2m output is refused outright.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from fnmatch import fnmatchcase
from pathlib import Path

from lvd2m_builder import __version__
from lvd2m_builder.errors import OutputError
from lvd2m_builder.inputs.names import is_url
from lvd2m_builder.store.atomic import fsync_dir, write_text_atomic

log = logging.getLogger(__name__)

MARKER = ".lvd2m-output.json"
MANIFEST = "_manifest.json"
README = "README.md"
#: lvd2m's layout, as paths relative to the output; ``*`` never crosses a ``/``.
OWNED = (
    MARKER, MANIFEST, f"{MANIFEST}.unreadable", "_manifest.reshard.json", "stats.json", "plots/*.png",
    "data/*.arrow", "rejects/*.arrow", "videos/*.arrow", "data/*.parquet", "rejects/*.parquet", "videos/*.parquet",
    "webdataset/*.tar", "clips/*", "preview/index.html", "preview/thumbs/*-[0-9]*.jpg",
    ".data.staged/*", ".rejects.staged/*", ".data.old/*", ".rejects.old/*",
    ".lvd2m-set-aside/*/*", ".staging-*/*/*", ".*.tmp-*", "*/.*.tmp-*", "*/*/.*.tmp-*", ".*.tmp-*/*/*",
)
#: The last line of a card lvd2m wrote: the digest of everything above it, so a hand edit shows.
_SIGNATURE = re.compile(r"\n<!-- lvd2m-builder card sha256:([0-9a-f]{64}) -->\n?\Z")
_SHOWN = 5  # file names a refusal lists before "and N more"


def sign_card(text: str) -> str:
    """The card with its signature line appended (``is_our_card`` checks it)."""
    body = text if text.endswith("\n") else text + "\n"
    return body + f"\n<!-- lvd2m-builder card sha256:{hashlib.sha256(body.encode()).hexdigest()} -->\n"


def is_our_card(text: str) -> bool:
    """True for a card lvd2m wrote and nobody edited since."""
    match = _SIGNATURE.search(text)
    return bool(match) and hashlib.sha256(text[: match.start()].encode()).hexdigest() == match.group(1)


def readme_is_ours(out: Path) -> bool:
    try:
        return is_our_card((out / README).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return False


def owned(rel: str) -> bool:
    """Whether the relative path ``rel`` is a file of lvd2m's layout (README.md aside: see ``readme_is_ours``)."""
    parts = rel.split("/")
    return any(len(parts) == len(p) and all(fnmatchcase(a, b) for a, b in zip(parts, p))
               for p in (pattern.split("/") for pattern in OWNED))


def listing(out: Path) -> tuple[list[str], list[str]]:
    """(lvd2m's files, everyone else's) under ``out``, relative; symlinked folders are listed, never followed."""
    own, foreign = [], []
    readme = readme_is_ours(out)
    for root, dirs, names in os.walk(out):
        base = Path(root).relative_to(out).as_posix()
        for name in sorted(names + [d for d in dirs if os.path.islink(os.path.join(root, d))]):
            rel = name if base == "." else f"{base}/{name}"
            (own if (readme if rel == README else owned(rel)) else foreign).append(rel)
    return own, foreign


def names(found: list[str]) -> str:
    """The first few of ``found`` for a one-line message, and how many more there are."""
    return ", ".join(found[:_SHOWN]) + (f" and {len(found) - _SHOWN} more" if len(found) > _SHOWN else "")


def is_output(out: Path) -> bool:
    """An lvd2m output: marked, or (older outputs, Hub downloads) holding a manifest or shards."""
    return ((out / MARKER).exists() or (out / MANIFEST).exists()
            or any(path.is_file() for d in ("data", "rejects") for s in ("arrow", "parquet")
                   for path in (out / d).glob(f"*.{s}")))


def check_output(out: Path, overwrite: bool = False, keep_card: bool = False) -> None:
    """Refuse, before anything is touched, an ``--out`` lvd2m must not write into (see the module's doc)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise OutputError(str(out), "exists and is not a directory")
    if not is_output(out):
        own, foreign = listing(out)
        if own or foreign:
            raise OutputError(str(out), f"is not empty and not an lvd2m output (holds {names(foreign or own)}): "
                                        "choose a new or empty directory")
        return
    if overwrite:
        foreign = [rel for rel in listing(out)[1] if not (keep_card and rel == README)]
        if foreign:
            raise OutputError(str(out), f"--overwrite deletes only files lvd2m wrote, and this output also holds "
                                        f"{names(foreign)}: move them away or choose another --out")
    if not keep_card:
        check_card(out)


def check_card(out: Path) -> None:
    """Refuse to go on when the card lvd2m writes at the end would replace a README.md it did not write."""
    if (out / README).exists() and not readme_is_ours(out):
        raise OutputError(str(out / README), "was not written by lvd2m, or was edited since: lvd2m never replaces "
                          "it; move it away, or pass --keep-card to leave it as it is (card fields persist with "
                          "--set card.license=..., card.pretty_name=...)")


def prepare_output(out: Path, overwrite: bool = False, keep_card: bool = False) -> None:
    """Check ``out``, then create it (with ``overwrite``, first delete lvd2m's own files), mark it as lvd2m's and
    prove it writable, before any work starts."""
    check_output(out, overwrite, keep_card)
    try:
        if overwrite and out.is_dir():
            _delete_own(out, keep_card)
        out.mkdir(parents=True, exist_ok=True)
        mark(out)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise OutputError(str(out), e.strerror or str(e)) from e


def _delete_own(out: Path, keep_card: bool) -> None:
    deleted = [rel for rel in listing(out)[0] if rel != MARKER and not (keep_card and rel == README)]
    folders = set()
    for rel in deleted:
        (out / rel).unlink()
        folders.update(parent for parent in Path(rel).parents if parent != Path("."))
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):  # the folders they were in, if now empty
        if not any((out / folder).iterdir()):
            (out / folder).rmdir()
    log.info("%s: deleted %d files lvd2m wrote (--overwrite)", out, len(deleted))


def mark(out: Path) -> None:
    """Write the marker (once): from now on lvd2m knows ``out`` as its own."""
    marker = out / MARKER
    if not marker.exists():
        write_text_atomic(marker, json.dumps({"created_by": "lvd2m-builder", "version": __version__}) + "\n")


def inside(path: str | Path, root: str | Path) -> bool:
    """True when ``path`` is ``root`` or lies under it: local paths with links resolved, URLs by their text (a
    local path is never under a URL, nor a URL under a local path)."""
    path, root = str(path).removeprefix("file://"), str(root).removeprefix("file://")
    if is_url(path) or is_url(root):
        return is_url(path) and is_url(root) and f"{path.rstrip('/')}/".startswith(f"{root.rstrip('/')}/")
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root))


def check_replaceable(folder: Path, layout: str) -> None:
    """Refuse to replace ``folder``, which lvd2m writes as a whole like its ``layout`` folder (``videos``,
    ``webdataset``), when it holds files lvd2m would not have written there."""
    if not folder.is_dir():
        return
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir())
    foreign = [rel for rel in files if not owned(f"{layout}/{rel}")]
    if foreign:
        raise OutputError(str(folder), f"holds files lvd2m did not write ({names(foreign)}), and lvd2m replaces this "
                                       "folder as a whole: move them away or choose another destination")


def replace_dir(folder: Path, staged: Path, layout: str) -> None:
    """Put the complete ``staged`` folder in place of ``folder`` (absent ``staged``: the new set is empty); the old
    folder, checked to hold only lvd2m's files, is deleted last."""
    check_replaceable(folder, layout)
    old = staged.with_name(f"{staged.name}.old")
    if folder.exists():
        folder.rename(old)
    if staged.exists():
        staged.rename(folder)
    fsync_dir(folder.parent)  # the new set is durable before the old one goes
    shutil.rmtree(old, ignore_errors=True)
