"""The divergence study: the twins' float64 trajectories on a real config, step by step."""

import json

import pytest
import yaml

from harness.recipe.config import config_path
from harness.studies.divergence import trajectory_divergence


def test_divergence_starts_at_rounding_and_crosses_epochs(data_root, tmp_path, small_config, cli, flat):
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


def test_divergence_of_any_pair_names_its_twins(data_root, tmp_path, small_config, cli, flat):
    pytest.importorskip("torch", reason="PyTorch is an optional extra: .venv/bin/pip install -e '.[torch]'")
    report = trajectory_divergence(small_config(lr0=0.5), steps=2, data_root=data_root, pair=("pytorch", "numpy"))
    assert report["twins"] == ["pytorch", "numpy"] and report["rows"][0]["weight gap"] < 1e-13
    assert report["rows"][0]["loss pytorch"] == pytest.approx(report["rows"][0]["loss numpy"])
    small = tmp_path / "small.yaml"
    small.write_text(yaml.safe_dump({**yaml.safe_load(config_path("mnist").read_text()), "data": {"valid_size": 10}}))
    done = cli("divergence", "--task", "mnist", "--config", str(small), "--steps", "1", "--twins", "pytorch", "numpy",
               env_root=data_root, results_dir=tmp_path / "results")
    assert done.returncode == 0, done.stderr
    assert "| step | epoch | PyTorch loss | NumPy loss |" in flat(done.stdout)
    assert (tmp_path / "results" / "small" / "divergence-pytorch-numpy.json").exists()
