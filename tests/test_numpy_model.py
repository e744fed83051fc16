"""The NumPy twin's whole heads: gradient checks, padding invariance, the initial-loss sanity figure."""

import numpy as np
import pytest

import impl_numpy
from gradient_check import numerical_gradient, rel_error
from harness.studies.parity import PARITY_CASES
from harness.studies.synthetic import random_batch, random_weights
from twin_contract import Batch, ModelSpec, State

CASES = {case.name: case for case in PARITY_CASES}


@pytest.mark.parametrize("name", sorted(CASES))
def test_model_gradients_match_finite_differences(name):
    case = CASES[name]
    rng = np.random.default_rng(7)
    model = impl_numpy.build_model(case.spec, random_weights(case.spec, rng), "float64")
    batch = random_batch(case, rng)
    shape = (case.spec.layers, case.batch_size, case.spec.hidden_size)  # (L, N, H)
    state = State(rng.standard_normal(shape), rng.standard_normal(shape)) if case.carries_state else None

    _, grads, _ = impl_numpy.loss_and_grads(model, batch, state)
    assert sorted(grads) == sorted(case.spec.trainable_names())
    for weight_name, analytic in grads.items():
        numeric = numerical_gradient(lambda: impl_numpy.predict(model, batch, state)[1], model.params[weight_name])
        error = rel_error(analytic, numeric)
        assert error <= 1e-7, f"{name}: d{weight_name} relative error {error:.2e}"


def test_trained_embedding_gets_its_gradient_checked():
    spec = ModelSpec("pooled", input_size=3, hidden_size=4, num_classes=3, vocab_size=7, train_embedding=True)
    rng = np.random.default_rng(8)
    model = impl_numpy.build_model(spec, random_weights(spec, rng), "float64")
    mask = np.array([[False, True, True, True], [True, True, False, False]])
    batch = Batch(np.where(mask, [[1, 2, 2, 6], [3, 1, 4, 5]], 0), np.array([0, 2]), mask)
    _, grads, _ = impl_numpy.loss_and_grads(model, batch)
    numeric = numerical_gradient(lambda: impl_numpy.predict(model, batch)[1], model.params["embedding"])
    assert rel_error(grads["embedding"], numeric) <= 1e-7
    assert np.all(grads["embedding"][0] == 0), "the padding token's row gets no gradient"


def pad(batch: Batch, extra: int, side: str) -> Batch:
    """The same sequences with `extra` more padded steps on one side (id 0 / zero rows, mask False)."""
    N, T = batch.mask.shape
    width = [(0, 0), (extra, 0) if side == "pre" else (0, extra)]
    inputs = np.pad(batch.inputs, width + [(0, 0)] * (batch.inputs.ndim - 2))
    targets = batch.targets if batch.targets.ndim == 1 else np.pad(batch.targets, width)
    features = None if batch.features is None else np.pad(batch.features, width + [(0, 0)])
    return Batch(inputs, targets, np.pad(batch.mask, width), features)


# The backward direction reads only the real steps: more padding on either side changes nothing.
@pytest.mark.parametrize("name", ["imdb", "ptb_pos", "ptb_pos, bidirectional 2 layers, post-padding",
                                  "imdb, bidirectional, holes", "ptb_pos, word features, bidirectional"])
@pytest.mark.parametrize("side", ["pre", "post"])
def test_padding_never_changes_real_outputs_or_loss(name, side):
    case = CASES[name]
    rng = np.random.default_rng(9)
    model = impl_numpy.build_model(case.spec, random_weights(case.spec, rng), "float64")
    batch = random_batch(case, rng)
    padded = pad(batch, 4, side)
    # padding tokens are real token ids too: make them arbitrary, so only the mask can hide them
    padded = padded._replace(inputs=np.where(padded.mask, padded.inputs, rng.integers(0, 23, padded.mask.shape)))
    logits, loss, _ = impl_numpy.predict(model, batch)
    logits_padded, loss_padded, _ = impl_numpy.predict(model, padded)
    _, grads, _ = impl_numpy.loss_and_grads(model, batch)
    _, grads_padded, _ = impl_numpy.loss_and_grads(model, padded)

    assert loss_padded == pytest.approx(loss, rel=1e-13)
    if case.spec.head == "per_step":
        real = slice(4, None) if side == "pre" else slice(0, -4)
        logits_padded = logits_padded[:, real][batch.mask]
        logits = logits[batch.mask]
    np.testing.assert_allclose(logits_padded, logits, rtol=1e-13, atol=1e-15)
    for weight_name in grads:
        np.testing.assert_allclose(grads_padded[weight_name], grads[weight_name], rtol=1e-11, atol=1e-15)


@pytest.mark.parametrize("name", sorted(CASES))
def test_initial_loss_is_about_log_num_classes(name):
    case = CASES[name]
    rng = np.random.default_rng(10)
    weights = {n: 0.01 * rng.standard_normal(s) for n, s in case.spec.weight_shapes().items()}
    model = impl_numpy.build_model(case.spec, weights, "float32")
    _, loss, _ = impl_numpy.predict(model, random_batch(case, rng))
    assert loss == pytest.approx(np.log(case.spec.num_classes), rel=0.02)


def test_carried_state_changes_the_output():
    case = CASES["ptb_lm"]
    rng = np.random.default_rng(11)
    model = impl_numpy.build_model(case.spec, random_weights(case.spec, rng), "float64")
    first, second = random_batch(case, rng), random_batch(case, rng)
    _, _, state = impl_numpy.predict(model, first)
    logits_fresh, _, _ = impl_numpy.predict(model, second)
    logits_carried, _, _ = impl_numpy.predict(model, second, state)
    assert not np.allclose(logits_fresh[:, 0], logits_carried[:, 0])


def test_training_lowers_the_loss_and_freezes_the_embedding():
    case = CASES["imdb"]  # frozen embedding
    rng = np.random.default_rng(12)
    weights = random_weights(case.spec, rng)
    model = impl_numpy.build_model(case.spec, weights, "float32")
    batch = random_batch(case, rng)
    losses = [impl_numpy.train_step(model, batch, 1.0, 5.0).loss for _ in range(100)]
    assert losses[-1] < 0.5 * losses[0]
    np.testing.assert_array_equal(impl_numpy.get_weights(model)["embedding"], weights["embedding"].astype(np.float32))


@pytest.mark.parametrize("name", ["imdb", "ptb_pos, bidirectional 2 layers, pre-padding", "imdb, bidirectional, holes",
                                  "ptb_pos, 2 layers, dropout", "ptb_pos, word features, bidirectional"])
def test_the_rows_sorted_longest_first_come_back_in_the_batchs_order(name):
    """The model sorts a padded batch's rows (lstm.py then leaves the padded rows out of each step):
    its logits and final state come back in the batch's order, whatever that order is."""
    case = CASES[name]
    rng = np.random.default_rng(10)
    model = impl_numpy.build_model(case.spec, random_weights(case.spec, rng), "float64")
    batch = random_batch(case, rng)
    shape = (len(case.spec.direction_names()), case.batch_size, case.spec.hidden_size)
    state = State(rng.standard_normal(shape), rng.standard_normal(shape))
    perm = rng.permutation(case.batch_size)
    shuffled = Batch(*(None if a is None else tuple(m[perm] for m in a) if isinstance(a, tuple) else a[perm]
                       for a in batch))
    logits, loss, final = impl_numpy.predict(model, batch, state)
    logits_s, loss_s, final_s = impl_numpy.predict(model, shuffled, State(state.h[:, perm], state.c[:, perm]))
    assert not np.array_equal(impl_numpy.model.longest_first(batch.mask), np.arange(case.batch_size))  # sorted
    assert loss_s == pytest.approx(loss, rel=1e-13)
    np.testing.assert_allclose(logits_s, logits[perm], rtol=1e-12, atol=1e-15)
    for part, part_s in zip(final, final_s):
        np.testing.assert_allclose(part_s, part[:, perm], rtol=1e-12, atol=1e-15)
    _, grads, final = impl_numpy.loss_and_grads(model, batch, state)
    _, grads_s, final_s = impl_numpy.loss_and_grads(model, shuffled, State(state.h[:, perm], state.c[:, perm]))
    np.testing.assert_allclose(final_s.h, final.h[:, perm], rtol=1e-12, atol=1e-15)
    for weight_name in grads:
        np.testing.assert_allclose(grads_s[weight_name], grads[weight_name], rtol=1e-11, atol=1e-15)
