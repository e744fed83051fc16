"""Reports: the JSON, comparison table, curves and README of runs agree; tables combine one digest's complete runs only."""

import json

import numpy as np
import pytest
import yaml

from harness import paths
from harness.reports import readme
from harness.reports.comparison import (Comparison, agreement, agreement_line, comparison_markdown, comparison_table,
                                        write_comparison)
from harness.reports.curves import plot_curves
from harness.reports.runs import stretches
from harness.training.request import config_folder
from harness.recipe.config import load_config, run_digest, settings_digest


@pytest.fixture
def project_configs(tmp_path, monkeypatch, small_config):
    """A project config folder in tmp_path holding a small mnist.yaml (2 epochs): it plays configs/mnist.yaml."""
    folder = tmp_path / "configs"
    folder.mkdir()
    config = small_config(epochs=2)
    (folder / "mnist.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setattr(paths, "CONFIG_DIR", folder)
    return folder



def test_run_writes_json_table_and_plot_that_agree(data_root, tmp_path, project_configs, run_twin, flat):
    path = project_configs / "mnist.yaml"
    config = load_config(path)
    for twin in ("numpy", "tensorflow"):
        run_twin(twin, config, path, epochs=None, quick=False, data_root=data_root, progress=False)
    folder = config_folder(path, config)
    assert folder == paths.RESULTS_DIR / "mnist"
    written = write_comparison(folder, settings_digest(config))
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



def test_tables_report_mean_and_std_over_seeds_and_the_gap_per_seed(tmp_path, flat):
    runs = [fake_run("numpy", s, a) for s, a in ((1, 0.90), (2, 0.92), (3, 0.94))]
    runs += [fake_run("tensorflow", s, a) for s, a in ((1, 0.91), (2, 0.92), (3, 0.935))]
    comparison = Comparison.of(runs, "d1")
    table = flat(comparison_table(comparison))
    assert "| NumPy | 3 | 92.00 ± 2.00 % |" in table
    assert "| TensorFlow | 3 | 92.17 ± 1.26 % |" in table
    assert [round(row["gap"], 6) for row in agreement(comparison)] == [1.0, 0.0, 0.5]
    assert "over 3 seeds: 1.00 points of accuracy (seed 1)" in agreement_line(comparison)
    with_diverged = Comparison.of(runs + [fake_run("numpy", 4, 0.5, status="diverged")], "d1")
    markdown = flat(comparison_markdown(with_diverged, "mnist"))
    assert "seeds 1, 2, 3, 4" in markdown and "| 3 | 94.00 % | 93.50 % | 0.50 |" in markdown
    assert "| NumPy | 3 | 92.00 ± 2.00 % |" in markdown, "the diverged run is not in the mean"
    assert "- NumPy seed 4 diverged" in markdown and "3 complete, 1 diverged (seed 4)" in markdown
    assert "3 complete, 1 missing (seed 4)" in markdown, "TensorFlow has no run of seed 4"
    assert plot_curves(tmp_path / "curves.png", runs).read_bytes()[:4] == b"\x89PNG"
    assert "Epochs undone" not in markdown



def test_a_third_twin_gets_its_row_and_its_gap_to_the_reference_and_two_twins_look_as_before(tmp_path, flat):
    two = [fake_run("numpy", s, a) for s, a in ((1, 0.90), (2, 0.92))]
    two += [fake_run("tensorflow", s, a) for s, a in ((1, 0.91), (2, 0.92))]
    before = comparison_markdown(Comparison.of(two, "d1"), "mnist")
    assert "PyTorch" not in before and "| seed | NumPy | TensorFlow | gap (points) |" in flat(before)
    three = two + [fake_run("pytorch", s, a) for s, a in ((1, 0.905), (2, 0.95))]
    comparison = Comparison.of(three, "d1")
    assert comparison.twins == ["numpy", "pytorch", "tensorflow"]
    markdown = flat(comparison_markdown(comparison, "mnist"))
    assert "# mnist: NumPy twin vs PyTorch twin vs TensorFlow twin" in markdown
    assert "| PyTorch | 2 | 92.75 ± 3.18 % |" in markdown
    assert "| seed | NumPy | PyTorch | TensorFlow | NumPy gap (points) | PyTorch gap (points) |" in markdown
    assert "| 2 | 92.00 % | 95.00 % | 92.00 % | 0.00 | 3.00 |" in markdown
    line = agreement_line(comparison)
    assert "|NumPy − TensorFlow| over 2 seeds: 1.00 points" in line and "|PyTorch − TensorFlow| over 2 seeds: 3.00" in line
    assert plot_curves(tmp_path / "curves.png", three).read_bytes()[:4] == b"\x89PNG"


def test_runs_of_two_digests_are_never_averaged(flat):
    runs = [fake_run("numpy", 1, 0.90), fake_run("numpy", 2, 0.50, digest="d2"), fake_run("tensorflow", 1, 0.90),
            fake_run("tensorflow", 2, 0.50, digest="d2")]
    comparison = Comparison.of(runs, "d1")
    table = flat(comparison_table(comparison))
    assert "| NumPy | 1 | 90.00 % |" in table and "| TensorFlow | 1 | 90.00 % |" in table
    assert [row["seed"] for row in agreement(comparison)] == [1]
    assert "2 runs of other settings in this folder" in comparison_markdown(comparison, "mnist")



def test_a_failed_twin_is_marked_and_its_earlier_record_not_shown(flat):
    runs = [fake_run("numpy", 1, 0.90), fake_run("tensorflow", 1, 0.80)]
    comparison = Comparison.of(runs, "d1", seeds=[1], failed={("tensorflow", 1): "killed by SIGKILL"})
    table = flat(comparison_table(comparison))
    assert "| TensorFlow | 0 | — |" in table and "failed (seed 1) |" in table and "80.00" not in table
    assert agreement(comparison) == []
    assert "- TensorFlow seed 1 failed: killed by SIGKILL" in comparison_markdown(comparison, "mnist")
    missing = flat(comparison_table(Comparison.of(runs[:1], "d1", seeds=[1])))
    assert "| TensorFlow | 0 | — |" in missing and "| missing (seed 1) |" in missing



def test_a_run_resumed_in_other_processes_says_where_each_stretch_of_epochs_ran(flat):
    def process(first, cpu, commit):
        return {"first_epoch": first, "git_commit": commit, "machine": {"cpu_model": cpu, "cpus": 2}}

    runs = [fake_run("numpy", 1, 0.9), fake_run("tensorflow", 1, 0.9)]
    for run in runs:
        run["history"] = [{**run["history"][0], "epoch": k + 1, "seconds": s} for k, s in enumerate((3, 5, 4, 9, 7))]
    runs[0]["processes"] = [process(1, "Intel Xeon", "abc"), process(4, "AMD EPYC", "def")]
    runs[1]["processes"] = [process(3, "AMD EPYC", "def")]  # resumed a checkpoint older than the record
    assert [stretches(run) for run in runs] == [
        [{"first": 1, "last": 3, "seconds": 4, "cpu": "Intel Xeon", "cpus": 2, "commit": "abc"},
         {"first": 4, "last": 5, "seconds": 8, "cpu": "AMD EPYC", "cpus": 2, "commit": "def"}],
        [{"first": 1, "last": 2, "seconds": 4, "cpu": None, "cpus": None, "commit": None},
         {"first": 3, "last": 5, "seconds": 7, "cpu": "AMD EPYC", "cpus": 2, "commit": "def"}]]
    markdown = flat(comparison_markdown(Comparison.of(runs, "d1"), "mnist"))
    assert ("- NumPy seed 1: epochs 1–3 at 4.0 s on Intel Xeon (2 CPUs), commit abc; epochs 4–5 at 8.0 s on AMD EPYC "
            "(2 CPUs), commit def") in markdown
    assert "- TensorFlow seed 1: epochs 1–2 at 4.0 s on unrecorded" in markdown
    summary = readme._run_summary("mnist", Comparison.of(runs, "d1"))
    assert "Trained in more than one process (resumed): NumPy seed 1 in 2, TensorFlow seed 1 in 2;" in summary
    one = [{**run, "processes": [process(1, "Intel Xeon", "abc")]} for run in runs]
    assert "more than one process" not in comparison_markdown(Comparison.of(one, "d1"), "mnist")
    assert "more than one process" not in readme._run_summary("mnist", Comparison.of(one, "d1"))
    assert "more than one process" not in comparison_markdown(Comparison.of([fake_run("numpy", 1, 0.9)], "d1"), "mnist")


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
    markdown = comparison_markdown(Comparison.of(runs, "d1"), "mnist")
    assert f"Epochs undone ({criterion}:" in markdown and "- NumPy seed 1: 2\n- TensorFlow seed 1: none" in markdown
    assert plot_curves(tmp_path / "curves.png", runs).read_bytes()[:4] == b"\x89PNG"
