"""Named points where crash tests kill the daemon (SIGKILL) through `$EDGE_CRASH_AT`.

Crash safety is tested by killing the real process at chosen moments; this is the
seam. `EDGE_CRASH_AT=after_print` kills at the first pass, `after_print#2` at the second.
Unset (always, in production) it costs one comparison.
"""

from __future__ import annotations

import os
import signal

_NAME, _, _NTH = os.environ.get("EDGE_CRASH_AT", "").partition("#")
_passes: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL if `$EDGE_CRASH_AT` names this point (and pass)."""
    if _NAME and name == _NAME:
        _passes[name] = passes = _passes.get(name, 0) + 1
        if passes >= int(_NTH or 1):
            os.kill(os.getpid(), signal.SIGKILL)
