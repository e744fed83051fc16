"""One sweep worker: `python -m harness.studies.sweep_worker REQUEST_JSON` trains the run the driver resolved,
writing its checkpoints but not its JSON, and prints {"record", "resumed_after"} as its last line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

from ..errors import BadInput
from ..stopping import end_with_parent, stop_on_signals
from ..training.request import RunRequest
from ..training.run import run


def work(request: RunRequest) -> dict:
    """Train the request (no progress bars); its record, and the epoch it resumed after (None: from the start)."""
    resumed_after = _epoch_of(request.checkpoints / "latest.json") if request.resume else None
    record, _ = run(request, progress=False)
    return {"record": record, "resumed_after": resumed_after}


def _epoch_of(latest: Path) -> Optional[int]:
    try:
        return json.loads(latest.read_text(encoding="utf-8"))["epoch"]
    except (OSError, ValueError, KeyError):
        return None


if __name__ == "__main__":
    stop_on_signals()
    end_with_parent()  # never trains on once the sweep that started it is gone
    try:
        print(json.dumps(work(RunRequest.from_json(json.loads(sys.argv[1])))))
    except BadInput as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # stopped: its checkpoints are kept, the driver says how to resume
        sys.exit(130)
