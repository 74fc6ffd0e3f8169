"""Every variant inside a network: schedules, MC inference, the registry's placements, the lab, `variants`."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from explorer import settings
from explorer.tools import cli
from explorer.core.catalogue import catalogue
from explorer.core.datasets import DataConfig, make_toy
from explorer.dropout import VARIANTS, variants_for
from explorer.dropout.multisample import MultiSampleHead
from explorer.dropout.schedules import SCHEDULES, scheduled_rate
from explorer.core.experiment import Experiment, build, check, defaults_for, from_params
from explorer.lab.state import Lab, lane, linked_lanes
from explorer.core.mc import mc_probabilities, predictive_summary, sampling
from explorer.core.model import MLP, MLPConfig

DATA = make_toy(DataConfig("moons", train_size=64, val_size=40, noise=0.2, seed=0))
SMALL = Experiment(dataset="moons", train_size=64, val_size=40, hidden=(16, 16), epochs=4, batch_size=16)
MLP_KEYS = [k for k in VARIANTS if "mlp" in VARIANTS[k].models]


# --- every variant trains and has its stated inference rule ----------------------

@pytest.mark.parametrize("key", [*MLP_KEYS, *SCHEDULES])
def test_every_variant_trains_a_few_steps_with_finite_loss(key):
    exp = replace(SMALL, variant=key, epochs=2, activation="selu" if key == "alpha" else "relu",
                  **({"schedule_cutoff": 1} if key in SCHEDULES else {}))
    trainer = build(exp, DATA)
    before = [t.detach().clone() for t in trainer.model.parameters()]
    trainer.run()
    assert trainer.epoch == 2 and math.isfinite(trainer.last_loss)
    assert all(math.isfinite(v) for v in trainer.history[-1].values())
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))


@pytest.mark.parametrize("key", MLP_KEYS)
def test_inference_is_deterministic_and_needs_no_generator(key):
    model = MLP(MLPConfig(hidden=(16, 16), variant=key, p=0.3, input_p=0.1)).eval()
    x = DATA.x_val
    state = model.noise.get_state()
    assert torch.equal(model(x), model(x))
    assert torch.equal(model.noise.get_state(), state)  # inference draws nothing from the masks' stream


@pytest.mark.parametrize("key", ["standard", "gaussian", "uniform", "alpha", "concrete", "multisample"])
def test_identity_variants_run_the_plain_network_at_inference(key):
    """Variants whose training keeps E[output] are, in eval mode, the same network without dropout."""
    with_noise = MLP(MLPConfig(hidden=(16, 16), variant=key, p=0.4, input_p=0.2)).eval()
    plain = MLP(MLPConfig(hidden=(16, 16), variant="standard", p=0.0)).eval()
    torch.testing.assert_close(with_noise(DATA.x_val), plain(DATA.x_val))


def test_all_variants_start_from_the_same_weights():
    """The lab's fairness: one seed, the same initial weights whatever the variant's placement."""
    ref = [lin.weight for lin in MLP(MLPConfig(hidden=(16, 16))).linears]
    for key in MLP_KEYS:
        weights = [lin.weight for lin in MLP(MLPConfig(hidden=(16, 16), variant=key)).linears]
        assert len(weights) == 3 and all(torch.equal(a, b) for a, b in zip(ref, weights)), key


def test_rates_reach_every_placement():
    for key in MLP_KEYS:
        model = MLP(MLPConfig(hidden=(16, 16), variant=key, p=0.3, input_p=0.1))
        assert [round(d.p, 6) for d in model.dropouts] == [0.1, 0.3, 0.3], key
        model.set_rates(p=0.2, input_p=0.05)
        assert [round(d.p, 6) for d in model.dropouts] == [0.05, 0.2, 0.2], key


def test_multisample_loss_is_the_mean_of_its_samples_losses():
    model = MLP(MLPConfig(hidden=(8,), variant="multisample", samples=4, p=0.5)).train()
    head = next(m for m in model.modules() if isinstance(m, MultiSampleHead))
    x, y = DATA.x_train[:10], DATA.y_train[:10]
    torch.manual_seed(0)
    logits = model(x)
    assert logits.shape == (40, 2) and head.samples == 4
    per_sample = [F.cross_entropy(logits[i * 10:(i + 1) * 10], y) for i in range(4)]
    torch.testing.assert_close(F.cross_entropy(logits, y.repeat(4)), torch.stack(per_sample).mean())
    assert model.eval()(x).shape == (10, 2)


def test_concrete_rates_are_learned_by_the_trainer():
    trainer = build(replace(SMALL, variant="concrete", p=0.3, input_p=0.2, epochs=6), DATA)
    trainer.run()
    rates = [d.p for d in trainer.model.dropouts]
    assert all(0 < r < 1 for r in rates) and any(abs(r - 0.3) > 1e-4 for r in rates[1:])
    assert trainer.history[-1]["p"] == pytest.approx(rates[1])


# --- schedules -----------------------------------------------------------------------

@pytest.mark.parametrize("key, shape, epochs, rate", [
    ("early", "constant", 0, 0.5), ("early", "constant", 2.99, 0.5), ("early", "constant", 3, 0.0),
    ("early", "linear", 0, 0.5), ("early", "linear", 1.5, 0.25), ("early", "linear", 3, 0.0), ("early", "linear", 9, 0.0),
    ("late", "constant", 0, 0.0), ("late", "constant", 2.99, 0.0), ("late", "constant", 3, 0.5), ("late", "constant", 9, 0.5),
])
def test_scheduled_rate(key, shape, epochs, rate):
    assert scheduled_rate(key, shape, 0.5, 3, epochs) == pytest.approx(rate)


@pytest.mark.parametrize("key, shape", [("early", "constant"), ("early", "linear"), ("late", "constant")])
def test_the_rate_in_effect_at_each_epoch_is_the_schedules(key, shape):
    exp = replace(SMALL, variant=key, schedule_shape=shape, schedule_cutoff=2, p=0.4, input_p=0.2, epochs=4)
    trainer = build(exp, DATA)
    used: list[tuple[int, float, float]] = []  # (step, hidden, input) rates of every training step
    trainer.add_callback("on_step_end", lambda t: used.append((t.step - 1, t.model.hidden_rate, t.model.dropouts[0].p)))
    trainer.run()
    per_epoch = math.ceil(64 / 16)
    for step, hidden, inputs in used:
        progress = step / per_epoch
        assert hidden == pytest.approx(scheduled_rate(key, shape, 0.4, 2, progress))
        assert inputs == pytest.approx(scheduled_rate(key, shape, 0.2, 2, progress))
    for row in trainer.history:  # the history records the rate of the epoch's last step
        assert row["p"] == pytest.approx(scheduled_rate(key, shape, 0.4, 2, (row["step"] - 1) / per_epoch))


def test_a_schedule_wraps_its_base_variant():
    trainer = build(replace(SMALL, variant="late", base_variant="gaussian", schedule_cutoff=1), DATA)
    assert type(trainer.model.dropouts[1]).__name__ == "GaussianDropout"
    assert trainer.model.hidden_rate == 0.0  # late dropout starts off


# --- MC inference ----------------------------------------------------------------

def test_mc_dropout_samples_only_the_dropout_layers_from_its_own_stream():
    model = MLP(MLPConfig(hidden=(32, 32), p=0.5, variant="multisample", samples=3))
    state = model.noise.get_state()
    probs = mc_probabilities(model, DATA.x_val, samples=20, seed=1)
    assert probs.shape == (20, 40, 2)  # the multisample head runs as at inference: one prediction per example
    assert not torch.allclose(probs[0], probs[1])  # the passes differ: masks are sampled
    assert torch.equal(probs, mc_probabilities(model, DATA.x_val, samples=20, seed=1))
    assert torch.equal(model.noise.get_state(), state) and model.training


def test_mc_average_approaches_the_weight_scaled_network():
    """Srivastava Fig. 11: the average of many thinned networks is close to the inference network's prediction."""
    model = MLP(MLPConfig(hidden=(64,), p=0.5, seed=3))
    x = DATA.x_val
    mc = mc_probabilities(model, x, samples=2000, seed=0).mean(0)
    plain = model.eval()(x).softmax(-1)
    assert (mc - plain).abs().max() < 0.05


def test_predictive_summary_against_closed_forms():
    probs = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])  # two confident passes that disagree
    s = predictive_summary(probs)
    torch.testing.assert_close(s["mean"], torch.tensor([[0.5, 0.5]]))
    torch.testing.assert_close(s["entropy"], torch.tensor([math.log(2)]))
    torch.testing.assert_close(s["mutual_information"], torch.tensor([math.log(2)]), atol=1e-6, rtol=0)


def test_sampling_restores_the_model():
    model = MLP(MLPConfig(hidden=(8,), p=0.5)).train()
    with sampling(model, 0):
        assert not model.linears[0].training and all(d.training for d in model.dropouts)
    assert model.training and all(d.generator is model.noise for d in model.dropouts)


def test_mc_inference_validates_with_the_average():
    trainer = build(replace(SMALL, inference="mc", mc_samples=10, epochs=1), DATA)
    trainer.run()
    probs = mc_probabilities(trainer.model, DATA.x_val, 10, trainer.cfg.seed).mean(0)
    expected = F.nll_loss(probs.log(), DATA.y_val).item()
    assert trainer.history[-1]["val_loss"] == pytest.approx(expected, rel=1e-5)


# --- experiment fields -------------------------------------------------------------

@pytest.mark.parametrize("exp, words", [
    (Experiment(samples=4), "--samples applies to --variant multisample"),
    (Experiment(standout_alpha=2.0), "--standout-alpha applies to --variant standout"),
    (Experiment(variant="standard", base_variant="gaussian"), "--base-variant applies to --variant early or late"),
    (Experiment(variant="late", schedule_shape="linear"), "--schedule-shape applies to --variant early"),
    (Experiment(variant="early", schedule_cutoff=600), "after the last epoch"),
    (Experiment(mc_samples=5), "--mc-samples applies to --inference mc"),
    (Experiment(conv_variant="dropblock"), "--conv-variant applies to the CNN"),
    (Experiment(variant="early", base_variant="concrete"), "concrete learns its rate"),
    (Experiment(variant="dropblock"), "does not apply to the MLP"),
    (replace(defaults_for("mnist"), model="cnn", variant="dropconnect"), "does not apply to the CNN"),
])
def test_variant_parameters_need_their_variant(exp, words):
    assert any(words in problem.message for problem in check(exp)), check(exp)


def test_variant_parameters_with_their_variant_are_fine():
    for exp in (Experiment(variant="multisample", samples=4), Experiment(variant="standout", standout_alpha=2.0),
                Experiment(variant="early", base_variant="gaussian", schedule_shape="linear", schedule_cutoff=50),
                Experiment(inference="mc", mc_samples=5),
                replace(defaults_for("mnist"), model="cnn", hidden=(64,), conv_variant="dropblock", block_size=5)):
        assert check(exp) == [], exp


def test_a_link_with_a_stray_variant_parameter_drops_it():
    exp, warnings = from_params({"samples": "4", "block_size": "4", "variant": "early"})
    assert exp.variant == "early" and exp.samples == Experiment.samples and exp.block_size == 3
    assert any("block_size" in w and "odd" in w for w in warnings) and any("samples" in w for w in warnings)


def test_variants_for_the_unit_pages_leave_out_what_they_cannot_draw():
    keys = variants_for("mlp", unit_masks=True)
    assert {"standard", "gaussian", "uniform", "alpha"} <= set(keys)
    assert not {"dropconnect", "multisample", "standout", "concrete", "dropblock"} & set(keys)


def test_a_cnn_with_dropblock_on_its_maps_trains():
    from explorer.core.mnist import make_mnist

    data = make_mnist("mnist", 64, 32, 0)
    exp = replace(defaults_for("mnist"), model="cnn", hidden=(16,), conv_variant="dropblock", block_size=3,
                  conv_p=0.2, train_size=64, val_size=32, epochs=1, batch_size=32)
    trainer = build(exp, data)
    assert [type(d).__name__ for d in trainer.model.conv_drops] == ["DropBlock", "DropBlock"]
    trainer.run()
    assert math.isfinite(trainer.history[-1]["val_loss"])


# --- the catalogue and `variants` ----------------------------------------------------

def test_catalogue_lists_every_key_with_formulas_and_parameters():
    entries = {e["key"]: e for e in catalogue()}
    expected = {"standard", "weight-scaling", "gaussian", "uniform", "dropconnect", "standout", "multisample",
                "spatial", "dropblock", "alpha", "concrete", "early", "late", "mc"}
    assert expected <= set(entries)
    for e in entries.values():
        assert e["train_rule"] and e["infer_rule"] and e["explanation"] and e["reference"] and e["models"]
    assert [p["flag"] for p in entries["multisample"]["params"]] == ["--samples"]
    assert entries["dropblock"]["select"] == "--model cnn --conv-variant dropblock" and entries["mc"]["select"] == "--inference mc"
    assert {p["flag"] for p in entries["early"]["params"]} == {"--base-variant", "--schedule-cutoff", "--schedule-shape"}
    assert entries["early"]["params"][1]["default"] == "0" and entries["mc"]["params"][0]["default"] == "30"


def test_variants_json_command(capsys):
    cli.main(["variants", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert [e["key"] for e in out] == [e["key"] for e in catalogue()]


def test_variants_table_command(capsys):
    cli.main(["variants"])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(catalogue()) and lines[0].startswith("standard")


@pytest.mark.parametrize("flags", [["--variant", "early", "--schedule-cutoff", "1"], ["--variant", "multisample", "--samples", "2"],
                                   ["--variant", "dropconnect"], ["--inference", "mc", "--mc-samples", "3"]])
def test_train_takes_every_variant_and_its_parameters(flags, capsys):
    cli.main(["train", "--dataset", "moons", "--train-size", "32", "--val-size", "16", "--hidden", "8",
              "--epochs", "2", "--json", *flags])
    out = json.loads(capsys.readouterr().out)
    assert len(out["history"]) == 2


def test_train_rejects_a_stray_variant_parameter_in_one_line(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["train", "--samples", "3"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip() == "explorer: error: --samples applies to --variant multisample only"


# --- the lab -------------------------------------------------------------------------

def test_lab_lanes_share_data_weights_and_batches():
    lanes = [lane(SMALL, k) for k in ("standard", "gaussian", "dropconnect")]
    lab = Lab(lanes, DATA)
    firsts = [t.model.linears[0].weight.detach().clone() for t in lab.trainers]
    assert all(torch.equal(firsts[0], w) for w in firsts[1:])
    lab.advance(max_steps=6)
    assert [t.step for t in lab.trainers] == [6, 6, 6]
    assert all(torch.equal(lab.trainers[0].last_batch, t.last_batch) for t in lab.trainers[1:])


def test_lab_rejects_lanes_that_differ_in_more_than_dropout():
    with pytest.raises(ValueError, match="share hidden"):
        Lab([SMALL, replace(SMALL, hidden=(8,))], DATA)
    with pytest.raises(ValueError, match="2 to 6"):
        Lab([SMALL], DATA)


@pytest.mark.parametrize("key, shape", [("standard", (settings.LAB_NOISE_ROWS, 16)), ("dropconnect", (16, 16)),
                                        ("multisample", (3, 16)), ("gaussian", (settings.LAB_NOISE_ROWS, 16))])
def test_lab_noise_pictures(key, shape):
    lab = Lab([lane(SMALL, "standard"), lane(SMALL, key, samples=3) if key == "multisample" else lane(SMALL, key)], DATA)
    state = lab.trainers[1].model.noise.get_state()
    image, axes = lab.noise(1, seed=0)
    assert image.shape == shape and len(axes) == 2
    assert torch.equal(lab.trainers[1].model.noise.get_state(), state)  # looking never changes the run
    if key in ("standard", "multisample"):
        assert set(image.ravel().tolist()) <= {0.0, 2.0}  # inverted dropout at q = 0.5: ×0 or ×2


def test_lab_frame_and_rows():
    lab = Lab([lane(SMALL, "standard"), lane(SMALL, "standard", p=0.0)], DATA)
    lab.advance(max_steps=8)
    frame = lab.frame(seed=1)
    assert set(frame) == {"curves", "noise 0", "noise 1"}
    rows = lab.rows()
    assert [r["variant"] for r in rows] == ["Standard (inverted) q=0.5", "Standard (inverted) q=0"]
    assert rows[0]["epoch"] == 2 and rows[0]["gap"] == pytest.approx(rows[0]["train_acc"] - rows[0]["val_acc"])


def test_a_links_lanes_are_read_once_for_the_page_and_the_lessons():
    """``variants=…``: the lanes in order, each once, and the names the model cannot run (the MLP runs no
    conv-map variant)."""
    assert linked_lanes(" standard, gaussian,standard,, bogus", "mlp") == (["standard", "gaussian"], ["bogus"])
    maps = next(k for k, v in VARIANTS.items() if v.placement == "maps" and k != "spatial")
    assert linked_lanes(f"standard,{maps}", "mlp") == (["standard"], [maps])
    assert linked_lanes(f"standard,{maps}", "cnn") == (["standard", maps], [])
