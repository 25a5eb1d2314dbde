"""Composing with a trained blues LSTM: next-step probabilities, free-running generation.

:func:`compose` runs a model free: each chosen step is fed back as the next input, after a prime
(:mod:`core.blues.priming`). :func:`predict_probs` and :func:`held_out_nll` score given rolls
teacher-forced. Inference runs under ``torch.inference_mode()`` with the network in eval mode.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from core.blues.block_lstm import BlockLSTM
from core.blues.measures import form_accuracy, nll
from core.blues.model import BluesLSTM, ComposerConfig, ComposerModel, Population, as_model
from core.blues.priming import default_prime
from core.blues.representation import BluesCorpus, Composition
from core.errors import InvalidConfigError
from core.types import FloatArray

#: Longest composition, bars (``--bars``, and a prime plus ``--bars`` together).
MAX_BARS = 2000


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
    m = as_model(model)
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
    m = as_model(model)
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


def _choose(
    l_chord: np.ndarray,
    p_chord: np.ndarray,
    logits_mel: np.ndarray | None,
    p_mel: np.ndarray | None,
    *,
    cfg: ComposerConfig,
    mode: str,
    threshold: float,
    temperature: float,
    rng: np.random.Generator,
    vocab: np.ndarray,
    sample_chords: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Pick one step's binary chord ``(n_chord,)`` and melody ``(n_melody,)`` vectors.

    ``l_chord`` are the ``n_chord_out`` chord logits, ``p_chord`` the 12 units' probabilities.
    """
    chord_draw = mode == "sample" and sample_chords
    if cfg.chord_output == "softmax":
        if chord_draw:  # one categorical choice over the vocabulary
            z = l_chord / temperature
            q = np.exp(z - z.max())
            q /= q.sum()
            chord = vocab[int(rng.choice(q.size, p=q))].copy()
        else:  # the most likely vocabulary chord
            chord = vocab[int(np.argmax(l_chord))].copy()
    elif chord_draw:
        pt = 1.0 / (1.0 + np.exp(-l_chord / temperature))
        chord = (rng.random(pt.shape) < pt).astype(np.float32)
    else:
        chord = (p_chord > threshold).astype(np.float32)
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


def wrong_chord(config: ComposerConfig, bar: int) -> FloatArray:
    """The chord forced into bar ``bar`` by a perturbation: ``(n_chord,)`` float32.

    The vocabulary chord after the form's chord of that bar (C7 -> F7 -> G7 -> C7 for the
    default blues), so it is always a real chord and never the right one.
    """
    vocab = config.chord_vocab
    right = config.form.chord_vector(bar)
    idx = next(i for i, v in enumerate(vocab) if np.array_equal(v, right))
    out: FloatArray = vocab[(idx + 1) % len(vocab)].copy()
    return out


def _stepper(
    net: BluesLSTM | Population,
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
    n_members = net.r if isinstance(net, Population) else 0  # 0: a single network

    def step_block(x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        h, c = state
        z = torch.addmm(b, x, w_ih) + h @ w_hh  # (B, 4 * n_cells): [i, f, g, o]
        i, f = torch.sigmoid(z[:, :nc]), torch.sigmoid(z[:, nc : 2 * nc])
        c = f * c + i * torch.tanh(z[:, 2 * nc : 3 * nc])
        h = torch.sigmoid(z[:, 3 * nc :]) * torch.tanh(c)
        logits = torch.addmm(b_out, torch.cat([h, x], -1), w_out.t())
        if n_members:
            logits = logits.reshape(x.shape[0], n_members, -1)
        return logits, (h, c)

    return step_block


def population_form_check(
    pop: Population,
    *,
    bars: int,
    threshold: float = 0.5,
    mode: Literal["threshold", "sample"] = "threshold",
    seed: int = 0,
) -> list[float]:
    """Free-running chord form accuracy of every member, all members stepped as one batch.

    Batch row ``k`` carries member ``k``'s own fed-back output, chosen as :func:`compose`
    chooses it (``mode="sample"``: chords and melody sampled at temperature 1, each member with
    its own ``default_rng(seed)``), so this equals
    ``form_accuracy(compose(member_k, bars=bars, seed=seed, mode=mode, sample_chords=True).roll)``
    for each ``k``.
    """
    cfg, form = pop.cfg, pop.cfg.form
    r, nc, nco, n_in = pop.r, form.n_chord, cfg.n_chord_out, cfg.n_in
    total = int(bars) * form.steps_per_bar
    rolls = np.zeros((r, form.n_units, total), np.float32)
    rolls[:, :, :1] = default_prime(form, melody=cfg.has_melody)[None]
    diag = torch.arange(r)
    rngs = [np.random.default_rng(int(seed)) for _ in range(r)]
    vocab = cfg.chord_vocab
    member0 = pop.member(0)
    pop.eval()
    with torch.inference_mode():
        step = _stepper(pop)
        state = (torch.zeros(r, pop.rnn.n_cells), torch.zeros(r, pop.rnn.n_cells))
        for t in range(1, total):
            x = torch.from_numpy(rolls[:, :n_in, t - 1].copy())  # (R, n_in)
            logits, state = step(x, state)
            own = logits[diag, diag]  # (R, n_out)
            probs = member0.probs(own).numpy()  # (R, n_model)
            own_np = own.numpy()
            for k in range(r):
                chord, mel = _choose(
                    own_np[k, :nco], probs[k, :nc],
                    own_np[k, nco:] if cfg.has_melody else None,
                    probs[k, nc:] if cfg.has_melody else None,
                    cfg=cfg, mode=mode, threshold=float(threshold), temperature=1.0,
                    rng=rngs[k], vocab=vocab, sample_chords=True,
                )  # fmt: skip
                rolls[k, :nc, t] = chord
                if mel is not None:
                    rolls[k, nc:, t] = mel
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
    perturb: tuple[int, int] | None = None,
) -> Composition:
    """Compose free-running: each chosen step is fed back as the next input.

    Parameters
    ----------
    model
        A trained model.
    bars
        Bars to generate after the prime (1..2000). With the default one-step prime the
        composition is exactly ``bars`` bars long (the prime is its first step); with a given
        prime, the prime and ``bars`` together are at most 2000 bars.
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
        In ``"sample"`` mode, also draw the chord at ``temperature``: each of the 12 units from
        a Bernoulli (sigmoid chords; one wrong unit is fed back and the form usually drifts),
        or one vocabulary chord from the softmax (softmax chords). Without it, softmax chords
        take the most likely vocabulary chord (``threshold`` does not apply to them).
    perturb
        ``(start_bar, n_bars)``: force a wrong chord (:func:`wrong_chord`) into bars
        ``start_bar .. start_bar + n_bars - 1`` of the composition (bar 0 is its first bar;
        steps of the prime are never changed) and feed it back, to measure how the model
        gets back onto the form (:func:`core.blues.measures.recovery_bars`).
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
        Bad ``bars``, ``mode``, ``threshold``, ``temperature``, ``perturb`` or prime shape,
        or a prime that with ``bars`` makes more than 2000 bars.
    """
    m = as_model(model)
    cfg, form = m.config, m.form
    if not 1 <= int(bars) <= MAX_BARS:
        raise InvalidConfigError(f"bars: expected 1..{MAX_BARS}, got {bars}")
    if mode not in ("threshold", "sample"):
        raise InvalidConfigError(f"mode: expected 'threshold' or 'sample', got {mode!r}")
    if not 0.0 < float(threshold) < 1.0:
        raise InvalidConfigError(f"threshold: expected in (0, 1), got {threshold}")
    if not (float(temperature) > 0 and math.isfinite(float(temperature))):
        raise InvalidConfigError(f"temperature: expected > 0, got {temperature}")
    forced: dict[int, np.ndarray] = {}  # step -> forced chord
    if perturb is not None:
        p0, pn = (int(v) for v in perturb)
        if p0 < 0 or pn < 1:
            raise InvalidConfigError(
                f"perturb: expected (start_bar >= 0, n_bars >= 1), got {tuple(perturb)}"
            )
        spb_ = form.steps_per_bar
        for bar_ in range(p0, p0 + pn):
            for t_ in range(bar_ * spb_, (bar_ + 1) * spb_):
                forced[t_] = wrong_chord(cfg, bar_)
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
        spb = form.steps_per_bar
        if prime_arr.shape[1] + n_gen > MAX_BARS * spb:
            raise InvalidConfigError(
                f"the prime ({prime_arr.shape[1] / spb:,.1f} bars) and bars={int(bars)} make "
                f"{(prime_arr.shape[1] + n_gen) / spb:,.1f} bars; at most {MAX_BARS} in total: "
                "use a shorter prime or fewer bars"
            )
    k = prime_arr.shape[1]
    total = k + n_gen
    roll = np.zeros((form.n_units, total), np.float32)
    probs = np.zeros((form.n_units, total), np.float32)
    roll[:, :k] = prime_arr
    rng = np.random.default_rng(int(seed))
    n_in, nc, nco = cfg.n_in, form.n_chord, cfg.n_chord_out
    vocab = cfg.chord_vocab
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
                last_logits[:nco], last_p[:nc],
                last_logits[nco:] if cfg.has_melody else None,
                last_p[nc:] if cfg.has_melody else None,
                cfg=cfg, mode=mode, threshold=float(threshold),
                temperature=float(temperature), rng=rng, vocab=vocab,
                sample_chords=bool(sample_chords),
            )  # fmt: skip
            roll[:nc, t] = forced.get(t, chord)
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
                "melody_output": cfg.melody_output, "chord_output": cfg.chord_output,
                "perturb": None if perturb is None else [int(v) for v in perturb]}  # fmt: skip
    return Composition(roll, probs, form, k, int(seed), settings)
