"""Every fault ends in one clear line, and nothing committed is wiped (#34): one test per class of fault."""

import errno
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml

from harness import paths
from harness.atomic_files import NotWritable, exclusive_lock, write_json_atomic
from harness.cli import main
from harness.cli.run import rerun_hint
from harness.recipe.config import ConfigError, load_config, resolve_config
from harness.reports.comparison import write_comparison
from harness.reports.readme import results_section
from harness.training.request import run_request


def one_error_line(done: subprocess.CompletedProcess) -> str:
    """The one line a fault ends in (the last of stderr): no traceback anywhere."""
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), done.stderr
    return lines[-1]


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


def write_config(env, name="tiny", **changes):
    """env's tiny MNIST config with sections changed ({"training": {...}}), as <tmp>/<name>.yaml."""
    config = {**env["config"], **{k: {**env["config"][k], **v} for k, v in changes.items()}}
    path = env["config_file"].with_name(f"{name}.yaml")
    path.write_text(yaml.safe_dump(config))
    return path


# --- 1. readme: the README's tables come from the project's results only --------------------------------

def test_readme_refuses_another_results_folder_and_leaves_the_readme_as_it_is(cli, tmp_path):
    before = paths.README.read_text(encoding="utf-8")
    try:
        done = cli("readme", results_dir=tmp_path / "elsewhere")
        assert done.returncode == 2
        assert "LSTM_TWINS_RESULTS" in one_error_line(done)
        assert paths.README.read_text(encoding="utf-8") == before
    finally:  # today's code would have rebuilt it from an empty folder
        paths.README.write_text(before, encoding="utf-8")


def test_readme_on_a_results_folder_that_cannot_be_written_is_one_line(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")  # nothing can be made below it, not even by root
    monkeypatch.setattr(paths, "PROJECT_RESULTS", blocker / "results")
    monkeypatch.setattr(paths, "RESULTS_DIR", blocker / "results")
    assert main(["readme"]) == 2
    err = capsys.readouterr().err
    assert "cannot write into" in err and "LSTM_TWINS_RESULTS" not in err, "no hint that readme would refuse"


# --- 2. Make's switches: a value that is neither on nor off is refused --------------------------------

@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("value, refused, flag", [("2", True, None), ("maybe", True, None), ("yes", False, True),
                                                  ("0", False, False), ("", False, False)])
def test_a_make_switch_is_on_off_or_refused(value, refused, flag):
    done = subprocess.run(["make", "-n", "compare", "TASK=ptb_pos", f"QUICK={value}"], cwd=paths.PROJECT_ROOT,
                          capture_output=True, text=True)
    if refused:
        assert done.returncode == 2 and f"QUICK={value} is neither on" in done.stderr
        assert "harness compare" not in done.stdout
    else:
        assert done.returncode == 0 and ("--quick" in done.stdout) == flag


# --- 3. SIGTERM stops a command as Ctrl-C does; children never outlive their parent -------------------

def children(pid: int) -> list[int]:
    """The processes that any thread of `pid` started."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(k) for k in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def has_ended(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"  # gone, or a zombie
    except OSError:
        return True


def wait_for(condition, seconds=120.0):
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def start_long_run(env, command):
    """`compare` or `sweep` of a run of many epochs, once its first checkpoint is written: (process, folder)."""
    config = write_config(env, training={"epochs": 100000})
    args = {"compare": ["compare", "--task", "mnist", "--twins", "numpy", "--config", str(config)],
            "sweep": ["sweep", "--config", str(config), "--twins", "numpy"]}[command]
    log = env["config_file"].with_name(f"{command}.err")
    with open(log, "w") as err:  # files, not pipes: a run that outlived its parent would hold a pipe open
        parent = subprocess.Popen([sys.executable, "-m", "harness", *args, "--no-progress"],
                                  stdout=subprocess.DEVNULL, stderr=err, env=dict(os.environ))
    parent.log = log
    folder = env["results"] / "tiny"
    wait_for(lambda: (folder / "checkpoints" / "numpy-seed42" / "latest.json").exists() or parent.poll() is not None)
    assert parent.poll() is None, log.read_text()
    return parent, folder


def end(runs: list[int]) -> None:
    """Kill what is left of the runs (on code where they outlive their parent) so no test leaves one behind."""
    for pid in runs:
        if not has_ended(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the process tree from Linux's /proc")
@pytest.mark.parametrize("command", ["compare", "sweep"])
def test_sigterm_stops_the_runs_with_one_line_and_frees_the_folder(env, command):
    parent, folder = start_long_run(env, command)
    runs = children(parent.pid)
    assert runs
    parent.send_signal(signal.SIGTERM)  # to the parent alone, as `timeout` or systemd send it
    try:
        parent.wait(timeout=120)
        err = parent.log.read_text()
        assert parent.returncode == 130, err
        assert "resume with:" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert all(has_ended(pid) for pid in runs), "no run trains on"
        with exclusive_lock(folder / ".lock"):  # free for the next comparison
            pass
    finally:
        end(runs)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="children end with their parent through Linux's prctl")
def test_a_run_ends_when_its_parent_is_killed(env):
    parent, folder = start_long_run(env, "compare")
    runs = children(parent.pid)
    parent.kill()  # SIGKILL: no handler runs
    parent.wait()
    try:
        wait_for(lambda: all(has_ended(pid) for pid in runs), seconds=60)
        with exclusive_lock(folder / ".lock"):
            pass
    finally:
        end(runs)


# --- 4. one unreadable JSON does not break the pages ----------------------------------------------------

@pytest.mark.parametrize("garbage", ['{"twin": "numpy", "hist', "[1, 2]", '{"twin": "numpy"}', "\x00\x01"])
def test_an_unreadable_json_is_named_skipped_and_the_pages_still_written(env, run_twin, capsys, garbage):
    record = run_twin("numpy", env["config"], env["config_file"])
    folder = env["results"] / "tiny"
    (folder / "tensorflow-seed42.json").write_text(garbage)
    (env["results"] / "sweeps").mkdir()
    (env["results"] / "sweeps" / "cut.json").write_text(garbage)
    (env["results"] / "bench.json").write_text(garbage)
    capsys.readouterr()
    written = write_comparison(folder, record["settings_digest"], [42])
    assert folder / "comparison.md" in written
    assert "NumPy" in (folder / "comparison.md").read_text()
    results_section(env["results"], env["config_file"].parent)
    err = capsys.readouterr().err
    for name in ("tensorflow-seed42.json", "cut.json", "bench.json"):
        assert f"warning: skipped {env['results']}" in err and name in err


# --- 5. what can be checked before any work is checked once, up front ---------------------------------

@pytest.fixture
def tiny_ptb(env, make_ptb):
    make_ptb(Path(env["LSTM_TWINS_DATA"]))
    config = {"task": "ptb_lm", "model": {"hidden_size": 8, "embedding": "random"},
              "training": {"epochs": 1, "batch_size": 1000, "lr0": 1.0}}  # the tiny stream has 16 tokens
    path = env["config_file"].with_name("tinylm.yaml")
    path.write_text(yaml.safe_dump(config))
    return path


UP_FRONT = {  # case -> (extra environment, arguments); {tiny}, {tinylm}, {big} and {tmp} are filled in
    "numpy threads abc": ({"LSTM_TWINS_NUMPY_THREADS": "abc"}, ["compare", "--task", "mnist", "--config", "{tiny}"]),
    "mirror not a URL": ({"LSTM_TWINS_MIRROR": "notaurl"}, ["compare", "--task", "mnist", "--config", "{tiny}"]),
    "lm batch too large": ({}, ["compare", "--task", "ptb_lm", "--config", "{tinylm}"]),
    "model too large": ({}, ["compare", "--task", "mnist", "--config", "{big}"]),
    "ray not an address": ({}, ["sweep", "--config", "{tiny}", "--ray", "notanaddress"]),
    "report a folder": ({}, ["sweep", "--config", "{tiny}", "--report", "{tmp}"]),
}


@pytest.mark.parametrize("case", UP_FRONT)
def test_a_check_that_can_be_made_up_front_is_one_line_and_writes_nothing(env, cli, tiny_ptb, tmp_path, case):
    big = write_config(env, "big", model={"hidden_size": 10**6})
    extra, args = UP_FRONT[case]
    fill = {"tiny": str(env["config_file"]), "tinylm": str(tiny_ptb), "big": str(big), "tmp": str(tmp_path)}
    done = cli(*[arg.format(**fill) for arg in args], "--no-progress", extra=extra)
    assert done.returncode == 2, done.stderr
    one_error_line(done)
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not [name for name in files_under(env["results"]) if not name.endswith(".lock")], "nothing written"


# --- 6. a full disk: one line naming the file, the earlier file kept, the next twin not started ---------

def test_a_full_disk_is_one_line_and_keeps_what_was_written(tmp_path, monkeypatch):
    path = tmp_path / "run.json"
    write_json_atomic(path, {"kept": 1})

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(NotWritable) as raised:
        write_json_atomic(path, {"new": 2})
    assert str(raised.value).count("\n") == 0 and "No space left on device" in str(raised.value)
    assert str(path) in str(raised.value) and "free space" in str(raised.value)
    assert json.loads(path.read_text()) == {"kept": 1} and [p.name for p in tmp_path.iterdir()] == ["run.json"]


FULL_DISK = """
import errno, os
if os.environ.get("FAKE_FULL_DISK"):
    def fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    os.fsync = fsync
"""


def test_a_full_disk_stops_the_comparison_before_the_second_twin(env, cli, tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(FULL_DISK)
    done = cli("compare", "--task", "mnist", "--config", str(env["config_file"]), "--no-progress",
               extra={"PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")]),
                      "FAKE_FULL_DISK": "1"})
    assert done.returncode == 2
    assert "No space left on device" in one_error_line(done)
    assert "tensorflow" not in done.stdout + done.stderr, "the second twin never starts"


# --- 7. a data file broken in any way is one line naming it, with a fix that works ---------------------

def corrupt_imdb(root: Path) -> Path:
    """An IMDB archive with enough reviews that bytes overwritten at a tenth of it land inside a member."""
    rng = random.Random(0)
    path = root / "aclImdb_v1.tar.gz"
    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        for k in range(40):
            split, polarity = ("train", "test")[k % 2], ("pos", "neg")[k // 2 % 2]
            text = " ".join(f"{rng.choice(['good', 'bad', 'film'])}{rng.randint(0, 999)}" for _ in range(300)).encode()
            info = tarfile.TarInfo(f"aclImdb/{split}/{polarity}/{k}_{9 if polarity == 'pos' else 2}.txt")
            info.size = len(text)
            archive.addfile(info, io.BytesIO(text))
    data = bytearray(path.read_bytes())
    at = len(data) // 10
    data[at:at + 16] = bytes(rng.randrange(256) for _ in range(16))
    path.write_bytes(bytes(data))
    with pytest.raises(zlib.error), tarfile.open(path, "r:gz") as archive:  # what the loader met
        for member in archive:
            archive.extractfile(member).read()
    return path


def test_a_data_archive_broken_inside_a_member_is_one_line_naming_it(env, cli, small_config):
    archive = corrupt_imdb(Path(env["LSTM_TWINS_DATA"]))
    config = env["config_file"].with_name("tinyimdb.yaml")
    config.write_text(yaml.safe_dump(small_config("imdb")))
    done = cli("compare", "--task", "imdb", "--twins", "numpy", "--config", str(config), "--no-progress")
    assert done.returncode == 2
    line = one_error_line(done)
    assert str(archive) in line and "delete the broken file" in line
    assert not files_under(env["results"]) - {"tinyimdb/.lock"}
    listing = cli("data")
    assert "Traceback" not in listing.stderr
    row = next(line for line in listing.stdout.splitlines() if line.startswith("| IMDB"))
    assert "BROKEN" in row and "delete the broken file" in row


def test_a_file_of_the_published_size_but_another_checksum_is_named_broken(tmp_path, monkeypatch, make_mnist):
    from dataclasses import replace

    from harness.data import mnist, sources
    from harness.data.locations import DataMissingError

    make_mnist(tmp_path)
    labels = tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"
    published = sources.PUBLISHED[labels.name]
    monkeypatch.setitem(sources.PUBLISHED, labels.name, replace(published, size=labels.stat().st_size))
    monkeypatch.setenv("LSTM_TWINS_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DataMissingError, match=f"{labels} has the published size but not the published md5"):
        mnist.load(tmp_path, valid_size=10)


# --- 8. a malformed checkpoint is one line, and the page is not rewritten ------------------------------

@pytest.mark.parametrize("latest", ["[]", '{"epoch": 1}', '{"epoch": "one", "weights": "x.npz", "run": {}}',
                                    '{"epoch": 3, "weights": "epoch-0003.npz", "run": {"history": [{}, {}, {}], '
                                    '"config": {}}}',
                                    "other shapes"])
def test_a_malformed_checkpoint_is_one_line_and_the_page_is_kept(env, cli, run_twin, latest):
    folder = env["results"] / "tiny"
    run_twin("numpy", env["config"], env["config_file"])
    checkpoint = folder / "checkpoints" / "numpy-seed42"
    if latest == "other shapes":  # valid JSON and npz, but weights of another model
        record = json.loads((checkpoint / "latest.json").read_text())
        np.savez(checkpoint / record["weights"], **{"dense|bias": np.zeros(3)})
    else:
        (checkpoint / "latest.json").write_text(latest)
    (folder / "numpy-seed42.json").unlink()  # a run to resume
    (folder / "comparison.md").write_text("earlier page")
    done = cli("compare", "--task", "mnist", "--twins", "numpy", "--config", str(env["config_file"]), "--resume",
               "--no-progress")
    assert done.returncode == 2
    assert "checkpoint" in one_error_line(done) and len(done.stderr.strip().splitlines()) == 1
    assert (folder / "comparison.md").read_text() == "earlier page"


# --- 10. a sweep's workers see the paths the driver resolved -------------------------------------------

def test_a_sweep_from_another_folder_with_relative_paths_writes_where_the_driver_says(env, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    environment = {**os.environ, "LSTM_TWINS_RESULTS": "results", "LSTM_TWINS_DATA": ""}
    done = subprocess.run([sys.executable, "-m", "harness", "sweep", "--config", str(env["config_file"]), "--twins",
                           "numpy", "--epochs", "1", "--data-dir", os.path.relpath(env["LSTM_TWINS_DATA"], elsewhere),
                           "--no-progress"], cwd=elsewhere, env=environment, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    written = files_under(elsewhere / "results")
    assert any(name.endswith("numpy-seed42.json") for name in written), written
    assert any("checkpoints" in name for name in written), "checkpoints in the same tree as the JSON"


# --- 11. numbers: what a user means is read, what cannot train is refused ------------------------------

@pytest.mark.parametrize("training, problem", [({"lr0": 0}, "training.lr0 is 0"),
                                               ({"clip_norm": 0}, "training.clip_norm is 0"),
                                               ({"max_grad_norm": 0.0}, "training.max_grad_norm is 0.0")])
def test_settings_that_cannot_train_are_refused(env, training, problem):
    with pytest.raises(ConfigError, match=problem):
        resolve_config({**env["config"], "training": {**env["config"]["training"], **training}})


def test_an_exponent_without_a_dot_is_a_number_and_an_empty_file_is_named(env, tmp_path):
    text = env["config_file"].read_text().replace("lr0: ", "lr0: 1e-3 #", 1)
    (tmp_path / "exp.yaml").write_text(text)
    assert load_config(tmp_path / "exp.yaml")["training"]["lr0"] == 0.001
    (tmp_path / "empty.yaml").write_text("# nothing yet\n")
    with pytest.raises(ConfigError, match="the file is empty"):
        load_config(tmp_path / "empty.yaml")


# --- 12. smaller things --------------------------------------------------------------------------------

def test_a_seed_named_twice_runs_once(env, cli):
    done = cli("compare", "--task", "mnist", "--twins", "numpy", "--config", str(env["config_file"]), "--seeds", "7",
               "7", "--epochs", "1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("numpy epoch 1:") == 1


def test_a_progress_bar_writes_nothing_when_output_is_not_a_terminal(env, cli):
    done = cli("train", "--task", "mnist", "--twin", "numpy", "--config", str(env["config_file"]), "--epochs", "1")
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr and "it/s" not in done.stderr


def test_a_huge_logit_row_is_no_warning():
    from impl_numpy.loss import softmax_cross_entropy_parts

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        losses, _, _ = softmax_cross_entropy_parts(np.full((2, 4), 88.0, np.float32), np.array([0, 1]))
    np.testing.assert_allclose(losses, np.log(4), rtol=1e-6)


def test_after_a_failed_rerun_the_hint_says_what_resume_will_do(env, run_twin):
    request = run_request(env["config_file"], env["config"], "numpy")
    assert "add --resume to continue from its last checkpoint" in rerun_hint(request)
    run_twin("numpy", env["config"], env["config_file"])
    assert "which --resume keeps as it is" in rerun_hint(request)

