"""The one registry of separation methods and threshold rules, and the one α validator.

The CLI (``--methods``, ``--rule`` choices and help), the evaluation, the pages' pickers and the
README all read these tuples; nothing else spells out the list.

This module is light (no numpy, no torch) so that any layer can import it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from core.errors import InvalidConfigError

MethodId = Literal["dnn", "traditional", "oracle", "oracle-irm"]
Rule = Literal["paper", "complement", "soft"]


@dataclass(frozen=True)
class MethodSpec:
    """One separation method.

    Attributes
    ----------
    id
        The name used on the command line, in URLs and in results files.
    label
        Human-readable name for pickers and legends.
    needs_references
        True for oracle masks, which are computed from the reference stems.
    model_file
        The shipped model under ``assets/separator/`` (``None`` for oracles).
    binary
        True when the method's mask is already 0/1, so α changes nothing.
    train_command
        The ``genex`` subcommand that makes ``model_file`` (``None`` for oracles).
    """

    id: MethodId
    label: str
    needs_references: bool
    model_file: str | None
    binary: bool = False
    train_command: str | None = None


#: Every separation method, in display order.
METHOD_SPECS: tuple[MethodSpec, ...] = (
    MethodSpec("dnn", "Deep Karaoke DNN", False, "dnn.pt", train_command="genex train-separator"),
    MethodSpec(
        "traditional", "Supervised NMF (traditional)", False, "nmf.npz",
        train_command="genex train-nmf",
    ),  # fmt: skip
    MethodSpec("oracle", "Oracle ideal binary mask", True, None, binary=True),
    MethodSpec("oracle-irm", "Oracle ideal ratio mask", True, None),
)
#: Method ids, in display order.
METHODS: tuple[MethodId, ...] = tuple(m.id for m in METHOD_SPECS)
#: Methods computed from the reference stems.
ORACLE_METHODS: tuple[MethodId, ...] = tuple(m.id for m in METHOD_SPECS if m.needs_references)

#: Threshold rules with their one-line meaning, in display order.
RULE_LABELS: dict[Rule, str] = {
    "paper": "paper: vocal P > α, accompaniment P < 1 − α",
    "complement": "complement: vocal P > α, accompaniment the rest",
    "soft": "soft: vocal P, accompaniment 1 − P (α ignored)",
}
RULES: tuple[Rule, ...] = tuple(RULE_LABELS)


def method_spec(method: str) -> MethodSpec:
    """The :class:`MethodSpec` of ``method``.

    Raises
    ------
    InvalidConfigError
        ``method`` is not one of :data:`METHODS`.
    """
    for spec in METHOD_SPECS:
        if spec.id == method:
            return spec
    raise InvalidConfigError(f"method must be one of {', '.join(METHODS)}, got {method!r}")


def check_rule(rule: str) -> Rule:
    """Return ``rule`` if it is one of :data:`RULES`.

    Raises
    ------
    InvalidConfigError
        Unknown rule.
    """
    for r in RULES:
        if r == rule:
            return r
    raise InvalidConfigError(f"rule must be one of {', '.join(RULES)}, got {rule!r}")


#: Most α values a grid may hold by default (``genex evaluate --max-alphas``): each is a
#: separation and a BSS Eval of every track, and ``0:1:1e-9`` would ask for a billion.
MAX_ALPHAS = 1001

def check_alpha(alpha: float, *, name: str = "alpha") -> float:
    """Return ``alpha`` as a float if it is a finite number in [0, 1].

    The one α validator: the CLI, core and the pages all call it, so the bounds are the same
    everywhere (0 and 1 included: ``P > 0`` keeps every bin with any vocal evidence).

    Raises
    ------
    InvalidConfigError
        Not a number, NaN/inf, or outside [0, 1].
    """
    try:
        value = float(alpha)
    except (TypeError, ValueError) as exc:
        raise InvalidConfigError(f"{name} must be a number in [0, 1], got {alpha!r}") from exc
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InvalidConfigError(f"{name} must be in [0, 1], got {alpha!r}")
    return value
