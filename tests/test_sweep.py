"""Sweeps: the same runs on the local pool (one or two at a time) and on Ray in local mode, byte for byte;
a worker killed mid-run is reported and leaves no file; --resume finishes only what is missing."""

import json
import re
import sys

import pytest
import yaml

from harness import paths
from harness.cli import main
from harness.cli.sweep import rebuild_pages
from harness.reports import readme
from harness.studies import sweep
from harness.studies.sweep import LocalPool, RayPool, SweepError, plan

TIMING = ("seconds", "samples_per_second", "tokens_per_second")


@pytest.fixture
def tiny(tmp_path, monkeypatch, make_mnist, small_config):
    """A two-epoch tiny-MNIST config file; data, cache and results in tmp_path, for the workers too."""
    make_mnist(tmp_path / "data")
    for key, folder in (("LSTM_TWINS_DATA", "data"), ("LSTM_TWINS_CACHE", "cache"), ("LSTM_TWINS_RESULTS", "results")):
        monkeypatch.setenv(key, str(tmp_path / folder))
    monkeypatch.setattr(paths, "RESULTS_DIR", tmp_path / "results")
    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(yaml.safe_dump(small_config(epochs=2)))
    return config_file


def histories(folder, seeds, twins=("numpy",)) -> dict:
    """Each run's history without its timing, as JSON text: equal text, byte-identical numbers."""
    runs = {}
    for twin in twins:
        for seed in seeds:
            record = json.loads((folder / f"{twin}-seed{seed}.json").read_text())
            runs[twin, seed] = json.dumps([{k: v for k, v in e.items() if k not in TIMING} for e in record["history"]])
    return runs


@pytest.mark.parametrize("other", ["two at a time", "ray"])
def test_two_jobs_and_ray_give_the_runs_one_after_another_give(tiny, tmp_path, other):
    if other == "ray":
        pytest.importorskip("ray", reason="Ray is an optional extra: .venv/bin/pip install -e '.[ray]'")
    requests = plan([tiny], [1, 2], ["numpy"], None, False, False, None, threads=1)
    folder = tmp_path / "results" / "tiny"
    outcomes = {}
    for name, pool in (("one after another", LocalPool(1)),
                       (other, LocalPool(2) if other == "two at a time" else RayPool("local"))):
        rows = sweep.sweep(requests, pool, progress=False, then=lambda done: rebuild_pages(requests, done))
        assert [row["outcome"] for row in rows] == ["done", "done"], name
        outcomes[name] = histories(folder, [1, 2])
        assert json.loads((folder / "numpy-seed1.json").read_text())["threads"]["environment"]["OMP_NUM_THREADS"] == "1"
        assert (folder / "comparison.md").exists()
        folder.rename(tmp_path / name.replace(" ", "_"))
    assert outcomes[other] == outcomes["one after another"]


KILLER = """
import json, os, signal, sys
import impl_numpy
from harness.studies import sweep_worker
from harness.training.request import RunRequest

real_step, steps = impl_numpy.train_step, []
def train_step(*args, **kwargs):  # the second epoch's first step: killed as by the OOM killer
    steps.append(1)
    if len(steps) == 5:
        os.kill(os.getpid(), signal.SIGKILL)
    return real_step(*args, **kwargs)
impl_numpy.train_step = train_step
print(json.dumps(sweep_worker.work(RunRequest.from_json(json.loads(sys.argv[1])))))
"""


def test_a_killed_worker_is_reported_the_others_complete_and_resume_finishes_it(tiny, tmp_path, monkeypatch, capsys):
    real_command = sweep.worker_command
    monkeypatch.setattr(sweep, "worker_command", lambda request: [sys.executable, "-c", KILLER,
                                                                  json.dumps(request.to_json())]
                        if request.seed == 2 else real_command(request))
    args = ["sweep", "--config", str(tiny), "--seeds", "1", "2", "3", "--twins", "numpy", "--jobs", "2",
            "--no-progress"]
    report_file = tmp_path / "results" / "sweeps" / "killed.json"
    assert main(args + ["--report", str(report_file)]) == 1
    out, err = capsys.readouterr()
    assert "sweep: 3 runs: 2 done, 0 resumed, 0 skipped, 0 diverged, 1 failed" in out
    report = json.loads(report_file.read_text())
    assert report["pool"] == "--jobs 2" and report["threads_per_run"] == [1] and report["outcomes"]["failed"] == 1
    section = re.sub(r" +", " ", readme.results_section(tmp_path / "results", paths.CONFIG_DIR))  # cells unpadded
    assert "| `killed` | 3 | 2 done, 1 failed | `--jobs 2` | 1 |" in section
    assert "error: the numpy run of tiny seed 2 failed: killed by SIGKILL" in err
    folder = tmp_path / "results" / "tiny"
    assert sorted(p.name for p in folder.glob("*.json")) == ["numpy-seed1.json", "numpy-seed3.json"]
    assert not [p for p in folder.rglob("*") if ".tmp" in p.name or p.name.startswith(".")
                and p.name != ".lock"], "no partial file"
    assert json.loads((folder / "checkpoints" / "numpy-seed2" / "latest.json").read_text())["epoch"] == 1
    assert "- NumPy seed 2 failed: killed by SIGKILL" in (folder / "comparison.md").read_text()

    monkeypatch.setattr(sweep, "worker_command", real_command)
    assert main(args + ["--resume"]) == 0
    out, _ = capsys.readouterr()
    assert "sweep: 3 runs: 0 done, 1 resumed, 2 skipped, 0 diverged, 0 failed" in out
    resumed = histories(folder, [2])
    folder.rename(tmp_path / "interrupted")
    assert main(["sweep", "--config", str(tiny), "--seeds", "2", "--twins", "numpy", "--no-progress"]) == 0
    assert histories(folder, [2]) == resumed, "the resumed run is the run without the kill"


def test_the_readme_a_sweep_rebuilds_lists_the_sweep_itself(tiny, tmp_path, monkeypatch):
    from harness.cli import sweep as sweep_command

    report_file = tmp_path / "results" / "sweeps" / "mine.json"
    seen = []
    monkeypatch.setattr(paths, "CONFIG_DIR", tmp_path)  # tiny.yaml a project config, its runs the project's
    monkeypatch.setattr(paths, "PROJECT_RESULTS", tmp_path / "results")
    monkeypatch.setattr(sweep_command, "update_readme", lambda: seen.append(report_file.exists()))
    assert main(["sweep", "--config", str(tiny), "--seeds", "1", "--twins", "numpy", "--no-progress",
                 "--report", str(report_file)]) == 0
    assert seen == [True], "the sweep's report is written before the README is rebuilt from it"


def test_sweep_errors_are_one_line(tiny, monkeypatch, capsys):
    assert main(["sweep", "--no-progress"]) == 2
    assert capsys.readouterr().err == "error: name the runs: --task TASK ... and/or --config FILE ...\n"
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(SweepError, match=r"Ray is not installed; install the optional extra: .*\[ray\]"):
        RayPool("local")
    assert main(["sweep", "--config", str(tiny), "--ray", "local", "--no-progress"]) == 2
    assert "Ray is not installed" in capsys.readouterr().err
