"""Bad input to the twins' public functions: each error names the array and the expected shape."""

import numpy as np
import pytest

import impl_numpy
from harness.studies.parity import PARITY_CASES
from harness.studies.synthetic import random_batch, random_weights
from harness.twins import NAMES, available, load
from twin_contract import Batch, ModelSpec, State

TWINS = [load(name) for name in NAMES if available(name)]  # those of the optional extras when installed
LM = next(c for c in PARITY_CASES if c.name == "ptb_lm")
IMDB = next(c for c in PARITY_CASES if c.name == "imdb")


@pytest.fixture
def weights():
    return random_weights(LM.spec, np.random.default_rng(0))


@pytest.mark.parametrize("twin", TWINS, ids=lambda t: t.NAME)
def test_missing_weight(twin, weights):
    del weights["lstm/bias"]
    with pytest.raises(ValueError, match=r"missing \['lstm/bias'\]"):
        twin.build_model(LM.spec, weights, "float64")


@pytest.mark.parametrize("twin", TWINS, ids=lambda t: t.NAME)
def test_misshaped_weight(twin, weights):
    weights["lstm/recurrent_kernel"] = weights["lstm/recurrent_kernel"].T
    with pytest.raises(ValueError, match=r"weights\['lstm/recurrent_kernel'\] has shape \(24, 6\); expected \(6, 24\)"):
        twin.build_model(LM.spec, weights, "float64")


@pytest.mark.parametrize("twin", TWINS, ids=lambda t: t.NAME)
def test_unexpected_weight(twin, weights):
    weights["dense_2/kernel"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"unexpected names \['dense_2/kernel'\]"):
        twin.build_model(LM.spec, weights, "float64")


@pytest.mark.parametrize("twin", TWINS, ids=lambda t: t.NAME)
@pytest.mark.parametrize("dtype", ["float16", "int32", "banana", None])
def test_unknown_dtype(twin, weights, dtype):
    with pytest.raises(ValueError, match=r"dtype is .*; expected one of \('float32', 'float64'\)"):
        twin.build_model(LM.spec, weights, dtype)


def test_nan_weight(weights):
    weights["dense/bias"][0] = np.nan
    with pytest.raises(ValueError, match=r"weights\['dense/bias'\] contains NaN"):
        impl_numpy.build_model(LM.spec, weights, "float64")


def lm_batch():
    return random_batch(LM, np.random.default_rng(1))


BAD_BATCHES = {
    "float inputs": (lambda b: b._replace(inputs=b.inputs.astype(float)), r"batch.inputs .*expected \(N, T\) integer"),
    "id out of range": (lambda b: b._replace(inputs=b.inputs + 100), r"token ids in .*expected ids in \[0, 18\]"),
    "targets shape": (lambda b: b._replace(targets=b.targets[:, :3]), r"batch.targets has shape \(4, 3\).*expected \(4, 8\)"),
    "target class": (lambda b: b._replace(targets=b.targets - 1), r"classes in \[-1, .*expected classes in \[0, 18\]"),
    "mask shape": (lambda b: b._replace(mask=np.ones((4, 7), bool)), r"batch.mask has shape \(4, 7\).*expected \(4, 8\) bool"),
    "mask dtype": (lambda b: b._replace(mask=np.ones((4, 8))), r"batch.mask .*dtype float64; expected \(4, 8\) bool"),
    "empty mask": (lambda b: b._replace(mask=np.zeros((4, 8), bool)), r"batch.mask has no real step"),
}


@pytest.mark.parametrize("twin", TWINS, ids=lambda t: t.NAME)
@pytest.mark.parametrize("problem", sorted(BAD_BATCHES))
def test_bad_batch(twin, weights, problem):
    corrupt, message = BAD_BATCHES[problem]
    model = twin.build_model(LM.spec, weights, "float64")
    with pytest.raises(ValueError, match=message):
        twin.loss_and_grads(model, corrupt(lm_batch()))


@pytest.mark.parametrize("twin", TWINS, ids=lambda t: t.NAME)
def test_bad_state(twin, weights):
    model = twin.build_model(LM.spec, weights, "float64")
    state = State(np.zeros((1, 4, 6)), np.zeros((1, 4, 5)))
    with pytest.raises(ValueError, match=r"state.c has shape \(1, 4, 5\); expected \(1, 4, 6\)"):
        twin.predict(model, lm_batch(), state)


def test_pooled_row_without_real_step():
    model = impl_numpy.build_model(IMDB.spec, random_weights(IMDB.spec, np.random.default_rng(0)), "float64")
    batch = random_batch(IMDB, np.random.default_rng(1))
    mask = batch.mask.copy()
    mask[2] = False
    with pytest.raises(ValueError, match="a row with no real step"):
        impl_numpy.predict(model, batch._replace(mask=mask))


def test_float_inputs_need_three_axes():
    spec = ModelSpec("pooled", input_size=28, hidden_size=4, num_classes=10)
    model = impl_numpy.build_model(spec, random_weights(spec, np.random.default_rng(0)), "float32")
    with pytest.raises(ValueError, match=r"batch.inputs has shape \(2, 28\); expected \(N, T, D\) with D = 28"):
        impl_numpy.predict(model, Batch(np.zeros((2, 28)), np.zeros(2, int)))


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(head="sideways"), "ModelSpec.head is 'sideways'"),
        (dict(hidden_size=0), "ModelSpec.hidden_size is 0; expected a positive integer"),
        (dict(vocab_size=-3), "ModelSpec.vocab_size is -3"),
        (dict(num_classes=2.5), "ModelSpec.num_classes is 2.5"),
    ],
)
def test_bad_spec(fields, message):
    base = dict(head="pooled", input_size=3, hidden_size=4, num_classes=2)
    with pytest.raises(ValueError, match=message):
        ModelSpec(**{**base, **fields})


@pytest.mark.parametrize("twin", TWINS, ids=lambda t: t.NAME)
def test_each_twin_implements_the_contract_with_its_signatures(twin):
    import inspect

    from twin_contract import Twin

    assert isinstance(twin, Twin)
    functions = {"build_model", "get_weights", "predict", "loss_and_grads", "train_step"}
    for name in functions:
        member = getattr(Twin, name)
        stated = list(inspect.signature(member).parameters)[1:]  # without self
        assert list(inspect.signature(getattr(twin, name)).parameters) == stated, name


def test_the_twins_import_nothing_from_the_harness():
    import subprocess
    import sys

    code = "import sys, impl_numpy, impl_tensorflow; print(sorted(m for m in sys.modules if m.startswith('harness')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr
