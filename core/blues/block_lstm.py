"""The block LSTM of Eck & Schmidhuber (2002): memory-cell blocks whose cells share their gates.

Deviations from the 2002 LSTM (the papers' networks cannot be rebuilt exactly in torch):

- gates (input, forget, output; one each per block, shared by the block's cells) have no peephole
  connections; squashing functions are ``tanh`` (the originals used scaled logistic functions);
- forget-gate biases start at +1 (Gers et al. 2000); other weights uniform in +-0.1;
- the layer runs on torch's fused LSTM kernel with block-expanded, masked weights (the cells of a
  block share their gates exactly); :meth:`BlockLSTM.forward_reference` writes the same equations
  out step by step and the tests check both agree.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.func import functional_call


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

    w_in_mask: torch.Tensor  # buffer (n_rows, n_in): 1 where an input feeds a row
    w_rec_mask: torch.Tensor  # buffer (n_rows, n_cells): 1 where a cell output recurs into a row

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
