"""Slow: `python -m harness compare --quick` end to end on the real data, every task (make test-slow)."""

import json
import os
import subprocess
import sys

import pytest

from harness.data.locations import DataMissingError
from harness.recipe.tasks import TASKS, prepare_task
from harness.recipe.config import config_path, load_config


@pytest.mark.slow
@pytest.mark.parametrize("task", list(TASKS))
def test_quick_compare_on_real_data(task, tmp_path):
    try:
        prepare_task(load_config(config_path(task)), quick=True)
    except DataMissingError as error:
        pytest.skip(str(error).splitlines()[0])
    env = {**os.environ, "LSTM_TWINS_RESULTS": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "harness", "compare", "--task", task, "--quick", "--no-progress"],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    folder = tmp_path / "quick" / task
    runs = {twin: json.loads((folder / f"{twin}-seed42.json").read_text()) for twin in ("numpy", "tensorflow")}
    losses = [runs[twin]["history"][-1]["test"]["loss"] for twin in runs]
    assert losses[0] == pytest.approx(losses[1], rel=1e-3), "the twins disagree after one float32 epoch"
    assert (folder / "comparison.md").exists() and (folder / "curves.png").exists()
