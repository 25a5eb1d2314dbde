from __future__ import annotations

import numpy as np
import pytest
import torch

from core.blues.generate import compose, held_out_nll, population_form_check, predict_probs
from core.blues.measures import form_accuracy
from core.blues.model import (
    BluesLSTM,
    ComposerConfig,
    ComposerModel,
    Population,
    TrainConfig,
    build_model,
    default_checkpoint,
    load_composer,
    save_composer,
)
from core.blues.representation import BluesForm, Composition, make_corpus
from core.blues.train import (
    ComposerTrainResult,
    _sequences,
    _train_melody_epoch,
    sequence_loss,
    train_composer,
)
from core.errors import CheckpointError, InvalidConfigError
from core.types import ProgressEvent

FORM = BluesForm()


@pytest.mark.parametrize(
    ("experiment", "melody_output", "n_in", "n_out"),
    [(1, "sigmoid", 12, 12), (2, "sigmoid", 25, 25), (2, "softmax", 25, 26),
     (0, "sigmoid", 25, 25), (0, "softmax", 25, 26)],
)  # fmt: skip
def test_forward_shapes(experiment, melody_output, n_in, n_out):
    net = BluesLSTM(ComposerConfig(experiment=experiment, melody_output=melody_output))
    x = torch.zeros(3, 10, n_in)
    logits, state = net(x)
    assert logits.shape == (3, 10, n_out)
    p = net.probs(logits)
    assert p.shape == (3, 10, n_in) and float(p.min().detach()) >= 0
    assert float(p.max().detach()) <= 1
    if melody_output == "softmax":
        assert torch.all(p[..., 12:].sum(-1) <= 1 + 1e-5)
    # continuing from a state gives the same as one long run
    l1, s1 = net(x[:, :4])
    l2, _ = net(x[:, 4:], s1)
    assert torch.allclose(torch.cat([l1, l2], 1), logits, atol=1e-6)


def test_block_sizes_and_fused_matches_reference():
    net = BluesLSTM(ComposerConfig(experiment=2))
    assert net.rnn.n_blocks == 8 and net.rnn.n_cells == 16
    assert BluesLSTM(ComposerConfig(experiment=1)).rnn.n_cells == 8
    x = (torch.rand(2, 30, 25, generator=torch.Generator().manual_seed(0)) > 0.7).float()
    a, (h, c) = net.rnn(x)
    b, (h2, c2) = net.rnn.forward_reference(x)
    assert torch.allclose(a, b, atol=1e-6) and torch.allclose(c, c2, atol=1e-6)


def test_block_cells_share_gates():
    rnn = BluesLSTM(ComposerConfig(experiment=1)).rnn
    w = rnn.lstm_weights()["weight_ih_l0"]  # (4 * 8, 12) rows [i, f, g, o] per cell
    i_rows = w[:8]
    assert torch.equal(i_rows[0], i_rows[1]) and torch.equal(i_rows[6], i_rows[7])
    assert not torch.equal(i_rows[1], i_rows[2])


def test_exp2_mask_blocks_melody_to_chord_influence():
    torch.manual_seed(0)
    net = BluesLSTM(ComposerConfig(experiment=2))
    with torch.no_grad():  # make the masked weights large so a leak would show
        for p in net.parameters():
            p.add_(torch.randn_like(p))
    corpus = make_corpus(n_segments=2, seed=0)
    x = torch.from_numpy(corpus.sequences[0].T.copy())[None]
    x2 = x.clone()
    x2[..., 12:] = torch.rand_like(x2[..., 12:]).round()  # different melody input
    l1, _ = net(x)
    l2, _ = net(x2)
    assert torch.equal(l1[..., :12], l2[..., :12])  # chords blind to the melody
    assert not torch.equal(l1[..., 12:], l2[..., 12:])  # the melody is not
    # perturb the melody cells' state directly: chord cells never see it
    h0 = torch.zeros(1, 16)
    c0 = torch.zeros(1, 16)
    c0b = c0.clone()
    c0b[:, 8:] = 5.0
    h0b = h0.clone()
    h0b[:, 8:] = 0.9
    a, _ = net.rnn(x[:, :20], (h0, c0))
    b, _ = net.rnn(x[:, :20], (h0b, c0b))
    assert torch.equal(a[..., :8], b[..., :8]) and not torch.equal(a[..., 8:], b[..., 8:])
    # gradient check: chord outputs have zero gradient w.r.t. the melody input
    xg = x.clone().requires_grad_(True)
    logits, _ = net(xg)
    logits[..., :12].sum().backward()
    assert float(xg.grad[..., 12:].abs().max()) == 0.0
    assert float(xg.grad[..., :12].abs().max()) > 0.0


def test_exp2_chord_blocks_feed_melody():
    net = BluesLSTM(ComposerConfig(experiment=2))
    mask = net.rnn.w_rec_mask  # rows: [g cells(16), i, f, o (8 blocks each)], cols: 16 cells
    assert mask[8:16, :8].all()  # melody cell inputs see chord cells
    assert not mask[:8, 8:].any()  # chord cell inputs never see melody cells
    assert mask[:8, :8].all() and mask[8:16, 8:].all()


def _tiny_train(experiment=1, melody_output="sigmoid", **kw):
    cfg = TrainConfig(
        model=ComposerConfig(experiment=experiment, melody_output=melody_output),
        epochs=kw.pop("epochs", 3), seed=0, n_segments=8, batch_size=4, held_out=0.25,
        stop_bars=2, confirm_bars=2, restarts=2, **kw,
    )  # fmt: skip
    return train_composer(cfg)


@pytest.mark.slow
def test_tiny_model_overfits_a_batch():
    torch.manual_seed(0)
    model = build_model(ComposerConfig(experiment=2, melody_output="softmax"), seed=0)
    net = model.net
    batch = torch.from_numpy(make_corpus(n_segments=2, seed=0).sequences.transpose(0, 2, 1).copy())
    batch = batch[:, :17]  # 2 bars
    opt = torch.optim.Adam(net.parameters(), lr=5e-2)
    first = None
    for _ in range(60):
        logits, _ = net(batch[:, :-1])
        loss = sequence_loss(net, logits, batch[:, 1:])
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.3 * first


@pytest.mark.slow
def test_train_composer_progress_and_history():
    calls = []
    cfg = TrainConfig(
        model=ComposerConfig(experiment=1), epochs=2, seed=0, n_segments=8, batch_size=4,
        held_out=0.25, stop_bars=2, confirm_bars=2, early_stop=False, restarts=3,
    )  # fmt: skip
    res = train_composer(cfg, progress=calls.append)
    assert isinstance(res, ComposerTrainResult)
    assert all(isinstance(c, ProgressEvent) and c.stage == "epoch" for c in calls)
    assert [c.done for c in calls] == [1, 2] and all(c.total == 2 for c in calls)
    assert [c.metrics["loss"] for c in calls] == [h["loss"] for h in res.history]
    assert [c.metrics["form_accuracy"] for c in calls] == [h["form_accuracy"] for h in res.history]
    assert len(res.history) == 2 and res.epochs_run == 2 and not res.stopped_early
    assert "form_accuracy_100" in res.summary and "held_out_nll" in res.summary
    assert res.model.meta["train"]["epochs"] == 2
    assert res.summary["restarts"] == 3 and 0 <= res.summary["member"] < 3


@pytest.mark.parametrize("experiment", [1, 2])
def test_population_members_are_independent_copies(experiment):
    cfg = ComposerConfig(experiment=experiment)
    members = [build_model(cfg, seed=k).net for k in range(3)]
    pop = Population(members)
    x = (torch.rand(2, 12, cfg.n_in, generator=torch.Generator().manual_seed(1)) > 0.7).float()
    logits = pop(x)
    assert logits.shape == (2, 12, 3, members[0].n_out)
    for k, m in enumerate(members):
        assert torch.allclose(logits[:, :, k], m(x)[0], atol=1e-6)
        assert torch.allclose(pop.member(k)(x)[0], m(x)[0], atol=1e-6)
    # a loss on member 0 gives no gradient to member 1's weights
    logits[:, :, 0].sum().backward()
    rows = torch.as_tensor(pop._rows(1))
    assert float(pop.rnn.w_in.grad[rows].abs().max()) == 0.0


def test_compose_deterministic_for_a_seed():
    model = build_model(ComposerConfig(experiment=2), seed=1)
    a = compose(model, bars=3, seed=5, mode="sample", temperature=1.5, sample_chords=True)
    b = compose(model, bars=3, seed=5, mode="sample", temperature=1.5, sample_chords=True)
    c = compose(model, bars=3, seed=6, mode="sample", temperature=1.5, sample_chords=True)
    assert isinstance(a, Composition)
    assert a.roll.shape == (25, 24) and a.probs.shape == (25, 24) and a.roll.dtype == np.float32
    assert np.array_equal(a.roll, b.roll) and np.array_equal(a.probs, b.probs)
    assert not np.array_equal(a.roll, c.roll)
    assert set(np.unique(a.roll)) <= {0.0, 1.0}
    assert a.roll[12:].sum(axis=0).max() <= 1  # monophonic melody
    assert a.n_prime_steps == 1 and a.settings["mode"] == "sample"
    d = compose(model, bars=3, seed=6, mode="sample", temperature=1.5)  # chords thresholded
    assert np.array_equal(d.roll[:12, 1:], (d.probs[:12, 1:] > 0.5).astype(np.float32))
    t1 = compose(model, bars=2, seed=1)
    t2 = compose(model, bars=2, seed=2)
    assert np.array_equal(t1.roll, t2.roll)  # the threshold rule ignores the seed


def test_compose_threshold_rule_and_prime():
    model = build_model(ComposerConfig(experiment=2), seed=0)
    prime = make_corpus(n_segments=1, seed=0).sequences[0][:, :16]
    comp = compose(model, bars=2, prime=prime, threshold=0.3)
    assert comp.roll.shape == (25, 32) and comp.n_prime_steps == 16
    assert np.array_equal(comp.roll[:, :16], prime)
    gen = comp.roll[:, 16:]
    probs = comp.probs[:, 16:]
    assert np.array_equal(gen[:12], (probs[:12] > 0.3).astype(np.float32))
    for t in range(gen.shape[1]):
        mel = probs[12:, t]
        if mel.max() > 0.3:
            assert gen[12 + int(np.argmax(mel)), t] == 1.0 and gen[12:, t].sum() == 1
        else:
            assert gen[12:, t].sum() == 0


def test_compose_softmax_and_exp1():
    sm = build_model(ComposerConfig(experiment=0, melody_output="softmax"), seed=0)
    comp = compose(sm, bars=2, mode="sample", seed=0)
    assert comp.roll[12:].sum(axis=0).max() <= 1
    e1 = build_model(ComposerConfig(experiment=1), seed=0)
    comp1 = compose(e1, bars=2)
    assert comp1.roll.shape == (25, 16) and not comp1.roll[12:].any()


def test_compose_validation():
    model = build_model(ComposerConfig(experiment=1))
    with pytest.raises(InvalidConfigError):
        compose(model, bars=0)
    with pytest.raises(InvalidConfigError):
        compose(model, bars=1, mode="greedy")
    with pytest.raises(InvalidConfigError):
        compose(model, bars=1, temperature=0)
    with pytest.raises(InvalidConfigError):
        compose(model, bars=1, prime=np.zeros((12, 4)))
    with pytest.raises(InvalidConfigError):
        ComposerConfig(experiment=3)


@pytest.mark.slow
def test_checkpoint_round_trip_and_wrong_kind(tmp_path):
    from core.checkpoint import save_checkpoint

    res = _tiny_train(experiment=2, melody_output="softmax", epochs=1)
    path = save_composer(tmp_path / "m.pt", res.model, meta={"command": "test"})
    loaded = load_composer(path)
    assert isinstance(loaded, ComposerModel) and loaded.config == res.model.config
    assert loaded.meta["command"] == "test" and "summary" in loaded.meta
    a = compose(res.model, bars=2, seed=3, mode="sample")
    b = compose(loaded, bars=2, seed=3, mode="sample")
    assert np.array_equal(a.roll, b.roll) and np.allclose(a.probs, b.probs)
    assert path.stat().st_size < 500_000
    other = save_checkpoint(tmp_path / "sep.pt", kind="separator", config={}, state_dict={})
    with pytest.raises(CheckpointError, match="separator"):
        load_composer(other)
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError):
        load_composer(tmp_path / "junk.pt")


def test_predict_probs_and_held_out_nll():
    model = build_model(ComposerConfig(experiment=2), seed=0)
    corpus = make_corpus(n_segments=2, seed=0)
    p = predict_probs(model, corpus.sequences[0])
    assert p.shape == (25, 96) and p.dtype == np.float32
    v = held_out_nll(model, corpus)
    assert np.isfinite(v) and v > 0


@pytest.mark.parametrize("melody_output", ["sigmoid", "softmax"])
def test_population_form_check_matches_compose(melody_output):
    cfg = ComposerConfig(experiment=2, melody_output=melody_output)
    members = [build_model(cfg, seed=k).net for k in range(3)]
    with torch.no_grad():
        on = torch.as_tensor(FORM.chord_vector(0))
        members[0].out.bias[:12] = 20 * on - 10  # always C7: right in 7 of 12 bars
        members[1].out.bias[:12] = -10.0  # never a chord
    pop = Population(members)
    got = population_form_check(pop, bars=12)
    want = [form_accuracy(compose(ComposerModel(m, cfg, {}), bars=12).roll, form=FORM)
            for m in members]  # fmt: skip
    assert got == pytest.approx(want)
    assert got[0] == pytest.approx(56 / 96) and got[1] == pytest.approx(1 / 96)  # the prime


def test_melody_stage_keeps_the_chord_side_frozen():
    model = build_model(ComposerConfig(experiment=2), seed=0)
    net = model.net
    x = torch.from_numpy(make_corpus(n_segments=2, seed=0).sequences[0].T.copy())[None]
    before, _ = net(x)
    before = before.detach().clone()
    data = _sequences(make_corpus(n_segments=4, seed=0), 25, 2)
    cfg = TrainConfig(model=model.config, batch_size=2, lr=1e-2)
    _train_melody_epoch(net, data, cfg, torch.Generator().manual_seed(0))
    after, _ = net(x)
    assert torch.equal(after[..., :12], before[..., :12])
    assert not torch.allclose(after[..., 12:], before[..., 12:])
    loss_c = sequence_loss(net, after, x, chords_only=True)
    assert loss_c.shape == () and float(loss_c.detach()) > 0


@pytest.mark.parametrize("experiment", [1, 2])
def test_shipped_checkpoints_keep_the_form(experiment):
    import json

    path = default_checkpoint(experiment)
    assert path.stat().st_size < 500_000
    meta = json.loads(path.with_name(path.name + ".meta.json").read_text())
    assert meta["command"].startswith("genex train-composer --experiment")
    assert {"created", "seed", "summary"} <= set(meta)
    model = load_composer(path)
    assert model.config.experiment == experiment
    comp = compose(model, bars=100, seed=0)
    acc = form_accuracy(comp.roll, form=comp.form)
    assert acc >= 0.99  # the done-criterion (Exp 2)
    assert acc == pytest.approx(meta["summary"]["form_accuracy_100"], abs=1e-6)


def test_training_corpus_recipe_reads_the_meta():
    from core.blues.model import CorpusRecipe, training_corpus_recipe

    model = build_model(ComposerConfig(experiment=1), seed=0)
    assert training_corpus_recipe(model) == CorpusRecipe(4096, 0, False)
    model.meta.update({"corpus": {"source": "synthetic", "seed": 3, "n_sequences": 30},
                       "train": {"n_segments": 32, "seed": 9}})  # fmt: skip
    assert training_corpus_recipe(model) == CorpusRecipe(32, 3, False)
    model.meta["corpus"] = {"source": "midi/folder", "seed": -1}
    assert training_corpus_recipe(model).seed == 0
