"""`harness check`: the example twin passes for what it supports, and broken copies of it fail naming what broke;
outside twins load from a file and train beside the shipped ones."""

import json
import re
from pathlib import Path

import pytest
import yaml

from harness import twins
from harness.cli import main
from harness.reports.check_page import check_markdown
from harness.studies.check import FAIL, PASS, UNSUPPORTED, run_check
from twin_contract import FAMILY, contract_problems

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "one_layer_lstm.py"
TEXT = EXAMPLE.read_text()
SWAPPED = ('lstm_forward(x, *(np.concatenate([w[..., H:2 * H], w[..., :H], w[..., 2 * H:]], axis=-1) '
           'for w in (W["lstm/kernel"], W["lstm/recurrent_kernel"], W["lstm/bias"])),')
# each broken copy: (what it does, the text replaced, its replacement)
BREAKS = {
    "forget and input gates swapped": (
        'lstm_forward(x, W["lstm/kernel"], W["lstm/recurrent_kernel"], W["lstm/bias"],',
        "H = spec.hidden_size\n    " + "h_seq, (h_T, c_T), caches = " + SWAPPED),
    "mask ignored": ("    mask = _mask(batch)\n", "    mask = None\n"),
    "recurrent kernel's gradient transposed": ('"lstm/recurrent_kernel": lstm.Wh,',
                                               '"lstm/recurrent_kernel": lstm.Wh.T,'),
    "loss summed over the real tokens": ("token_weights = real / real.sum()", "token_weights = real"),
    "weights held, not copied": ("np.array(w, dtype=dtype)", "np.asarray(w, dtype=dtype)"),
    "gradient for a frozen embedding": ("if spec.has_embedding and spec.train_embedding:", "if spec.has_embedding:"),
}


def broken(name: str, tmp_path: Path):
    """The example with one break, loaded from its own file (its NAME changed: a twin of its own)."""
    old, new = BREAKS[name]
    if name == "forget and input gates swapped":
        old = "h_seq, (h_T, c_T), caches = " + old
    assert TEXT.count(old) == 1, name
    path = tmp_path / f"{name.replace(' ', '_').replace(chr(39), '')}.py"
    path.write_text(TEXT.replace(old, new).replace('NAME = "one_layer"', 'NAME = "broken"'))
    return twins.find(str(path))[1]


def verdict_of(module) -> dict:
    """A float64 check against the NumPy twin (the reference the tests can afford), 10 trajectory steps."""
    return run_check(module, "numpy", ("float64",), updates=10)


def failures(verdict: dict) -> list[dict]:
    return [row for row in verdict["rows"] if row["result"] == FAIL]


def test_the_example_passes_and_names_what_it_does_not_support():
    verdict = verdict_of(twins.find(str(EXAMPLE))[1])
    assert verdict["verdict"] == "pass" and not failures(verdict)
    passed = {(row["part"], row["case"]) for row in verdict["rows"] if row["result"] == PASS}
    for part in ("contract", "parity", "finite differences", "trajectory"):
        assert {(part, case) for case in ("mnist", "imdb", "ptb_lm", "ptb_pos")} <= passed, part
    unsupported = [row for row in verdict["rows"] if row["result"] == UNSUPPORTED]
    assert {row["case"] for row in unsupported} >= {"ptb_pos, 2 layers", "ptb_lm, tied, dropout"}
    assert any(row["detail"] == "needs bidirectional" for row in unsupported)
    page = re.sub(r" +", " ", check_markdown({"source": "examples/one_layer_lstm.py", **verdict}))
    assert "| every part | ptb_pos, 2 layers | — | not supported | needs layers |" in page
    assert page.endswith("Verdict: **pass**.\n")


@pytest.mark.parametrize("name, part, case, says", [
    ("forget and input gates swapped", "parity", "mnist", "logits"),
    ("mask ignored", "parity", "imdb", "logits"),
    ("recurrent kernel's gradient transposed", "contract", "mnist", "d lstm/recurrent_kernel has shape (24, 6)"),
    ("loss summed over the real tokens", "parity", "ptb_pos", "loss"),
    ("gradient for a frozen embedding", "contract", "imdb", "gradients for ['embedding'], which get none"),
    ("weights held, not copied", "contract", "mnist", "is not the weight given to build_model"),
])
def test_a_broken_copy_fails_naming_what_broke(name, part, case, says, tmp_path):
    verdict = verdict_of(broken(name, tmp_path))
    assert verdict["verdict"] == "fail"
    row = next(r for r in verdict["rows"] if (r["part"], r["case"]) == (part, case))
    assert row["result"] == FAIL and says in row["detail"], row


def test_finite_differences_catch_a_wrong_gradient_with_no_reference(tmp_path, monkeypatch):
    """With the reference missing, parity and trajectory say "not run" and the gradient check still judges."""
    monkeypatch.setattr("harness.studies.check.available", lambda name: False)
    module = broken("forget and input gates swapped", tmp_path)  # its gradients are those of the unswapped layout
    verdict = run_check(module, "tensorflow", ("float64",), updates=10)
    rows = {(r["part"], r["case"]): r for r in verdict["rows"]}
    assert rows["parity", "mnist"]["result"] == "not run" and "not installed" in rows["parity", "mnist"]["detail"]
    assert rows["trajectory", "mnist"]["result"] == "not run"
    assert rows["finite differences", "mnist"]["result"] == FAIL and "d lstm/" in rows["finite differences", "mnist"][
        "detail"] and verdict["verdict"] == "fail"
    sound = run_check(twins.find(str(EXAMPLE))[1], "tensorflow", ("float64",), updates=10)
    assert sound["verdict"] == "pass"
    gradient = tmp_path / "scaled.py"
    gradient.write_text(TEXT.replace('"lstm/bias": lstm.b}', '"lstm/bias": 1.01 * lstm.b}'))
    rows = run_check(twins.find(str(gradient))[1], "tensorflow", ("float64",), updates=10)["rows"]
    row = next(r for r in rows if (r["part"], r["case"]) == ("finite differences", "mnist"))
    assert row["result"] == FAIL and row["detail"].startswith("d lstm/bias"), row


def test_a_module_that_breaks_the_contract_gets_a_line_per_problem(tmp_path, capsys):
    path = tmp_path / "half.py"
    path.write_text("NAME = 'Half'\nUNSUPPORTED = {'bidi'}\ndef build_model(spec, w): pass\n"
                    "def predict(model, state, batch): pass\n")
    problems = contract_problems(twins.find(str(path))[1])
    assert problems == [
        "NAME is 'Half'; expected a string of lower-case letters, digits and _ (it names the run files)",
        "build_model(spec, w) should be build_model(spec, weights, dtype)", "get_weights is missing",
        "predict(model, state, batch) should be predict(model, batch, state)", "loss_and_grads is missing",
        "train_step is missing", f"UNSUPPORTED names ['bidi'], not parts of twin_contract.FAMILY {sorted(FAMILY)}"]
    assert main(["check", str(path), "--no-progress"]) == 1
    out = re.sub(r" +", " ", capsys.readouterr().out)
    assert out.count("| contract | interface | — | **FAIL** |") == 7 and "Verdict: **fail**; first failure" in out
    assert main(["compare", "--task", "mnist", "--twins", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "breaks the twin contract: NAME is 'Half'" in err


@pytest.mark.parametrize("named, says", [("no/such/twin.py", "no such file"),
                                         ("nosuchmodule", "is no twin: not one of"),
                                         ("raising.py", "failed to import: RuntimeError: boom")])
def test_a_twin_that_cannot_be_found_or_imported_is_one_line(named, says, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "raising.py").write_text("raise RuntimeError('boom')\n")
    assert main(["check", named]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err, err


def test_an_outside_twin_trains_beside_the_shipped_one(data_root, tmp_path, small_config, cli, flat):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(small_config()))
    done = cli("compare", "--task", "mnist", "--twins", str(EXAMPLE), "numpy", "--config", str(config),
               "--no-progress", env_root=data_root, results_dir=tmp_path / "results")
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "results" / "tiny"
    assert sorted(p.name for p in folder.glob("*.json")) == ["numpy-seed42.json", "one_layer-seed42.json"]
    record = json.loads((folder / "one_layer-seed42.json").read_text())
    assert record["twin"] == "one_layer" and record["status"] == "complete"
    page = flat((folder / "comparison.md").read_text())
    assert "| one_layer | 1 |" in page and "| NumPy | 1 |" in page
    numpy_run = json.loads((folder / "numpy-seed42.json").read_text())
    assert record["history"][-1]["train"]["loss"] == pytest.approx(numpy_run["history"][-1]["train"]["loss"],
                                                                   rel=1e-4), "the same model, the same run"


def test_an_entry_point_names_an_installed_twin(tmp_path, monkeypatch):
    import importlib.metadata

    (tmp_path / "my_installed_lstm.py").write_text(TEXT.replace('NAME = "one_layer"', 'NAME = "installed"'))
    monkeypatch.syspath_prepend(str(tmp_path))
    point = importlib.metadata.EntryPoint(name="mine", value="my_installed_lstm", group=twins.ENTRY_POINTS)
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [point] if group == twins.ENTRY_POINTS
                        else [])
    assert twins.resolve("mine") == "installed" and twins.source("installed") == "my_installed_lstm"
    assert twins.load("installed").NAME == "installed" and twins.label("installed") == "installed"
    assert twins.resolve("my_installed_lstm") == "installed", "the module's own name finds the same twin"


def test_check_trains_and_benches_beside_the_reference(data_root, tmp_path, small_config, monkeypatch, capsys):
    """--train: a quick compare of the example and the NumPy twin on a tiny config; --bench: a row per shape."""
    from harness.cli import check as check_command
    from harness.studies import bench

    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**small_config(), "quick": {"epochs": 1, "train_size": 40, "eval_size": 20}}))
    monkeypatch.setattr(check_command, "config_path", lambda task: config)
    monkeypatch.setenv("LSTM_TWINS_DATA", str(data_root))
    monkeypatch.setenv("LSTM_TWINS_RESULTS", str(tmp_path / "results"))
    monkeypatch.setattr(check_command, "run_check", lambda *a, **k: {"twin": "one_layer", "against": "numpy",
                                                                     "rows": [], "verdict": "pass"})
    speeds = {"numpy": 100.0, "one_layer": 50.0}
    monkeypatch.setattr(bench, "_in_fresh_process", lambda case, twin, r, s: {"gemm_gflops": 1.0, "threads": {}}
                        if twin == "gemm" else {"samples_per_second": speeds[twins.resolve(twin)],
                                                "tokens_per_second": 1.0, "peak_rss_mib": 1.0, "threads": {},
                                                "versions": {}, "twins_loaded": []})
    out = tmp_path / "verdict.json"
    assert main(["check", str(EXAMPLE), "--against", "numpy", "--train", "mnist", "--bench", "--no-progress",
                 "--out", str(out)]) == 0, capsys.readouterr()
    rows = json.loads(out.read_text())["rows"]
    training = next(r for r in rows if r["part"] == "training")
    assert training["result"] == PASS and training["case"] == "mnist (quick)" and "gap 0.00 points" in \
        training["detail"], training
    benched = [r for r in rows if r["part"] == "bench"]
    assert len(benched) == len(bench.bench_cases()) and benched[0]["detail"] == "50 samples/s, NumPy 100: 0.50×"
    assert (tmp_path / "verdict.md").read_text().startswith("# `check ")
