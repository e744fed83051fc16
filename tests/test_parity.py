"""NumPy twin vs TensorFlow twin on all four task shapes: forward, gradients, a training trajectory; the page
and verdict of `make parity` for every twin (the PyTorch twin's own figures: tests/test_pytorch_twin.py)."""

import re

import numpy as np
import pytest

import impl_numpy
import impl_tensorflow
from harness.reports.parity_page import parity_markdown
from harness.studies.parity import PARITY_CASES, THRESHOLDS, gradient_parity, relative_difference, trajectory_parity

IDS = [case.name for case in PARITY_CASES]


@pytest.mark.parametrize("case", PARITY_CASES, ids=IDS)
def test_float64_parity(case):
    row = gradient_parity(case, "float64", impl_numpy, impl_tensorflow)
    worst = max(row, key=row.get)
    assert row[worst] <= 1e-12, f"{case.name}: {worst} differs by {row[worst]:.1e}"


@pytest.mark.parametrize("case", PARITY_CASES, ids=IDS)
def test_float32_parity(case):
    row = gradient_parity(case, "float32", impl_numpy, impl_tensorflow)
    worst = max(row, key=row.get)
    assert row[worst] <= 1e-4, f"{case.name}: {worst} differs by {row[worst]:.1e}"


@pytest.mark.parametrize("case", PARITY_CASES, ids=IDS)
def test_float64_trajectory_parity(case):
    row = trajectory_parity(case, impl_numpy, impl_tensorflow, num_updates=100)
    row.pop("clipped steps")
    worst = max(row, key=row.get)
    assert row[worst] <= 1e-8, f"{case.name}: {worst} differs by {row[worst]:.1e} after 100 steps"


def test_trajectory_clips_some_steps():
    clipped = [trajectory_parity(c, impl_numpy, impl_tensorflow, num_updates=20)["clipped steps"] for c in PARITY_CASES]
    assert max(clipped) > 0, "clipping never engaged: the trajectory would not test it"


def test_relative_difference_is_normwise():
    assert relative_difference([1.0, 2.0], [1.0, 2.0]) == 0
    assert relative_difference([1.0, 2.1], [1.0, 2.0]) == pytest.approx(0.05)
    assert relative_difference(np.zeros(3), np.zeros(3)) == 0


def test_parity_markdown_lists_every_case():
    report = {
        "reference": "tensorflow", "missing": ["pytorch"],
        "twins": {"numpy": {"gradients": {"float64": {"mnist": {"logits": 1e-16, "loss": 0.0}}},
                            "trajectory": {"mnist": {"lstm/kernel": 2e-16, "clipped steps": 0.5}}}},
        "num_updates": 3,
        "schedule": {"lr0": 0.5, "decay": 0.1, "clip_norm": 0.3},
        "steps_per_epoch": 10,
        "thresholds": THRESHOLDS,
    }
    text = re.sub(r" +", " ", parity_markdown(report))  # cells unpadded
    assert "| mnist | 1.0e-16 | 0.0e+00 |" in text
    assert "| mnist | 2.0e-16 | 50% |" in text
    assert "## NumPy twin vs TensorFlow twin: forward pass and gradients, float64" in text
    assert "- PyTorch twin: not installed (an optional extra), not compared" in text


def test_parity_tables_group_layers_directions_and_embeddings_by_kind():
    row = {"logits": 1e-16, "d lstm/kernel": 1e-16, "d lstm_1/backward/kernel": 3e-16, "d lstm_1/bias": 2e-16,
           "d embedding": 1e-16, "d shape_embedding": 4e-16, "d dense/kernel": 5e-16}
    figures = {"gradients": {"float64": {"family": row, "mnist": {"logits": 1e-16, "d lstm/kernel": 6e-16}}},
               "trajectory": {}}
    report = {"reference": "tensorflow", "missing": [], "twins": {"numpy": figures}, "num_updates": 3,
              "schedule": {"lr0": 0.5, "decay": 0.1, "clip_norm": 0.3}, "steps_per_epoch": 10, "thresholds": THRESHOLDS}
    text = re.sub(r" +", " ", parity_markdown(report))
    assert "| task shape | logits | d LSTM kernels | d LSTM biases | d embeddings | d dense/kernel |" in text
    assert "| family | 1.0e-16 | 3.0e-16 | 2.0e-16 | 4.0e-16 | 5.0e-16 |" in text  # the largest of each kind
    assert "| mnist | 1.0e-16 | 6.0e-16 | — | — | — |" in text


def test_parity_fails_loudly_above_a_threshold(monkeypatch, tmp_path, capsys):
    import harness.studies.parity
    from harness.cli import main

    monkeypatch.setattr(harness.studies.parity, "PARITY_CASES", PARITY_CASES[:2])  # the verdict, not the figures, is tested
    real = impl_numpy.loss_and_grads

    def perturbed(model, batch, state=None):  # a gradient off by one part in a billion: float64 must notice
        loss, grads, final = real(model, batch, state)
        return loss, {name: g * (1 + 1e-9) for name, g in grads.items()}, final

    monkeypatch.setattr(impl_numpy, "loss_and_grads", perturbed)
    assert main(["parity", "--updates", "2", "--out", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "float64 <= 1e-12, float32 <= 1e-05" in captured.out
    assert "error: parity fails: NumPy float64 mnist d lstm/kernel: 1.0e-09 > 1e-12" in captured.err
    assert "**Verdict: FAIL.**" in (tmp_path / "parity.md").read_text()
    monkeypatch.setattr(impl_numpy, "loss_and_grads", real)
    first = tmp_path / "first"
    assert main(["parity", "--updates", "2", "--out", str(first)]) == 0
    assert "**Verdict: pass.**" in (first / "parity.md").read_text()
    second = tmp_path / "second"
    assert main(["parity", "--updates", "2", "--out", str(second)]) == 0
    assert (first / "parity.json").read_bytes() == (second / "parity.json").read_bytes(), "the figures repeat"
