"""Old spellings of options, kept hidden for a release so scripts keep working; using one logs a warning."""

from __future__ import annotations

import argparse


class Renamed(argparse.Action):
    """Stores into the new option's ``dest`` and notes the rename in ``args.renamed`` (logged by ``main``)."""

    def __init__(self, option_strings, dest, new: str, **kwargs) -> None:
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, values)
        namespace.renamed = [*namespace.renamed, (option_string, self.new)]


def alias(p: argparse.ArgumentParser, old: str, new: str, dest: str) -> None:
    p.add_argument(old, dest=dest, action=Renamed, new=new)
