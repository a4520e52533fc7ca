"""For `bench_local.py`'s "no engine" column: the local server with the python engine's
run taken out. Put on PYTHONPATH with SMB_BENCH_NO_ENGINE=1, an event on an existing
instance is "applied" by a step that keeps the state and context as they were; starting
an instance still runs the chart. Everything else the server does for an event (HTTP,
auth, the lock, the commit, the answer) is as it is: what the server's own layers cost.
"""

import os

if os.environ.get("SMB_BENCH_NO_ENGINE") == "1":
    from typing import Any

    from smb_tui.local.definitions import Snapshot
    from smb_tui.local.engines import statechart
    from smb_tui.local.engines.seam import Outcome, Step

    _run = statechart.StatechartEngine._run

    async def _kept(
        self: Any, version: Any, snapshot: Any, context: Any, events: Any, timeout: float
    ) -> Outcome:
        if snapshot is None:
            return await _run(self, version, snapshot, context, events, timeout)
        kept = Snapshot(list(snapshot.state), dict(context), dict(snapshot.history))
        return Outcome(steps=[Step(event, kept) for event in events])

    statechart.StatechartEngine._run = _kept  # type: ignore[method-assign]
