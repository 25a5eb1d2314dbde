"""Training the blues LSTM: next-step losses and the training loop.

Deviations from the 2002 training, documented because the papers' procedure cannot be rebuilt
exactly (and some of its details are reconstructed, see ``shared/PAPERS.md``):

- training uses full back-propagation through time over whole sequences of two concatenated
  choruses (the original used truncated RTRL/BPTT hybrids) and Adam (lr 5e-3, element-wise
  gradient clipping) instead of SGD with lr 1e-5 and momentum 0.9, so that a model learns the
  form in minutes on a CPU, not days;
- several independently initialised networks ("restarts", default 8) are trained side by side
  (:class:`~core.blues.model.Population`); after every epoch each runs free for 24 bars and the
  first to keep the form (>= 0.99 of steps, confirmed over 100 bars) is kept. Small LSTMs sit on
  a plateau for a seed-dependent time before they find the counting solution; restarts make the
  training time predictable;
- forget-gate biases start at +1 (Gers et al. 2000), varied 1..4 across restarts
  (``init="chrono"`` offers chrono initialisation instead).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.blues.block_lstm import BlockLSTM
from core.blues.generate import compose, held_out_nll, population_form_check
from core.blues.measures import form_accuracy, measure_composition
from core.blues.model import (
    BluesLSTM,
    ComposerModel,
    Population,
    TrainConfig,
    build_model,
    chord_classes,
)
from core.blues.representation import BluesCorpus, BluesForm, make_corpus
from core.errors import InvalidConfigError
from core.types import Progress, ProgressEvent


# --------------------------------------------------------------------------------------------
# losses
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

    Chords: sum of binary cross-entropies over the 12 chord units, or (softmax chords) the
    cross-entropy of the vocabulary chord. Melody: binary cross-entropy per unit (sigmoid) or the
    cross-entropy over notes + rest (softmax). Averaged over batch and steps.

    Parameters
    ----------
    logits
        ``(batch, steps, n_out)``.
    target
        ``(batch, steps, n_in)`` binary (the input shifted by one step).
    """
    return population_loss(net, logits[:, :, None, :], target, chords_only=chords_only)[0]


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
    nc, nco = cfg.form.n_chord, cfg.n_chord_out
    b, t, r, _ = logits.shape
    if cfg.chord_output == "softmax":
        cls = chord_classes(target[..., :nc], net.vocab)[:, :, None].expand(b, t, r)
        total = (
            nn.functional.cross_entropy(
                logits[..., :nco].reshape(-1, nco), cls.reshape(-1), reduction="none"
            )
            .reshape(b, t, r)
            .sum(dim=(0, 1))
        )
    else:
        tgt_c = target[:, :, None, :nc].expand(b, t, r, nc)
        total = nn.functional.binary_cross_entropy_with_logits(
            logits[..., :nco], tgt_c, reduction="none"
        ).sum(dim=(0, 1, 3))
    if cfg.has_melody and not chords_only:
        nm = cfg.form.n_melody
        if cfg.melody_output == "softmax":
            cls_m = _melody_targets(target, cfg.form)[:, :, None].expand(b, t, r)
            total = total + (
                nn.functional.cross_entropy(
                    logits[..., nco:].reshape(-1, nm + 1), cls_m.reshape(-1), reduction="none"
                )
                .reshape(b, t, r)
                .sum(dim=(0, 1))
            )
        else:
            tgt_m = target[:, :, None, nc:].expand(b, t, r, nm)
            total = total + nn.functional.binary_cross_entropy_with_logits(
                logits[..., nco:], tgt_m, reduction="none"
            ).sum(dim=(0, 1, 3))
    return total / (b * t)


def corrupt_chords(
    batch: torch.Tensor,
    vocab: torch.Tensor,
    *,
    rate: float,
    steps_per_bar: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """A copy of ``batch`` whose chord input is wrong in about ``rate`` of the bars.

    In each chosen bar a random stretch of 1..``steps_per_bar`` steps (starting anywhere in the
    bar, cut at its end) gets another vocabulary chord than the true one. Used on the *input*
    only (the targets stay the true form): the network is exposed to wrong fed-back chords, as
    when it samples them itself, and learns to carry on with the form.

    Parameters
    ----------
    batch
        ``(batch, steps, n_in)`` float32, chord units first, starting at a bar line.
    vocab
        ``(n_vocab, n_chord)`` chord vocabulary (at least 2 entries, else nothing changes).

    Returns
    -------
    torch.Tensor
        ``(batch, steps, n_in)`` float32.
    """
    nv, nc = vocab.shape
    b, t, _ = batch.shape
    n_bars = -(-t // steps_per_bar)
    if rate <= 0 or nv < 2:
        return batch
    hit = torch.rand(b, n_bars, generator=generator) < rate  # (batch, bars)
    start = torch.randint(0, steps_per_bar, (b, n_bars), generator=generator)
    length = torch.randint(1, steps_per_bar + 1, (b, n_bars), generator=generator)
    pos = torch.arange(steps_per_bar)
    in_span = (pos >= start[..., None]) & (pos < (start + length)[..., None])  # (b, bars, spb)
    mask = (hit[..., None] & in_span).reshape(b, -1)[:, :t]  # (batch, steps)
    true_cls = chord_classes(batch[..., :nc], vocab)  # (batch, steps)
    shift = torch.randint(1, nv, (b, n_bars), generator=generator)
    shift = shift[..., None].expand(b, n_bars, steps_per_bar).reshape(b, -1)[:, :t]
    wrong = vocab[(true_cls + shift) % nv]  # (batch, steps, n_chord): never the true chord
    out = batch.clone()
    out[..., :nc] = torch.where(mask[..., None], wrong, batch[..., :nc])
    return out


@dataclass(frozen=True)
class ComposerTrainResult:
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
    progress: Progress | None = None,
    corpus: BluesCorpus | None = None,
) -> ComposerTrainResult:
    """Train a blues LSTM by next-step prediction over concatenated choruses.

    Parameters
    ----------
    config
        Architecture and training settings.
    progress
        Called after every epoch with a :class:`~core.types.ProgressEvent` of stage ``"epoch"``
        (``done`` 1-based) and metrics ``loss`` (nats/step) and ``form_accuracy`` (of
        ``stop_bars`` free-running bars, 0..1).
    corpus
        Training data; default :func:`core.blues.representation.make_corpus` with the config's
        form, seed and ``n_segments`` (chords only for Experiment 1).

    Returns
    -------
    ComposerTrainResult

    Raises
    ------
    InvalidConfigError
        The corpus layout does not match the model's form.
    """
    corpus, data, held = _training_data(config, corpus)
    members = _init_members(config)
    trainee: BluesLSTM | Population = members[0] if len(members) == 1 else Population(members)
    opt = torch.optim.Adam(trainee.parameters(), lr=config.lr)
    gen = torch.Generator().manual_seed(int(config.seed))
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    stopped = False
    epoch = best = 0
    model = ComposerModel(members[0], config.model, {})
    # Experiment 2 in two stages: the chord blocks learn the form first (chord loss only), then
    # the melody blocks learn the melody with the chord side frozen
    staged = bool(config.chord_first and config.model.experiment == 2)
    for epoch in range(1, int(config.epochs) + 1):
        losses = _train_epoch(trainee, members[0], data, opt, gen, config, chords_only=staged)
        best, model, acc = _best_member(trainee, members, losses, config)
        history.append(_history_row(epoch, losses[best], acc, t0, best))
        _report(progress, epoch, int(config.epochs), losses[best], acc)
        if config.early_stop and acc >= config.stop_accuracy and _form_confirmed(model, config):
            stopped = True
            break
    if staged:
        acc = history[-1]["form_accuracy"] if history else 0.0
        n_total = int(config.epochs) + int(config.melody_epochs)
        for _ in range(int(config.melody_epochs)):
            loss = _train_melody_epoch(model.net, data, config, gen)
            epoch += 1
            history.append(_history_row(epoch, loss, acc, t0, best))
            _report(progress, epoch, n_total, loss, acc)
    seconds = time.perf_counter() - t0
    summary = summarize_model(model, held_out=held, bars=100, seed=config.seed)
    summary["train_seconds"] = round(seconds, 2)
    summary["epochs_run"] = float(epoch)
    summary["final_loss"] = history[-1]["loss"] if history else float("nan")
    summary["restarts"] = float(len(members))
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
    return ComposerTrainResult(model, history, stopped, epoch, seconds, summary)


def _training_data(
    config: TrainConfig, corpus: BluesCorpus | None
) -> tuple[BluesCorpus, torch.Tensor, BluesCorpus | None]:
    """The corpus (made when None), the training tensor of :func:`_sequences` and the held-out part.

    Raises
    ------
    InvalidConfigError
        The corpus layout does not match the model's form.
    """
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
    return corpus, data, held


def _init_members(config: TrainConfig) -> list[BluesLSTM]:
    """The freshly initialised networks to train: ``restarts`` of them (one for Experiment 0)."""
    mcfg = config.model
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
        t_max = float(mcfg.form.steps_per_chorus)
        with torch.no_grad():
            for net in members:
                rnn = net.rnn
                assert isinstance(rnn, BlockLSTM)
                nc, nb = rnn.n_cells, rnn.n_blocks
                u = 1.0 + torch.rand(nb, generator=g) * (t_max - 2.0)
                rnn.bias[nc + nb : nc + 2 * nb] = torch.log(u)
                rnn.bias[nc : nc + nb] = -torch.log(u)
    return members


def _train_epoch(
    trainee: BluesLSTM | Population,
    net0: BluesLSTM,
    data: torch.Tensor,
    opt: torch.optim.Optimizer,
    gen: torch.Generator,
    config: TrainConfig,
    *,
    chords_only: bool,
) -> list[float]:
    """One pass over ``data`` (``(n_groups, steps, n_in)``); mean loss of each member."""
    trainee.train()
    n_pop = trainee.r if isinstance(trainee, Population) else 1
    order = torch.randperm(data.shape[0], generator=gen)
    totals = torch.zeros(n_pop, dtype=torch.float64)
    count = 0
    for start in range(0, data.shape[0], config.batch_size):
        batch = data[order[start : start + config.batch_size]]  # (b, steps, n_in)
        x = batch[:, :-1]
        if config.chord_noise > 0:  # wrong fed-back chords in, the true form out
            spb = net0.config.form.steps_per_bar
            x = corrupt_chords(x, net0.vocab, rate=config.chord_noise, steps_per_bar=spb,
                               generator=gen)  # fmt: skip
        if isinstance(trainee, Population):
            logits = trainee(x)  # (b, steps, R, n_out)
            losses = population_loss(net0, logits, batch[:, 1:], chords_only=chords_only)  # (R,)
        else:
            logits, _ = trainee(x)
            losses = sequence_loss(trainee, logits, batch[:, 1:], chords_only=chords_only)[None]
        opt.zero_grad(set_to_none=True)
        losses.sum().backward()  # type: ignore[no-untyped-call]  # members share no weights: each gets its own gradient
        if config.grad_clip > 0:
            nn.utils.clip_grad_value_(trainee.parameters(), config.grad_clip)
        opt.step()
        totals += losses.detach().double() * batch.shape[0]
        count += batch.shape[0]
    mean: list[float] = (totals / max(count, 1)).tolist()
    return mean


def _best_member(
    trainee: BluesLSTM | Population,
    members: list[BluesLSTM],
    losses: list[float],
    config: TrainConfig,
) -> tuple[int, ComposerModel, float]:
    """The member that keeps the form best when running free (ties: lowest loss).

    Returns
    -------
    (index, model, form_accuracy)
        The model is a standalone copy of the member (the population keeps training).
    """
    mcfg = config.model
    if isinstance(trainee, Population):
        accs = population_form_check(
            trainee, bars=config.stop_bars, mode=config.stop_mode, seed=config.seed
        )
        nets = [trainee.member(k) for k in range(trainee.r)]
    else:
        nets = members
        comp = compose(ComposerModel(nets[0], mcfg, {}), bars=config.stop_bars, seed=config.seed,
                       mode=config.stop_mode, sample_chords=True)  # fmt: skip
        accs = [form_accuracy(comp.roll, form=mcfg.form)]
    best = max(range(len(nets)), key=lambda k: (accs[k], -losses[k]))
    return best, ComposerModel(nets[best], mcfg, {}), accs[best]


def _form_confirmed(model: ComposerModel, config: TrainConfig) -> bool:
    """True when ``confirm_bars`` free-running bars keep the form (the early-stop criterion).

    With ``stop_mode="sample"`` the threshold rule must keep it too, and the sampled run is
    repeated with a second seed (one lucky sampled run is not enough).
    """
    form = config.model.form
    long = compose(model, bars=config.confirm_bars, seed=config.seed)
    if form_accuracy(long.roll, form=form) < config.stop_accuracy:
        return False
    if config.stop_mode != "sample":
        return True
    for seed in (config.seed, config.seed + 1):
        run = compose(model, bars=config.confirm_bars, seed=seed, mode="sample",
                      sample_chords=True)  # fmt: skip
        if form_accuracy(run.roll, form=form) < config.stop_accuracy:
            return False
    return True


def _history_row(epoch: int, loss: float, acc: float, t0: float, member: int) -> dict[str, float]:
    """One entry of :attr:`ComposerTrainResult.history`."""
    return {"epoch": float(epoch), "loss": loss, "form_accuracy": acc,
            "seconds": time.perf_counter() - t0, "member": float(member)}  # fmt: skip


def _report(progress: Progress | None, epoch: int, total: int, loss: float, acc: float) -> None:
    if progress is not None:
        progress(ProgressEvent("epoch", epoch, total, {"loss": loss, "form_accuracy": acc}))


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
    keep_rows = torch.as_tensor(rnn.row_block >= cb, dtype=torch.float32)[:, None]
    keep_out = torch.ones(net.n_out, 1)
    keep_out[: net.config.n_chord_out] = 0.0
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
        loss.backward()  # type: ignore[no-untyped-call]
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
    comp = compose(model, bars=bars, seed=seed)
    m = measure_composition(comp)
    out = {f"form_accuracy_{bars}": m["form_accuracy"]}
    for k, v in m.items():
        if k != "form_accuracy":
            out[k] = v
    if held_out is not None:
        out["held_out_nll"] = held_out_nll(model, held_out)
    return {k: (round(float(v), 6) if isinstance(v, float) else float(v)) for k, v in out.items()}
