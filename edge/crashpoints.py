"""Named points where crash tests kill the daemon (SIGKILL) through `$EDGE_CRASH_AT`.

Crash safety is tested by killing the real process at chosen moments; this is the
seam. Unset (always, in production) it costs one dictionary look-up.
"""

from __future__ import annotations

import os
import signal

_TARGET = os.environ.get("EDGE_CRASH_AT", "")


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL if `$EDGE_CRASH_AT` names this point."""
    if _TARGET and name == _TARGET:
        os.kill(os.getpid(), signal.SIGKILL)
