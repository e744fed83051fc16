"""How a command stops: SIGTERM as Ctrl-C, children told to stop, and children that end with their parent.

SIGTERM is what `timeout`, systemd, a CI runner and Kubernetes send; it gets what Ctrl-C gets
(KeyboardInterrupt: the run stops after its last checkpoint, one line says how to resume). Ctrl-C
reaches a whole process group, SIGTERM only the process it is sent to: a parent passes it on to its
children (`stop`). A child started with `child_environment()` ends (SIGTERM) when its parent is gone,
even one killed with SIGKILL, so it never trains on beside a later run of the same seed.

Imports nothing of the project.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
PARENT_ENV = "LSTM_TWINS_PARENT"  # the process id a child must not outlive
_PR_SET_PDEATHSIG = 1  # Linux's prctl option: the signal a process gets when its parent ends


def stop_on_signals() -> None:
    """SIGINT and SIGTERM raise KeyboardInterrupt, once: a second one while stopping is ignored, so the last
    checkpoint and the closing line come out whole."""
    for number in STOP_SIGNALS:
        signal.signal(number, _interrupt)


def _interrupt(number, frame):
    for other in STOP_SIGNALS:
        signal.signal(other, signal.SIG_IGN)
    raise KeyboardInterrupt


def child_environment() -> dict[str, str]:
    """The variables that make a child started with them end when this process ends."""
    return {PARENT_ENV: str(os.getpid())}


def end_with_parent() -> None:
    """In a child started with child_environment(): SIGTERM when its parent ends (at once if it already has).
    On systems without Linux's prctl, nothing."""
    parent = os.environ.get(PARENT_ENV)
    if not parent or not parent.isdigit():
        return
    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != int(parent):  # it ended before the prctl took hold
        os.kill(os.getpid(), signal.SIGTERM)


def stop(*children: subprocess.Popen) -> None:
    """Tell the running children to stop as Ctrl-C would (each may have had the Ctrl-C already: it ignores a
    second), and wait for them."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
    for child in children:
        child.wait()
