"""The benchmark's pieces: shapes from the configs, FLOP counting, one twin per process, alternation, the table."""

import json
import re
from dataclasses import replace
import subprocess
import sys

import numpy as np
import pytest

import impl_numpy
from harness.studies import bench, step_profile
from harness import paths
from harness.cli import main
from harness.reports import bench_page
from harness.reports.bench_page import bench_markdown
from harness.studies.bench import bench_cases
from harness.studies.bench_worker import time_twin
from harness.studies.cell_costs import cell_costs
from harness.studies.synthetic import Case
from harness import twins
from harness.twins import MODULES, available
from twin_contract import ModelSpec


def test_cases_take_model_shapes_from_configs():
    cases = {c.name: c for c in bench_cases()}
    assert sorted(cases) == ["imdb", "imdb_bilstm_tail", "mnist", "mnist_bilstm", "ptb_lm", "ptb_lm, 2 layers, dropout",
                             "ptb_lm_tied", "ptb_pos", "ptb_pos, bidirectional 2 layers", "ptb_pos_bilstm"]
    tail, tagger, tied = cases["imdb_bilstm_tail"], cases["ptb_pos_bilstm"], cases["ptb_lm_tied"]
    assert (tail.num_steps, tail.padding, tail.spec.bidirectional, tail.dropout) == (400, "pre", True, 0.5)
    assert tagger.spec.vocab_size == 50358 and [f.name for f in tagger.spec.features] == ["shape", "suffix"]
    assert (tied.spec.tie_embeddings, tied.spec.layers, tied.spec.hidden_size, tied.batch_size) == (True, 2, 400, 20)
    assert (cases["mnist"].batch_size, cases["mnist"].num_steps, cases["mnist"].spec.input_size) == (64, 28, 28)
    assert cases["ptb_lm"].carries_state and cases["ptb_lm"].spec.num_classes == 10000
    assert cases["imdb"].spec.vocab_size == 20000 and cases["imdb"].spec.head == "pooled"
    pos, lm = cases["ptb_pos, bidirectional 2 layers"], cases["ptb_lm, 2 layers, dropout"]
    assert (pos.spec.layers, pos.spec.bidirectional, pos.spec.hidden_size, pos.batch_size) == (2, True, 128, 8)
    assert (lm.spec.layers, lm.dropout, lm.spec.hidden_size, lm.num_steps, lm.task) == (2, 0.5, 200, 35, "ptb_lm")


def test_matmul_flops_count_every_layer_and_direction():
    spec = ModelSpec("per_step", 3, 5, 2, vocab_size=4, layers=2, bidirectional=True)
    case = Case("t", "t", spec, batch_size=4, num_steps=6, carries_state=False)
    lstm = 2 * (2 * 4 * 6 * 20 * (3 + 5)) + 2 * (2 * 4 * 6 * 20 * (10 + 5))  # layer 0 reads 3, layer 1 reads 2·5
    assert case.matmul_flops() == 3 * (lstm + 2 * 4 * 6 * 10 * 2)


def test_matmul_flops_counts_forward_and_backward():
    case = Case("t", "t", ModelSpec("pooled", 3, 5, 2), batch_size=4, num_steps=6, carries_state=False)
    forward = 2 * 4 * 6 * 20 * (3 + 5) + 2 * 4 * 5 * 2
    assert case.matmul_flops() == 3 * forward


def test_time_twin_times_repeats_and_rejects_a_diverging_model():
    spec = ModelSpec("per_step", 4, 6, 7, vocab_size=11)
    case = Case("t", "t", spec, batch_size=3, num_steps=5, carries_state=True)
    timing = time_twin(case, impl_numpy, warmup=1, repeats=3, steps=2)
    assert len(timing["seconds_per_step"]) == 3 and all(t > 0 for t in timing["seconds_per_step"])
    assert timing["tokens_per_batch"] == 15

    class Broken:
        NAME = "broken"
        build_model = staticmethod(impl_numpy.build_model)

        @staticmethod
        def train_step(*args, **kwargs):
            return impl_numpy.train_step(*args, **kwargs)._replace(loss=float("nan"))

    with pytest.raises(RuntimeError, match="a fast wrong model is no result"):
        time_twin(case, Broken, warmup=1, repeats=1, steps=1)


needs_torch = pytest.mark.skipif(not available("pytorch"), reason="PyTorch, an optional extra: pip install -e '.[torch]'")


@pytest.mark.parametrize("twin, other", [("numpy", "impl_tensorflow"), ("tensorflow", "impl_numpy"),
                                         pytest.param("pytorch", "impl_numpy", marks=needs_torch)])
def test_a_bench_process_loads_one_twin_only(twin, other):
    done = subprocess.run([sys.executable, "-m", "harness.studies.bench_worker", "mnist", twin, "1", "1"], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["twins_loaded"] == [MODULES[twin]] and other not in report["twins_loaded"]
    assert report["samples_per_second"] > 0 and report["peak_rss_mib"] > 50  # the whole process, libraries included
    assert report["threads"]["blas_pools"], "the BLAS pools are recorded"
    assert ("cell_costs" in report) == (twin != "tensorflow")  # a library called one operation at a time
    assert ("lstm_ops" in report) == (twin == "pytorch")


def test_bench_alternates_fresh_processes_and_reports_medians(monkeypatch):
    calls = []
    speeds = {"numpy": iter([300.0, 100.0, 200.0, 500.0, 400.0]), "tensorflow": iter([50.0, 60.0, 40.0, 70.0, 80.0])}

    def fake_process(task, twin, repeats, steps):
        calls.append((task, twin))
        if twin == "gemm":
            return {"gemm_gflops": 100.0, "threads": {}}
        speed = next(speeds[twin])
        return {"samples_per_second": speed, "tokens_per_second": 28 * speed, "peak_rss_mib": 10.0,
                "threads": {"twin": twin}, "versions": {}, "twins_loaded": [MODULES[twin]],
                **({"cell_costs": {"gate_tanh_seconds": speed}} if twin == "numpy" else {})}

    monkeypatch.setattr(bench, "_in_fresh_process", fake_process)
    report = bench.run_bench(["mnist"], rounds=5, progress=False, twins=("tensorflow", "numpy"), shapes=["mnist"])
    assert calls == [("-", "gemm")] + [("mnist", "numpy"), ("mnist", "tensorflow")] * 5
    row = report["tasks"]["mnist"]
    assert (row["numpy"]["samples_per_second"], row["numpy"]["min"], row["numpy"]["max"]) == (300.0, 100.0, 500.0)
    assert row["tensorflow"]["samples_per_second"] == 60.0
    assert row["numpy_over"] == {"tensorflow": 5.0}  # the ratio of the medians
    assert row["numpy"]["threads"] == {"twin": "numpy"} and report["method"]["rounds"] == 5
    assert row["numpy"]["cell_costs"] == {"gate_tanh_seconds": 300.0} and "cell_costs" not in row["tensorflow"]


def test_the_numpy_step_profile_splits_the_step_among_the_model_parts():
    case = next(c for c in bench_cases() if c.name == "imdb")
    profile = time_twin(case, impl_numpy, warmup=1, repeats=1, steps=2, profile=True)["profile"]
    parts = profile["parts_seconds"]
    assert set(parts) == set(step_profile.PARTS)
    assert all(parts[p] > 0 for p in ("LSTM forward", "LSTM backward", "output layer", "embedding", "pooling",
                                       "clip + SGD")), parts  # each part's functions were found
    assert sum(parts.values()) < profile["step_seconds"]
    lstm = parts["LSTM forward"] + parts["LSTM backward"]
    assert profile["lstm_time_step_seconds"] == pytest.approx(lstm / case.num_steps)
    assert profile["lstm_calls_per_time_step"] == step_profile.lstm_calls_per_time_step(case)


@pytest.mark.parametrize("library", ["numpy", pytest.param("torch", marks=needs_torch)])
def test_cell_costs_time_the_cells_primitives_in_a_library(library):
    costs = cell_costs(library, 16, 32, repeats=20)
    assert set(costs) == {"recurrent_matmuls_seconds", "gate_tanh_seconds", "call_floor_seconds"}
    wide = cell_costs(library, 64, 256, repeats=20)
    # the floor against the wide shape's calls only: at 16 x 32 a tanh costs about what a call costs, and a
    # busy machine can swap the two
    assert 0 < wide["call_floor_seconds"] < min(wide["recurrent_matmuls_seconds"], wide["gate_tanh_seconds"])
    assert wide["gate_tanh_seconds"] > costs["gate_tanh_seconds"]  # 32 times the numbers
    assert wide["recurrent_matmuls_seconds"] > costs["recurrent_matmuls_seconds"]
    assert cell_costs("tensorflow", 16, 32) is None and cell_costs(None, 16, 32) is None


def test_lstm_ops_name_the_kernels_a_pytorch_step_ran():
    case = next(c for c in bench_cases() if c.name == "imdb")
    assert "lstm_ops" not in time_twin(case, impl_numpy, warmup=1, repeats=1, steps=1, library="numpy")
    if not available("pytorch"):
        pytest.skip("PyTorch, an optional extra: pip install -e '.[torch]'")
    ops = time_twin(case, twins.load("pytorch"), warmup=1, repeats=1, steps=1, library="torch")["lstm_ops"]
    assert "aten::lstm" in ops and all(op.startswith("aten::") for op in ops)


def test_the_call_counter_counts_every_numpy_call_on_its_arrays():
    x = np.ones((3, 4), np.float32).view(step_profile._Counted)
    step_profile._Counted.calls = 0
    a = x * 2  # 1
    a += 1  # 2
    np.tanh(a, out=a)  # 3
    b = np.where(a > 0, a, 0)  # 4: a > 0, 5: np.where
    b.sum(axis=0)  # 6: np.add.reduce
    assert step_profile._Counted.calls == 6
    assert isinstance(b, step_profile._Counted) and np.allclose(np.asarray(b), np.tanh(3))


def test_the_lstm_calls_per_time_step_leave_out_what_a_call_does_once():
    case = next(c for c in bench_cases() if c.name == "mnist")  # no padding
    calls = step_profile.lstm_calls_per_time_step(case)
    assert calls == step_profile.lstm_calls_per_time_step(replace(case, num_steps=3 * case.num_steps))
    assert calls == int(calls) > 4  # the same whole number of calls at every step, the 2 matmuls among them
    padded = step_profile.lstm_calls_per_time_step(replace(case, padding="post"))
    assert padded > calls  # padded steps carry the state through: more calls


def test_the_bench_page_shows_the_profile_of_rows_that_have_one():
    profile = {"step_seconds": 0.01, "parts_seconds": {p: 0.001 for p in step_profile.PARTS},
               "lstm_time_step_seconds": 20e-6, "recurrent_matmuls_seconds": 8e-6, "call_floor_seconds": 0.5e-6,
               "lstm_calls_per_time_step": 20.0}
    profile["parts_seconds"]["LSTM backward"] = 0.004
    section = re.sub(r" +", " ", "\n".join(bench_page._profile_section({"tasks": {
        "mnist": {"numpy": {"profile": profile}}, "imdb": {"numpy": {}}}})))
    assert section.startswith("## Where the NumPy twin's step goes")
    assert "| mnist | 10.00 | 10% | 40% | 10% | 10% | 10% | 10% | 10% | 20.0 | 8.0 | 20.0 | 10.0 | 0.50 |" in section
    del profile["lstm_calls_per_time_step"]  # measured before calls were counted
    assert "| 20.0 | 8.0 | — | — | 0.50 |" in re.sub(r" +", " ", "\n".join(bench_page._profile_section(
        {"tasks": {"mnist": {"numpy": {"profile": profile}}}})))
    assert "| imdb" not in section  # measured before the profile existed
    assert bench_page._profile_section({"tasks": {"imdb": {"numpy": {}}}}) == []
    assert "cell's primitives" not in section  # none timed


def test_the_bench_page_sets_the_cells_primitives_of_the_twins_side_by_side():
    profile = {"step_seconds": 0.01, "parts_seconds": {p: 0.001 for p in step_profile.PARTS},
               "lstm_time_step_seconds": 20e-6, "lstm_calls_per_time_step": 20.0}
    costs = {"recurrent_matmuls_seconds": 8e-6, "gate_tanh_seconds": 4e-6, "call_floor_seconds": 0.5e-6}
    tasks = {"mnist": {"numpy": {"profile": profile, "cell_costs": costs}, "tensorflow": {},
                       "pytorch": {"cell_costs": {k: 2 * v for k, v in costs.items()},
                                   "lstm_ops": ["aten::lstm", "aten::mkldnn_rnn_layer"]}},
             "imdb": {"numpy": {"profile": profile, "cell_costs": costs}}}
    section = re.sub(r" +", " ", "\n".join(bench_page._profile_section({"tasks": tasks})))
    assert "| mnist | 10.00 | 10% | 10% | 10% | 10% | 10% | 10% | 40% | 20.0 | 8.0 | 20.0 | 10.0 | 0.50 |" in section
    assert ("| shape | NumPy tanh of the N×4H gates µs | PyTorch tanh of the N×4H gates µs | NumPy 2 recurrent "
            "matmuls µs | PyTorch 2 recurrent matmuls µs | NumPy call floor µs | PyTorch call floor µs | PyTorch LSTM "
            "ops |") in section
    assert "| mnist | 4.0 | 8.0 | 8.0 | 16.0 | 0.5 | 1.0 | `aten::lstm`, `aten::mkldnn_rnn_layer` |" in section
    assert "| imdb | 4.0 | — | 8.0 | — | 0.5 | — | — |" in section


def test_bench_table():
    row = {"batch_size": 64, "num_steps": 28, "hidden_size": 128,
           "numpy": {"samples_per_second": 3000.0, "min": 2900.0, "max": 3100.0, "gflops": 40.0,
                     "gemm_fraction": 0.41, "peak_rss_mib": 200.0, "tokens_per_second": 84000.0},
           "tensorflow": {"samples_per_second": 1000.0, "min": 950.0, "max": 1040.0, "peak_rss_mib": 800.0,
                          "tokens_per_second": 28000.0},
           "numpy_over": {"tensorflow": 3.0}}
    table = re.sub(r" +", " ", bench_markdown({"tasks": {"mnist": {**row, "vocab_size": None},
                                                         "imdb": {**row, "vocab_size": 20000}}}))  # cells unpadded
    assert "| mnist | 128 | 64 × 28 | 3,000 (2,900–3,100) | 1,000 (950–1,040) | **3.00×** | — | — | 40.0 | 41% | 200 | 800 |" \
        in table
    assert "| imdb | 128 | 64 × 28 | 3,000 (2,900–3,100) | 1,000 (950–1,040) | **3.00×** | 84,000 | 28,000 |" in table


def test_bench_of_one_task_merges_into_the_report(monkeypatch, tmp_path):
    def fake_process(task, twin, repeats, steps):
        if twin == "gemm":
            return {"gemm_gflops": 100.0, "threads": {}}
        return {"samples_per_second": 10.0, "tokens_per_second": 10.0, "peak_rss_mib": 1.0, "threads": {},
                "versions": {}, "twins_loaded": [MODULES[twin]]}

    monkeypatch.setattr(bench, "_in_fresh_process", fake_process)
    monkeypatch.setattr(paths, "RESULTS_DIR", tmp_path)
    twins = ["--twins", "numpy", "tensorflow"]
    assert main(["bench", "--task", "mnist", "--task", "imdb", "--rounds", "1", *twins]) == 0
    before = json.loads((tmp_path / "bench.json").read_text())
    assert main(["bench", "--shape", "imdb", "--rounds", "1", *twins]) == 0
    after = json.loads((tmp_path / "bench.json").read_text())
    assert list(after["tasks"]) == ["mnist", "imdb", "mnist_bilstm", "imdb_bilstm_tail"]  # the order of the cases
    assert after["tasks"]["mnist"] == before["tasks"]["mnist"]
    assert main(["bench", "--shape", "nope", *twins]) == 2


def test_bench_batches_are_the_parity_generators_at_the_real_shapes():
    from harness.studies.synthetic import random_batch

    cases = {c.name: c for c in bench_cases()}
    assert (cases["imdb"].padding, cases["ptb_pos"].padding, cases["ptb_lm"].padding) == ("pre", "post", None)
    batch = random_batch(cases["ptb_pos"], np.random.default_rng(0))
    assert batch.inputs.shape == (32, 48) and batch.mask[0].all() and not batch.mask.all()


def test_bench_times_every_installed_twin_in_the_registry_order(monkeypatch):
    calls = []

    def fake_process(task, name, repeats, steps):
        calls.append(name)
        if name == "gemm":
            return {"gemm_gflops": 100.0, "threads": {}}
        speed = {"numpy": 300.0, "tensorflow": 100.0, "pytorch": 200.0}[name]
        return {"samples_per_second": speed, "tokens_per_second": speed, "peak_rss_mib": 10.0, "threads": {},
                "versions": {"torch": "9.9", "tensorflow": "8.8"}, "twins_loaded": []}

    monkeypatch.setattr(bench, "_in_fresh_process", fake_process)
    monkeypatch.setattr(bench, "available", lambda name: True)  # every extra installed
    monkeypatch.setattr(twins, "available", lambda name: True)
    report = bench.run_bench(["mnist"], rounds=2, progress=False, shapes=["mnist"])
    assert calls == ["gemm"] + ["numpy", "pytorch", "tensorflow"] * 2
    assert report["tasks"]["mnist"]["numpy_over"] == {"pytorch": 1.5, "tensorflow": 3.0}
    table = re.sub(r" +", " ", bench_markdown(report))
    assert ("| NumPy samples/s (min–max) | TF samples/s (min–max) | PyTorch samples/s (min–max) | NumPy / TF "
            "| NumPy / PyTorch |") in table
    assert "| **3.00×** | **1.50×** |" in table
    report = {**report, "threads": {"environment": {}, "blas_pools": []}, "machine": {"processor": "x", "cpus": 2},
              "versions": {"numpy": "7.7"}, "blas": "OpenBLAS", "git_commit": "abc"}
    page = bench_page.bench_page(report)
    assert "5 rounds" not in page and "2 rounds alternating the NumPy, TensorFlow and PyTorch twins" in page
    assert "TensorFlow 8.8, PyTorch 9.9" in page and "NumPy twin vs TensorFlow twin vs PyTorch twin" in page


def test_a_bench_needs_the_numpy_twin_and_another_installed_one(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(paths, "RESULTS_DIR", tmp_path)
    assert main(["bench", "--twins", "tensorflow"]) == 2
    assert "name numpy and another twin" in capsys.readouterr().err
    assert main(["bench", "--twins", "numpy"]) == 2
    monkeypatch.setattr(twins, "available", lambda name: name != "pytorch")
    assert main(["bench", "--twins", "numpy", "pytorch"]) == 2
    assert "pip install -e '.[torch]'" in capsys.readouterr().err
    assert not (tmp_path / "bench.json").exists()


def test_rows_of_the_retired_bench_form_are_not_merged(tmp_path):
    """Rows from before the PyTorch twin (PyTorch then an outside model) are not shown as the twin's."""
    old = {"tasks": {"imdb": {"measured": {}, "numpy": {}, "tensorflow": {}, "pytorch": {}, "speedup": 2.0}}}
    (tmp_path / "bench.json").write_text(json.dumps(old))
    assert bench.merged({"tasks": {"mnist": {"numpy_over": {}}}}, tmp_path / "bench.json")["tasks"] == {
        "mnist": {"numpy_over": {}}}


def test_the_page_says_which_blas_kernels_ran_and_who_chose_them():
    threads = {"environment": {"OPENBLAS_CORETYPE": "Haswell"}, "blas_pools": [{"kernels": "Haswell"}]}
    assert bench_page.blas_kernels(threads) == "BLAS kernels: Haswell, pinned by OPENBLAS_CORETYPE=Haswell"
    threads = {"environment": {}, "blas_pools": [{"kernels": "SkylakeX"}]}
    assert bench_page.blas_kernels(threads) == "BLAS kernels: SkylakeX, chosen for this CPU"


def test_the_page_gives_an_epoch_of_each_config_a_shape_is_named_after(tmp_path, small_config):
    import yaml

    from harness.recipe.config import file_digest

    configs, results = tmp_path / "configs", tmp_path / "results"
    configs.mkdir()
    (configs / "mine.yaml").write_text(yaml.safe_dump(small_config()))
    runs = results / "mine"
    runs.mkdir(parents=True)
    for twin, seconds in (("numpy", [3.0, 5.0, 10.0]), ("tensorflow", [9.0, 8.0, 10.0])):
        (runs / f"{twin}-seed1.json").write_text(json.dumps({
            "twin": twin, "config": {"seed": 1}, "status": "complete", "task": "mnist", "metric": "accuracy",
            "config_file": "configs/mine.yaml", "settings_digest": file_digest(configs / "mine.yaml"),
            "history": [{"epoch": k + 1, "seconds": s, "samples_per_second": 1.0} for k, s in enumerate(seconds)]}))
    report = {"tasks": {"mine": {}, "ptb_pos, bidirectional 2 layers": {}}}
    epochs = bench_page.epoch_seconds(report, results, configs)
    assert epochs == {"mine": {"numpy": 5.0, "tensorflow": 9.0}}  # medians
    section = re.sub(r" +", " ", "\n".join(bench_page._epoch_section(report, epochs)))
    assert "| `mine` | 5.0 | 9.0 |" in section and "Measured on this bench's machine" not in section
    report["tasks"]["mine"]["epoch_seconds"] = {"numpy": 4.0, "tensorflow": 10.0}  # bench --epochs measured it
    section = re.sub(r" +", " ", "\n".join(bench_page._epoch_section(report, epochs)))
    assert "| `mine` | 4.0 | 10.0 | **2.50×** |" in section  # measured here, first
    assert section.index("| `mine` | 4.0 |") < section.index("| `mine` | 5.0 | 9.0 |")
    assert bench_page._epoch_section({"tasks": {"mine": {}}}, {}) == []


def test_bench_epochs_time_one_epoch_per_twin_of_the_field_configs_in_fresh_processes(monkeypatch):
    calls = []

    def fake_process(task, twin, repeats, steps):
        if twin == "gemm":
            return {"gemm_gflops": 100.0, "threads": {}}
        return {"samples_per_second": 10.0, "tokens_per_second": 10.0, "peak_rss_mib": 10.0, "threads": {},
                "versions": {}}

    def fake_epoch(config, twin):
        calls.append((config, twin))
        return {"epoch_seconds": {"numpy": 2.0, "tensorflow": 3.0}[twin]}

    monkeypatch.setattr(bench, "_in_fresh_process", fake_process)
    monkeypatch.setattr(bench, "_epoch_in_fresh_process", fake_epoch)
    report = bench.run_bench(rounds=1, progress=False, twins=("numpy", "tensorflow"),
                             shapes=["ptb_pos_bilstm", "ptb_pos"], epochs=True)
    assert calls == [("ptb_pos_bilstm", "numpy"), ("ptb_pos_bilstm", "tensorflow")]  # a FIELD config's only
    assert report["tasks"]["ptb_pos_bilstm"]["epoch_seconds"] == {"numpy": 2.0, "tensorflow": 3.0}
    assert "epoch_seconds" not in report["tasks"]["ptb_pos"]
    assert bench.epoch_configs(("mnist",)) == ["mnist_bilstm"] and bench.epoch_configs(shapes=["mnist"]) == []


def test_a_bench_epoch_process_trains_one_epoch_of_a_config(monkeypatch, env):
    from harness.studies import bench_worker

    monkeypatch.setattr(bench_worker, "CONFIG_DIR", env["config_file"].parent)
    report = bench_worker.measure_epoch(env["config_file"].stem, "numpy")
    assert report["epoch_seconds"] > 0 and report["samples_per_second"] > 0 and report["peak_rss_mib"] > 0
