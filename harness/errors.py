"""The one kind of failure a command ends on with its message and exit 2: a request that cannot be done as asked.

A bad config, a data set that is missing or broken, a download refused, a locked or unwritable
folder, a run file or checkpoint of other settings, a sweep or bench that cannot start: each room
raises its own subclass of BadInput (with the standard base that fits it, as ValueError), and the
command line catches BadInput once (`harness.cli.main`), prints "error: <message>" and exits 2.
Imports nothing.
"""

from __future__ import annotations


class BadInput(Exception):
    """What was asked cannot be done as asked; the message names what is wrong and what to do."""
