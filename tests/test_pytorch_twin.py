"""The PyTorch twin (an optional extra): the contract, finite differences, and parity with the NumPy twin.

The NumPy twin agrees with TensorFlow to float64 rounding (`make parity`, tests/test_parity.py), so here
the PyTorch twin is held to the same thresholds against the NumPy twin, without loading TensorFlow.
"""

import numpy as np
import pytest

pytest.importorskip("torch", reason="PyTorch is an optional extra: .venv/bin/pip install -e '.[torch]'")

import impl_numpy  # noqa: E402
import impl_pytorch  # noqa: E402
from gradient_check import numerical_gradient, rel_error  # noqa: E402
from harness.studies.parity import PARITY_CASES, THRESHOLDS, gradient_parity, trajectory_parity  # noqa: E402
from harness.studies.synthetic import random_batch, random_weights  # noqa: E402
from twin_contract import State, Twin  # noqa: E402

CASES = {case.name: case for case in PARITY_CASES}


def test_the_module_is_a_twin():
    assert isinstance(impl_pytorch, Twin) and impl_pytorch.NAME == "pytorch"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_parity_with_the_numpy_twin(name, dtype):
    row = gradient_parity(CASES[name], dtype, impl_pytorch, impl_numpy)
    worst = max(row, key=row.get)
    assert row[worst] <= THRESHOLDS[dtype], f"{name} {dtype}: {worst} {row[worst]:.1e}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_float64_trajectory_with_clipping_stays_with_the_numpy_twin(name):
    row = trajectory_parity(CASES[name], impl_pytorch, impl_numpy, num_updates=40)
    clipped = row.pop("clipped steps")
    worst = max(row, key=row.get)
    assert row[worst] <= THRESHOLDS["trajectory"], f"{name}: {worst} {row[worst]:.1e}"
    assert clipped > 0, "clipping is exercised"


@pytest.mark.parametrize("name", ["imdb, bidirectional, holes", "ptb_lm, tied, dropout", "ptb_pos, word features, "
                                  "bidirectional", "ptb_pos, bidirectional 2 layers, pre-padding"])
def test_gradients_match_finite_differences(name):
    case = CASES[name]
    rng = np.random.default_rng(7)
    model = impl_pytorch.build_model(case.spec, random_weights(case.spec, rng), "float64")
    batch = random_batch(case, rng)
    rows = case.spec.layers * case.spec.directions
    shape = (rows, case.batch_size, case.spec.hidden_size)
    state = State(rng.standard_normal(shape), rng.standard_normal(shape)) if case.carries_state else None
    _, grads, _ = impl_pytorch.loss_and_grads(model, batch, state)
    assert sorted(grads) == sorted(case.spec.trainable_names())
    for weight_name, analytic in grads.items():
        parameter, transposed = model.parameters[weight_name]
        values = parameter.detach().numpy()  # the parameter's own memory: perturbed in place
        numeric = numerical_gradient(lambda: impl_pytorch.predict(model, batch, state)[1], values)
        error = rel_error(analytic, numeric.T if transposed else numeric)
        assert error <= 1e-7, f"{name}: d{weight_name} relative error {error:.2e}"


def test_the_model_holds_copies_and_gives_copies():
    case = CASES["ptb_pos, bidirectional 2 layers, pre-padding"]
    weights = random_weights(case.spec, np.random.default_rng(1))
    model = impl_pytorch.build_model(case.spec, weights, "float64")
    given = {name: value.copy() for name, value in weights.items()}
    for value in weights.values():
        value += 1.0  # the caller's arrays change: the model's do not
    out = impl_pytorch.get_weights(model)
    assert list(out) == list(case.spec.weight_shapes())
    for name in out:
        np.testing.assert_array_equal(out[name], given[name])
        out[name] += 1.0
    np.testing.assert_array_equal(impl_pytorch.get_weights(model)["lstm/kernel"], given["lstm/kernel"])


def test_the_second_lstm_bias_stays_zero_and_frozen():
    case = CASES["imdb, bidirectional, holes"]
    rng = np.random.default_rng(2)
    model = impl_pytorch.build_model(case.spec, random_weights(case.spec, rng), "float64")
    for _ in range(3):
        impl_pytorch.train_step(model, random_batch(case, rng), 0.5, None)
    for lstm in model.lstms:
        for name, parameter in lstm.named_parameters():
            if name.startswith("bias_hh"):
                assert not parameter.requires_grad and not parameter.detach().any(), name
