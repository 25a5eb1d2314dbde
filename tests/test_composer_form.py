"""Issue 14: softmax chords, wrong fed-back chords in training, perturbation and recovery."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.blues.generate import compose, population_form_check, wrong_chord
from core.blues.measures import form_accuracy, measure_composition, recovery_bars
from core.blues.model import (
    ComposerConfig,
    ComposerModel,
    Population,
    TrainConfig,
    build_model,
    chord_classes,
    load_composer,
    save_composer,
)
from core.blues.representation import BluesForm, ideal_chord_roll, make_corpus
from core.blues.train import corrupt_chords, sequence_loss, train_composer
from core.errors import InvalidConfigError

FORM = BluesForm()
SOFT = ComposerConfig(experiment=2, chord_output="softmax")
C7, F7, G7 = (FORM.chord_vector(b) for b in (0, 4, 8))


def perfect_roll(bars: int) -> np.ndarray:
    roll = np.zeros((FORM.n_units, bars * FORM.steps_per_bar), np.float32)
    roll[:12] = ideal_chord_roll(FORM, bars=bars)
    return roll


# --------------------------------------------------------------------------------------------
# softmax chords
# --------------------------------------------------------------------------------------------
def test_chord_vocab_is_the_forms_three_chords_in_order():
    vocab = SOFT.chord_vocab
    assert vocab.shape == (3, 12) and vocab.dtype == np.float32
    assert np.array_equal(vocab, np.stack([C7, F7, G7]))
    assert SOFT.n_chord_out == 3 and ComposerConfig().n_chord_out == 12


def test_chord_output_is_validated():
    with pytest.raises(InvalidConfigError, match="chord_output"):
        ComposerConfig(chord_output="tanh")  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError, match="chord_noise"):
        TrainConfig(chord_noise=1.0)
    with pytest.raises(InvalidConfigError, match="stop_mode"):
        TrainConfig(stop_mode="greedy")  # type: ignore[arg-type]


@pytest.mark.parametrize(("melody_output", "n_out"), [("sigmoid", 16), ("softmax", 17)])
def test_softmax_chord_shapes_and_marginals(melody_output, n_out):
    cfg = ComposerConfig(experiment=2, chord_output="softmax", melody_output=melody_output)
    net = build_model(cfg, seed=0).net
    x = torch.zeros(2, 5, 25)
    with torch.no_grad():
        logits, _ = net(x)
    assert logits.shape == (2, 5, n_out)
    p = net.probs(logits)
    assert p.shape == (2, 5, 25)
    # unit marginals: the summed probability of the vocabulary chords holding each unit
    q = torch.softmax(logits[..., :3], -1)
    assert torch.allclose(p[..., :12], q @ torch.as_tensor(cfg.chord_vocab), atol=1e-6)
    assert float(p[..., :12].max()) <= 1.0


def test_melody_never_reaches_the_softmax_chords():
    net = build_model(SOFT, seed=0).net
    x = torch.zeros(1, 6, 25)
    y = x.clone()
    y[:, :, 12:] = 1.0  # only the melody input differs
    with torch.no_grad():
        assert torch.equal(net(x)[0][..., :3], net(y)[0][..., :3])


def test_chord_classes_nearest_entry():
    vocab = torch.as_tensor(SOFT.chord_vocab)
    chords = torch.stack([torch.as_tensor(v) for v in (G7, C7, F7)])
    assert chord_classes(chords, vocab).tolist() == [2, 0, 1]
    near = torch.as_tensor(G7).clone()
    near[0] = 1.0 - near[0]  # one unit off G7
    assert int(chord_classes(near, vocab)) == 2


def test_softmax_chord_loss_is_the_cross_entropy():
    net = build_model(ComposerConfig(experiment=1, chord_output="softmax"), seed=0).net
    target = torch.from_numpy(perfect_roll(1)[:12].T.copy())[None]  # (1, 8, 12): C7
    logits = torch.zeros(1, 8, 3)
    logits[..., 0] = 2.0
    want = -torch.log_softmax(torch.tensor([2.0, 0.0, 0.0]), 0)[0]
    assert float(sequence_loss(net, logits, target)) == pytest.approx(float(want), rel=1e-6)


@pytest.mark.slow
def test_tiny_softmax_chord_model_overfits_a_batch():
    net = build_model(SOFT, seed=0).net
    seqs = make_corpus(n_segments=2, seed=0).sequences.transpose(0, 2, 1)
    batch = torch.from_numpy(seqs[:, :41].copy())  # 5 bars
    opt = torch.optim.Adam(net.parameters(), lr=5e-2)
    first = last = None
    for _ in range(60):
        logits, _ = net(batch[:, :-1])
        loss = sequence_loss(net, logits, batch[:, 1:], chords_only=True)
        first = float(loss.detach()) if first is None else first
        last = float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert last < 0.2 * first


def test_softmax_chords_are_always_vocabulary_chords():
    model = build_model(SOFT, seed=3)
    vocab = SOFT.chord_vocab
    for mode, sample in (("threshold", False), ("sample", False), ("sample", True)):
        comp = compose(model, bars=4, seed=2, mode=mode, temperature=2.0, sample_chords=sample)
        chords = comp.roll[:12].T
        assert all(any(np.array_equal(c, v) for v in vocab) for c in chords)
    a = compose(model, bars=4, seed=2, mode="sample", temperature=2.0, sample_chords=True)
    b = compose(model, bars=4, seed=2, mode="sample", temperature=2.0, sample_chords=True)
    assert np.array_equal(a.roll, b.roll) and a.settings["chord_output"] == "softmax"


def test_sampled_softmax_chords_follow_the_distribution():
    model = build_model(ComposerConfig(experiment=1, chord_output="softmax"), seed=0)
    with torch.no_grad():
        model.net.out.weight.zero_()
        model.net.out.bias.copy_(torch.log(torch.tensor([0.6, 0.3, 0.1])))
    comp = compose(model, bars=100, seed=0, mode="sample", sample_chords=True)
    counts = [int((comp.roll[:12, 1:].T == v).all(axis=1).sum()) for v in (C7, F7, G7)]
    share = np.array(counts) / (comp.roll.shape[1] - 1)
    assert np.allclose(share, [0.6, 0.3, 0.1], atol=0.04)
    thr = compose(model, bars=2, mode="threshold")
    assert (thr.roll[:12].T == C7).all()  # the most likely chord


def test_softmax_checkpoint_round_trip_and_old_configs_still_load(tmp_path):
    model = build_model(SOFT, seed=1)
    path = save_composer(tmp_path / "s.pt", model)
    back = load_composer(path)
    assert back.config == SOFT
    x = torch.rand(1, 9, 25)
    assert torch.equal(back.net(x)[0], model.net(x)[0])
    old = SOFT.to_dict()
    del old["chord_output"]  # a checkpoint from before the field
    assert ComposerConfig.from_dict(old).chord_output == "sigmoid"


@pytest.mark.parametrize("mode", ["threshold", "sample"])
def test_population_form_check_matches_compose_with_softmax_chords(mode):
    members = [build_model(SOFT, seed=k).net for k in range(3)]
    with torch.no_grad():
        members[0].out.bias[:3] = torch.tensor([10.0, -10.0, -10.0])  # always C7
    pop = Population(members)
    got = population_form_check(pop, bars=6, mode=mode, seed=4)
    want = [
        form_accuracy(compose(ComposerModel(m, SOFT, {}), bars=6, seed=4, mode=mode,
                              sample_chords=True).roll, form=FORM)
        for m in members
    ]  # fmt: skip
    assert got == pytest.approx(want)
    assert got[0] == pytest.approx(32 / 48)  # C7 is right in bars 1-4 only


# --------------------------------------------------------------------------------------------
# exposure to wrong chords
# --------------------------------------------------------------------------------------------
def test_corrupt_chords_changes_only_chords_in_whole_chord_steps():
    seqs = make_corpus(n_segments=8, seed=0).sequences.transpose(0, 2, 1)
    batch = torch.from_numpy(seqs.copy())  # (8, 96, 25)
    vocab = torch.as_tensor(SOFT.chord_vocab)
    gen = torch.Generator().manual_seed(0)
    same = corrupt_chords(batch, vocab, rate=0.0, steps_per_bar=8, generator=gen)
    assert torch.equal(same, batch)
    out = corrupt_chords(batch, vocab, rate=0.5, steps_per_bar=8, generator=gen)
    assert torch.equal(out[..., 12:], batch[..., 12:])  # melody untouched
    changed = (out[..., :12] != batch[..., :12]).any(-1)  # (8, 96)
    assert 0.05 < float(changed.float().mean()) < 0.5
    # every changed step carries another vocabulary chord, never a non-chord
    cls = chord_classes(out[..., :12], vocab)
    assert torch.equal(vocab[cls], out[..., :12])
    assert not torch.equal(cls[changed], chord_classes(batch[..., :12], vocab)[changed])
    # each corrupted stretch lies inside one bar: at most one run per bar
    per_bar = changed.reshape(8, 12, 8).int()
    runs = (per_bar[..., 1:] > per_bar[..., :-1]).sum(-1) + per_bar[..., 0]
    assert int(runs.max()) <= 1
    assert torch.equal(batch, torch.from_numpy(seqs))  # the input is not changed in place


@pytest.mark.slow
def test_train_with_softmax_chords_noise_and_sampled_stop():
    cfg = TrainConfig(
        model=SOFT, epochs=2, seed=0, n_segments=8, batch_size=4, held_out=0.25, stop_bars=2,
        confirm_bars=2, restarts=2, chord_noise=0.2, stop_mode="sample", melody_epochs=1,
    )  # fmt: skip
    res = train_composer(cfg)
    assert res.model.config.chord_output == "softmax" and len(res.history) >= 2
    assert res.model.meta["train"]["chord_noise"] == 0.2
    assert res.model.meta["train"]["stop_mode"] == "sample"


# --------------------------------------------------------------------------------------------
# perturbation and recovery
# --------------------------------------------------------------------------------------------
def test_wrong_chord_is_the_next_vocabulary_chord():
    assert np.array_equal(wrong_chord(SOFT, 0), F7)
    assert np.array_equal(wrong_chord(SOFT, 4), G7)
    assert np.array_equal(wrong_chord(SOFT, 8), C7)
    assert np.array_equal(wrong_chord(ComposerConfig(), 13), F7)  # bar 13 = bar 1 (C7)


def test_recovery_bars_closed_form():
    roll = perfect_roll(48)
    assert recovery_bars(roll, form=FORM, after_bar=14) == 0.0
    bad = roll.copy()
    bad[:12, 14 * 8 : 17 * 8] = 0.0  # bars 15-17 wrong: back from bar 18
    assert recovery_bars(bad, form=FORM, after_bar=14) == 3.0
    # a window with a single wrong bar is 11/12 = 0.917 < 0.95 on the form: not yet back
    single = roll.copy()
    single[:12, 20 * 8 : 21 * 8] = 0.0
    assert recovery_bars(single, form=FORM, after_bar=14) == 7.0
    assert recovery_bars(single, form=FORM, after_bar=14, min_accuracy=0.9) == 0.0
    never = roll.copy()
    never[:12, 10 * 8 :] = 0.0
    assert recovery_bars(never, form=FORM, after_bar=12) == float("inf")


def test_recovery_bars_validation():
    roll = perfect_roll(12)
    with pytest.raises(InvalidConfigError, match="after_bar"):
        recovery_bars(roll, form=FORM, after_bar=12)
    with pytest.raises(InvalidConfigError, match="window"):
        recovery_bars(roll, form=FORM, after_bar=0, window=0)
    with pytest.raises(InvalidConfigError, match="min_accuracy"):
        recovery_bars(roll, form=FORM, after_bar=0, min_accuracy=0.0)


def test_perturb_forces_wrong_chords_and_is_measured():
    model = build_model(ComposerConfig(experiment=1), seed=0)
    comp = compose(model, bars=36, perturb=(12, 2))
    for bar in (12, 13):
        cols = comp.roll[:12, bar * 8 : (bar + 1) * 8].T
        assert (cols == wrong_chord(model.config, bar)).all()
    assert comp.settings["perturb"] == [12, 2]
    m = measure_composition(comp)
    assert "recovery_bars" in m
    assert m["recovery_bars"] == recovery_bars(comp.roll, form=FORM, after_bar=14)
    assert "recovery_bars" not in measure_composition(compose(model, bars=2))
    # a perturbation that ends the piece has nothing to recover in
    assert np.isnan(measure_composition(compose(model, bars=14, perturb=(12, 2)))["recovery_bars"])


def test_perturb_validation():
    model = build_model(ComposerConfig(experiment=1), seed=0)
    for bad in ((-1, 1), (3, 0)):
        with pytest.raises(InvalidConfigError, match="perturb"):
            compose(model, bars=4, perturb=bad)


def test_cli_compose_perturb_reports_recovery(tmp_path, capsys):
    from core.cli import main

    ckpt = save_composer(tmp_path / "s.pt", build_model(SOFT, seed=0))
    out = tmp_path / "p.mid"
    rc = main(["compose", "--checkpoint", str(ckpt), "--bars", "30", "--out", str(out), "--json",
               "--mode", "sample", "--sample-chords", "--perturb", "12", "2"])  # fmt: skip
    assert rc == 0 and out.is_file()
    measures = json.loads(capsys.readouterr().out)
    assert "recovery_bars" in measures


@pytest.mark.slow
def test_cli_train_composer_maps_the_new_flags(tmp_path):
    from core.cli import main

    out = tmp_path / "f.pt"
    rc = main(["train-composer", "--experiment", "2", "--epochs", "1", "--out", str(out),
               "--n-segments", "8", "--batch-size", "4", "--restarts", "2",
               "--melody-epochs", "1", "--chord-output", "softmax", "--chord-noise", "0.1",
               "--stop-mode", "sample"])  # fmt: skip
    assert rc == 0
    meta = json.loads((tmp_path / "f.pt.meta.json").read_text())
    assert meta["train_config"]["model"]["chord_output"] == "softmax"
    assert meta["train_config"]["chord_noise"] == 0.1
    assert meta["train_config"]["stop_mode"] == "sample"
    assert load_composer(out).config.chord_output == "softmax"


def test_shipped_form_model_keeps_the_form_with_sampled_chords():
    from core.paths import assets_dir

    path = assets_dir() / "composer" / "exp2_form.pt"
    assert path.is_file(), "assets/composer/exp2_form.pt is missing: the shipped model must exist"
    meta = json.loads(path.with_name(path.name + ".meta.json").read_text())
    assert meta["command"].startswith("genex train-composer --experiment 2 --chord-output softmax")
    assert {"created", "seed", "summary"} <= set(meta)
    model = load_composer(path)
    assert model.config.chord_output == "softmax" and model.config.experiment == 2
    assert form_accuracy(compose(model, bars=100).roll, form=FORM) >= 0.99
    # one seed as a smoke check; bench/bench_composer_form.py measures the median of 10
    sampled = compose(model, bars=200, seed=0, mode="sample", sample_chords=True)
    assert form_accuracy(sampled.roll, form=FORM) >= 0.9
