"""The ``genex`` command line: a thin argparse layer over :mod:`core`.

Each experiment registers its subcommands from its own module (``register(subparsers)``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from core.errors import CoreError

#: Modules that contribute subcommands, in help order.
_SUBCOMMAND_MODULES = (
    "core.cli.composer",
    "core.cli.corpus",
    "core.cli.separator",
    "core.cli.metrics",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the ``genex`` parser with every experiment's subcommands."""
    parser = argparse.ArgumentParser(
        prog="genex", description="GenEx Lab: blues LSTM generation and Deep Karaoke extraction."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``genex``; a :class:`CoreError` is printed as ``error: ...`` with exit code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
