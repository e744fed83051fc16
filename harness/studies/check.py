"""`python -m harness check TWIN`: the verdict on any implementation of the twin contract, part by part.

1. contract: the module's names and signatures (twin_contract.contract_problems), then what it returns on a
   small case: shapes, dtypes, gradient names, that build_model copies the weights and get_weights gives copies;
2. parity: every parity case against the reference twin (TensorFlow by default), logits at real steps,
   loss, final state and every gradient, to the parity thresholds;
3. finite differences: the candidate's gradients alone, in float64 (no reference needed);
4. trajectory: 100 float64 SGD steps with clipping against the reference, every weight at the end.

A case that needs a part of the LSTM family the candidate declares in UNSUPPORTED is "not supported"; a
part that cannot run (no reference installed) is "not run", with the reason. Every row names its case and,
for a failure, the quantity and its figure. Exceptions the candidate raises are failures of their row.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Optional

import numpy as np

from twin_contract import Batch, ModelSpec, State, contract_problems

from ..twins import available, label, load
from .parity import PARITY_CASES, THRESHOLDS, gradient_parity, trajectory_parity
from .synthetic import Case, random_batch, random_weights

PASS, FAIL, UNSUPPORTED, NOT_RUN, MEASURED = "pass", "FAIL", "not supported", "not run", "measured"
FINITE_DIFFERENCE = {"step": 1e-5, "directions": 3, "threshold": 1e-6}  # float64 central differences


def uses(case: Case) -> set[str]:
    """The parts of twin_contract.FAMILY a case needs (besides its dtype, float32 or float64)."""
    spec = case.spec
    needed = {"embedding": spec.has_embedding, "frozen_embedding": spec.has_embedding and not spec.train_embedding,
              "mask": case.padding is not None, "carried_state": case.carries_state, "layers": spec.layers > 1,
              "bidirectional": spec.bidirectional, "dropout": case.dropout > 0,
              "tie_embeddings": spec.tie_embeddings, "features": bool(spec.features),
              "max_pooling": spec.pooling == "max"}
    return {part for part, used in needed.items() if used}


def row(part: str, case: str, result: str, detail: str = "", dtype: str = "") -> dict:
    """One row of the verdict."""
    return {"part": part, "case": case, "dtype": dtype, "result": result, "detail": detail}


def verdict_of(rows: list[dict]) -> str:
    """"pass" when no row failed and one passed, else "fail"."""
    return "fail" if any(r["result"] == FAIL for r in rows) or not any(r["result"] == PASS for r in rows) else "pass"


def run_check(candidate, against: str, dtypes=("float64", "float32"), updates: int = 100,
              progress: Optional[Callable[[dict, int], None]] = None) -> dict:
    """The verdict on the module `candidate` against the registered twin `against`: {"twin", "against",
    "rows": [{"part", "case", "dtype", "result", "detail"}], "verdict": "pass" or "fail"}; progress(row, total)
    is called as each row is decided, total the number of rows in all."""
    judgements = _plan(candidate, against, dtypes, updates)
    rows = []
    for decide in judgements:
        rows.append(decide())
        if progress is not None:
            progress(rows[-1], len(judgements))
    return {"twin": getattr(candidate, "NAME", "?"), "against": against, "rows": rows, "verdict": verdict_of(rows)}


def _plan(candidate, against: str, dtypes, updates: int) -> list[Callable[[], dict]]:
    """Every row of the verdict, in order, as the call that decides it."""
    problems = contract_problems(candidate)
    if problems:
        return [partial(row, "contract", "interface", FAIL, problem) for problem in problems]
    unsupported = set(getattr(candidate, "UNSUPPORTED", ()))
    plan = [partial(row, "contract", "interface", PASS, "NAME, the five functions and their parameters"
                    + (f"; not supported: {', '.join(sorted(unsupported))}" if unsupported else ""))]
    supported = [d for d in dtypes if d not in unsupported]
    cases = [(case, sorted(uses(case) & unsupported)) for case in PARITY_CASES]
    for case, missing in cases:
        if missing:
            plan.append(partial(row, "contract", case.name, UNSUPPORTED, f"needs {', '.join(missing)}"))
        else:
            plan += [partial(_attempt, "contract", case, dtype, partial(behaviour, candidate, case, dtype))
                     for dtype in supported]
    reference = load(against) if available(against) else None
    absent = f"the {label(against)} twin is not installed"
    for dtype in dtypes:
        for case, missing in cases:
            if dtype in unsupported or missing:
                plan.append(partial(row, "parity", case.name, UNSUPPORTED, f"needs {', '.join(missing or [dtype])}",
                                    dtype))
            elif reference is None:
                plan.append(partial(row, "parity", case.name, NOT_RUN, absent, dtype))
            else:
                plan.append(partial(_attempt, "parity", case, dtype, partial(_parity, candidate, reference, case,
                                                                             dtype)))
    for part in ("finite differences", "trajectory"):
        for case, missing in cases:
            missing = missing or (["float64"] if "float64" in unsupported else [])
            if missing:
                plan.append(partial(row, part, case.name, UNSUPPORTED, f"needs {', '.join(missing)}", "float64"))
            elif part == "trajectory" and reference is None:
                plan.append(partial(row, part, case.name, NOT_RUN, absent, "float64"))
            else:
                judge = (partial(finite_differences, candidate, case) if part == "finite differences"
                         else partial(_trajectory, candidate, reference, case, updates))
                plan.append(partial(_attempt, part, case, "float64", judge))
    return plan


def _attempt(part: str, case: Case, dtype: str, judge: Callable[[], tuple[bool, str]]) -> dict:
    """The row of one judgement; an exception the twin raises fails it, in one line."""
    try:
        passed, detail = judge()
    except Exception as error:  # the candidate's fault, whatever it is
        passed, detail = False, f"raised {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    return row(part, case.name, PASS if passed else FAIL, detail, dtype)


def _within(figures: dict[str, float], threshold: float) -> tuple[bool, str]:
    """Every figure at or below the threshold? The worst one named."""
    name, worst = max(figures.items(), key=lambda item: item[1])
    over = [n for n, value in figures.items() if value > threshold]
    if over:
        first = over[0]
        return False, (f"{first} {figures[first]:.1e} > {threshold:.0e}"
                       + (f" (and {len(over) - 1} more; worst {name} {worst:.1e})" if len(over) > 1 else ""))
    return True, f"worst {name} {worst:.1e} ≤ {threshold:.0e}"


def _parity(candidate, reference, case: Case, dtype: str) -> tuple[bool, str]:
    return _within(gradient_parity(case, dtype, candidate, reference), THRESHOLDS[dtype])


def _trajectory(candidate, reference, case: Case, updates: int) -> tuple[bool, str]:
    figures = trajectory_parity(case, candidate, reference, updates)
    clipped = figures.pop("clipped steps")
    passed, detail = _within(figures, THRESHOLDS["trajectory"])
    return passed, f"{detail}; {updates} steps, {clipped:.0%} clipped"


def behaviour(twin, case: Case, dtype: str) -> tuple[bool, str]:
    """What the functions return on one batch of the case: (passed, the first problem or what was checked)."""
    spec = case.spec
    rng = np.random.default_rng(3)
    weights = random_weights(spec, rng)
    batch = random_batch(case, rng)
    state = _random_state(spec, case.batch_size, rng) if case.carries_state else None
    given = {name: w.copy() for name, w in weights.items()}
    model = twin.build_model(spec, given, dtype)
    for w in given.values():
        w += 1.0  # the model must hold copies
    problems = []
    held = twin.get_weights(model)
    problems += _weights_problems(spec, held, weights, dtype, "get_weights after build_model")
    for w in held.values():
        w += 1.0  # and hand out copies
    problems += _weights_problems(spec, twin.get_weights(model), weights, dtype, "get_weights after changing "
                                  "what it returned")
    N, T, C = case.batch_size, case.num_steps, spec.num_classes
    logits, loss, final = twin.predict(model, batch, state)
    expected = (N, C) if spec.head == "pooled" else (N, T, C)
    if np.shape(logits) != expected:
        problems.append(f"predict's logits have shape {np.shape(logits)}; expected {expected}")
    elif np.asarray(logits).dtype != np.dtype(dtype):
        problems.append(f"predict's logits are {np.asarray(logits).dtype}; expected {dtype}")
    problems += _scalar_problems("predict's loss", loss) + _state_problems("predict", spec, N, final)
    loss2, grads, final2 = twin.loss_and_grads(model, batch, state)
    problems += _scalar_problems("loss_and_grads's loss", loss2) + _state_problems("loss_and_grads", spec, N, final2)
    trainable = spec.trainable_names()
    if sorted(grads) != sorted(trainable):
        extra, missing = sorted(set(grads) - set(trainable)), sorted(set(trainable) - set(grads))
        problems.append("loss_and_grads returns " + "; ".join(
            ([f"gradients for {extra}, which get none (frozen or not weights)"] if extra else [])
            + ([f"no gradient for {missing}"] if missing else [])))
    else:
        problems += [f"d {name} has shape {np.shape(g)}; expected {spec.weight_shapes()[name]}"
                     for name, g in grads.items() if np.shape(g) != spec.weight_shapes()[name]]
    if problems:  # a step with such gradients would only fail less clearly
        return False, _first(problems)
    result = twin.train_step(model, batch, 0.1, 1.0, state)
    problems += _scalar_problems("train_step's loss", getattr(result, "loss", None))
    problems += _scalar_problems("train_step's grad_norm", getattr(result, "grad_norm", None))
    problems += _state_problems("train_step", spec, N, getattr(result, "state", None))
    if not problems and all(np.array_equal(w, weights[n].astype(dtype)) for n, w in twin.get_weights(model).items()
                            if n in trainable):
        problems.append("train_step changed no weight")
    if problems:
        return False, _first(problems)
    return True, "shapes, dtypes, gradient names, copies in and out, one SGD step"


def _first(problems: list[str]) -> str:
    return problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")


def _weights_problems(spec: ModelSpec, held: dict, weights: dict, dtype: str, when: str) -> list[str]:
    if sorted(held) != sorted(spec.weight_shapes()):
        return [f"{when}: weights {sorted(held)}; expected {sorted(spec.weight_shapes())}"]
    for name, w in held.items():
        if np.shape(w) != spec.weight_shapes()[name] or np.asarray(w).dtype != np.dtype(dtype):
            return [f"{when}: {name} is {np.asarray(w).dtype} {np.shape(w)}; expected {dtype} "
                    f"{spec.weight_shapes()[name]}"]
        if not np.allclose(w, weights[name], rtol=1e-6, atol=1e-6):
            return [f"{when}: {name} is not the weight given to build_model (held by reference, not copied?)"]
    return []


def _scalar_problems(what: str, value) -> list[str]:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (float, int, np.floating, np.integer)):
        return [f"{what} is {type(value).__name__}; expected a float"]
    return [] if np.isfinite(value) else [f"{what} is {value}"]


def _state_problems(function: str, spec: ModelSpec, N: int, state) -> list[str]:
    shape = (spec.layers * spec.directions, N, spec.hidden_size)
    if not isinstance(state, tuple) or len(state) != 2 or any(np.shape(a) != shape for a in state):
        return [f"{function}'s final state is not (h, c), each {shape}"]
    return []


def _random_state(spec: ModelSpec, N: int, rng: np.random.Generator) -> State:
    shape = (spec.layers * spec.directions, N, spec.hidden_size)
    return State(rng.standard_normal(shape), rng.standard_normal(shape))


def finite_differences(twin, case: Case, seed: int = 7) -> tuple[bool, str]:
    """The candidate's float64 gradients against central differences of its own loss, through the contract
    only: for each trainable weight, the derivative along a few random directions d,
    (L(w + h·d) − L(w − h·d)) / 2h, against Σ grad ⊙ d; the relative error of the worst."""
    spec, settings = case.spec, FINITE_DIFFERENCE
    rng = np.random.default_rng(seed)
    weights = random_weights(spec, rng)
    batch = random_batch(case, rng)
    state = _random_state(spec, case.batch_size, rng) if case.carries_state else None
    _, grads, _ = twin.loss_and_grads(twin.build_model(spec, weights, "float64"), batch, state)
    if sorted(grads) != sorted(spec.trainable_names()):
        return False, f"gradients for {sorted(grads)}; expected {sorted(spec.trainable_names())}"
    errors = {}
    for name in spec.trainable_names():
        worst = 0.0
        for _ in range(settings["directions"]):
            d = rng.standard_normal(weights[name].shape)
            losses = [_loss_at(twin, spec, {**weights, name: weights[name] + sign * settings["step"] * d}, batch, state)
                      for sign in (1, -1)]
            numeric = (losses[0] - losses[1]) / (2 * settings["step"])
            analytic = float(np.sum(np.asarray(grads[name], dtype=np.float64) * d))
            scale = max(abs(numeric), abs(analytic))
            worst = max(worst, abs(numeric - analytic) / scale if scale > 0 else 0.0)
        errors[f"d {name}"] = worst
    return _within(errors, settings["threshold"])


def _loss_at(twin, spec: ModelSpec, weights: dict, batch: Batch, state) -> float:
    return float(twin.predict(twin.build_model(spec, weights, "float64"), batch, state)[1])
