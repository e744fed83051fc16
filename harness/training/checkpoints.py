"""Per-epoch checkpoints of one twin's run: weights and the run so far, written atomically.

A checkpoint is two files in the twin's checkpoint folder: `epoch-NNNN.npz` (the
canonical weights) and then `latest.json` (the run record, naming that npz). The
JSON is replaced last, so it always names a complete npz. Nothing else needs
saving: the batch order of an epoch is a function of (seed, epoch), the learning
rate of the epoch number and the epochs undone so far (in the run record), and the
language model starts each epoch from zero state.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Optional

import numpy as np

from ..atomic_files import write_json_atomic, write_npz_atomic
from ..errors import BadInput
from ..recipe.config import continues


class CheckpointError(BadInput, RuntimeError):
    """A checkpoint that cannot be resumed from."""


def save_checkpoint(folder: Path, epoch: int, weights: dict[str, np.ndarray], run: dict) -> Path:
    """Write the weights after `epoch` (1-based) and the run record; drop older weight files."""
    name = f"epoch-{epoch:04d}.npz"
    write_npz_atomic(folder / name, {key.replace("/", "|"): value for key, value in weights.items()})
    write_json_atomic(folder / "latest.json", {"epoch": epoch, "weights": name, "run": run})
    for old in folder.glob("epoch-*.npz"):
        if old.name != name:
            old.unlink()
    return folder / name


def load_checkpoint(folder: Path, config: dict, like: Optional[dict[str, np.ndarray]] = None
                    ) -> Optional[tuple[int, dict[str, np.ndarray], dict]]:
    """(epoch, weights, run) of the last complete checkpoint, or None if there is none.

    like: weights of the model the run trains, whose names and shapes the checkpoint's must have (None: any).
    Raises CheckpointError, one line, when the checkpoint cannot be read, is not one this code writes, holds
    weights of other names or shapes, or was made with other settings (more epochs than `config` trains
    included).
    """
    latest = folder / "latest.json"
    if not latest.exists():
        return None
    try:
        record = json.loads(latest.read_text(encoding="utf-8"))
        epoch, run = record["epoch"], record["run"]
        if not (isinstance(epoch, int) and isinstance(run, dict) and isinstance(run.get("history"), list)
                and len(run["history"]) == epoch and isinstance(run.get("config"), dict)):
            raise ValueError(f"{latest.name} is not a checkpoint record")
        with np.load(folder / record["weights"], allow_pickle=False) as npz:
            weights = {key.replace("|", "/"): npz[key] for key in npz.files}
        same = continues(config, run["config"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError, zipfile.BadZipFile) as error:
        raise CheckpointError(f"{folder}: cannot read the checkpoint ({error}); delete the folder to start over, "
                              "or run without --resume") from None
    if like is not None and {k: v.shape for k, v in weights.items()} != {k: np.shape(v) for k, v in like.items()}:
        raise CheckpointError(f"{folder}: the checkpoint's weights are not those of this model (other names or "
                              "shapes); delete the folder to start over, or run without --resume")
    if not same:
        raise CheckpointError(
            f"{folder}: the checkpoint was made with a different config; delete the folder or run without --resume"
        )
    return epoch, weights, run
