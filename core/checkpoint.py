"""Checkpoints as plain dicts, saved atomically and loaded safely.

A checkpoint is ``{"format_version", "kind", "config", "state_dict", "meta"}``: ``config`` holds
primitives only (enough to rebuild the model), ``meta`` says what made it (data, seed, metrics,
command). Loading uses ``torch.load(weights_only=True)``, so a checkpoint cannot run code.
torch is imported lazily, inside the functions.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from core.errors import CheckpointError
from core.io_utils import atomic_write_bytes

FORMAT_VERSION = 1
_KEYS = ("format_version", "kind", "config", "state_dict", "meta")


def save_checkpoint(
    path: str | Path,
    *,
    kind: str,
    config: dict[str, Any],
    state_dict: dict[str, Any],
    meta: dict[str, Any] | None = None,
) -> Path:
    """Save a checkpoint atomically.

    Parameters
    ----------
    path
        Target file (parent folders are created).
    kind
        The model family, checked on load (e.g. ``"composer"``, ``"separator"``).
    config
        Primitive-only model configuration.
    state_dict
        The model's ``state_dict()`` (tensors).
    meta
        Provenance: data, seed, metrics, the command that made it.
    """
    import torch

    payload = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "config": dict(config),
        "state_dict": dict(state_dict),
        "meta": dict(meta or {}),
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | Path, *, kind: str) -> dict[str, Any]:
    """Load and check a checkpoint written by :func:`save_checkpoint`.

    Parameters
    ----------
    path
        The checkpoint file.
    kind
        The model family expected.

    Returns
    -------
    dict
        Keys ``format_version``, ``kind``, ``config``, ``state_dict``, ``meta``.

    Raises
    ------
    CheckpointError
        The file is missing, empty, not a torch checkpoint, not a GenEx checkpoint, of a newer
        format, or of another kind of model.
    """
    import torch

    path = check_checkpoint_file(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files
        raise CheckpointError(
            f"checkpoint {str(path)!r} is corrupt or not a torch checkpoint ({type(exc).__name__})"
        ) from exc
    return check_payload(payload, path, kind=kind)


def check_checkpoint_file(path: str | Path) -> Path:
    """``path`` as a :class:`~pathlib.Path` if it is a non-empty file.

    Raises
    ------
    CheckpointError
        Missing or empty file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {str(path)!r} is empty (0 bytes)")
    return path


def check_payload(payload: Any, path: str | Path, *, kind: str) -> dict[str, Any]:
    """The unpickled ``payload`` of ``path`` if it is a GenEx Lab checkpoint of ``kind``.

    Shared by :func:`load_checkpoint` (torch) and the torch-free separator reader
    (:mod:`core.karaoke.infer`).

    Raises
    ------
    CheckpointError
        Not a GenEx checkpoint, of a newer format, or of another kind of model.
    """
    if not isinstance(payload, dict) or any(k not in payload for k in _KEYS):
        raise CheckpointError(
            f"{str(path)!r} is not a GenEx Lab checkpoint (expected keys {', '.join(_KEYS)})"
        )
    if payload["kind"] != kind:
        raise CheckpointError(
            f"checkpoint {str(path)!r} holds a {payload['kind']!r} model, expected {kind!r}"
        )
    if int(payload["format_version"]) > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has format {payload['format_version']}, "
            f"this GenEx Lab reads up to {FORMAT_VERSION}: upgrade the package"
        )
    return payload


def checkpoint_error_for_state(path: str | Path, exc: Exception) -> CheckpointError:
    """Wrap a ``load_state_dict`` failure (shape or key mismatch) as a :class:`CheckpointError`."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return CheckpointError(
        f"checkpoint {str(path)!r} does not match the model it claims to be: {first}"
    )
