"""The command line: compare and train end to end, one-line refusals, killed and interrupted runs, the Makefile's switches."""

import subprocess
import sys

import pytest
import yaml

from harness import paths
from harness.reports.runs import read_runs
from harness.recipe.config import config_path


def test_compare_runs_every_seed_and_tables_them(data_root, tmp_path, cli, flat):
    small = tmp_path / "small.yaml"
    raw = yaml.safe_load(config_path("mnist").read_text())
    raw["data"]["valid_size"] = 10
    raw["model"]["hidden_size"] = 4
    raw["training"]["epochs"] = 1
    small.write_text(yaml.safe_dump(raw))
    done = cli("compare", "--task", "mnist", "--twins", "numpy", "--config", str(small), "--seeds", "3", "4",
               "--no-progress", env_root=data_root, results_dir=tmp_path / "results")
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "results" / "small"
    runs = read_runs(folder)
    assert [(r["twin"], r["config"]["seed"]) for r in runs] == [("numpy", 3), ("numpy", 4)]
    assert runs[0]["initial_weights_digest"] != runs[1]["initial_weights_digest"]
    assert "| NumPy | 2 |" in flat((folder / "comparison.md").read_text())
    assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == ["numpy-seed3", "numpy-seed4"]



def test_cli_rejects_unknown_task_bad_config_and_missing_data(tmp_path, cli):
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



HOOK = """
import os, signal, time
import harness.training.loop as loop

real_train_epochs, real_save = loop.train_epochs, loop.save_checkpoint


def train_epochs(twin, *args, **kwargs):  # KILL_TWIN: the run dies as under the OOM killer, no clean-up, no record
    if twin.NAME == os.environ.get("KILL_TWIN"):
        os.kill(os.getpid(), signal.SIGKILL)
    return real_train_epochs(twin, *args, **kwargs)


def save_checkpoint(*args, **kwargs):  # PAUSE_FILE: after the first checkpoint, say so and wait
    written = real_save(*args, **kwargs)
    if os.environ.get("PAUSE_FILE"):
        open(os.environ["PAUSE_FILE"], "w").close()
        time.sleep(60)
    return written


loop.train_epochs, loop.save_checkpoint = train_epochs, save_checkpoint
"""



def hooked(tmp_path, **variables):
    """Environment variables that load HOOK into every Python process started with them."""
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(HOOK)
    return {"PYTHONPATH": str(hook), **variables}



def test_a_killed_twin_fails_the_comparison_loudly(data_root, tmp_path, small_config, cli, flat):
    small = tmp_path / "small.yaml"
    small.write_text(yaml.safe_dump(small_config(epochs=1)))
    args = ("compare", "--task", "mnist", "--twins", "numpy", "--config", str(small), "--seeds", "42", "43",
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
def test_an_unwritable_results_folder_is_refused_before_any_work(tmp_path, data_root, command, cli):
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
    parent = subprocess.Popen([sys.executable, "-m", "harness", "compare", "--task", "mnist", "--twins", "numpy",
                               "--config", str(small), "--no-progress"], env=env, stderr=subprocess.PIPE, text=True,
                              start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not pause.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pause.exists(), "the child never reached its first checkpoint"
    return parent, tmp_path / "results" / "small"



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
def test_a_comparison_prints_only_what_the_harness_says(tmp_path, data_root, monkeypatch, task, small_config, cli):
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



@pytest.mark.parametrize("variables, expected", [
    (["TASK=mnist imdb", "JOBS=2", "SEEDS=1 2", "QUICK=1"], "--task mnist imdb --quick --seeds 1 2 --jobs 2"),
    (["CONFIG=configs/imdb.yaml", "RAY=local", "THREADS=1"], "--config configs/imdb.yaml --ray local "
                                                              "--threads-per-run 1")])
def test_make_sweep_passes_its_variables(variables, expected):
    done = subprocess.run(["make", "-n", "sweep", *variables], capture_output=True, text=True, cwd=paths.PROJECT_ROOT)
    line = " ".join(next(line for line in done.stdout.splitlines() if "harness sweep" in line).split())
    assert line.endswith("-m harness sweep " + expected)


def test_a_twin_whose_extra_is_missing_is_one_line_before_any_work(data_root, monkeypatch, capsys, small_config):
    import importlib.util

    from harness.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    config = data_root.parent / "tiny.yaml"
    config.write_text(yaml.safe_dump(small_config()))
    for args in (["compare", "--task", "mnist", "--twins", "numpy", "pytorch"], ["train", "--task", "mnist", "--twin",
                 "pytorch"], ["sweep", "--twins", "pytorch", "--task", "mnist"]):
        assert main([*args, "--config", str(config), "--no-progress"]) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "the PyTorch twin needs torch, an optional extra" in err and "[torch]" in err
    assert not (paths.RESULTS_DIR / "tiny").exists(), "nothing written"
