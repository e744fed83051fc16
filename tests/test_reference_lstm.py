"""The fast LSTM (impl_numpy/lstm.py) computes exactly what the reference one (reference_lstm.py) says."""

import numpy as np
import pytest

from harness.studies.parity import relative_difference
from impl_numpy import lstm, reference_lstm
from impl_numpy.workspace import Workspace



@pytest.mark.parametrize("padding", [None, "pre", "post", "holes", "pre, longest first", "post, longest first"])
@pytest.mark.parametrize("with_state", [False, True])
def test_the_fast_lstm_equals_the_reference(padding, with_state, lstm_problem):
    side, _, longest_first = (padding or "").partition(", ")
    x, Wx, Wh, b, h0, c0, mask, (dh_seq, dh_T, dc_T) = lstm_problem(np.random.default_rng(3), 4, 7, 5, 6,
                                                                    side or None, with_state)
    if longest_first:  # as the NumPy twin sorts a batch: padded rows past the real ones at each step
        mask = mask[lstm.longest_first(mask)]
        rows, holes = lstm.rows_at_work(mask, 7, 4)
        assert min(rows) < 4 and not holes  # the rows past the real ones are left out of some steps

    h_seq, (h_T, c_T), cache = lstm.lstm_forward(x, Wx, Wh, b, h0, c0, mask)
    fast = {"h_seq": h_seq.copy(), "h_T": h_T.copy(), "c_T": c_T.copy(),
            **lstm.lstm_backward(dh_seq, dh_T, dc_T, cache)._asdict()}
    h_seq, (h_T, c_T), caches = reference_lstm.lstm_forward(x, Wx, Wh, b, h0, c0, mask)
    reference = {"h_seq": h_seq, "h_T": h_T, "c_T": c_T,
                 **reference_lstm.lstm_backward(dh_seq, dh_T, dc_T, caches, mask)._asdict()}
    for name, expected in reference.items():
        assert relative_difference(fast[name], expected) <= 1e-12, name


def test_a_reused_workspace_leaves_nothing_of_the_last_batch(lstm_problem):
    """Rows left out of a step (trick 7) are not written: what the last batch left there must not count."""
    workspace = Workspace()
    x, Wx, Wh, b, h0, c0, _, (dh_seq, dh_T, dc_T) = lstm_problem(np.random.default_rng(4), 4, 7, 5, 6, None, True)
    _, _, cache = lstm.lstm_forward(3 * x, Wx, Wh, b, h0, c0, None, workspace)  # every row of every step written
    lstm.lstm_backward(3 * dh_seq, dh_T, dc_T, cache, workspace)
    mask = np.arange(7)[None, :] < np.array([7, 5, 2, 1])[:, None]  # post-padded, longest first
    h_seq, _, cache = lstm.lstm_forward(x, Wx, Wh, b, h0, c0, mask, workspace)
    fast = {"h_seq": h_seq.copy(), **lstm.lstm_backward(dh_seq, dh_T, dc_T, cache, workspace)._asdict()}
    h_seq, _, caches = reference_lstm.lstm_forward(x, Wx, Wh, b, h0, c0, mask)
    reference = {"h_seq": h_seq, **reference_lstm.lstm_backward(dh_seq, dh_T, dc_T, caches, mask)._asdict()}
    for name, expected in reference.items():
        assert relative_difference(fast[name], expected) <= 1e-12, name
