import numpy as np
import pytest

from impl_numpy.sgd import clip_by_global_norm, sgd_update
from twin_contract import Schedule


def test_learning_rate_decays_per_epoch():
    assert Schedule(1.0, 0.2).learning_rate(0) == 1.0
    assert Schedule(1.0, 0.2).learning_rate(5) == pytest.approx(0.5)


def test_clip_by_global_norm_scales_all_gradients_together():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    clipped, norm = clip_by_global_norm(grads, 1.0)
    assert norm == pytest.approx(5.0)
    np.testing.assert_allclose(clipped["a"], [0.6, 0.0])
    np.testing.assert_allclose(clipped["b"], [[0.8]])


def test_clip_leaves_small_gradients_alone():
    grads = {"a": np.array([0.3, 0.4])}
    clipped, norm = clip_by_global_norm(grads, 1.0)
    assert norm == pytest.approx(0.5)
    assert clipped["a"] is grads["a"]
    assert clip_by_global_norm(grads, None)[0] is grads


def test_sgd_update_in_place():
    params = {"w": np.array([1.0, 2.0])}
    sgd_update(params, {"w": np.array([1.0, -1.0])}, 0.5)
    np.testing.assert_allclose(params["w"], [0.5, 2.5])
