"""The harness: configs, fair setup (same weights and batch order for both twins), runs, tables, README."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import yaml

import impl_numpy
from harness import paths, readme, results
from harness.config import ConfigError, config_path, load_config, resolve_config, run_digest, settings_digest
from harness.divergence import trajectory_divergence
from harness.initialisation import initial_weights, orthogonal
from harness.run import run_twin
from twin_contract import ModelSpec
from harness.tasks import TASKS, batch_digest, prepare_task
from harness.training import train_twin, weights_digest
from harness.twins import NAMES, load

TWINS = [load(name) for name in NAMES]


@pytest.fixture
def data_root(tmp_path, monkeypatch, make_imdb, make_mnist):
    """Tiny MNIST and IMDB in upstream formats, a private cache, and results in tmp_path."""
    monkeypatch.setenv("LSTM_TWINS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(paths, "RESULTS_DIR", tmp_path / "results")
    root = tmp_path / "data"
    make_mnist(root)
    make_imdb(root, as_archive=True)
    return root


def flat(text: str) -> str:
    """A Markdown text with its table cells unpadded: "| NumPy | 3 |" whatever the column widths."""
    return re.sub(r" +", " ", text)


# --- configs ----------------------------------------------------------------


@pytest.mark.parametrize("task", list(TASKS))
def test_shipped_configs_load(task):
    config = load_config(config_path(task))
    assert config["task"] == task and config["training"]["epochs"] >= 1


def test_imdb_config_matches_the_seed_experiment():
    config = load_config(config_path("imdb"))
    assert config["seed"] == 42 and config["model"]["hidden_size"] == 32
    assert config["training"] == {"epochs": 10, "batch_size": 32, "lr0": 1.0, "decay": 0.2, "clip_norm": 5.0,
                                  "dtype": "float32", "max_grad_norm": None, "plateau_factor": None,
                                  "plateau_metric": "loss",
                                  "drop_remainder": False}
    assert config["model"]["embedding"] == "glove" and not config["model"]["train_embedding"]


BAD = [
    ({"training": {"batch_size": -3}}, "training.batch_size is -3"),
    ({"training": {"lr0": "fast"}}, "training.lr0 is 'fast'; expected float"),
    ({"model": {"hidden": 3}}, "unknown key model.hidden"),
    ({"colour": "red"}, "unknown key 'colour'"),
    ({"training": {"dtype": "float16"}}, "training.dtype is 'float16'; expected one of"),
    ({"model": {"train_embedding": "yes"}}, "model.train_embedding is 'yes'; expected bool"),
    ({"training": None, "model": {"hidden_size": True}}, "model.hidden_size is True"),
    ({"training": {"lr0": float("nan")}}, "training.lr0 is nan; expected a finite float"),
    ({"training": {"plateau_factor": 1}}, r"training.plateau_factor is 1.0; expected float >= 0.0 and < 1.0 or null"),
    ({"training": {"plateau_metric": "perplexity"}}, r"training.plateau_metric is 'perplexity'; expected one of"),
    ({"model": {"layers": 0}}, r"model.layers is 0; expected int >= 1"),
    ({"model": {"layers": 1.5}}, r"model.layers is 1.5; expected int >= 1"),
]


@pytest.mark.parametrize("change, message", BAD)
def test_bad_config_names_the_key(tmp_path, change, message):
    raw = yaml.safe_load(config_path("mnist").read_text())
    for section, values in change.items():
        if isinstance(values, dict) and isinstance(raw.get(section), dict):
            raw[section].update(values)
        else:
            raw[section] = values
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=message) as error:
        load_config(path)
    assert str(path) in str(error.value)


def test_missing_required_key_and_invalid_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("task: mnist\nmodel: {}\n")
    with pytest.raises(ConfigError, match="model.hidden_size is missing"):
        load_config(path)
    path.write_text("task: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(path)
    with pytest.raises(ConfigError, match="unknown task 'cifar'"):
        config_path("cifar")


@pytest.mark.parametrize("text, message", [
    (b"task: mnist\nmodel:\n  hidden_size: [1, 2\n", r"invalid YAML at line 4, column 1: expected ',' or ']'"),
    (b"task: mnist\nseed: 1\nseed: 2\n", r"invalid YAML at line 3, column 1: key 'seed' is given twice"),
    (b"task: mnist\ntraining:\n  lr0: 1\n  lr0: 2\n", r"line 4, column 3: key 'lr0' is given twice \(first on line 3\)"),
    (b"task: mnist # caf\xe9\n", r"not UTF-8 text \(byte 0xe9 at offset 17\); save it as UTF-8"),
])
def test_config_file_errors_are_one_line_with_the_place(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_bytes(text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path)
    assert "\n" not in str(caught.value)
    done = cli("compare", "--task", "mnist", "--config", str(path), results_dir=tmp_path / "results")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "results").exists()


# --- fair setup -------------------------------------------------------------


def test_same_seed_same_weights_and_batch_order_in_both_twins(data_root, small_config):
    config = small_config()
    task = prepare_task(config, data_root)
    digests = []
    for twin in TWINS:
        model = twin.build_model(task.spec, task.weights, "float32")
        digests.append(weights_digest(twin.get_weights(model)))
    assert digests[0] == digests[1]
    again = prepare_task(config, data_root)
    assert weights_digest(again.weights) == weights_digest(task.weights)
    assert batch_digest(again.batches("train", 0)) == batch_digest(task.batches("train", 0))
    assert batch_digest(task.batches("train", 1)) != batch_digest(task.batches("train", 0))  # reshuffled per epoch


@pytest.mark.parametrize("task, size", [("mnist", 4), ("imdb", 3)])  # 30 and 4 training examples
def test_drop_remainder_leaves_out_each_epochs_short_last_batch_only(data_root, small_config, task, size):
    kept, dropped = (prepare_task(small_config(task, batch_size=size, drop_remainder=flag), data_root)
                     for flag in (False, True))
    n = kept.sizes["train"]
    assert n % size and len(kept.batches("train", 0)[-1][1]) == n % size  # the fixture leaves a short batch
    for epoch in (0, 1):
        full, short = kept.batches("train", epoch), dropped.batches("train", epoch)
        assert [len(b[1]) for b in short] == [size] * (n // size)
        assert batch_digest(short) == batch_digest(full[:-1])  # same order, the short batch gone
    assert batch_digest(dropped.batches("valid", None)) == batch_digest(kept.batches("valid", None))


def test_drop_remainder_is_refused_for_the_language_models_stream():
    raw = family_config("ptb_lm")
    raw["training"]["drop_remainder"] = True
    with pytest.raises(ConfigError, match="training.drop_remainder is true; task ptb_lm trains on windows"):
        resolve_config(raw, "lm.yaml")


def test_one_float64_epoch_gives_the_same_losses_in_both_twins(data_root, small_config):
    config = small_config("imdb", dtype="float64")
    task = prepare_task(config, data_root)
    runs = [train_twin(twin, task, config, epochs=1, progress=False) for twin in TWINS]
    assert runs[0]["initial_weights_digest"] == runs[1]["initial_weights_digest"]
    first, second = (r["history"][0] for r in runs)
    assert first["batch_order_digest"] == second["batch_order_digest"]
    assert first["running_train_loss"] == pytest.approx(second["running_train_loss"], rel=1e-8)
    for split in ("train", "valid", "test"):
        assert first[split]["loss"] == pytest.approx(second[split]["loss"], rel=1e-8)


def test_keras_scheme_has_orthogonal_recurrent_kernel_and_forget_bias_one():
    spec = ModelSpec("pooled", 3, 4, 2)
    init = {"scheme": "keras", "lstm_scale": 0.1, "dense_scale": 1.0, "embedding_scale": 0.1}
    w = initial_weights(spec, init, np.random.default_rng(0))
    np.testing.assert_allclose(w["lstm/bias"], [0] * 4 + [1] * 4 + [0] * 8)
    q = orthogonal((4, 16), np.random.default_rng(1))
    np.testing.assert_allclose(q @ q.T, np.eye(4), atol=1e-12)


# --- runs, tables, plots, README -------------------------------------------


@pytest.fixture
def project_configs(tmp_path, monkeypatch, small_config):
    """A project config folder in tmp_path holding a small mnist.yaml (2 epochs): it plays configs/mnist.yaml."""
    folder = tmp_path / "configs"
    folder.mkdir()
    config = small_config(epochs=2)
    (folder / "mnist.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setattr(paths, "CONFIG_DIR", folder)
    return folder


def test_run_writes_json_table_and_plot_that_agree(data_root, tmp_path, project_configs):
    path = project_configs / "mnist.yaml"
    config = load_config(path)
    for twin in ("numpy", "tensorflow"):
        run_twin(twin, config, path, epochs=None, quick=False, data_root=data_root, progress=False)
    folder = paths.results_folder(path, config, False)
    assert folder == paths.RESULTS_DIR / "mnist"
    written = results.write_comparison(folder, settings_digest(config))
    assert [p.name for p in written] == ["comparison.md", "curves.png"]
    assert (folder / "curves.png").read_bytes()[:4] == b"\x89PNG"
    run = json.loads(paths.run_file(folder, "numpy", config["seed"]).read_text())
    assert run["status"] == "complete" and len(run["history"]) == 2
    assert run["settings_digest"] == settings_digest(config) and run["run_digest"] == run_digest(config)
    assert run["versions"]["numpy"] == np.__version__ and run["machine"]["cpus"] >= 1
    assert run["peak_rss_mib"] > 50, "the process's whole peak: interpreter, NumPy, data"
    assert run["threads"]["blas_pools"] and "numpy_twin_threads" in run["threads"]
    assert "tensorflow" in json.loads(paths.run_file(folder, "tensorflow", config["seed"]).read_text())["threads"]
    test_accuracy = run["history"][-1]["test"]["accuracy"]
    assert run["history"][-1]["test"]["scored"] == run["split_sizes"]["test"]
    assert f"| NumPy | 1 | {100 * test_accuracy:.2f} % |" in flat((folder / "comparison.md").read_text())

    page = tmp_path / "README.md"
    page.write_text(f"intro\n{readme.START}\nold\n{readme.END}\noutro\n")
    readme.update_readme(page, paths.RESULTS_DIR, project_configs)
    text = page.read_text()
    assert "old" not in text and text.startswith("intro") and text.endswith("outro\n")
    assert f"{100 * test_accuracy:.2f} %" in text and "No full run committed yet (`make compare TASK=imdb`)" in text
    import pandas as pd

    table = pd.read_csv(paths.RESULTS_DIR / "runs.csv")  # one tidy row per run
    assert sorted(table["twin"]) == ["numpy", "tensorflow"] and set(table["folder"]) == {"mnist"}
    numpy_row = table[table["twin"] == "numpy"].iloc[0]
    assert numpy_row["test_accuracy"] == test_accuracy and numpy_row["settings_digest"] == run["settings_digest"]
    assert numpy_row["epochs"] == 2 and numpy_row["status"] == "complete"


def fake_run(twin, seed, test_accuracy, status="complete", digest="d1"):
    epoch = {"epoch": 1, "seconds": 2.0, "samples_per_second": 100.0,
             **{split: {"loss": 0.5, "accuracy": test_accuracy, "scored": 2} for split in ("train", "valid", "test")}}
    return {"task": "mnist", "twin": twin, "quick": False, "metric": "accuracy", "config_file": "configs/mnist.yaml",
            "settings_digest": digest, "config": {"seed": seed}, "split_sizes": {"train": 10, "valid": 2, "test": 2},
            "history": [epoch], "status": status, "peak_rss_mib": 5.0}


def test_tables_report_mean_and_std_over_seeds_and_the_gap_per_seed(tmp_path):
    runs = [fake_run("numpy", s, a) for s, a in ((1, 0.90), (2, 0.92), (3, 0.94))]
    runs += [fake_run("tensorflow", s, a) for s, a in ((1, 0.91), (2, 0.92), (3, 0.935))]
    comparison = results.Comparison.of(runs, "d1")
    table = flat(results.comparison_table(comparison))
    assert "| NumPy | 3 | 92.00 ± 2.00 % |" in table
    assert "| TensorFlow | 3 | 92.17 ± 1.26 % |" in table
    assert [round(row["gap"], 6) for row in results.agreement(comparison)] == [1.0, 0.0, 0.5]
    assert "over 3 seeds: 1.00 points of accuracy (seed 1)" in results.agreement_line(comparison)
    with_diverged = results.Comparison.of(runs + [fake_run("numpy", 4, 0.5, status="diverged")], "d1")
    markdown = flat(results.comparison_markdown(with_diverged, "mnist"))
    assert "seeds 1, 2, 3, 4" in markdown and "| 3 | 94.00 % | 93.50 % | 0.50 |" in markdown
    assert "| NumPy | 3 | 92.00 ± 2.00 % |" in markdown, "the diverged run is not in the mean"
    assert "- NumPy seed 4 diverged" in markdown and "3 complete, 1 diverged (seed 4)" in markdown
    assert "3 complete, 1 missing (seed 4)" in markdown, "TensorFlow has no run of seed 4"
    assert results.plot_curves(tmp_path / "curves.png", runs).read_bytes()[:4] == b"\x89PNG"
    assert "Epochs undone" not in markdown


def test_runs_of_two_digests_are_never_averaged():
    runs = [fake_run("numpy", 1, 0.90), fake_run("numpy", 2, 0.50, digest="d2"), fake_run("tensorflow", 1, 0.90),
            fake_run("tensorflow", 2, 0.50, digest="d2")]
    comparison = results.Comparison.of(runs, "d1")
    table = flat(results.comparison_table(comparison))
    assert "| NumPy | 1 | 90.00 % |" in table and "| TensorFlow | 1 | 90.00 % |" in table
    assert [row["seed"] for row in results.agreement(comparison)] == [1]
    assert "2 runs of other settings in this folder" in results.comparison_markdown(comparison, "mnist")


def test_a_failed_twin_is_marked_and_its_earlier_record_not_shown():
    runs = [fake_run("numpy", 1, 0.90), fake_run("tensorflow", 1, 0.80)]
    comparison = results.Comparison.of(runs, "d1", seeds=[1], failed={("tensorflow", 1): "killed by SIGKILL"})
    table = flat(results.comparison_table(comparison))
    assert "| TensorFlow | 0 | — |" in table and "failed (seed 1) |" in table and "80.00" not in table
    assert results.agreement(comparison) == []
    assert "- TensorFlow seed 1 failed: killed by SIGKILL" in results.comparison_markdown(comparison, "mnist")
    missing = flat(results.comparison_table(results.Comparison.of(runs[:1], "d1", seeds=[1])))
    assert "| TensorFlow | 0 | — |" in missing and "| missing (seed 1) |" in missing


@pytest.mark.parametrize("training, criterion", [({"plateau_factor": 0.5}, "valid loss not lower"),  # before the key
                                                 ({"plateau_factor": 0.5, "plateau_metric": "accuracy"},
                                                  "valid accuracy not higher")])
def test_undone_epochs_are_listed_and_plotted(tmp_path, training, criterion):
    runs = [fake_run("numpy", 1, 0.9), fake_run("tensorflow", 1, 0.9)]
    for run in runs:
        run["config"]["training"] = training
        kept = run["history"][0]
        worse = {split: {"loss": 0.7, "accuracy": 0.8} for split in ("train", "valid", "test")}
        run["history"].append({**kept, "epoch": 2, "undone": worse})
    runs[1]["history"][1].pop("undone")
    markdown = results.comparison_markdown(results.Comparison.of(runs, "d1"), "mnist")
    assert f"Epochs undone ({criterion}:" in markdown and "- NumPy seed 1: 2\n- TensorFlow seed 1: none" in markdown
    assert results.plot_curves(tmp_path / "curves.png", runs).read_bytes()[:4] == b"\x89PNG"


def test_compare_runs_every_seed_and_tables_them(data_root, tmp_path):
    small = tmp_path / "small.yaml"
    raw = yaml.safe_load(config_path("mnist").read_text())
    raw["data"]["valid_size"] = 10
    raw["model"]["hidden_size"] = 4
    raw["training"]["epochs"] = 1
    small.write_text(yaml.safe_dump(raw))
    done = cli("compare", "--task", "mnist", "--twin", "numpy", "--config", str(small), "--seeds", "3", "4",
               "--no-progress", env_root=data_root, results_dir=tmp_path / "results")
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "results" / "small"
    runs = results.read_runs(folder)
    assert [(r["twin"], r["config"]["seed"]) for r in runs] == [("numpy", 3), ("numpy", 4)]
    assert runs[0]["initial_weights_digest"] != runs[1]["initial_weights_digest"]
    assert "| NumPy | 2 |" in flat((folder / "comparison.md").read_text())
    assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == ["numpy-seed3", "numpy-seed4"]


def test_divergence_starts_at_rounding_and_crosses_epochs(data_root, tmp_path, small_config):
    report = trajectory_divergence(small_config(lr0=0.5), steps=6, data_root=data_root)
    rows = report["rows"]
    assert [(r["step"], r["epoch"]) for r in rows] == [(1, 1), (2, 1), (5, 2), (6, 2)]  # 4 batches per epoch
    assert rows[0]["weight gap"] < 1e-13 and rows[0]["loss numpy"] == pytest.approx(rows[0]["loss tensorflow"])
    assert all(r["weight gap"] < 1e-10 for r in rows)  # a small lr: the trajectories stay together

    small = tmp_path / "small.yaml"
    small.write_text(yaml.safe_dump({**yaml.safe_load(config_path("mnist").read_text()), "data": {"valid_size": 10}}))
    done = cli("divergence", "--task", "mnist", "--config", str(small), "--steps", "2", env_root=data_root,
               results_dir=tmp_path / "results")
    assert done.returncode == 0, done.stderr
    written = json.loads((tmp_path / "results" / "small" / "divergence.json").read_text())
    assert [r["step"] for r in written["rows"]] == [1, 2] and "| 2 | 2 |" in flat(done.stdout)  # batch 64: one batch per epoch


def test_nan_loss_marks_the_run_diverged(data_root, small_config):
    config = small_config(lr0=1e38, clip_norm=None, dtype="float32")
    task = prepare_task(config, data_root)
    with np.errstate(all="ignore"):  # the overflow is the point
        run = train_twin(impl_numpy, task, config, epochs=2, progress=False)
    assert run["status"] == "diverged"
    assert "loss is nan at epoch 1" in run["message"] or "loss is inf" in run["message"]


def cli(*args, env_root=None, results_dir=None, extra=None):
    import os

    env = {**os.environ, **(extra or {})}
    if env_root is not None:
        env["LSTM_TWINS_DATA"] = str(env_root)
    if results_dir is not None:
        env["LSTM_TWINS_RESULTS"] = str(results_dir)
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, env=env)


def test_cli_rejects_unknown_task_bad_config_and_missing_data(tmp_path):
    earlier = tmp_path / "results" / "mnist" / "numpy-seed7.json"
    earlier.parent.mkdir(parents=True)
    earlier.write_text('{"earlier": true}')
    done = cli("compare", "--task", "mnist", env_root=tmp_path / "empty", results_dir=tmp_path / "results")
    assert done.returncode == 2 and "MNIST: not found" in done.stderr
    assert earlier.read_text() == '{"earlier": true}'
    assert sorted(p.name for p in earlier.parent.iterdir()) == ["numpy-seed7.json"], "nothing else written"
    done = cli("compare", "--task", "cifar")
    assert done.returncode == 2 and "unknown task 'cifar'" in done.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: mnist\nseed: -1\n")
    done = cli("compare", "--task", "mnist", "--config", str(bad))
    assert done.returncode == 2 and "seed is -1" in done.stderr
    done = cli("train", "--task", "mnist", "--twin", "numpy", env_root=tmp_path / "empty",
               results_dir=tmp_path / "results")
    assert done.returncode == 2 and "MNIST: not found" in done.stderr and "Traceback" not in done.stderr
    done = cli("compare", "--task", "mnist", "--epochs", "0")
    assert done.returncode == 2 and "not a positive integer" in done.stderr


# --- the language model's evaluation: the whole stream, every prediction, state carried ---------------


@pytest.mark.parametrize("window", [1, 5, 400])
def test_lm_evaluation_scores_every_prediction_once_with_the_state_carried(window, tmp_path, monkeypatch, make_ptb):
    from harness.data.ptb_lm import stream_windows
    from harness.parity import random_weights
    from twin_contract import Batch
    from harness.training import evaluate

    stream = (np.arange(23) * 5) % 7  # N = 23 tokens: 22 predictions
    windows = list(stream_windows(stream, window))
    np.testing.assert_array_equal(np.concatenate([x[0] for x, _ in windows]), stream[:-1])
    np.testing.assert_array_equal(np.concatenate([y[0] for _, y in windows]), stream[1:])
    spec = ModelSpec("per_step", 3, 4, 7, vocab_size=7)
    model = impl_numpy.build_model(spec, random_weights(spec, np.random.default_rng(0)), "float64")
    windowed = evaluate(impl_numpy, model, [Batch(x, y) for x, y in windows], carries_state=True)
    whole = evaluate(impl_numpy, model, [Batch(stream[None, :-1], stream[None, 1:])], carries_state=True)
    assert windowed["scored"] == 22
    assert windowed["loss"] == pytest.approx(whole["loss"], rel=1e-12), "each window starts where the last ended"
    cut = evaluate(impl_numpy, model, [Batch(x, y) for x, y in windows], carries_state=False)
    assert window == 400 or cut["loss"] != pytest.approx(whole["loss"], rel=1e-12)  # the test can tell

    monkeypatch.setenv("LSTM_TWINS_CACHE", str(tmp_path / "cache"))
    make_ptb(tmp_path)
    raw = yaml.safe_load(config_path("ptb_lm").read_text())
    raw["model"].update(embedding="random", hidden_size=4)
    raw["training"]["batch_size"] = 2
    task = prepare_task(resolve_config(raw), tmp_path)
    for split, size in task.sizes.items():
        batches = task.batches(split, None)
        assert sum(b.targets.size for b in batches) == size - 1 and all(len(b.targets) == 1 for b in batches)


HOOK = """
import os, signal, time
import harness.training as training

real_train_twin, real_save = training.train_twin, training.save_checkpoint


def train_twin(twin, *args, **kwargs):  # KILL_TWIN: the run dies as under the OOM killer, no clean-up, no record
    if twin.NAME == os.environ.get("KILL_TWIN"):
        os.kill(os.getpid(), signal.SIGKILL)
    return real_train_twin(twin, *args, **kwargs)


def save_checkpoint(*args, **kwargs):  # PAUSE_FILE: after the first checkpoint, say so and wait
    written = real_save(*args, **kwargs)
    if os.environ.get("PAUSE_FILE"):
        open(os.environ["PAUSE_FILE"], "w").close()
        time.sleep(60)
    return written


training.train_twin, training.save_checkpoint = train_twin, save_checkpoint
"""


def hooked(tmp_path, **variables):
    """Environment variables that load HOOK into every Python process started with them."""
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(HOOK)
    return {"PYTHONPATH": str(hook), **variables}


def test_a_killed_twin_fails_the_comparison_loudly(data_root, tmp_path, small_config):
    small = tmp_path / "small.yaml"
    small.write_text(yaml.safe_dump(small_config(epochs=1)))
    args = ("compare", "--task", "mnist", "--twin", "numpy", "--config", str(small), "--seeds", "42", "43",
            "--no-progress")
    assert cli(*args, env_root=data_root, results_dir=tmp_path / "results").returncode == 0
    folder = tmp_path / "results" / "small"
    earlier = (folder / "numpy-seed42.json").read_text()
    done = cli(*args, env_root=data_root, results_dir=tmp_path / "results", extra=hooked(tmp_path, KILL_TWIN="numpy"))
    assert done.returncode != 0
    assert "the numpy run of seed 42 failed: killed by SIGKILL" in done.stderr
    page = flat((folder / "comparison.md").read_text())
    assert "| NumPy | 0 | — |" in page and "failed (seeds 42, 43)" in page
    assert (folder / "numpy-seed42.json").read_text() == earlier, "the earlier record is kept, not shown"


@pytest.mark.parametrize("command", [["parity"], ["compare", "--task", "mnist"], ["train", "--task", "mnist", "--twin",
                                     "numpy"], ["divergence", "--task", "mnist"], ["bench"]])
def test_an_unwritable_results_folder_is_refused_before_any_work(tmp_path, data_root, command):
    (tmp_path / "a_file").write_text("not a folder")
    results_dir = tmp_path / "a_file" / "results"  # cannot be made, even by root
    done = cli(*command, env_root=data_root, results_dir=results_dir)
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"error: cannot write into {results_dir}")


def start_paused_compare(tmp_path, data_root, small_config):
    """A compare whose child stops after its first checkpoint; returns (parent process, folder, pause file)."""
    import os
    import signal
    import time

    small = tmp_path / "small.yaml"
    small.write_text(yaml.safe_dump(small_config(epochs=2)))
    pause = tmp_path / "paused"
    env = {**os.environ, "LSTM_TWINS_DATA": str(data_root), "LSTM_TWINS_RESULTS": str(tmp_path / "results"),
           **hooked(tmp_path, PAUSE_FILE=str(pause))}
    # SIGINT as in a terminal: a shell that starts the tests in the background (as `nohup make test &`) hands
    # them SIGINT ignored, and Python keeps an ignored SIGINT ignored, so the Ctrl-C below would be lost
    parent = subprocess.Popen([sys.executable, "-m", "harness", "compare", "--task", "mnist", "--twin", "numpy",
                               "--config", str(small), "--no-progress"], env=env, stderr=subprocess.PIPE, text=True,
                              start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not pause.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pause.exists(), "the child never reached its first checkpoint"
    return parent, tmp_path / "results" / "small"


def test_killing_the_compare_parent_keeps_the_folder_locked_while_its_child_runs(tmp_path, data_root, small_config):
    import os
    import signal

    from harness.atomic_files import LockedError, exclusive_lock

    parent, folder = start_paused_compare(tmp_path, data_root, small_config)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    try:
        with pytest.raises(LockedError):  # the orphaned child still trains: a second comparison must wait
            with exclusive_lock(folder / ".lock"):
                pass
    finally:
        os.killpg(parent.pid, signal.SIGKILL)  # the child, in the same session
    deadline = __import__("time").monotonic() + 10
    while True:
        try:
            with exclusive_lock(folder / ".lock"):
                break
        except LockedError:
            assert __import__("time").monotonic() < deadline, "the lock outlived the child"


def test_ctrl_c_is_one_line_that_says_how_to_resume(tmp_path, data_root, small_config):
    import os
    import signal

    parent, folder = start_paused_compare(tmp_path, data_root, small_config)
    os.killpg(parent.pid, signal.SIGINT)  # as Ctrl-C in a terminal: the whole group
    _, err = parent.communicate(timeout=60)
    assert parent.returncode == 130 and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("interrupted after epoch 1 of the numpy run of seed 42; resume with:")
    assert err.rstrip().endswith("--no-progress --resume")


@pytest.mark.parametrize("task", ["mnist", "imdb"])  # IMDB: masks, whose bool ops TensorFlow's oneDNN remarks on
def test_a_comparison_prints_only_what_the_harness_says(tmp_path, data_root, monkeypatch, task, small_config):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)  # as a user's shell, without the Makefile's
    small = tmp_path / "small.yaml"
    small.write_text(yaml.safe_dump(small_config(task, epochs=1)))
    done = cli("compare", "--task", task, "--config", str(small), "--no-progress", env_root=data_root,
               results_dir=tmp_path / "results")
    assert done.returncode == 0 and done.stderr == "", "no TensorFlow start-up lines, no warnings"
    assert [line.split(" ")[0] for line in done.stdout.splitlines()] == ["wrote", "wrote"]


def test_the_readme_runs_the_harness_with_the_projects_environment():
    text = (paths.PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    bare = [line for line in text.splitlines() if "python -m harness" in line.replace(".venv/bin/python -m harness", "")]
    assert bare == [], "the system Python has none of the project's packages: say .venv/bin/python"


@pytest.mark.parametrize("variables, expected", [
    (["QUICK=0", "RESUME=no"], []), (["QUICK=1", "RESUME=yes"], ["--quick", "--resume"]),
    (["QUICK=true", "RESUME=", "SEEDS=1 2"], ["--quick", "--seeds", "1", "2"])])
def test_make_switches_are_on_only_for_true_values_and_reach_compare_all(variables, expected):
    for target in ("compare", "compare-all"):
        done = subprocess.run(["make", "-n", target, *variables], capture_output=True,
                              text=True, cwd=paths.PROJECT_ROOT)
        line = next(line for line in done.stdout.splitlines() if "harness compare" in line)
        options = [word for word in line.split() if word.startswith("--") and word != "--task"]
        assert options == [o for o in expected if o.startswith("--")], (target, line)
        if "SEEDS=1 2" in variables:
            assert "--seeds 1 2" in line


def test_the_task_registry_is_what_every_part_reads(tmp_path):
    from harness.__main__ import main
    from harness.bench import bench_cases
    from harness.parity import PARITY_CASES

    names = list(TASKS)
    assert [case.name for case in bench_cases()][:len(names)] == names  # then the LSTM family's shapes
    assert [case.name for case in PARITY_CASES[:len(names)]] == names  # then the LSTM family's cases
    for case in PARITY_CASES[:len(names)]:
        task = TASKS[case.name]
        assert (case.spec.head, case.carried_state, case.batch_size) == (task.head, task.carries_state,
                                                                         task.parity["batch_size"])
    section = readme.results_section(tmp_path / "no results", paths.CONFIG_DIR)
    assert [line[4:] for line in section.splitlines() if line.startswith("### ")] == [t.title for t in TASKS.values()]
    done = cli("tasks")
    assert done.returncode == 0 and done.stdout.split() == names
    with pytest.raises(SystemExit):  # the bench's choices are the registry's
        main(["bench", "--task", "cifar"])
    for name in names:
        assert load_config(config_path(name))["data"].keys() == TASKS[name].data_fields.keys()


def test_a_stacked_model_trains_in_both_twins_alike_and_keeps_one_layer_names(data_root, small_config):
    one = prepare_task(small_config(), data_root)
    two = prepare_task(resolve_config({**small_config(), "model": {**small_config()["model"], "layers": 2}}), data_root)
    assert [n for n in two.weights if n.startswith("lstm")] == [
        "lstm/kernel", "lstm/recurrent_kernel", "lstm/bias", "lstm_1/kernel", "lstm_1/recurrent_kernel",
        "lstm_1/bias"]
    for name in one.weights:  # the first layer and the head are drawn as for one layer
        np.testing.assert_array_equal(one.weights[name], two.weights[name])
    assert two.weights["lstm_1/kernel"].shape == (8, 32)  # H inputs
    config = {**small_config(dtype="float64"), "model": {**small_config()["model"], "layers": 2}}
    runs = [train_twin(twin, prepare_task(config, data_root), config, epochs=1, progress=False) for twin in TWINS]
    a, b = (r["history"][0]["train"]["loss"] for r in runs)
    assert a == pytest.approx(b, rel=1e-10)


def family_config(task: str, **model) -> dict:
    """The task's project config at a tiny size (float64, one epoch), with these model keys."""
    raw = yaml.safe_load(config_path(task).read_text())
    raw["model"].update({"hidden_size": 6, "embedding": "random", "train_embedding": True, **model})
    raw["training"].update({"batch_size": 4, "epochs": 1, "dtype": "float64"})
    return raw


def losses_of_both_twins(config: dict, data_root) -> list[float]:
    return [train_twin(twin, prepare_task(config, data_root), config, epochs=1, progress=False)["history"][0]["train"]
            ["loss"] for twin in TWINS]


def test_the_lstm_family_trains_alike_in_both_twins_on_pos(tmp_path, monkeypatch, make_treebank):
    monkeypatch.setenv("LSTM_TWINS_CACHE", str(tmp_path / "cache"))
    make_treebank(tmp_path / "data")
    raw = family_config("ptb_pos", layers=2, bidirectional=True, dropout=0.3)
    raw["data"].update({"word_shape": True, "suffix_length": 2, "feature_size": 3})
    config = resolve_config(raw)
    task = prepare_task(config, tmp_path / "data")
    assert [f.name for f in task.spec.features] == ["shape", "suffix"]
    assert task.weights["shape_embedding"].shape == (8, 3) and task.weights["lstm/kernel"].shape == (50 + 6, 24)
    assert task.weights["lstm_1/backward/kernel"].shape == (12, 24)  # reads both directions of the layer below
    batch = task.batches("train", 0)[0]
    assert batch.features.shape == batch.inputs.shape + (2,) and batch.dropout is None  # masks come at step time
    numpy_loss, tensorflow_loss = losses_of_both_twins(config, tmp_path / "data")
    assert numpy_loss == pytest.approx(tensorflow_loss, rel=1e-10)
    without_dropout = resolve_config({**raw, "model": {**raw["model"], "dropout": 0.0}})
    assert losses_of_both_twins(without_dropout, tmp_path / "data")[0] != numpy_loss  # the masks did act


def test_a_tied_lm_with_dropout_trains_alike_in_both_twins(tmp_path, monkeypatch, make_ptb):
    monkeypatch.setenv("LSTM_TWINS_CACHE", str(tmp_path / "cache"))
    (tmp_path / "data").mkdir()
    make_ptb(tmp_path / "data")
    raw = family_config("ptb_lm", tie_embeddings=True, embedding_size=6, dropout=0.3, layers=2)
    raw["data"]["num_steps"] = 3
    config = resolve_config(raw)
    task = prepare_task(config, tmp_path / "data")
    assert "dense/kernel" not in task.weights and task.spec.tie_embeddings
    numpy_loss, tensorflow_loss = losses_of_both_twins(config, tmp_path / "data")
    assert numpy_loss == pytest.approx(tensorflow_loss, rel=1e-10)


def test_max_pooling_trains_alike_in_both_twins_on_imdb(tmp_path, monkeypatch, make_imdb):
    monkeypatch.setenv("LSTM_TWINS_CACHE", str(tmp_path / "cache"))
    (tmp_path / "data").mkdir()
    make_imdb(tmp_path / "data", as_archive=True)
    raw = family_config("imdb", pooling="max", bidirectional=True, dropout=0.3)
    raw["data"].update({"valid_size": 2, "max_len": 12})
    config = resolve_config(raw)
    assert prepare_task(config, tmp_path / "data").spec.pooling == "max"
    numpy_loss, tensorflow_loss = losses_of_both_twins(config, tmp_path / "data")
    assert numpy_loss == pytest.approx(tensorflow_loss, rel=1e-10)
    mean = resolve_config({**raw, "model": {**raw["model"], "pooling": "mean"}})
    assert losses_of_both_twins(mean, tmp_path / "data")[0] != numpy_loss  # the pooling did change


FAMILY_BAD = [
    ("ptb_pos", {"pooling": "max"}, "model.pooling is 'max'; task ptb_pos labels every step"),
    ("imdb", {"pooling": "median"}, "model.pooling is 'median'; expected one of"),
    ("ptb_lm", {"bidirectional": True}, "model.bidirectional is true; task ptb_lm predicts the next token"),
    ("imdb", {"tie_embeddings": True}, "model.tie_embeddings is true; task imdb does not predict tokens"),
    ("ptb_lm", {"tie_embeddings": True, "embedding_size": 6, "train_embedding": False},
     "tie_embeddings is true with train_embedding false"),
    ("ptb_lm", {"tie_embeddings": True}, r"output size to equal model.embedding_size \(6 vs 50\)"),
    ("ptb_lm", {"embedding": "glove", "embedding_size": 100}, "model.embedding_size is 100; GloVe vectors have 50"),
    ("ptb_pos", {"dropout": 1.0}, r"model.dropout is 1.0; expected float >= 0.0 and < 1.0"),
    ("ptb_pos", {"dropout": -0.1}, r"model.dropout is -0.1"),
    ("ptb_pos", {"bidirectional": "yes"}, "model.bidirectional is 'yes'; expected bool"),
    ("ptb_pos", {"embedding_size": 0}, "model.embedding_size is 0"),
]


@pytest.mark.parametrize("task, model, message", FAMILY_BAD)
def test_impossible_lstm_family_configs_are_one_line_errors(task, model, message):
    with pytest.raises(ConfigError, match=message) as error:
        resolve_config(family_config(task, **model), "family.yaml")
    assert "\n" not in str(error.value) and str(error.value).startswith("family.yaml: ")


@pytest.mark.parametrize("data, message", [({"suffix_length": -1}, "data.suffix_length is -1"),
                                           ({"word_shape": 1}, "data.word_shape is 1; expected bool"),
                                           ({"feature_size": 0}, "data.feature_size is 0")])
def test_bad_word_feature_keys_are_one_line_errors(data, message):
    raw = family_config("ptb_pos")
    raw["data"].update(data)
    with pytest.raises(ConfigError, match=message):
        resolve_config(raw, "family.yaml")
    raw = family_config("imdb")
    raw["data"].update(data)
    with pytest.raises(ConfigError, match="unknown key data"):  # word features are POS's
        resolve_config(raw, "family.yaml")


@pytest.mark.parametrize("variables, expected", [
    (["TASK=mnist imdb", "JOBS=2", "SEEDS=1 2", "QUICK=1"], "--task mnist imdb --quick --seeds 1 2 --jobs 2"),
    (["CONFIG=configs/imdb.yaml", "RAY=local", "THREADS=1"], "--config configs/imdb.yaml --ray local "
                                                              "--threads-per-run 1")])
def test_make_sweep_passes_its_variables(variables, expected):
    done = subprocess.run(["make", "-n", "sweep", *variables], capture_output=True, text=True, cwd=paths.PROJECT_ROOT)
    line = " ".join(next(line for line in done.stdout.splitlines() if "harness sweep" in line).split())
    assert line.endswith("-m harness sweep " + expected)
