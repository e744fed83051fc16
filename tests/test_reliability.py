"""Long runs survive being killed; bad input never corrupts results; runs are deterministic."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import impl_numpy
from harness import provenance
from harness.atomic_files import LockedError, exclusive_lock, write_json_atomic
from harness.training.checkpoints import CheckpointError, load_checkpoint
from harness.recipe.config import ConfigError, config_path, effective_config, load_config, resolve_config, settings_digest
from harness.training.run import RunConflict
from harness.training.request import config_folder
from harness.recipe.tasks import prepare_task
from harness.training.loop import train_epochs


TIMING = ("seconds", "samples_per_second", "tokens_per_second")


def without_timing(history):
    return [{k: v for k, v in epoch.items() if k not in TIMING} for epoch in history]


TRAIN = """
import os, signal, sys, yaml
from pathlib import Path
import impl_numpy
from harness.training.request import run_request
from harness.training.run import run_and_write

kill_at = {kill_at}
config = yaml.safe_load(Path({config_file!r}).read_text())
if kill_at:
    real_step, calls = impl_numpy.train_step, []
    def train_step(model, batch, lr, clip_norm, state=None):
        epoch = round((config["training"]["lr0"] / lr - 1) / config["training"]["decay"])  # lr0 / (1 + decay epoch)
        calls.append(epoch)
        if epoch == kill_at[0] and calls.count(epoch) == kill_at[1]:
            os.kill(os.getpid(), signal.SIGKILL)  # no clean-up, no flush: as a crash or an OOM kill
        return real_step(model, batch, lr, clip_norm, state)
    impl_numpy.train_step = train_step
run_and_write(run_request(Path({config_file!r}), config, "numpy", resume={resume}), progress=False)
"""


def train_in_subprocess(env, kill_at=None, resume=False):
    code = TRAIN.format(kill_at=kill_at, config_file=str(env["config_file"]), resume=resume)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=dict(os.environ), capture_output=True,
                          text=True)


def final_state(env):
    folder = env["results"] / "tiny"
    run = json.loads((folder / "numpy-seed42.json").read_text())
    _, weights, _ = load_checkpoint(folder / "checkpoints" / "numpy-seed42", env["config"])
    return run, weights


@pytest.mark.parametrize("model", [{}, {"dropout": 0.3, "layers": 2}], ids=["plain", "dropout, 2 layers"])
def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(env, tmp_path, model):
    if model:  # dropout masks come from (seed, epoch, step): a resumed run draws the ones it would have
        env["config"] = resolve_config({**env["config"], "model": {**env["config"]["model"], **model}})
        env["config_file"].write_text(yaml.safe_dump(env["config"]))
    done = train_in_subprocess(env)
    assert done.returncode == 0, done.stderr
    reference_run, reference_weights = final_state(env)
    (env["results"] / "tiny").rename(tmp_path / "reference")

    killed = train_in_subprocess(env, kill_at=(1, 2))  # second step of the second epoch
    assert killed.returncode == -signal.SIGKILL
    checkpoint = env["results"] / "tiny" / "checkpoints" / "numpy-seed42"
    assert json.loads((checkpoint / "latest.json").read_text())["epoch"] == 1
    assert not (env["results"] / "tiny" / "numpy-seed42.json").exists()

    resumed = train_in_subprocess(env, resume=True)
    assert resumed.returncode == 0, resumed.stderr
    run, weights = final_state(env)
    assert without_timing(run["history"]) == without_timing(reference_run["history"])
    assert run["initial_weights_digest"] == reference_run["initial_weights_digest"]
    assert [p["first_epoch"] for p in reference_run["processes"]] == [1]
    assert [p["first_epoch"] for p in run["processes"]] == [1, 2], "the resumed process is recorded from epoch 2"
    assert all(p["machine"]["cpu_model"] is not None and p["git_commit"] for p in run["processes"])
    for name in reference_weights:
        np.testing.assert_array_equal(weights[name], reference_weights[name])  # bit-identical


def test_resume_with_another_config_is_refused(env):
    task = prepare_task(env["config"])
    folder = env["results"] / "ckpt"
    train_epochs(impl_numpy, task, env["config"], 1, progress=False, checkpoints=folder)
    other = {**env["config"], "seed": 7}
    with pytest.raises(CheckpointError, match="different config"):
        train_epochs(impl_numpy, task, other, 2, progress=False, checkpoints=folder, resume=True)


def test_injected_nan_marks_diverged_and_keeps_the_last_good_checkpoint(env, monkeypatch):
    config = env["config"]
    task = prepare_task(config)
    folder = env["results"] / "ckpt"
    real_step = impl_numpy.train_step

    def train_step(model, batch, lr, clip_norm, state=None):
        result = real_step(model, batch, lr, clip_norm, state)
        return result._replace(loss=float("nan")) if epoch_of(lr, config["training"]) == 1 else result

    monkeypatch.setattr(impl_numpy, "train_step", train_step)
    run = train_epochs(impl_numpy, task, config, 3, progress=False, checkpoints=folder)
    assert run["status"] == "diverged"
    assert run["message"].startswith("loss is nan at epoch 2, step 1; last good loss none")
    assert len(run["history"]) == 1
    epoch, weights, saved = load_checkpoint(folder, config)
    assert epoch == 1 and len(saved["history"]) == 1
    assert all(np.isfinite(w).all() for w in weights.values())


def epoch_of(lr: float, training: dict) -> int:
    """The epoch (0-based) whose learning rate lr0 / (1 + decay · epoch) is lr (a plateau-scaled lr gives another)."""
    return round((training["lr0"] / lr - 1) / training["decay"])


def ascent_in_epoch_2(monkeypatch, training):
    """impl_numpy with the second epoch (0-based 1) climbing the loss: its lr negated."""
    real_step = impl_numpy.train_step

    def train_step(model, batch, lr, clip_norm, state=None):
        return real_step(model, batch, -lr if epoch_of(lr, training) == 1 else lr, clip_norm, state)

    monkeypatch.setattr(impl_numpy, "train_step", train_step)


def test_an_epoch_that_raises_the_valid_loss_is_undone_and_the_lr_scaled(env, monkeypatch):
    config = env["config"]
    config = {**config, "training": {**config["training"], "plateau_factor": 0.5, "decay": 0.25}}
    task = prepare_task(config)
    folder = env["results"] / "ckpt"
    train_epochs(impl_numpy, task, config, 1, progress=False, checkpoints=folder)
    _, after_first, _ = load_checkpoint(folder, config)
    ascent_in_epoch_2(monkeypatch, config["training"])
    run = train_epochs(impl_numpy, task, config, 3, progress=False, checkpoints=folder, resume=True)
    first, second, third = run["history"]
    assert "undone" not in first and "undone" in second and "undone" not in third
    assert second["undone"]["valid"]["loss"] > first["valid"]["loss"]
    assert {k: second[k] for k in ("train", "valid", "test")} == {k: first[k] for k in ("train", "valid", "test")}
    lr0 = config["training"]["lr0"]
    assert [e["learning_rate"] for e in run["history"]] == [lr0, lr0 / 1.25, lr0 * 0.5 / 1.5]
    assert third["valid"]["loss"] < first["valid"]["loss"]  # epoch 3 trains on from epoch 1's weights

    monkeypatch.undo()  # the same three epochs, resumed after the undone one
    resumed_folder = env["results"] / "resumed"
    ascent_in_epoch_2(monkeypatch, config["training"])
    train_epochs(impl_numpy, task, config, 2, progress=False, checkpoints=resumed_folder)
    _, held, _ = load_checkpoint(resumed_folder, config)
    for name in held:
        np.testing.assert_array_equal(held[name], after_first[name])  # the checkpoint holds the kept weights
    resumed = train_epochs(impl_numpy, task, config, 3, progress=False, checkpoints=resumed_folder, resume=True)
    assert without_timing(resumed["history"]) == without_timing(run["history"])


@pytest.mark.parametrize("metric, undone", [("loss", [False, True]), ("accuracy", [True, False])])
def test_the_plateau_metric_decides_which_epoch_is_undone(metric, undone):
    from harness.training.loop import _is_plateau

    training = {"plateau_factor": 0.5, "plateau_metric": metric}
    kept = [{"valid": {"loss": 0.40, "accuracy": 0.85}}]
    lower_loss_lower_accuracy = {"valid": {"loss": 0.35, "accuracy": 0.84}}
    higher_loss_higher_accuracy = {"valid": {"loss": 0.45, "accuracy": 0.86}}
    assert [_is_plateau(training, kept, record) for record in (lower_loss_lower_accuracy,
                                                               higher_loss_higher_accuracy)] == undone
    assert _is_plateau(training, kept, {"valid": dict(kept[0]["valid"])})  # no better is no better
    assert not _is_plateau({**training, "plateau_factor": None}, kept, higher_loss_higher_accuracy)


def test_without_plateau_factor_a_worse_epoch_is_kept(env, monkeypatch):
    ascent_in_epoch_2(monkeypatch, env["config"]["training"])
    run = train_epochs(impl_numpy, prepare_task(env["config"]), env["config"], 2, progress=False)
    first, second = run["history"]
    assert "undone" not in second and second["valid"]["loss"] > first["valid"]["loss"]


def test_resuming_a_complete_run_keeps_its_record(env, run_twin):
    args = ("numpy", env["config"], env["config_file"], None, False, None, False)
    run_twin(*args)
    output = env["results"] / "tiny" / "numpy-seed42.json"
    before = output.read_text()
    record = run_twin(*args, resume=True)
    assert output.read_text() == before and record == json.loads(before)
    longer = {**env["config"], "training": {**env["config"]["training"], "epochs": 4}}
    env["config_file"].write_text(yaml.safe_dump(longer))  # the config now asks for one more epoch
    with pytest.raises(RunConflict, match="holds a run of other settings"):
        run_twin("numpy", longer, env["config_file"], None, False, None, False)  # not without --resume
    assert output.read_text() == before
    run_twin("numpy", longer, env["config_file"], None, False, None, False, resume=True)  # trained on from the checkpoint of epoch 3
    assert len(json.loads(output.read_text())["history"]) == 4


def test_an_epochs_override_never_touches_the_runs_of_the_config(env, run_twin):
    run_twin("numpy", env["config"], env["config_file"], None, False, None, False)
    folder = env["results"] / "tiny"
    before = {p.name: p.read_bytes() for p in folder.glob("*.json")}
    run_twin("numpy", env["config"], env["config_file"], 1, False, None, False)
    assert {p.name: p.read_bytes() for p in folder.glob("*.json")} == before, "byte-identical"
    overridden = env["config"] | {"training": {**env["config"]["training"], "epochs": 1}}
    own = env["results"] / f"tiny-{settings_digest(overridden)}"
    assert json.loads((own / "numpy-seed42.json").read_text())["config"]["training"]["epochs"] == 1


def test_a_config_from_elsewhere_with_a_project_config_name_gets_a_folder_of_its_own(env, tmp_path):
    outside = tmp_path / "elsewhere" / "mnist.yaml"
    outside.parent.mkdir()
    outside.write_text(config_path("mnist").read_text())
    config = effective_config(load_config(outside), None, False)
    assert config_folder(outside, config) == env["results"] / f"mnist-{settings_digest(config)}"
    official = effective_config(load_config(config_path("mnist")), None, False)
    assert config_folder(config_path("mnist"), official) == env["results"] / "mnist"
    seed_override = {**official, "seed": 7}  # --seed is not an override of the settings
    assert config_folder(config_path("mnist"), seed_override) == env["results"] / "mnist"


def test_huge_learning_rate_diverges_with_a_clear_message(env):
    config = env["config"]
    huge = {**config, "training": {**config["training"], "lr0": 1e38, "clip_norm": None}}
    folder = env["results"] / "ckpt"
    with np.errstate(all="ignore"):
        run = train_epochs(impl_numpy, prepare_task(huge), huge, 3, progress=False, checkpoints=folder)
    assert run["status"] == "diverged"
    assert run["message"].startswith(("loss is", "weights are not finite", "gradient norm is"))
    assert "at epoch" in run["message"] or "after epoch" in run["message"]
    saved = load_checkpoint(folder, huge)
    if saved is not None:  # whatever checkpoint was written holds finite weights
        assert all(np.isfinite(w).all() for w in saved[1].values())


def test_gradient_norm_bound_stops_the_run(env):
    config = env["config"]
    bounded = {**config, "training": {**config["training"], "max_grad_norm": 1e-6}}
    run = train_epochs(impl_numpy, prepare_task(bounded), bounded, 1, progress=False)
    assert run["status"] == "diverged" and "limit training.max_grad_norm = 1e-06" in run["message"]


def test_two_numpy_runs_are_identical(env):
    task = prepare_task(env["config"])
    runs = [train_epochs(impl_numpy, task, env["config"], 2, progress=False) for _ in range(2)]
    assert json.dumps(without_timing(runs[0]["history"])) == json.dumps(without_timing(runs[1]["history"]))


def test_a_second_comparison_of_the_same_task_is_refused(tmp_path):
    lock = tmp_path / "mnist" / ".lock"
    with exclusive_lock(lock):
        done = subprocess.run(
            [sys.executable, "-c", f"from harness.atomic_files import exclusive_lock\nwith exclusive_lock({str(lock)!r}): pass"],
            capture_output=True, text=True)
        assert done.returncode != 0 and "is in use by process" in done.stderr
        with pytest.raises(LockedError):
            with exclusive_lock(lock):
                pass
    with exclusive_lock(lock):  # released
        pass


def test_a_crash_while_writing_keeps_the_previous_file(tmp_path):
    path = tmp_path / "run.json"
    write_json_atomic(path, {"good": 1})

    class Unserialisable:
        pass

    with pytest.raises(TypeError):
        write_json_atomic(path, {"bad": Unserialisable()})
    assert json.loads(path.read_text()) == {"good": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


# --- malformed configs: every one gets a named error, none a traceback --------

BASE = yaml.safe_load(config_path("mnist").read_text())
values = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=5),
                   st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@st.composite
def malformed(draw):
    raw = json.loads(json.dumps(BASE))
    section = draw(st.sampled_from(["task", "seed", "data", "model", "init", "training", "quick", "extra"]))
    if section in ("task", "seed", "extra"):
        raw[section] = draw(values)
    elif draw(st.booleans()):
        raw[section] = draw(values)  # the section itself is wrong
    else:
        key = draw(st.sampled_from(sorted(raw.get(section, {})) + ["unknown_key"]))
        raw.setdefault(section, {})[key] = draw(values)
    if draw(st.booleans()):
        raw.pop(draw(st.sampled_from(sorted(raw))))
    return raw


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(malformed())
def test_malformed_configs_get_named_errors(raw):
    """A ConfigError naming the file, or (when the draw happens to be valid) a config: never another error."""
    try:
        config = resolve_config(raw, "cfg.yaml")
    except ConfigError as error:
        assert str(error).startswith("cfg.yaml: ")
    else:
        assert config["training"]["lr0"] >= 0 and config["model"]["hidden_size"] >= 1


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_any_short_text_as_a_config_file_gets_a_named_error(tmp_path_factory, text):
    from harness.recipe.config import load_config

    path = tmp_path_factory.mktemp("cfg") / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=str(path).replace("\\", "\\\\")):
        load_config(path)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_written_files_have_the_modes_the_umask_allows(tmp_path, umask, mode):
    from harness.atomic_files import write_npz_atomic, write_text_atomic

    old = os.umask(umask)
    try:
        written = [write_text_atomic(tmp_path / "a.md", "x"), write_json_atomic(tmp_path / "a.json", {}),
                   write_npz_atomic(tmp_path / "a.npz", {"w": np.zeros(2)})]
    finally:
        os.umask(old)
    assert [oct(p.stat().st_mode & 0o777) for p in written] == [oct(mode)] * 3


def test_the_commit_is_dirty_only_when_the_code_differs(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    (tmp_path / "results").mkdir()
    for name in ("code.py", "README.md", "results/run.json"):
        (tmp_path / name).write_text("1")
    git("init", "-q")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    clean = provenance.git_commit(tmp_path)
    assert clean and "+" not in clean
    (tmp_path / "README.md").write_text("2")
    (tmp_path / "results" / "run.json").write_text("2")
    assert provenance.git_commit(tmp_path) == clean, "results and the README are not the code"
    (tmp_path / "code.py").write_text("2")
    assert provenance.git_commit(tmp_path) == clean + "+changes"


def test_a_cut_checkpoint_is_a_one_line_error_and_nothing_is_rewritten(env, run_twin):
    folder = env["results"] / "tiny"
    run_twin("numpy", env["config"], env["config_file"], None, False, None, False)
    checkpoint = next((folder / "checkpoints" / "numpy-seed42").glob("epoch-*.npz"))
    checkpoint.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    (folder / "numpy-seed42.json").unlink()  # a run to resume
    (folder / "comparison.md").write_text("earlier page")
    done = subprocess.run([sys.executable, "-m", "harness", "compare", "--task", "mnist", "--twins", "numpy",
                           "--config", str(env["config_file"]), "--resume", "--no-progress"], capture_output=True,
                          text=True, env=dict(os.environ))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "cannot read the checkpoint" in done.stderr and done.stderr.count("\n") == 1
    assert (folder / "comparison.md").read_text() == "earlier page"


def test_dropout_masks_depend_on_the_seed_epoch_and_step_only():
    from harness.recipe.dropout import with_dropout
    from twin_contract import Batch, ModelSpec

    spec = ModelSpec("per_step", 3, 4, 5, vocab_size=5, layers=2)
    batch = Batch(np.ones((6, 7), np.int64), np.zeros((6, 7), np.int64))
    masks = with_dropout(batch, spec, 0.5, 42, 1, 3).dropout
    assert [m.shape for m in masks] == [(6, 7, 3), (6, 7, 4), (6, 7, 4)]
    assert set(np.unique(np.concatenate([m.ravel() for m in masks]))) == {0.0, 2.0}  # inverted scaling
    for again in with_dropout(batch, spec, 0.5, 42, 1, 3).dropout, with_dropout(batch, spec, 0.5, 42, 1, 3).dropout:
        assert all(np.array_equal(a, b) for a, b in zip(masks, again))
    for other in ((41, 1, 3), (42, 2, 3), (42, 1, 4)):
        assert not np.array_equal(with_dropout(batch, spec, 0.5, *other).dropout[0], masks[0]), other
    assert with_dropout(batch, spec, 0.0, 42, 1, 3) is batch  # p = 0: no masks at all
