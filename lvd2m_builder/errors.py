"""Every error the package raises, under one base.

Each class also inherits the builtin a caller would expect (``ConfigError`` is a ``ValueError``, ``DecodeError``
an ``OSError``), carries the fields that explain it, and pickles with those fields so that it survives the trip
back from a worker process or a Ray task.
"""

from __future__ import annotations

from typing import Any, Optional


class Lvd2mError(Exception):
    """Base of every lvd2m-builder error."""

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields
        for name, value in fields.items():
            setattr(self, name, value)

    def __reduce__(self):  # keep fields across pickling (process pools, Ray)
        return (_rebuild, (type(self), self.message, self.fields))

    def __str__(self) -> str:
        return self.message


def _rebuild(cls: type[Lvd2mError], message: str, fields: dict[str, Any]) -> Lvd2mError:
    error = cls.__new__(cls)
    Lvd2mError.__init__(error, message, **fields)
    return error


class ConfigError(Lvd2mError, ValueError):
    """A configuration value is invalid: ``field`` names it, ``value`` is what was given."""

    def __init__(self, field: str, value: Any, why: str) -> None:
        super().__init__(f"config {field}={value!r}: {why}", field=field, value=value, why=why)


class UsageError(Lvd2mError, ValueError):
    """A command was called wrongly (a missing argument, flags that conflict): exit 2 with one line."""

    def __init__(self, command: str, why: str) -> None:
        super().__init__(why, command=command, why=why)


class SourceError(Lvd2mError, OSError):
    """An input path or URL cannot be listed or read."""

    def __init__(self, uri: str, why: str) -> None:
        super().__init__(f"{uri}: {why}", uri=uri, why=why)


class DecodeError(Lvd2mError, OSError):
    """A file is not a decodable video (corrupt, truncated, audio-only, not a video); ``frame``: the first frame
    that did not decode, when decoding stopped part-way."""

    def __init__(self, uri: str, why: str, frame: Optional[int] = None) -> None:
        super().__init__(f"cannot decode {uri}: {why}", uri=uri, why=why, frame=frame)


class MissingWeightsError(Lvd2mError, FileNotFoundError):
    """Model weights are not on this machine; nothing is downloaded at run time."""

    def __init__(self, model: str, path: str, hint: str) -> None:
        super().__init__(f"weights for {model} not found at {path}: {hint}", model=model, path=path, hint=hint)


class MissingDependencyError(Lvd2mError, ImportError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is not installed: pip install 'lvd2m-builder[{extra}]'", package=package, extra=extra
        )


class StageError(Lvd2mError, RuntimeError):
    """A stage failed on one clip; the pipeline turns it into a reject carrying ``stage`` and the reason."""

    def __init__(self, stage: str, why: str) -> None:
        super().__init__(f"{stage}: {why}", stage=stage, why=why)


class OutputError(Lvd2mError, OSError):
    """The output directory cannot be created or written."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"output {path}: {why}", path=path, why=why)


class ManifestError(OutputError):
    """An output's ``_manifest.json`` does not parse (a torn write): it is rebuilt from the shards themselves."""


class MalformedRowError(Lvd2mError, ValueError):
    """A row of a clip table cannot be mapped onto the schema: ``column`` names the field, ``value`` what it held."""

    def __init__(self, column: str, value: Any, why: str) -> None:
        shown = value if not isinstance(value, str) or len(value) <= 80 else value[:77] + "..."
        message = f"{column}: {why}" if value is None else f"{column}: {why} ({shown!r})"
        super().__init__(message, column=column, value=value, why=why)


class InvalidDatasetError(Lvd2mError, ValueError):
    """A dataset failed validation; ``errors`` counts the findings and ``first`` is the first of them."""

    def __init__(self, path: str, errors: int, first: str) -> None:
        super().__init__(
            f"{path} is not a valid dataset: {errors} error(s), first: {first} (see lvd2m validate {path})",
            path=path, errors=errors, first=first,
        )


class HubAuthError(Lvd2mError, PermissionError):
    """No Hugging Face token was found, or the Hub rejected it; the token itself never appears here."""

    def __init__(self, endpoint: str, why: str) -> None:
        super().__init__(f"{endpoint}: {why}", endpoint=endpoint, why=why)


class HubError(Lvd2mError, ConnectionError):
    """A Hub request failed for a reason other than authentication (unreachable, server error, conflict)."""

    def __init__(self, endpoint: str, why: str) -> None:
        super().__init__(f"{endpoint}: {why}", endpoint=endpoint, why=why)


class ModelError(Lvd2mError, RuntimeError):
    """A model backend failed a request (server error after retries, bad reply); the caption stages reject on it."""

    def __init__(self, model: str, why: str) -> None:
        super().__init__(f"{model}: {why}", model=model, why=why)


class DedupError(Lvd2mError, ValueError):
    """A dataset's embeddings cannot be compared (rows of different dimensions, from different models)."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path}: cannot deduplicate: {why}", path=path, why=why)


class HubLimitError(Lvd2mError, ValueError):
    """A dataset breaks one of the Hub's limits (files per repo or folder, file size, row-group size); refused
    before any upload. ``limit`` names it, ``path`` where, ``why`` what to change."""

    def __init__(self, limit: str, path: str, why: str) -> None:
        super().__init__(f"over the Hub's {limit} limit: {path}: {why}", limit=limit, path=path, why=why)


class ClusterError(Lvd2mError, ConnectionError):
    """The Ray cluster cannot be joined (unreachable address) or cannot run the build (no GPU for a cuda stage)."""

    def __init__(self, address: str, why: str) -> None:
        super().__init__(f"ray cluster {address}: {why}", address=address, why=why)
