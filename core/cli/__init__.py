"""The ``genex`` command line: a thin argparse layer over :mod:`core`.

Each experiment registers its subcommands from its own module (``register(subparsers)``).

Errors reach the user as one line on stderr: every :class:`~core.errors.CoreError` and
:class:`OSError` (a full disk, a permission denied) prints ``error: ...`` and exits 2; Ctrl-C
prints ``interrupted`` and exits 130, after the command's ``finally`` blocks have removed its
temporary files. ``genex --debug ...`` shows the traceback instead.
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
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback of an error"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


#: Exit code of an interrupted command (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130


def _one_line(exc: BaseException) -> str:
    """``exc`` as one line: an OSError with its file name, newlines folded."""
    if isinstance(exc, OSError) and not isinstance(exc, CoreError) and exc.strerror:
        where = f": {exc.filename!r}" if exc.filename else ""
        text = f"{exc.strerror}{where}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``genex``.

    Returns
    -------
    int
        The command's exit code; 2 after a :class:`CoreError` or :class:`OSError` (printed as
        one ``error: ...`` line), 130 after Ctrl-C. With ``--debug`` errors propagate.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.debug:
        return int(args.func(args) or 0)
    try:
        return int(args.func(args) or 0)
    except (CoreError, OSError) as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
