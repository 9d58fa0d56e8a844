"""``scaling`` on the command line with a fault injected, for tests that kill it mid-way.

    python tests/faults.py run CONFIG --out DIR ...     (the arguments of ``scaling``)

Environment:
  SCALING_PAUSE=checkpoint:K  the K-th checkpoint write of this process stops midway (one item
                              written, the checkpoint not finalized) and waits to be killed
  SCALING_PAUSE=group:K       the K-th group-file write stops with half its bytes in the
                              temporary file and waits to be killed
  SCALING_MARKER=PATH         touched when the paused write is reached
  SCALING_EVENTS=PATH         gets a line per group trained ("train GROUP PID") and per chunk
                              resumed from a checkpoint ("resume GROUP STEP")
"""

import io
import os
import sys
import time
from pathlib import Path


def _pause() -> None:
    Path(os.environ["SCALING_MARKER"]).touch()
    time.sleep(600)


def _log(line: str) -> None:
    with open(os.environ["SCALING_EVENTS"], "a") as events:
        events.write(line + "\n")


def _inject(what: str, k: int) -> None:
    writes = []

    def due() -> bool:
        writes.append(None)
        return len(writes) == k

    if what == "checkpoint":
        import orbax.checkpoint as ocp

        write_json = ocp.JsonCheckpointHandler._save_fn  # the `position` item's write

        async def paused_write_json(self, item, directory):
            await write_json(self, item, directory)
            if due():
                _pause()

        ocp.JsonCheckpointHandler._save_fn = paused_write_json
    elif what == "group":
        from scaling import store

        atomic_write = store._atomic_write

        def paused_atomic_write(path, write):
            if path.suffix != ".npz" or not due():
                return atomic_write(path, write)

            def half(handle):
                buffer = io.BytesIO()
                write(buffer)
                handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
                handle.flush()
                _pause()

            return atomic_write(path, half)

        store._atomic_write = paused_atomic_write
    else:
        raise ValueError(f"SCALING_PAUSE = {what}:{k}: expected checkpoint:K or group:K")


def main() -> int:
    if os.environ.get("SCALING_PAUSE"):
        what, _, k = os.environ["SCALING_PAUSE"].partition(":")
        _inject(what, int(k))
    if os.environ.get("SCALING_EVENTS"):
        from scaling import checkpoint
        from scaling.launch import runner

        run_group, resume = runner._run_group, checkpoint.GroupCheckpoints.resume

        def logged_run_group(out, group, *args):
            _log(f"train {group.id} {os.getpid()}")
            return run_group(out, group, *args)

        def logged_resume(self, members):
            snapshot = resume(self, members)
            if snapshot is not None:
                _log(f"resume {self.group_id} {snapshot.step}")
            return snapshot

        runner._run_group, checkpoint.GroupCheckpoints.resume = logged_run_group, logged_resume
    from scaling import cli

    return cli.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
