"""A local S3 for tests: moto's server on 127.0.0.1, never the network."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import pytest


@contextmanager
def moto_s3(patch: pytest.MonkeyPatch, bucket: str) -> Iterator[tuple[str, Any]]:
    """(endpoint, boto3 client) of a moto S3 server holding an empty ``bucket``. s3fs reaches it through fsspec's
    config and ``FSSPEC_S3_ENDPOINT_URL``, which worker processes and subprocesses inherit; the credentials are
    moto's dummies. Skips the test when s3fs, boto3 or moto's server are not installed."""
    pytest.importorskip("s3fs", reason="s3fs is not installed: pip install 'lvd2m-builder[remote]'")
    boto3 = pytest.importorskip("boto3", reason="boto3 is not installed: pip install 'lvd2m-builder[test]'")
    server_module = pytest.importorskip("moto.server", reason="moto is not installed: pip install 'moto[server]'")
    import fsspec

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        patch.setenv(name, "testing")
    patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        patch.setenv("FSSPEC_S3_ENDPOINT_URL", endpoint)
        patch.setitem(fsspec.config.conf, "s3", {"endpoint_url": endpoint})
        client = boto3.client("s3", endpoint_url=endpoint)
        client.create_bucket(Bucket=bucket)
        yield endpoint, client
    finally:
        server.stop()
