"""The benchmark's pieces: shapes from the configs, FLOP counting, the A/B timer, the table."""

import numpy as np
import pytest

import impl_numpy
import impl_tensorflow
from harness.bench import BenchCase, bench_cases, bench_markdown, time_twins
from harness.spec import ModelSpec


def test_cases_take_model_shapes_from_configs():
    cases = {c.task: c for c in bench_cases()}
    assert sorted(cases) == ["imdb", "mnist", "ptb_lm", "ptb_pos"]
    assert (cases["mnist"].batch_size, cases["mnist"].num_steps, cases["mnist"].spec.input_size) == (64, 28, 28)
    assert cases["ptb_lm"].carries_state and cases["ptb_lm"].spec.num_classes == 10000
    assert cases["imdb"].spec.vocab_size == 20000 and cases["imdb"].spec.head == "pooled"


def test_matmul_flops_counts_forward_and_backward():
    case = BenchCase("t", ModelSpec("pooled", 3, 5, 2), batch_size=4, num_steps=6, carries_state=False)
    forward = 2 * 4 * 6 * 20 * (3 + 5) + 2 * 4 * 5 * 2
    assert case.matmul_flops() == 3 * forward


def test_time_twins_alternates_and_rejects_a_diverging_model():
    spec = ModelSpec("per_step", 4, 6, 7, vocab_size=11)
    case = BenchCase("t", spec, batch_size=3, num_steps=5, carries_state=True)
    times = time_twins(case, {"numpy": impl_numpy, "tensorflow": impl_tensorflow}, warmup=1, repeats=2, steps=2)
    assert {k: len(v) for k, v in times.items()} == {"numpy": 2, "tensorflow": 2}
    assert all(t > 0 for v in times.values() for t in v)

    class Broken:
        NAME = "broken"
        build_model = staticmethod(impl_numpy.build_model)

        @staticmethod
        def train_step(*args, **kwargs):
            return impl_numpy.train_step(*args, **kwargs)._replace(loss=float("nan"))

    with pytest.raises(RuntimeError, match="a fast wrong model is no result"):
        time_twins(case, {"broken": Broken}, warmup=1, repeats=1, steps=1)


def test_bench_table():
    row = {"batch_size": 64, "num_steps": 28,
           "numpy": {"samples_per_second": 3000.0, "min": 2900.0, "max": 3100.0, "gflops": 40.0,
                     "gemm_fraction": 0.41, "peak_memory_mib": 20.0},
           "tensorflow": {"samples_per_second": 1000.0, "min": 950.0, "max": 1040.0, "peak_memory_mib": 80.0},
           "speedup": 3.0}
    table = bench_markdown({"tasks": {"mnist": row}})
    assert "| mnist | 64 × 28 | 3,000 (2,900–3,100) | 1,000 (950–1,040) | **3.00×** | 40.0 | 41% | 20 | 80 |" in table
