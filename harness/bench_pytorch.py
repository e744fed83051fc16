"""PyTorch's CPU LSTM on one bench shape: an outside speed reference for `make bench`, not a twin.

Run by the bench as a script of its own (`TORCH_PYTHON harness/bench_pytorch.py CASE.npz REPEATS STEPS`),
with an interpreter that has PyTorch (it is no project dependency); it imports only PyTorch and
NumPy, so a scratch environment with those two is enough. CASE.npz, written by harness/studies/bench.py,
holds the shape, the weights in the canonical (Keras) layout and the twins' own two batches.

The model does the twins' work with PyTorch's own layers: an `nn.Embedding` (frozen when the twins'
is), one `nn.LSTM` per layer (bidirectional when the shape is), the harness's dropout masks multiplied
into each layer's input and the output layer's, an `nn.Linear` at every step or after a masked mean
over time, softmax cross-entropy averaged over the real tokens, then `clip_grad_norm_` and
`torch.optim.SGD`. One difference: PyTorch's LSTM has no Keras-style masking, so padded steps are
computed as if real (the same amount of work; only the pooled mean and the loss skip them).
Timing as the twins' bench processes: 3 warm-up steps, then the median of REPEATS repeats of STEPS
steps; the last line printed is the report's JSON.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time

import numpy as np
import torch
from torch import nn


class BenchModel(nn.Module):
    """The bench shape's model from canonical weights: LSTM gate blocks i, f, c, o are PyTorch's i, f, g, o."""

    def __init__(self, case: dict, weights: dict[str, np.ndarray]):
        super().__init__()
        if case["features"] or case["tie_embeddings"]:
            raise ValueError("the PyTorch reference covers no word features and no tied embeddings")
        self.head, self.pooling, self.directions = case["head"], case["pooling"], 2 if case["bidirectional"] else 1
        self.embedding = None
        if "embedding" in weights:
            self.embedding = nn.Embedding.from_pretrained(_tensor(weights["embedding"]),
                                                          freeze=not case["train_embedding"])
        H = case["hidden_size"]
        self.lstms = nn.ModuleList()
        for k in range(case["layers"]):
            name = "lstm" if k == 0 else f"lstm_{k}"
            lstm = nn.LSTM(weights[f"{name}/kernel"].shape[0], H, batch_first=True,
                           bidirectional=case["bidirectional"])
            for suffix, torch_suffix in (("", ""), ("/backward", "_reverse"))[: self.directions]:
                getattr(lstm, "weight_ih_l0" + torch_suffix).data = _tensor(weights[f"{name}{suffix}/kernel"].T)
                getattr(lstm, "weight_hh_l0" + torch_suffix).data = _tensor(
                    weights[f"{name}{suffix}/recurrent_kernel"].T)
                getattr(lstm, "bias_ih_l0" + torch_suffix).data = _tensor(weights[f"{name}{suffix}/bias"])
                getattr(lstm, "bias_hh_l0" + torch_suffix).data.zero_()
            self.lstms.append(lstm)
        self.dense = nn.Linear(*weights["dense/kernel"].shape)
        self.dense.weight.data = _tensor(weights["dense/kernel"].T)
        self.dense.bias.data = _tensor(weights["dense/bias"])

    def forward(self, batch: dict, state):
        """-> (mean cross-entropy over the real tokens, final (h, c), each (L·K, N, H), detached)."""
        x = self.embedding(batch["inputs"]) if self.embedding is not None else batch["inputs"]
        dropout, mask = batch.get("dropout"), batch.get("mask")
        finals = []
        for k, lstm in enumerate(self.lstms):
            if dropout is not None:
                x = x * dropout[k]
            rows = slice(k * self.directions, (k + 1) * self.directions)
            x, (h, c) = lstm(x, None if state is None else (state[0][rows], state[1][rows]))
            finals.append((h, c))
        if self.head == "pooled" and self.pooling == "max":
            x = (x if mask is None else x.masked_fill(mask[..., None] == 0, float("-inf"))).amax(1)
        elif self.head == "pooled":
            x = x.mean(1) if mask is None else (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        if dropout is not None:
            x = x * dropout[-1]
        logits = self.dense(x)
        losses = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch["targets"].reshape(-1),
                                             reduction="none")
        if mask is not None and self.head == "per_step":
            weights = mask.reshape(-1)
            loss = (losses * weights).sum() / weights.sum()
        else:
            loss = losses.mean()
        h, c = (torch.cat([f[i] for f in finals]).detach() for i in (0, 1))
        return loss, (h, c)


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def load_case(path: str) -> tuple[dict, dict, list[dict]]:
    """(shape, canonical weights, the two batches as tensors) from the bench's npz."""
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    case = json.loads(str(arrays.pop("case")))
    weights = {name[len("weight:"):]: a for name, a in arrays.items() if name.startswith("weight:")}
    batches = []
    for b in range(2):
        batch = {"inputs": torch.from_numpy(arrays[f"batch{b}:inputs"]),
                 "targets": torch.from_numpy(arrays[f"batch{b}:targets"]).long()}
        if batch["inputs"].is_floating_point():
            batch["inputs"] = batch["inputs"].float()
        else:
            batch["inputs"] = batch["inputs"].long()
        if f"batch{b}:mask" in arrays:
            batch["mask"] = torch.from_numpy(arrays[f"batch{b}:mask"]).float()
        masks = sorted(name for name in arrays if name.startswith(f"batch{b}:dropout"))
        if masks:
            batch["dropout"] = [_tensor(arrays[name]) for name in masks]
        batches.append(batch)
    return case, weights, batches


def measure(path: str, repeats: int, steps: int) -> dict:
    torch.set_num_threads(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    case, weights, batches = load_case(path)
    model = BenchModel(case, weights)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.SGD(parameters, lr=0.1)
    state = None

    def run(count: int) -> None:
        nonlocal state
        for k in range(count):
            optimiser.zero_grad(set_to_none=True)
            loss, final = model(batches[k % 2], state)
            loss.backward()
            nn.utils.clip_grad_norm_(parameters, 5.0)
            optimiser.step()
            if not torch.isfinite(loss):
                raise RuntimeError(f"PyTorch: loss is {loss.item()}: a fast wrong model is no result")
            state = final if case["carries_state"] else None

    run(3)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(steps)
        seconds.append((time.perf_counter() - start) / steps)
    step = statistics.median(seconds)
    tokens = statistics.fmean(float(b["mask"].sum()) if "mask" in b else b["targets"].shape[0] * case["num_steps"]
                              for b in batches)
    return {"samples_per_second": case["batch_size"] / step, "tokens_per_second": tokens / step,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "threads": {"torch_intra_op": torch.get_num_threads(), "torch_inter_op": torch.get_num_interop_threads(),
                        "cpu_capability": torch.backends.cpu.get_cpu_capability()},
            "versions": {"torch": torch.__version__}, "twins_loaded": []}


if __name__ == "__main__":
    case_file, repeats_text, steps_text = sys.argv[1:4]
    print(json.dumps(measure(case_file, int(repeats_text), int(steps_text))))
