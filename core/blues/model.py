"""Eck & Schmidhuber's (2002) blues LSTM in torch: configs, networks, restarts, checkpoints.

Experiments (``ComposerConfig.experiment``):

- **1** — chords only: 4 cell blocks x 2 cells, fully recurrent, blocks connected to the chord
  input; outputs connected to all cells and to the input.
- **2** — melody + chords: 8 blocks x 2 cells. The 4 chord blocks see the chord input and recur
  onto themselves and into the melody blocks; the 4 melody blocks see the whole input and recur only
  within the melody blocks. Chord outputs read chord cells (and chord inputs) only, so melody
  information never reaches the chords. Implemented with masked input, recurrent and output
  weight matrices in :class:`~core.blues.block_lstm.BlockLSTM`.
- **0** — a modern ``nn.LSTM`` (configurable size/layers) on chords + melody, for comparison.

The block LSTM's own deviations from the 2002 LSTM are listed in :mod:`core.blues.block_lstm`,
the training's in :mod:`core.blues.train`. Two more are decided here:

- several independently initialised networks ("restarts", default 8) are trained side by side in
  one fused, block-diagonally masked LSTM (:class:`Population`); each shipped checkpoint is one
  ordinary 4x2 or 8x2 network;
- ``melody_output="softmax"`` (13 melody notes + a rest unit, cross-entropy) is our addition that
  addresses the papers' caveat that the sigmoid outputs treat notes as independent.

Training lives in :mod:`core.blues.train`, composition in :mod:`core.blues.generate`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from core.blues.block_lstm import BlockLSTM
from core.blues.representation import BluesForm
from core.checkpoint import checkpoint_error_for_state, load_checkpoint, save_checkpoint
from core.errors import CheckpointError, InvalidConfigError
from core.paths import assets_dir

KIND = "composer"


# --------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ComposerConfig:
    """Architecture of a blues LSTM.

    Parameters
    ----------
    experiment
        1 (chords only, 4x2 block LSTM), 2 (chords + melody, 8x2 masked block LSTM), 0 (modern
        ``nn.LSTM`` on chords + melody).
    form
        Row layout / progression (inputs and outputs follow it).
    chord_blocks, melody_blocks, cells_per_block
        Block-LSTM sizes (Exp. 1 uses ``chord_blocks`` only).
    hidden_size, num_layers
        Size of the Experiment 0 ``nn.LSTM``.
    melody_output
        ``"sigmoid"``: one independent logistic unit per melody note (the papers);
        ``"softmax"``: a distribution over 13 notes + rest, trained with cross-entropy.
    input_to_output
        Connect the input directly to the output layer as in the papers.
    chord_output
        ``"sigmoid"``: 12 independent logistic chord units (the papers; sampling them can give
        non-chords); ``"softmax"``: one categorical choice per step over the chord vocabulary
        of the form (:attr:`chord_vocab`, C7/F7/G7 for the default blues), trained with
        cross-entropy; the chosen chord's 12 units are fed back, so the input stays Eck's.
    """

    experiment: int = 2
    form: BluesForm = field(default_factory=BluesForm)
    chord_blocks: int = 4
    melody_blocks: int = 4
    cells_per_block: int = 2
    hidden_size: int = 32
    num_layers: int = 1
    melody_output: Literal["sigmoid", "softmax"] = "sigmoid"
    input_to_output: bool = True
    chord_output: Literal["sigmoid", "softmax"] = "sigmoid"

    def __post_init__(self) -> None:
        if self.experiment not in (0, 1, 2):
            raise InvalidConfigError(f"experiment: expected 0, 1 or 2, got {self.experiment!r}")
        if self.chord_output not in ("sigmoid", "softmax"):
            raise InvalidConfigError(
                f"chord_output: expected 'sigmoid' or 'softmax', got {self.chord_output!r}"
            )
        if self.melody_output not in ("sigmoid", "softmax"):
            raise InvalidConfigError(
                f"melody_output: expected 'sigmoid' or 'softmax', got {self.melody_output!r}"
            )
        for name in ("chord_blocks", "melody_blocks", "cells_per_block", "hidden_size",
                     "num_layers"):  # fmt: skip
            if int(getattr(self, name)) < 1:
                raise InvalidConfigError(f"{name}: expected >= 1, got {getattr(self, name)}")
        if self.experiment == 1 and self.melody_output == "softmax":
            raise InvalidConfigError(
                "melody_output='softmax' needs a melody: use experiment 0 or 2"
            )

    @property
    def has_melody(self) -> bool:
        """Experiments 0 and 2 model the melody; Experiment 1 only chords."""
        return self.experiment != 1

    @property
    def chord_vocab(self) -> np.ndarray:
        """``(n_vocab, n_chord)`` float32: the form's distinct chords in order of first use.

        The vocabulary of the built-in corpus (every chorus plays the form); chords of another
        corpus are mapped to the nearest entry (:func:`chord_classes`).
        """
        rows: list[np.ndarray] = []
        for b in range(self.form.n_bars):
            v = self.form.chord_vector(b)
            if not any(np.array_equal(v, r) for r in rows):
                rows.append(v)
        return np.stack(rows).astype(np.float32)

    @property
    def n_chord_out(self) -> int:
        """Chord output units: 12 sigmoids, or one logit per vocabulary chord (softmax)."""
        return len(self.chord_vocab) if self.chord_output == "softmax" else self.form.n_chord

    @property
    def n_in(self) -> int:
        """Input units: chords (+ melody)."""
        return self.form.n_units if self.has_melody else self.form.n_chord

    def to_dict(self) -> dict[str, Any]:
        """Primitive-only dict for checkpoints."""
        d = asdict(self)
        d["form"] = self.form.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ComposerConfig:
        """Inverse of :meth:`to_dict`."""
        kw = dict(d)
        kw["form"] = BluesForm.from_dict(kw.get("form", {}))
        return cls(**kw)


@dataclass(frozen=True)
class TrainConfig:
    """How to train a composer (flags of ``genex train-composer`` map 1:1 onto these fields).

    Parameters
    ----------
    model
        The architecture.
    epochs
        Maximum passes over the corpus.
    seed
        Seeds the corpus, the initial weights and the batch order.
    n_segments
        Corpus size in choruses (the papers: 4096).
    choruses_per_sequence
        Choruses concatenated into one training sequence (state starts at zero on each).
    batch_size
        Sequences per optimiser step.
    lr
        Adam learning rate.
    grad_clip
        Clip of each gradient element (0 = off); element-wise so restarts stay independent.
    restarts
        Independently initialised networks trained side by side (Experiments 1 and 2; see
        :class:`Population`); the first that keeps the form is returned. Experiment 0 trains one.
    chord_first
        Experiment 2 only: train the chord side on the chord loss until the form is kept, then
        ``melody_epochs`` epochs of the full loss with the chord side frozen (a deviation: the
        papers trained everything at once; the melody loss otherwise slows the form down).
    melody_epochs
        Epochs of the second stage.
    init
        ``"chrono"``: chrono initialisation of the gate biases (Tallec & Ollivier 2018, a modern
        deviation); ``"gers"``: forget-gate biases +1 (Gers et al. 2000), varied as 1, 2, 3, 4,
        1, ... across restarts.
    early_stop
        Stop once free-running generation keeps the form.
    stop_bars, stop_accuracy
        Free-running bars generated after each epoch and the chord form accuracy they must reach;
        a hit is confirmed on ``confirm_bars`` bars before stopping.
    confirm_bars
        Length of the confirming run (100: the issue's done-criterion).
    held_out
        Share of sequences kept out of training for the held-out NLL.
    chord_noise
        Exposure to its own mistakes: the share of bars (0..1) whose fed-back chord *input* is
        replaced, for a random stretch of 1..``steps_per_bar`` steps, by another chord of the
        vocabulary, while the targets stay the true form, so the state learns to carry on
        counting and re-synchronise after a wrong chord (0 = off, the papers' teacher forcing).
    stop_mode
        How the early-stop and member choice run the networks free: ``"threshold"`` (the
        threshold rule, the papers') or ``"sample"`` (chords and melody sampled at temperature
        1, so the kept network is one that keeps the form while improvising).
    """

    model: ComposerConfig = field(default_factory=ComposerConfig)
    epochs: int = 60
    seed: int = 0
    n_segments: int = 4096
    choruses_per_sequence: int = 2
    batch_size: int = 8
    lr: float = 5e-3
    grad_clip: float = 1.0
    restarts: int = 8
    init: Literal["chrono", "gers"] = "gers"
    chord_first: bool = True
    melody_epochs: int = 8
    early_stop: bool = True
    stop_bars: int = 24
    stop_accuracy: float = 0.99
    confirm_bars: int = 100
    held_out: float = 0.05
    chord_noise: float = 0.0
    stop_mode: Literal["threshold", "sample"] = "threshold"

    def __post_init__(self) -> None:
        if not 0.0 <= self.chord_noise < 1.0:
            raise InvalidConfigError(f"chord_noise: expected in [0, 1), got {self.chord_noise}")
        if self.stop_mode not in ("threshold", "sample"):
            raise InvalidConfigError(
                f"stop_mode: expected 'threshold' or 'sample', got {self.stop_mode!r}"
            )
        for name in ("epochs", "n_segments", "choruses_per_sequence", "batch_size",
                     "stop_bars", "confirm_bars", "restarts"):  # fmt: skip
            if int(getattr(self, name)) < 1:
                raise InvalidConfigError(f"{name}: expected >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InvalidConfigError(f"lr: expected > 0, got {self.lr}")
        if self.init not in ("chrono", "gers"):
            raise InvalidConfigError(f"init: expected 'chrono' or 'gers', got {self.init!r}")
        if not 0.0 <= self.held_out < 1.0:
            raise InvalidConfigError(f"held_out: expected in [0, 1), got {self.held_out}")

    def to_dict(self) -> dict[str, Any]:
        """Primitive-only dict (for checkpoint meta)."""
        d = asdict(self)
        d["model"] = self.model.to_dict()
        return d


# --------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------
class BluesLSTM(nn.Module):
    """A blues composer network (one of the three experiments).

    ``forward(x)`` maps inputs ``(batch, steps, n_in)`` (binary rolls, time-major per batch) to
    output logits ``(batch, steps, n_out)``: ``n_chord_out`` chord logits (12 sigmoid units, or
    one per vocabulary chord), then ``n_melody`` melody logits (sigmoid) or ``n_melody + 1``
    melody logits incl. rest (softmax).
    """

    out_mask: torch.Tensor  # buffer (n_out, n_hidden + n_in): 1 where an output reads a feature
    vocab: torch.Tensor  # buffer (n_vocab, n_chord): the chord vocabulary (softmax chords)

    def __init__(self, config: ComposerConfig) -> None:
        super().__init__()
        self.config = config
        f = config.form
        self.n_in = config.n_in
        n_mel_out = 0
        if config.has_melody:
            n_mel_out = f.n_melody + (1 if config.melody_output == "softmax" else 0)
        nco = config.n_chord_out
        self.n_out = nco + n_mel_out
        if config.experiment == 0:
            self.rnn: nn.Module = nn.LSTM(
                self.n_in, config.hidden_size, num_layers=config.num_layers, batch_first=True
            )
            n_hidden = config.hidden_size
            out_mask = np.ones((self.n_out, n_hidden + self.n_in), bool)
        elif config.experiment == 1:
            self.rnn = BlockLSTM(self.n_in, config.chord_blocks, config.cells_per_block)
            n_hidden = config.chord_blocks * config.cells_per_block
            out_mask = np.ones((self.n_out, n_hidden + self.n_in), bool)
        else:
            cb, mb, cpb = config.chord_blocks, config.melody_blocks, config.cells_per_block
            nb = cb + mb
            in_mask = np.ones((nb, self.n_in), bool)
            in_mask[:cb, f.n_chord :] = False  # chord blocks never see melody input
            rec_mask = np.zeros((nb, nb), bool)
            rec_mask[:, :cb] = True  # chord blocks recur into every block
            rec_mask[cb:, cb:] = True  # melody blocks recur only within the melody
            self.rnn = BlockLSTM(self.n_in, nb, cpb, in_mask=in_mask, rec_mask=rec_mask)
            n_hidden = nb * cpb
            out_mask = np.ones((self.n_out, n_hidden + self.n_in), bool)
            # chord outputs read chord cells and chord inputs only
            out_mask[:nco, cb * cpb : n_hidden] = False
            out_mask[:nco, n_hidden + f.n_chord :] = False
        if not config.input_to_output:
            out_mask[:, n_hidden:] = False
        self.n_hidden = n_hidden
        self.out = nn.Linear(n_hidden + self.n_in, self.n_out)
        self.register_buffer("out_mask", torch.as_tensor(out_mask, dtype=torch.float32))
        # not in the state dict: derived from the form, so old checkpoints load unchanged
        self.register_buffer("vocab", torch.as_tensor(config.chord_vocab), persistent=False)

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """Next-step logits.

        Parameters
        ----------
        x
            ``(batch, steps, n_in)`` float32 inputs.
        state
            Recurrent state from a previous call, or None for zeros.

        Returns
        -------
        logits : torch.Tensor
            ``(batch, steps, n_out)``.
        state
            The recurrent state after the last step.
        """
        h, state = self.rnn(x, state)  # (batch, steps, n_hidden)
        feats = torch.cat([h, x], dim=-1)  # (batch, steps, n_hidden + n_in)
        logits = nn.functional.linear(feats, self.out.weight * self.out_mask, self.out.bias)
        return logits, state

    def probs(self, logits: torch.Tensor) -> torch.Tensor:
        """Per-unit probabilities ``(..., n_units_modelled)`` from logits.

        Chords: sigmoid, or (softmax chords) each unit's marginal probability, the summed
        probability of the vocabulary chords containing it. Melody: sigmoid, or softmax over
        notes + rest with the rest dropped.
        """
        nco = self.config.n_chord_out
        if self.config.chord_output == "softmax":
            pc = torch.softmax(logits[..., :nco], dim=-1) @ self.vocab  # (..., n_chord)
        else:
            pc = torch.sigmoid(logits[..., :nco])
        if not self.config.has_melody:
            return pc
        if self.config.melody_output == "softmax":
            pm = torch.softmax(logits[..., nco:], dim=-1)[..., :-1]
        else:
            pm = torch.sigmoid(logits[..., nco:])
        return torch.cat([pc, pm], dim=-1)


@dataclass
class ComposerModel:
    """A trained composer: the network, its config and the provenance of its weights."""

    net: BluesLSTM
    config: ComposerConfig
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def form(self) -> BluesForm:
        """The form the model was trained on."""
        return self.config.form

    @property
    def n_parameters(self) -> int:
        """Trainable parameters (masked-out weights included)."""
        return sum(p.numel() for p in self.net.parameters())


@dataclass(frozen=True)
class CorpusRecipe:
    """How to rebuild the built-in corpus a model was trained on (for priming and novelty).

    Attributes
    ----------
    n_segments
        Choruses (:func:`core.blues.representation.make_corpus`'s ``n_segments``).
    seed
        Corpus seed.
    melody
        Whether the corpus has melody rows (False for Experiment 1).
    """

    n_segments: int
    seed: int
    melody: bool


def training_corpus_recipe(model: ComposerModel) -> CorpusRecipe:
    """The corpus recipe stored in a model's meta (``corpus`` and ``train`` entries).

    Models trained on a MIDI folder, or without that meta, get the default synthetic corpus of
    their form (seed 0, 4096 choruses).
    """
    meta = model.meta or {}
    corpus = meta.get("corpus") or {}
    train = meta.get("train") or {}
    seed = int(corpus.get("seed", train.get("seed", 0)))
    if corpus.get("source", "synthetic") != "synthetic" or seed < 0:
        seed = 0
    n = int(train.get("n_segments", corpus.get("n_sequences", 4096)))
    return CorpusRecipe(n, seed, bool(model.config.has_melody))


def chord_classes(chords: torch.Tensor, vocab: torch.Tensor) -> torch.Tensor:
    """Index of the nearest vocabulary chord (fewest differing units) of each chord vector.

    Parameters
    ----------
    chords
        ``(..., n_chord)`` binary chord units.
    vocab
        ``(n_vocab, n_chord)`` binary vocabulary.

    Returns
    -------
    torch.Tensor
        ``(...)`` int64 indices into ``vocab`` (ties: the earlier entry).
    """
    on = (chords > 0.5).to(vocab.dtype)
    # Hamming distance = |c| + |v| - 2 c.v
    dist = on.sum(-1, keepdim=True) + vocab.sum(-1) - 2.0 * (on @ vocab.t())  # (..., n_vocab)
    return dist.argmin(dim=-1)


def build_model(config: ComposerConfig, *, seed: int = 0) -> ComposerModel:
    """A freshly initialised :class:`ComposerModel` (weights seeded by ``seed``)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        net = BluesLSTM(config)
    return ComposerModel(net, config, {})


def as_model(model: ComposerModel | BluesLSTM) -> ComposerModel:
    """``model`` as a :class:`ComposerModel` (a bare network gets an empty meta).

    Raises
    ------
    InvalidConfigError
        Neither a :class:`ComposerModel` nor a :class:`BluesLSTM`.
    """
    if isinstance(model, ComposerModel):
        return model
    if isinstance(model, BluesLSTM):
        return ComposerModel(model, model.config, {})
    raise InvalidConfigError(
        f"model: expected a ComposerModel or BluesLSTM, got {type(model).__name__}"
    )


class Population(nn.Module):
    """``R`` independent block-LSTM composers trained at once in one fused LSTM kernel.

    The members' blocks are stacked with block-diagonal input/recurrent/output masks, so no
    member sees another's cells: the members are exactly ``R`` separately initialised networks
    (random restarts), trained on the same batches; Adam's per-weight updates keep them
    independent. Small LSTMs often sit on a plateau before they find the counting solution that
    keeps the 12-bar form; running several seeds side by side costs little more than one (the
    step loop dominates) and the first member that keeps the form is kept.
    """

    out_mask: torch.Tensor  # buffer (R * n_out, R * n_cells + n_in), block-diagonal

    def __init__(self, members: list[BluesLSTM]) -> None:
        super().__init__()
        m0 = members[0]
        r = len(members)
        rnn0 = m0.rnn
        assert isinstance(rnn0, BlockLSTM)
        self.r, self.cfg = r, m0.config
        self.nb, self.cpb, self.nc = rnn0.n_blocks, rnn0.cpb, rnn0.n_cells
        self.n_in, self.n_out = m0.n_in, m0.n_out
        eye = np.eye(r, dtype=bool)
        self.rnn = BlockLSTM(
            self.n_in, r * self.nb, self.cpb,
            in_mask=np.tile(rnn0.in_mask_blocks, (r, 1)),
            rec_mask=np.kron(eye, rnn0.rec_mask_blocks),
        )  # fmt: skip
        big_out = np.zeros((r * self.n_out, r * self.nc + self.n_in), bool)
        om = m0.out_mask.numpy().astype(bool)
        self.out = nn.Linear(r * self.nc + self.n_in, r * self.n_out)
        for k in range(r):
            big_out[np.ix_(*self._out_idx(k))] = om
        self.register_buffer("out_mask", torch.as_tensor(big_out, dtype=torch.float32))
        with torch.no_grad():
            for k, m in enumerate(members):
                self._copy(k, m, to_member=False)

    def _rows(self, k: int) -> np.ndarray:
        """Rows of member ``k``'s pre-activations ``[g cells, i, f, o]`` in the big matrices."""
        nc, nb, big_nc, big_nb = self.nc, self.nb, self.r * self.nc, self.r * self.nb
        parts = [k * nc + np.arange(nc)]
        parts += [big_nc + g * big_nb + k * nb + np.arange(nb) for g in range(3)]
        return np.concatenate(parts)

    def _cells(self, k: int) -> np.ndarray:
        return k * self.nc + np.arange(self.nc)

    def _out_idx(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        cols = np.concatenate([self._cells(k), self.r * self.nc + np.arange(self.n_in)])
        return k * self.n_out + np.arange(self.n_out), cols

    def _copy(self, k: int, m: BluesLSTM, *, to_member: bool) -> None:
        """Copy member ``k``'s weights from ``m`` into the population, or back (``to_member``)."""
        rnn = m.rnn
        assert isinstance(rnn, BlockLSTM)
        rows, cells = torch.as_tensor(self._rows(k)), torch.as_tensor(self._cells(k))
        orow, ocol = (torch.as_tensor(a) for a in self._out_idx(k))
        # (member tensor, population tensor, its rows, its columns or None for all)
        pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]] = [
            (rnn.w_in, self.rnn.w_in, rows, None),
            (rnn.w_rec, self.rnn.w_rec, rows, cells),
            (rnn.bias, self.rnn.bias, rows, None),
            (m.out.weight, self.out.weight, orow, ocol),
            (m.out.bias, self.out.bias, orow, None),
        ]
        for small, big, r_idx, c_idx in pairs:
            if c_idx is None:
                if to_member:
                    small.copy_(big[r_idx])
                else:
                    big[r_idx] = small
            elif to_member:
                small.copy_(big[r_idx][:, c_idx])
            else:
                big[r_idx.unsqueeze(1), c_idx.unsqueeze(0)] = small

    def member(self, k: int) -> BluesLSTM:
        """A standalone copy of member ``k``."""
        net = BluesLSTM(self.cfg)
        with torch.no_grad():
            self._copy(k, net, to_member=True)
        return net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, steps, R, n_out)`` of every member for the shared input."""
        h, _ = self.rnn(x)
        feats = torch.cat([h, x], dim=-1)
        logits = nn.functional.linear(feats, self.out.weight * self.out_mask, self.out.bias)
        return logits.reshape(*logits.shape[:2], self.r, self.n_out)


# --------------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------------
def save_composer(
    path: str | Path,
    model: ComposerModel | BluesLSTM,
    *,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Save a composer checkpoint (kind ``"composer"``) atomically.

    ``meta`` is merged over the model's own meta (training summary, corpus, settings); pass
    ``result.model`` to save a :class:`~core.blues.train.ComposerTrainResult`.
    """
    m = as_model(model)
    full_meta = {**m.meta, **(meta or {})}
    state = {k: v.detach().clone() for k, v in m.net.state_dict().items()}
    return save_checkpoint(
        path, kind=KIND, config=m.config.to_dict(), state_dict=state, meta=full_meta
    )


def load_composer(path: str | Path) -> ComposerModel:
    """Load a composer checkpoint.

    Raises
    ------
    CheckpointError
        Missing/corrupt file, another kind of checkpoint, or weights that do not fit the config.
    """
    payload = load_checkpoint(path, kind=KIND)
    try:
        config = ComposerConfig.from_dict(payload["config"])
    except (TypeError, InvalidConfigError) as exc:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has an invalid composer config: {exc}"
        ) from exc
    net = BluesLSTM(config)
    try:
        net.load_state_dict(payload["state_dict"])
    except Exception as exc:
        raise checkpoint_error_for_state(path, exc) from exc
    net.eval()
    return ComposerModel(net, config, dict(payload.get("meta") or {}))


def default_checkpoint(experiment: int = 2) -> Path:
    """Path of the shipped checkpoint of Experiment 1 or 2."""
    return assets_dir() / "composer" / f"exp{int(experiment)}.pt"
