"""Finite-difference gradient checks of every NumPy layer, float64, relative error <= 1e-7."""

import warnings

import numpy as np
import pytest

from gradient_check import numerical_gradient, projected, rel_error
from impl_numpy.embedding import embedding_backward, embedding_forward
from impl_numpy.linear import linear_backward, linear_forward
from impl_numpy.loss import softmax_cross_entropy
from impl_numpy.lstm import lstm_backward, lstm_forward
from impl_numpy.pooling import masked_max_backward, masked_max_forward, masked_mean_backward, masked_mean_forward

TOLERANCE = 1e-7


@pytest.mark.parametrize("padding", [None, "pre", "post", "holes"])
@pytest.mark.parametrize("with_state", [False, True])
def test_lstm_gradients(padding, with_state, lstm_problem):
    x, Wx, Wh, b, h0, c0, mask, (dh_seq, dh_T, dc_T) = lstm_problem(np.random.default_rng(1), 3, 5, 4, 3, padding,
                                                                    with_state)

    def loss():
        h_seq, (h_T, c_T), _ = lstm_forward(x, Wx, Wh, b, h0, c0, mask)
        return projected(h_seq, dh_seq) + projected(h_T, dh_T) + projected(c_T, dc_T)

    _, _, cache = lstm_forward(x, Wx, Wh, b, h0, c0, mask)
    grads = lstm_backward(dh_seq, dh_T, dc_T, cache)
    for name, array in [("x", x), ("Wx", Wx), ("Wh", Wh), ("b", b), ("h0", h0), ("c0", c0)]:
        error = rel_error(getattr(grads, name), numerical_gradient(loss, array))
        assert error <= TOLERANCE, f"d{name}: relative error {error:.2e}"


def test_lstm_backward_without_input_gradient_changes_nothing_else(random_mask):
    rng = np.random.default_rng(3)
    N, T, D, H = 3, 5, 4, 3
    x = rng.standard_normal((N, T, D))
    Wx, Wh, b = (0.5 * rng.standard_normal(s) for s in [(D, 4 * H), (H, 4 * H), (4 * H,)])
    _, _, cache = lstm_forward(x, Wx, Wh, b, mask=random_mask(rng, N, T, "post"))
    dh_seq = rng.standard_normal((N, T, H))
    full = lstm_backward(dh_seq, None, None, cache)
    without = lstm_backward(dh_seq, None, None, cache, input_grad=False)
    assert without.x is None
    for name in ["Wx", "Wh", "b", "h0", "c0"]:
        np.testing.assert_array_equal(getattr(without, name), getattr(full, name))


def test_lstm_masked_steps_carry_state():
    rng = np.random.default_rng(2)
    N, T, D, H = 2, 4, 3, 2
    x = rng.standard_normal((N, T, D))
    Wx, Wh, b = (rng.standard_normal(s) for s in [(D, 4 * H), (H, 4 * H), (4 * H,)])
    mask = np.array([[True, False, False, True], [True, True, True, False]])
    h_seq, (h_T, _), _ = lstm_forward(x, Wx, Wh, b, mask=mask)
    np.testing.assert_array_equal(h_seq[0, 1], h_seq[0, 0])
    np.testing.assert_array_equal(h_seq[0, 2], h_seq[0, 0])
    np.testing.assert_array_equal(h_T[1], h_seq[1, 2])


def test_embedding_gradient_with_repeated_ids():
    rng = np.random.default_rng(3)
    V, E = 6, 3
    W = rng.standard_normal((V, E))
    ids = np.array([[1, 2, 2, 5], [5, 5, 0, 1]])
    dout = rng.standard_normal((2, 4, E))
    numeric = numerical_gradient(lambda: projected(embedding_forward(ids, W), dout), W)
    assert rel_error(embedding_backward(dout, ids, V), numeric) <= TOLERANCE


def test_linear_gradients():
    rng = np.random.default_rng(4)
    x, W, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    dy = rng.standard_normal((2, 3, 5))
    dx, dW, db = linear_backward(dy, x, W)
    for analytic, array in [(dx, x), (dW, W), (db, b)]:
        numeric = numerical_gradient(lambda: projected(linear_forward(x, W, b), dy), array)
        assert rel_error(analytic, numeric) <= TOLERANCE


@pytest.mark.parametrize("pooling", ["mean", "max"])
@pytest.mark.parametrize("padding", [None, "pre", "holes"])
def test_masked_pooling_gradient(pooling, padding, random_mask):
    rng = np.random.default_rng(5)
    N, T, H = 3, 6, 2
    h = rng.standard_normal((N, T, H))
    mask = None if padding is None else random_mask(rng, N, T, padding)
    dpooled = rng.standard_normal((N, H))

    def pooled():
        return masked_mean_forward(h, mask) if pooling == "mean" else masked_max_forward(h, mask)[0]

    analytic = (masked_mean_backward(dpooled, mask, T) if pooling == "mean"
                else masked_max_backward(dpooled, masked_max_forward(h, mask)[1]))
    numeric = numerical_gradient(lambda: projected(pooled(), dpooled), h)
    assert rel_error(analytic, numeric) <= TOLERANCE


def test_masked_mean_ignores_padding():
    h = np.arange(12.0).reshape(2, 3, 2)
    mask = np.array([[True, True, False], [False, False, True]])
    np.testing.assert_allclose(masked_mean_forward(h, mask), [[1.0, 2.0], [10.0, 11.0]])


def test_masked_max_ignores_padding_and_shares_ties():
    h = np.array([[[1.0, 5.0], [3.0, 5.0], [9.0, 9.0]], [[-4.0, 2.0], [-6.0, 1.0], [7.0, 8.0]]])
    mask = np.array([[True, True, False], [False, True, False]])  # the 9s and 7, 8 are padding
    pooled, weights = masked_max_forward(h, mask)
    np.testing.assert_array_equal(pooled, [[3.0, 5.0], [-6.0, 1.0]])
    dh = masked_max_backward(np.array([[1.0, 2.0], [3.0, 4.0]]), weights)
    np.testing.assert_array_equal(dh, [[[0, 1], [1, 1], [0, 0]], [[0, 0], [3, 4], [0, 0]]])


@pytest.mark.parametrize("masked", [False, True])
def test_softmax_cross_entropy_gradient(masked, random_mask):
    rng = np.random.default_rng(6)
    logits = 3 * rng.standard_normal((3, 4, 5))
    targets = rng.integers(0, 5, size=(3, 4))
    mask = random_mask(rng, 3, 4, "post") if masked else None
    _, dlogits = softmax_cross_entropy(logits, targets, mask)
    numeric = numerical_gradient(lambda: softmax_cross_entropy(logits, targets, mask)[0], logits)
    assert rel_error(dlogits, numeric) <= TOLERANCE


def test_softmax_cross_entropy_is_mean_over_real_tokens():
    logits = np.array([[[2.0, 0.0], [0.0, 0.0]]])  # (1, 2, 2)
    targets = np.array([[0, 1]])
    mask = np.array([[True, False]])
    loss, _ = softmax_cross_entropy(logits, targets, mask)
    assert loss == pytest.approx(np.log(1 + np.exp(-2.0)), rel=1e-14)


@pytest.mark.parametrize("logits, expected", [([1000.0, -1000.0], 2000.0),  # exp overflows
                                               ([-1000.0, -1000.0], np.log(2.0)),  # exp is 0 everywhere
                                               (np.float32([-100.0, -101.0]), 1 + np.log1p(np.exp(-1.0)))])  # subnormal
def test_softmax_cross_entropy_is_stable_for_huge_logits(logits, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and quiet about it
        loss, grad = softmax_cross_entropy(np.array([logits]), np.array([1]))
    assert loss == pytest.approx(expected, rel=1e-6)
    assert np.all(np.isfinite(grad)) and grad.sum() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("threads, threads_max_input", [("1", 64), ("2", 64), ("3", 64), ("2", 0)])
def test_blockwise_output_layer_equals_linear_then_cross_entropy(monkeypatch, threads, threads_max_input):
    from impl_numpy import output_layer
    from impl_numpy.loss import token_weights
    from impl_numpy.parallel import THREADS_VARIABLE

    monkeypatch.setattr(output_layer, "BLOCK_LOGITS", 3 * 5)  # blocks of 3 rows, some short
    monkeypatch.setenv(THREADS_VARIABLE, threads)  # 11 rows shared among 1, 2 or 3 threads
    monkeypatch.setattr(output_layer, "THREADS_MAX_INPUT", threads_max_input)  # 0: H = 3 is too wide
    rng = np.random.default_rng(7)
    x, W, b = rng.standard_normal((11, 3)), rng.standard_normal((3, 5)), rng.standard_normal(5)
    y = rng.integers(0, 5, size=11)
    mask = rng.random(11) < 0.7
    weights = token_weights(mask, 11, np.float64)
    loss, dx, dW, db = output_layer.linear_cross_entropy(x, W, b, y, weights)
    assert loss == pytest.approx(softmax_cross_entropy(linear_forward(x, W, b), y, mask)[0], rel=1e-14)
    for analytic, array in [(dx, x), (dW, W), (db, b)]:
        numeric = numerical_gradient(lambda: softmax_cross_entropy(linear_forward(x, W, b), y, mask)[0], array)
        assert rel_error(analytic, numeric) <= TOLERANCE
