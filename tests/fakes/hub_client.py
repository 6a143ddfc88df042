"""The client half of the Hub tests, run as a child process whose environment points huggingface_hub and
datasets at the loopback Hub (both read HF_ENDPOINT when imported, so the parent cannot redirect itself).

``python hub_client.py STEPS.json`` runs each step in turn and prints one JSON list of results:
``{"argv": [...], "token": T}`` runs ``lvd2m`` in this process with HF_TOKEN=T (unset when null) and returns
its exit code, stdout and stderr; ``{"stream": [PATH, CONFIG], "kwargs": {...}}`` returns the rows
``load_dataset(PATH, CONFIG, streaming=True, **kwargs)["train"]`` yields (``filters`` given as lists);
``{"push": {...}, "limits": {...}}`` calls ``lvd2m_builder.hub.push(**push, limits=HubLimits(**limits))`` with
HF_TOKEN set and returns its plan's text, or the one-line error it raised.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
from contextlib import redirect_stderr, redirect_stdout


def run(step: dict) -> dict:
    if "stream" in step:
        from datasets import load_dataset

        path, name = step["stream"]
        kwargs = dict(step.get("kwargs", {}))
        if "filters" in kwargs:
            kwargs["filters"] = [tuple(f) for f in kwargs["filters"]]
        return {"rows": list(load_dataset(path, name, streaming=True, **kwargs)["train"])}
    if "push" in step:
        from lvd2m_builder.errors import Lvd2mError
        from lvd2m_builder.hub import push
        from lvd2m_builder.publish.limits import HubLimits

        try:
            result = push(**step["push"], limits=HubLimits(**step.get("limits", {})))
        except Lvd2mError as e:
            return {"error": type(e).__name__, "fields": {k: str(v) for k, v in e.fields.items()}, "message": str(e)}
        return {"plan": result.plan.text(), "commit_url": result.commit_url}
    from lvd2m_builder.cli import main

    if step.get("token"):
        os.environ["HF_TOKEN"] = step["token"]
    else:
        os.environ.pop("HF_TOKEN", None)
    out, err = io.StringIO(), io.StringIO()
    for handler in logging.root.handlers[:]:  # main()'s basicConfig binds logging to this step's stderr, not the first's
        logging.root.removeHandler(handler)
    with redirect_stdout(out), redirect_stderr(err):
        try:
            rc = main(step["argv"])
        except SystemExit as e:  # argparse usage errors
            rc = e.code
    return {"rc": rc, "out": out.getvalue(), "err": err.getvalue()}


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        steps = json.load(f)
    print(json.dumps([run(step) for step in steps]))
