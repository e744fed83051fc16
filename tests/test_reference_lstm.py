"""The fast LSTM (impl_numpy/lstm.py) computes exactly what the reference one (reference_lstm.py) says."""

import numpy as np
import pytest

from harness.studies.parity import relative_difference
from impl_numpy import lstm, reference_lstm



@pytest.mark.parametrize("padding", [None, "pre", "post", "holes"])
@pytest.mark.parametrize("with_state", [False, True])
def test_the_fast_lstm_equals_the_reference(padding, with_state, lstm_problem):
    x, Wx, Wh, b, h0, c0, mask, (dh_seq, dh_T, dc_T) = lstm_problem(np.random.default_rng(3), 4, 7, 5, 6,
                                                                    padding, with_state)

    h_seq, (h_T, c_T), cache = lstm.lstm_forward(x, Wx, Wh, b, h0, c0, mask)
    fast = {"h_seq": h_seq.copy(), "h_T": h_T.copy(), "c_T": c_T.copy(),
            **lstm.lstm_backward(dh_seq, dh_T, dc_T, cache)._asdict()}
    h_seq, (h_T, c_T), caches = reference_lstm.lstm_forward(x, Wx, Wh, b, h0, c0, mask)
    reference = {"h_seq": h_seq, "h_T": h_T, "c_T": c_T,
                 **reference_lstm.lstm_backward(dh_seq, dh_T, dc_T, caches, mask)._asdict()}
    for name, expected in reference.items():
        assert relative_difference(fast[name], expected) <= 1e-12, name
