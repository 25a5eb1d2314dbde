"""Eck & Schmidhuber's (2002) blues LSTM in torch: models, training, composition.

Experiments (``ComposerConfig.experiment``):

- **1** — chords only: 4 cell blocks x 2 cells, fully recurrent, blocks connected to the chord
  input; outputs connected to all cells and to the input.
- **2** — melody + chords: 8 blocks x 2 cells. The 4 chord blocks see the chord input and recur
  onto themselves and into the melody blocks; the 4 melody blocks see the whole input and recur only
  within the melody blocks. Chord outputs read chord cells (and chord inputs) only, so melody
  information never reaches the chords. Implemented with masked input, recurrent and output
  weight matrices in :class:`BlockLSTM`.
- **0** — a modern ``nn.LSTM`` (configurable size/layers) on chords + melody, for comparison.

Deviations from the 2002 LSTM, documented because the papers' networks cannot be rebuilt exactly
in torch (and some of their details are reconstructed, see ``shared/PAPERS.md``):

- gates (input, forget, output; one each per block, shared by the block's cells) have no peephole
  connections; squashing functions are ``tanh`` (the originals used scaled logistic functions);
- training uses full back-propagation through time over whole sequences of two concatenated
  choruses (the original used truncated RTRL/BPTT hybrids) and Adam (lr 5e-3, element-wise
  gradient clipping) instead of SGD with lr 1e-5 and momentum 0.9, so that a model learns the
  form in minutes on a CPU, not days;
- several independently initialised networks ("restarts", default 8) are trained side by side in
  one fused, block-diagonally masked LSTM; after every epoch each runs free for 24 bars and the
  first to keep the form (>= 0.99 of steps, confirmed over 100 bars) is kept. Small LSTMs sit on
  a plateau for a seed-dependent time before they find the counting solution; restarts make the
  training time predictable. Each shipped checkpoint is one ordinary 4x2 or 8x2 network;
- forget-gate biases start at +1 (Gers et al. 2000), varied 1..4 across restarts; other weights
  uniform in +-0.1 (``init="chrono"`` offers chrono initialisation instead);
- the block LSTM runs on torch's fused LSTM kernel with block-expanded, masked weights (the cells
  of a block share their gates exactly); :meth:`BlockLSTM.forward_reference` writes the same
  equations out step by step and the tests check both agree;
- ``melody_output="softmax"`` (13 melody notes + a rest unit, cross-entropy) is our addition that
  addresses the papers' caveat that the sigmoid outputs treat notes as independent.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from core.blues import BluesCorpus, BluesForm, make_corpus
from core.checkpoint import checkpoint_error_for_state, load_checkpoint, save_checkpoint
from core.errors import CheckpointError, InvalidConfigError
from core.types import FloatArray

KIND = "composer"

ProgressFn = Callable[[int, int, float, float], None]


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

    def __post_init__(self) -> None:
        if self.experiment not in (0, 1, 2):
            raise InvalidConfigError(f"experiment: expected 0, 1 or 2, got {self.experiment!r}")
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
        :class:`_Population`); the first that keeps the form is returned. Experiment 0 trains one.
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

    def __post_init__(self) -> None:
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
class BlockLSTM(nn.Module):
    """LSTM with memory-cell blocks (shared gates per block), no peepholes, masked weights.

    Parameters
    ----------
    n_in
        Input units.
    n_blocks, cells_per_block
        Blocks and cells per block; ``n_cells = n_blocks * cells_per_block``.
    in_mask
        ``(n_blocks, n_in)`` bool: which inputs feed each block (cell input and gates).
    rec_mask
        ``(n_blocks, n_blocks)`` bool: ``rec_mask[i, j]`` lets block ``j``'s cell outputs at
        ``t - 1`` reach block ``i`` at ``t``.
    """

    def __init__(
        self,
        n_in: int,
        n_blocks: int,
        cells_per_block: int,
        *,
        in_mask: np.ndarray | None = None,
        rec_mask: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        self.n_in, self.n_blocks, self.cpb = n_in, n_blocks, cells_per_block
        self.n_cells = n_blocks * cells_per_block
        n_rows = self.n_cells + 3 * n_blocks  # cell inputs, then input/forget/output gates
        # which block each pre-activation row belongs to
        row_block = np.concatenate(
            [np.repeat(np.arange(n_blocks), cells_per_block)] + [np.arange(n_blocks)] * 3
        )
        col_block = np.repeat(np.arange(n_blocks), cells_per_block)
        self.row_block = row_block
        in_m = np.ones((n_blocks, n_in), bool) if in_mask is None else np.asarray(in_mask, bool)
        rec_m = (
            np.ones((n_blocks, n_blocks), bool) if rec_mask is None else np.asarray(rec_mask, bool)
        )
        self.in_mask_blocks, self.rec_mask_blocks = in_m, rec_m
        self.register_buffer("w_in_mask", torch.as_tensor(in_m[row_block], dtype=torch.float32))
        self.register_buffer(
            "w_rec_mask", torch.as_tensor(rec_m[row_block][:, col_block], dtype=torch.float32)
        )
        self.w_in = nn.Parameter(torch.empty(n_rows, n_in))
        self.w_rec = nn.Parameter(torch.empty(n_rows, self.n_cells))
        self.bias = nn.Parameter(torch.zeros(n_rows))
        nn.init.uniform_(self.w_in, -0.1, 0.1)
        nn.init.uniform_(self.w_rec, -0.1, 0.1)
        with torch.no_grad():
            b = self.n_cells
            self.bias[b + n_blocks : b + 2 * n_blocks] = 1.0  # forget gates start open
        # a template nn.LSTM run with our weights via functional_call; kept in a list so that its
        # own (unused) parameters are not registered
        self._template = [nn.LSTM(n_in, self.n_cells, batch_first=True)]

    def _expand(self, w: torch.Tensor) -> torch.Tensor:
        """Block rows ``[g (cells), i, f, o (blocks)]`` -> ``nn.LSTM`` rows ``[i, f, g, o]``.

        A block's gate row is repeated for each of its cells, so the cells of a block share
        their gates exactly (gradients of the copies add up on the shared parameters).
        """
        nc, nb = self.n_cells, self.n_blocks

        def rep(z: torch.Tensor) -> torch.Tensor:
            return z.repeat_interleave(self.cpb, dim=0)

        g, i, f, o = w[:nc], w[nc : nc + nb], w[nc + nb : nc + 2 * nb], w[nc + 2 * nb :]
        return torch.cat([rep(i), rep(f), g, rep(o)], dim=0)

    def lstm_weights(self) -> dict[str, torch.Tensor]:
        """Masked, block-expanded weights in ``nn.LSTM`` layout (for ``functional_call``)."""
        return {
            "weight_ih_l0": self._expand(self.w_in * self.w_in_mask),
            "weight_hh_l0": self._expand(self.w_rec * self.w_rec_mask),
            "bias_ih_l0": self._expand(self.bias),
            "bias_hh_l0": self.bias.new_zeros(4 * self.n_cells),
        }

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Run over a sequence (torch's fused LSTM kernel with the block-expanded weights).

        Parameters
        ----------
        x
            ``(batch, steps, n_in)``.
        state
            ``(h, c)`` each ``(batch, n_cells)``; zeros when None.

        Returns
        -------
        h_seq : torch.Tensor
            Cell outputs ``(batch, steps, n_cells)``.
        state : tuple of torch.Tensor
            Final ``(h, c)``, each ``(batch, n_cells)``.
        """
        from torch.func import functional_call

        hx = None if state is None else (state[0][None], state[1][None])
        h_seq, (h, c) = functional_call(self._template[0], self.lstm_weights(), (x, hx))
        return h_seq, (h[0], c[0])

    def forward_reference(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """The same computation as :meth:`forward`, written out step by step (slow; for tests).

        Per step: ``z = W_in x_t + W_rec h_{t-1} + b``; cell input ``g = tanh(z_g)``; block gates
        ``i, f, o = sigmoid(z_i), sigmoid(z_f), sigmoid(z_o)`` shared by the block's cells;
        ``c_t = f * c_{t-1} + i * g``; ``h_t = o * tanh(c_t)``.
        """
        batch, steps, _ = x.shape
        nc = self.n_cells
        if state is None:
            h = x.new_zeros(batch, nc)
            c = x.new_zeros(batch, nc)
        else:
            h, c = state
        w_rec = (self.w_rec * self.w_rec_mask).t()  # (n_cells, n_rows)
        zx = torch.nn.functional.linear(x, self.w_in * self.w_in_mask, self.bias)
        outs = []
        for t in range(steps):
            z = zx[:, t] + h @ w_rec  # (batch, n_rows)
            g = torch.tanh(z[:, :nc])  # cell input, (batch, n_cells)
            # block gates [i, f, o] x n_blocks, each expanded to the block's cells
            gates = torch.sigmoid(z[:, nc:]).repeat_interleave(self.cpb, dim=1)
            i, f, o = gates[:, :nc], gates[:, nc : 2 * nc], gates[:, 2 * nc :]
            c = f * c + i * g
            h = o * torch.tanh(c)
            outs.append(h)
        return torch.stack(outs, dim=1), (h, c)


class BluesLSTM(nn.Module):
    """A blues composer network (one of the three experiments).

    ``forward(x)`` maps inputs ``(batch, steps, n_in)`` (binary rolls, time-major per batch) to
    output logits ``(batch, steps, n_out)``: ``n_chord`` chord logits, then ``n_melody`` melody
    logits (sigmoid) or ``n_melody + 1`` melody logits incl. rest (softmax).
    """

    def __init__(self, config: ComposerConfig) -> None:
        super().__init__()
        self.config = config
        f = config.form
        self.n_in = config.n_in
        n_mel_out = 0
        if config.has_melody:
            n_mel_out = f.n_melody + (1 if config.melody_output == "softmax" else 0)
        self.n_out = f.n_chord + n_mel_out
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
            out_mask[: f.n_chord, cb * cpb : n_hidden] = False
            out_mask[: f.n_chord, n_hidden + f.n_chord :] = False
        if not config.input_to_output:
            out_mask[:, n_hidden:] = False
        self.n_hidden = n_hidden
        self.out = nn.Linear(n_hidden + self.n_in, self.n_out)
        self.register_buffer("out_mask", torch.as_tensor(out_mask, dtype=torch.float32))

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

        Chords: sigmoid. Melody: sigmoid, or softmax over notes + rest with the rest dropped.
        """
        nc = self.config.form.n_chord
        pc = torch.sigmoid(logits[..., :nc])
        if not self.config.has_melody:
            return pc
        if self.config.melody_output == "softmax":
            pm = torch.softmax(logits[..., nc:], dim=-1)[..., :-1]
        else:
            pm = torch.sigmoid(logits[..., nc:])
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


def build_model(config: ComposerConfig, *, seed: int = 0) -> ComposerModel:
    """A freshly initialised :class:`ComposerModel` (weights seeded by ``seed``)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        net = BluesLSTM(config)
    return ComposerModel(net, config, {})


class _Population(nn.Module):
    """``R`` independent block-LSTM composers trained at once in one fused LSTM kernel.

    The members' blocks are stacked with block-diagonal input/recurrent/output masks, so no
    member sees another's cells: the members are exactly ``R`` separately initialised networks
    (random restarts), trained on the same batches; Adam's per-weight updates keep them
    independent. Small LSTMs often sit on a plateau before they find the counting solution that
    keeps the 12-bar form; running several seeds side by side costs little more than one (the
    step loop dominates) and the first member that keeps the form is kept.
    """

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
        rows, cells = torch.as_tensor(self._rows(k)), torch.as_tensor(self._cells(k))
        orow, ocol = (torch.as_tensor(a) for a in self._out_idx(k))
        pairs = [
            (m.rnn.w_in, self.rnn.w_in, (rows, slice(None))),
            (m.rnn.w_rec, self.rnn.w_rec, (rows, cells)),
            (m.rnn.bias, self.rnn.bias, (rows,)),
            (m.out.weight, self.out.weight, (orow, ocol)),
            (m.out.bias, self.out.bias, (orow,)),
        ]
        for small, big, idx in pairs:
            if len(idx) == 2 and not isinstance(idx[1], slice):
                sel = big[idx[0]][:, idx[1]]
            else:
                sel = big[idx]
            if to_member:
                small.copy_(sel)
            elif len(idx) == 2 and not isinstance(idx[1], slice):
                big[idx[0].unsqueeze(1), idx[1].unsqueeze(0)] = small
            else:
                big[idx] = small

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
# loss and training
# --------------------------------------------------------------------------------------------
def _melody_targets(target: torch.Tensor, form: BluesForm) -> torch.Tensor:
    """Class index (0..n_melody-1, n_melody = rest) of the highest melody unit on per step."""
    mel = target[..., form.n_chord :]  # (batch, steps, n_melody)
    idx = torch.arange(1, form.n_melody + 1, dtype=mel.dtype, device=mel.device)
    top = (mel > 0.5).to(mel.dtype) * idx
    cls = top.max(dim=-1).values.long() - 1
    return torch.where(cls < 0, torch.full_like(cls, form.n_melody), cls)


def sequence_loss(
    net: BluesLSTM, logits: torch.Tensor, target: torch.Tensor, *, chords_only: bool = False
) -> torch.Tensor:
    """Mean next-step loss in nats per step.

    Sum over chord units (and sigmoid melody units) of binary cross-entropy, plus melody
    cross-entropy in softmax mode; averaged over batch and steps.

    Parameters
    ----------
    logits
        ``(batch, steps, n_out)``.
    target
        ``(batch, steps, n_in)`` binary (the input shifted by one step).
    """
    cfg = net.config
    nc = cfg.form.n_chord
    if chords_only:
        total = nn.functional.binary_cross_entropy_with_logits(
            logits[..., :nc], target[..., :nc], reduction="sum"
        )
    elif cfg.has_melody and cfg.melody_output == "softmax":
        bce = nn.functional.binary_cross_entropy_with_logits(
            logits[..., :nc], target[..., :nc], reduction="sum"
        )
        cls = _melody_targets(target, cfg.form)
        ce = nn.functional.cross_entropy(
            logits[..., nc:].reshape(-1, cfg.form.n_melody + 1), cls.reshape(-1), reduction="sum"
        )
        total = bce + ce
    else:
        total = nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="sum")
    return total / (target.shape[0] * target.shape[1])


def population_loss(
    net: BluesLSTM, logits: torch.Tensor, target: torch.Tensor, *, chords_only: bool = False
) -> torch.Tensor:
    """:func:`sequence_loss` of every population member at once.

    Parameters
    ----------
    logits
        ``(batch, steps, R, n_out)``.
    target
        ``(batch, steps, n_in)``.

    Returns
    -------
    torch.Tensor
        ``(R,)`` losses in nats per step.
    """
    cfg = net.config
    nc = cfg.form.n_chord
    b, t, r, _ = logits.shape
    tgt = target[:, :, None, :].expand(b, t, r, target.shape[-1])
    if chords_only:
        total = nn.functional.binary_cross_entropy_with_logits(
            logits[..., :nc], tgt[..., :nc], reduction="none"
        ).sum(dim=(0, 1, 3))
    elif cfg.has_melody and cfg.melody_output == "softmax":
        bce = nn.functional.binary_cross_entropy_with_logits(
            logits[..., :nc], tgt[..., :nc], reduction="none"
        ).sum(dim=(0, 1, 3))
        cls = _melody_targets(target, cfg.form)[:, :, None].expand(b, t, r)
        ce = (
            nn.functional.cross_entropy(
                logits[..., nc:].reshape(-1, cfg.form.n_melody + 1),
                cls.reshape(-1),
                reduction="none",
            )
            .reshape(b, t, r)
            .sum(dim=(0, 1))
        )
        total = bce + ce
    else:
        total = nn.functional.binary_cross_entropy_with_logits(logits, tgt, reduction="none").sum(
            dim=(0, 1, 3)
        )
    return total / (b * t)


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train_composer`.

    Attributes
    ----------
    model
        The trained :class:`ComposerModel` (meta filled with the training summary).
    history
        One dict per epoch: ``epoch``, ``loss`` (nats/step), ``form_accuracy`` (free-running,
        ``stop_bars`` bars), ``seconds`` (elapsed).
    stopped_early
        True when training stopped because the form was learned.
    epochs_run
        Epochs actually run.
    seconds
        Wall-clock training time.
    summary
        Final measures: ``form_accuracy_100`` (100 free-running bars), ``held_out_nll``, ...
    """

    model: ComposerModel
    history: list[dict[str, float]]
    stopped_early: bool
    epochs_run: int
    seconds: float
    summary: dict[str, float]


def _sequences(corpus: BluesCorpus, n_in: int, k: int) -> torch.Tensor:
    """Group consecutive sequences ``k`` at a time: ``(n_groups, k * steps, n_in)`` float32."""
    s = corpus.sequences[:, :n_in, :]  # (n_seq, n_in, steps)
    n = (s.shape[0] // k) * k
    if n == 0:
        k, n = s.shape[0], s.shape[0]
    g = s[:n].reshape(n // k, k, n_in, -1).transpose(0, 2, 1, 3).reshape(n // k, n_in, -1)
    return torch.from_numpy(np.ascontiguousarray(g.transpose(0, 2, 1)))


def train_composer(
    config: TrainConfig,
    *,
    progress: ProgressFn | None = None,
    corpus: BluesCorpus | None = None,
) -> TrainResult:
    """Train a blues LSTM by next-step prediction over concatenated choruses.

    Parameters
    ----------
    config
        Architecture and training settings.
    progress
        Called after every epoch as ``progress(epoch, n_epochs, loss, form_accuracy)`` (epoch
        1-based; loss in nats/step; form accuracy of ``stop_bars`` free-running bars, 0..1).
    corpus
        Training data; default :func:`core.blues.make_corpus` with the config's form, seed and
        ``n_segments`` (chords only for Experiment 1).

    Returns
    -------
    TrainResult

    Raises
    ------
    InvalidConfigError
        The corpus layout does not match the model's form.
    """
    from core.composer_measures import form_accuracy

    mcfg = config.model
    form = mcfg.form
    if corpus is None:
        corpus = make_corpus(
            form=form, n_segments=config.n_segments, seed=config.seed, melody=mcfg.has_melody
        )
    if corpus.form.n_units != form.n_units or corpus.sequences.shape[1] != form.n_units:
        raise InvalidConfigError(
            f"corpus: rows {corpus.sequences.shape[1]} do not match the model's form "
            f"({form.n_units} units)"
        )
    held = None
    train_corpus = corpus
    if config.held_out > 0 and corpus.sequences.shape[0] >= 4:
        train_corpus, held = corpus.split(held_out=config.held_out)
    data = _sequences(train_corpus, mcfg.n_in, config.choruses_per_sequence)
    n_pop = 1 if mcfg.experiment == 0 else int(config.restarts)
    members = [build_model(mcfg, seed=config.seed * 1000 + k).net for k in range(n_pop)]
    if config.init == "gers" and mcfg.experiment != 0 and n_pop > 1:
        # diversity across restarts: forget-gate biases 1, 2, 3, 4, 1, ... (longer initial memory
        # helps a member find the 32-step counts of the form; which one works varies by seed)
        with torch.no_grad():
            for k, net in enumerate(members):
                rnn = net.rnn
                assert isinstance(rnn, BlockLSTM)
                nc, nb = rnn.n_cells, rnn.n_blocks
                rnn.bias[nc + nb : nc + 2 * nb] = 1.0 + (k % 4)
    if config.init == "chrono" and mcfg.experiment != 0:
        # chrono initialisation (Tallec & Ollivier 2018): forget bias log(u), input bias -log(u),
        # u ~ U(1, T - 1) with T = one chorus, so cells start with memories of 1..T steps
        g = torch.Generator().manual_seed(int(config.seed) + 7)
        t_max = float(form.steps_per_chorus)
        with torch.no_grad():
            for net in members:
                rnn = net.rnn
                assert isinstance(rnn, BlockLSTM)
                nc, nb = rnn.n_cells, rnn.n_blocks
                u = 1.0 + torch.rand(nb, generator=g) * (t_max - 2.0)
                rnn.bias[nc + nb : nc + 2 * nb] = torch.log(u)
                rnn.bias[nc : nc + nb] = -torch.log(u)
    trainee: nn.Module = members[0] if n_pop == 1 else _Population(members)
    opt = torch.optim.Adam(trainee.parameters(), lr=config.lr)
    gen = torch.Generator().manual_seed(int(config.seed))
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    stopped = False
    epoch = 0
    best = 0
    model = ComposerModel(members[0], mcfg, {})
    # Experiment 2 in two stages: the chord blocks learn the form first (chord loss only), then
    # the melody blocks learn the melody with the chord side frozen
    staged = bool(config.chord_first and mcfg.experiment == 2)
    for epoch in range(1, int(config.epochs) + 1):
        trainee.train()
        order = torch.randperm(data.shape[0], generator=gen)
        totals = torch.zeros(n_pop, dtype=torch.float64)
        count = 0
        for start in range(0, data.shape[0], config.batch_size):
            batch = data[order[start : start + config.batch_size]]  # (b, steps, n_in)
            if n_pop == 1:
                logits, _ = members[0](batch[:, :-1])
                losses = sequence_loss(members[0], logits, batch[:, 1:], chords_only=staged)[None]
            else:
                logits = trainee(batch[:, :-1])  # (b, steps, R, n_out)
                losses = population_loss(
                    members[0], logits, batch[:, 1:], chords_only=staged
                )  # (R,)
            opt.zero_grad(set_to_none=True)
            losses.sum().backward()  # members share no weights: each gets its own gradient
            if config.grad_clip > 0:
                nn.utils.clip_grad_value_(trainee.parameters(), config.grad_clip)
            opt.step()
            totals += losses.detach().double() * batch.shape[0]
            count += batch.shape[0]
        mean_losses = (totals / max(count, 1)).tolist()
        if n_pop == 1:
            nets = members
            comp = compose(
                ComposerModel(nets[0], mcfg, {}), bars=config.stop_bars, seed=config.seed
            )
            accs = [form_accuracy(comp.roll, form=form)]
        else:
            accs = _population_form_check(trainee, bars=config.stop_bars)
            nets = [trainee.member(k) for k in range(n_pop)]
        # best member: highest free-running form accuracy, then lowest loss
        best = max(range(n_pop), key=lambda k: (accs[k], -mean_losses[k]))
        model = ComposerModel(nets[best], mcfg, {})
        loss, acc = mean_losses[best], accs[best]
        history.append({"epoch": float(epoch), "loss": loss, "form_accuracy": acc,
                        "seconds": time.perf_counter() - t0, "member": float(best)})  # fmt: skip
        if progress is not None:
            progress(epoch, int(config.epochs), loss, acc)
        if config.early_stop and acc >= config.stop_accuracy:
            long = compose(model, bars=config.confirm_bars, seed=config.seed)
            if form_accuracy(long.roll, form=form) >= config.stop_accuracy:
                stopped = True
                break
    if staged:
        acc = history[-1]["form_accuracy"] if history else 0.0
        for _ in range(int(config.melody_epochs)):
            loss = _train_melody_epoch(model.net, data, config, gen)
            epoch += 1
            history.append(
                {
                    "epoch": float(epoch),
                    "loss": loss,
                    "form_accuracy": acc,
                    "seconds": time.perf_counter() - t0,
                    "member": float(best),
                }
            )
            if progress is not None:
                progress(epoch, int(config.epochs) + int(config.melody_epochs), loss, acc)
    seconds = time.perf_counter() - t0
    summary = summarize_model(model, held_out=held, bars=100, seed=config.seed)
    summary["train_seconds"] = round(seconds, 2)
    summary["epochs_run"] = float(epoch)
    summary["final_loss"] = history[-1]["loss"] if history else float("nan")
    summary["restarts"] = float(n_pop)
    summary["member"] = float(best)
    model.meta.update(
        {
            "train": config.to_dict(),
            "summary": summary,
            "stopped_early": stopped,
            "corpus": {
                "source": corpus.source,
                "seed": corpus.seed,
                "n_sequences": int(corpus.sequences.shape[0]),
            },  # fmt: skip
        }
    )
    return TrainResult(model, history, stopped, epoch, seconds, summary)


def _train_melody_epoch(
    net: BluesLSTM, data: torch.Tensor, config: TrainConfig, gen: torch.Generator
) -> float:
    """One epoch of the full loss with the chord side of an Experiment 2 net frozen.

    Frozen: the chord blocks' input, recurrent and bias rows and the chord output rows. Chord
    outputs read only chord cells and chord inputs, so the learned form cannot change.
    """
    rnn = net.rnn
    assert isinstance(rnn, BlockLSTM)
    cb = net.config.chord_blocks
    nc = net.config.form.n_chord
    keep_rows = torch.as_tensor(rnn.row_block >= cb, dtype=torch.float32)[:, None]
    keep_out = torch.ones(net.n_out, 1)
    keep_out[:nc] = 0.0
    masks = {
        id(rnn.w_in): keep_rows, id(rnn.w_rec): keep_rows, id(rnn.bias): keep_rows[:, 0],
        id(net.out.weight): keep_out, id(net.out.bias): keep_out[:, 0],
    }  # fmt: skip
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    net.train()
    order = torch.randperm(data.shape[0], generator=gen)
    total, count = 0.0, 0
    for start in range(0, data.shape[0], config.batch_size):
        batch = data[order[start : start + config.batch_size]]
        logits, _ = net(batch[:, :-1])
        loss = sequence_loss(net, logits, batch[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for p in net.parameters():
            if p.grad is not None and id(p) in masks:
                p.grad.mul_(masks[id(p)])
        if config.grad_clip > 0:
            nn.utils.clip_grad_value_(net.parameters(), config.grad_clip)
        opt.step()
        total += float(loss.detach()) * batch.shape[0]
        count += batch.shape[0]
    net.eval()
    return total / max(count, 1)


def summarize_model(
    model: ComposerModel,
    *,
    held_out: BluesCorpus | None = None,
    bars: int = 100,
    seed: int = 0,
) -> dict[str, float]:
    """Key measures of a model, as a flat dict of floats.

    Form accuracy over ``bars`` free-running bars (threshold rule), per-window accuracies,
    melody statistics and, with ``held_out``, the held-out NLL.
    """
    from core.composer_measures import measure_composition

    comp = compose(model, bars=bars, seed=seed)
    m = measure_composition(comp)
    out = {f"form_accuracy_{bars}": m["form_accuracy"]}
    for k, v in m.items():
        if k != "form_accuracy":
            out[k] = v
    if held_out is not None:
        out["held_out_nll"] = held_out_nll(model, held_out)
    return {k: (round(float(v), 6) if isinstance(v, float) else float(v)) for k, v in out.items()}


# --------------------------------------------------------------------------------------------
# inference
# --------------------------------------------------------------------------------------------
def _as_model(model: ComposerModel | BluesLSTM) -> ComposerModel:
    if isinstance(model, ComposerModel):
        return model
    if isinstance(model, BluesLSTM):
        return ComposerModel(model, model.config, {})
    raise InvalidConfigError(
        f"model: expected a ComposerModel or BluesLSTM, got {type(model).__name__}"
    )


def predict_probs(model: ComposerModel | BluesLSTM, roll: FloatArray) -> FloatArray:
    """Teacher-forced next-step probabilities.

    Parameters
    ----------
    roll
        ``(n_units, steps)`` binary input.

    Returns
    -------
    numpy.ndarray
        ``(n_units, steps)`` float32: column ``t`` is the model's prediction for step ``t + 1``
        given steps ``0..t`` (melody rows are 0 for Experiment 1).
    """
    m = _as_model(model)
    form = m.form
    roll = np.asarray(roll, np.float32)
    if roll.ndim != 2 or roll.shape[0] != form.n_units:
        raise InvalidConfigError(
            f"roll: expected shape ({form.n_units}, steps), got {tuple(roll.shape)}"
        )
    m.net.eval()
    with torch.inference_mode():
        x = torch.from_numpy(roll[: m.config.n_in].T.copy())[None]
        logits, _ = m.net(x)
        p = m.net.probs(logits)[0].numpy().T
    out = np.zeros((form.n_units, roll.shape[1]), np.float32)
    out[: p.shape[0]] = p
    return out


def held_out_nll(model: ComposerModel | BluesLSTM, corpus: BluesCorpus) -> float:
    """Frame-level negative log-likelihood (nats per step) of ``corpus`` under the model.

    Each sequence is predicted teacher-forced; the NLL of steps ``1..T-1`` is averaged. Melody
    events are scored as the model defines them (independent Bernoulli units, or one categorical
    choice incl. rest), so sigmoid and softmax models are comparable on the same data.
    """
    from core.composer_measures import nll

    m = _as_model(model)
    cat = m.config.has_melody and m.config.melody_output == "softmax"
    vals = []
    for seq in corpus.sequences:
        p = predict_probs(m, seq)
        units = slice(0, m.config.n_in)
        vals.append(
            nll(
                p[units, :-1],
                seq[units, 1:],
                form=m.form,
                melody="categorical" if cat else "bernoulli",
            )  # fmt: skip
        )
    return float(np.mean(vals))


@dataclass(frozen=True)
class Composition:
    """A free-running composition.

    Attributes
    ----------
    roll
        ``(n_units, steps)`` float32 binary; the first ``n_prime_steps`` are the prime.
    probs
        ``(n_units, steps)`` float32: column ``t`` holds the probabilities from which step ``t``
        was chosen (the prime's columns hold the model's teacher-forced predictions, column 0 is
        0 when nothing precedes it).
    form
        The layout / progression (the prime is taken to start at bar 0).
    n_prime_steps
        Steps given as prime (1 = the default one-step prime, see :func:`default_prime`).
    seed
        Sampling seed.
    settings
        ``mode``, ``threshold``, ``temperature``, ``bars``, ``experiment``, ``melody_output``.
    """

    roll: FloatArray
    probs: FloatArray
    form: BluesForm
    n_prime_steps: int
    seed: int
    settings: dict[str, Any]

    @property
    def steps(self) -> int:
        """Total steps."""
        return int(self.roll.shape[1])

    @property
    def bars(self) -> float:
        """Length in bars."""
        return self.steps / self.form.steps_per_bar


def _choose(
    p_chord: np.ndarray,
    logits_mel: np.ndarray | None,
    p_mel: np.ndarray | None,
    *,
    cfg: ComposerConfig,
    mode: str,
    threshold: float,
    temperature: float,
    rng: np.random.Generator,
    l_chord: np.ndarray,
    sample_chords: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Pick one step's binary chord and melody vectors."""
    if mode == "threshold" or not sample_chords:
        chord = (p_chord > threshold).astype(np.float32)
    else:
        pt = 1.0 / (1.0 + np.exp(-l_chord / temperature))
        chord = (rng.random(pt.shape) < pt).astype(np.float32)
    if p_mel is None or logits_mel is None:
        return chord, None
    n_mel = cfg.form.n_melody
    mel = np.zeros(n_mel, np.float32)
    if cfg.melody_output == "softmax":
        if mode == "threshold":
            k = int(np.argmax(logits_mel))  # most likely of 13 notes + rest
        else:
            z = logits_mel / temperature
            q = np.exp(z - z.max())
            q /= q.sum()
            k = int(rng.choice(q.size, p=q))
        if k < n_mel:
            mel[k] = 1.0
    else:
        if mode == "threshold":
            k = int(np.argmax(p_mel))  # Eck's rule: the most probable note if above threshold
            if p_mel[k] > threshold:
                mel[k] = 1.0
        else:
            pt = 1.0 / (1.0 + np.exp(-logits_mel / temperature))
            on = rng.random(pt.shape) < pt
            if on.any():  # keep the melody monophonic: the most probable of the sampled notes
                mel[int(np.argmax(np.where(on, pt, -1.0)))] = 1.0
    return chord, mel


def default_prime(form: BluesForm, *, melody: bool = True) -> FloatArray:
    """The one-step prime ``(n_units, 1)`` float32: chord of bar 0 (+ first fragment's note)."""
    from core.blues import melody_fragments

    prime = np.zeros((form.n_units, 1), np.float32)
    prime[: form.n_chord, 0] = form.chord_vector(0)
    if melody:
        note = melody_fragments(form, form.chord_label(0), n=1)[0][0]
        prime[form.n_chord + note - form.melody_low, 0] = 1.0
    return prime


def _stepper(
    net: BluesLSTM | _Population,
) -> Callable[[torch.Tensor, Any], tuple[torch.Tensor, Any]]:
    """A fast single-step function ``(x (B, n_in), state) -> (logits, state)`` for inference.

    For block LSTMs the masked, block-expanded weights are computed once and the step is written
    out (the same equations as :meth:`BlockLSTM.forward_reference`); Experiment 0 steps its
    ``nn.LSTM``. Population logits are ``(B, R, n_out)``.
    """
    rnn = net.rnn
    w_out = net.out.weight * net.out_mask
    b_out = net.out.bias
    if not isinstance(rnn, BlockLSTM):

        def step_lstm(x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
            h, state = rnn(x[:, None], state)
            return nn.functional.linear(torch.cat([h[:, 0], x], -1), w_out, b_out), state

        return step_lstm
    w = rnn.lstm_weights()
    w_ih, w_hh, b = w["weight_ih_l0"].t(), w["weight_hh_l0"].t(), w["bias_ih_l0"]
    nc = rnn.n_cells
    reshape = isinstance(net, _Population)

    def step_block(x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        h, c = state
        z = torch.addmm(b, x, w_ih) + h @ w_hh  # (B, 4 * n_cells): [i, f, g, o]
        i, f = torch.sigmoid(z[:, :nc]), torch.sigmoid(z[:, nc : 2 * nc])
        c = f * c + i * torch.tanh(z[:, 2 * nc : 3 * nc])
        h = torch.sigmoid(z[:, 3 * nc :]) * torch.tanh(c)
        logits = torch.addmm(b_out, torch.cat([h, x], -1), w_out.t())
        if reshape:
            logits = logits.reshape(x.shape[0], net.r, -1)
        return logits, (h, c)

    return step_block


def _population_form_check(pop: _Population, *, bars: int, threshold: float = 0.5) -> list[float]:
    """Free-running chord form accuracy of every member, all members stepped as one batch.

    Batch row ``k`` carries member ``k``'s own fed-back output (threshold rule), so this equals
    ``form_accuracy(compose(member_k, bars=bars).roll)`` for each ``k``.
    """
    from core.composer_measures import form_accuracy

    cfg, form = pop.cfg, pop.cfg.form
    r, nc, n_in = pop.r, form.n_chord, cfg.n_in
    total = int(bars) * form.steps_per_bar
    rolls = np.zeros((r, form.n_units, total), np.float32)
    rolls[:, :, :1] = default_prime(form, melody=cfg.has_melody)[None]
    diag = torch.arange(r)
    pop.eval()
    with torch.inference_mode():
        step = _stepper(pop)
        state = (torch.zeros(r, pop.rnn.n_cells), torch.zeros(r, pop.rnn.n_cells))
        for t in range(1, total):
            x = torch.from_numpy(rolls[:, :n_in, t - 1].copy())  # (R, n_in)
            logits, state = step(x, state)
            own = logits[diag, diag]  # (R, n_out)
            rolls[:, :nc, t] = (torch.sigmoid(own[:, :nc]) > threshold).numpy()
            if cfg.has_melody and cfg.melody_output == "softmax":
                top = own[:, nc:].argmax(dim=1).numpy()  # notes + rest
                on = top < form.n_melody
                rolls[np.arange(r)[on], nc + top[on], t] = 1.0
            elif cfg.has_melody:
                p_mel = torch.sigmoid(own[:, nc:]).numpy()
                top = p_mel.argmax(axis=1)
                on = p_mel[np.arange(r), top] > threshold
                rolls[np.arange(r)[on], nc + top[on], t] = 1.0
    return [form_accuracy(rolls[k], form=form) for k in range(r)]


def compose(
    model: ComposerModel | BluesLSTM,
    *,
    bars: int,
    seed: int = 0,
    mode: Literal["threshold", "sample"] = "threshold",
    threshold: float = 0.5,
    temperature: float = 1.0,
    prime: FloatArray | None = None,
    sample_chords: bool = False,
) -> Composition:
    """Compose free-running: each chosen step is fed back as the next input.

    Parameters
    ----------
    model
        A trained model.
    bars
        Bars to generate after the prime (1..2000). With the default one-step prime the
        composition is exactly ``bars`` bars long (the prime is its first step).
    seed
        Seed of the sampling generator (the threshold rule is deterministic anyway).
    mode
        ``"threshold"``: chords on where p > ``threshold``; melody: the most probable note if
        p > ``threshold`` (sigmoid) or the most probable of notes + rest (softmax).
        ``"sample"``: categorical (softmax) / Bernoulli (sigmoid, kept monophonic) melody at
        ``temperature``; chords keep the threshold rule unless ``sample_chords`` (as in the
        papers, where chords were thresholded and only the melody was chosen).
    threshold
        Decision threshold in (0, 1).
    temperature
        Sampling temperature > 0 (logits are divided by it).
    sample_chords
        In ``"sample"`` mode, also draw each chord unit from a Bernoulli at ``temperature``
        (one wrong unit is fed back and the form usually drifts: the measures show it).
    prime
        ``(n_units, k)`` binary roll starting at bar 0 of the form, or None for the one-step
        :func:`default_prime` (the first bar's chord and, for melody models, the first note of
        a training fragment, so the network starts from an input it has seen).

    Returns
    -------
    Composition

    Raises
    ------
    InvalidConfigError
        Bad ``bars``, ``mode``, ``threshold``, ``temperature`` or prime shape.
    """
    m = _as_model(model)
    cfg, form = m.config, m.form
    if not 1 <= int(bars) <= 2000:
        raise InvalidConfigError(f"bars: expected 1..2000, got {bars}")
    if mode not in ("threshold", "sample"):
        raise InvalidConfigError(f"mode: expected 'threshold' or 'sample', got {mode!r}")
    if not 0.0 < float(threshold) < 1.0:
        raise InvalidConfigError(f"threshold: expected in (0, 1), got {threshold}")
    if not (float(temperature) > 0 and math.isfinite(float(temperature))):
        raise InvalidConfigError(f"temperature: expected > 0, got {temperature}")
    if prime is None:
        prime_arr = default_prime(form, melody=cfg.has_melody)
        n_gen = int(bars) * form.steps_per_bar - 1
    else:
        prime_arr = (np.asarray(prime, np.float32) > 0.5).astype(np.float32)
        if prime_arr.ndim != 2 or prime_arr.shape[0] != form.n_units or prime_arr.shape[1] < 1:
            raise InvalidConfigError(
                f"prime: expected shape ({form.n_units}, steps >= 1), got {tuple(prime_arr.shape)}"
            )
        if not cfg.has_melody:
            prime_arr[form.n_chord :] = 0.0
        n_gen = int(bars) * form.steps_per_bar
    k = prime_arr.shape[1]
    total = k + n_gen
    roll = np.zeros((form.n_units, total), np.float32)
    probs = np.zeros((form.n_units, total), np.float32)
    roll[:, :k] = prime_arr
    rng = np.random.default_rng(int(seed))
    n_in, nc = cfg.n_in, form.n_chord
    net = m.net
    net.eval()
    with torch.inference_mode():
        x = torch.from_numpy(prime_arr[:n_in].T.copy())[None]  # (1, k, n_in)
        logits, state = net(x)
        p_all = net.probs(logits)[0].numpy()  # (k, n_model)
        probs[: p_all.shape[1], 1:k] = p_all[:-1].T
        last_logits = logits[0, -1].numpy()
        last_p = p_all[-1]
        step = _stepper(net)
        for t in range(k, total):
            probs[: last_p.size, t] = last_p
            chord, mel = _choose(
                last_p[:nc],
                last_logits[nc:] if cfg.has_melody else None,
                last_p[nc:] if cfg.has_melody else None,
                cfg=cfg, mode=mode, threshold=float(threshold),
                temperature=float(temperature), rng=rng, l_chord=last_logits[:nc],
                sample_chords=bool(sample_chords),
            )  # fmt: skip
            roll[:nc, t] = chord
            if mel is not None:
                roll[nc:, t] = mel
            if t == total - 1:
                break
            x1 = torch.from_numpy(roll[:n_in, t].copy())[None]  # (1, n_in)
            logits1, state = step(x1, state)  # (1, n_out)
            last_logits = logits1[0].numpy()
            last_p = net.probs(logits1)[0].numpy()
    settings = {"mode": mode, "threshold": float(threshold), "temperature": float(temperature),
                "sample_chords": bool(sample_chords),
                "bars": int(bars), "experiment": cfg.experiment,
                "melody_output": cfg.melody_output}  # fmt: skip
    return Composition(roll, probs, form, k, int(seed), settings)


# --------------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------------
def save_composer(
    path: str | Path,
    result_or_model: TrainResult | ComposerModel | BluesLSTM,
    *,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Save a composer checkpoint (kind ``"composer"``) atomically.

    ``meta`` is merged over the model's own meta (training summary, corpus, settings).
    """
    if isinstance(result_or_model, TrainResult):
        model = result_or_model.model
    else:
        model = _as_model(result_or_model)
    full_meta = {**model.meta, **(meta or {})}
    state = {k: v.detach().clone() for k, v in model.net.state_dict().items()}
    return save_checkpoint(
        path, kind=KIND, config=model.config.to_dict(), state_dict=state, meta=full_meta
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
    from core.paths import assets_dir

    return assets_dir() / "composer" / f"exp{int(experiment)}.pt"
