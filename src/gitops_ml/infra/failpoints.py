"""Failpoints, a test aid: kill this process at a named step, exactly as a crash there would.

With GITOPS_ML_FAILPOINT=<step> set, the process sends itself SIGKILL when it reaches that step:
no exception handler, `finally` block or exit hook runs, as on a real crash, an out-of-memory
kill or a runner that vanishes. The fault test of promotion kills `promote` at each of its
steps this way and checks that a rerun leaves the registry consistent. Unset (always, outside
tests), a failpoint does nothing.
"""

from __future__ import annotations

import os
import signal

ENV = "GITOPS_ML_FAILPOINT"


def reached(step: str) -> None:
    """Die here, at once and uncleanly, when GITOPS_ML_FAILPOINT names this step."""
    if os.environ.get(ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)
