"""Two processes publish the same dataset to one remote at the same moment: one version wins whole, the other
run fails cleanly, and a third machine pulls a version whose every file matches its manifest."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pipelines.remote import open_remote
from pipelines.remote_sync import pull_versions
from pipelines.runner import run_dataset
from pipelines.spec.loader import load_project
from pipelines.warehouse import Warehouse
from tests.conftest import REPO, copy_project
from tests.remote.test_remote import NAME, _edit_seed

RUN = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from pipelines.runner import run_dataset
    from pipelines.spec.loader import load_project
    from pipelines.warehouse import Warehouse

    root, wh, remote, go = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    proj = load_project(root)
    time.sleep(max(0.0, go - time.time()))  # both start together
    try:
        pub = run_dataset(proj.datasets["cnc_line"], root, Warehouse(wh, remote))
        print(json.dumps({"version": pub.version, "created": pub.created}))
    except Exception as e:
        print(json.dumps({"error": type(e).__name__, "message": str(e)}))
    """
)


@pytest.mark.slow  # two processes, each a full run
def test_two_processes_publishing_at_once_one_wins_whole_and_the_other_fails_cleanly(tmp_path: Path, remote_url: str) -> None:
    seed_root = copy_project(tmp_path / "seed")
    run_dataset(load_project(seed_root).datasets[NAME], seed_root, Warehouse(tmp_path / "seed-wh", remote_url))  # v1
    machines = []
    for label, edits in (("a", 1), ("b", 2)):  # different inputs: each would make its own v2
        root = copy_project(tmp_path / label / "project")
        for _ in range(edits):
            _edit_seed(root)
        machines.append((root, tmp_path / label / "warehouse"))
    go = time.time() + 8  # after both processes have imported and loaded the project
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RUN, str(root), str(wh), remote_url, str(go)], cwd=REPO, stdout=subprocess.PIPE, text=True
        )
        for root, wh in machines
    ]
    results = [json.loads(p.communicate(timeout=300)[0].strip().splitlines()[-1]) for p in procs]
    won = [r for r in results if "version" in r]
    lost = [r for r in results if "error" in r]
    r = open_remote(remote_url)
    if len(won) == 2:  # no overlap after all (one finished before the other claimed): v2 and v3, one on the other
        assert sorted(w["version"] for w in won) == [2, 3] and r.versions(NAME) == [1, 2, 3]
    else:
        assert len(won) == 1 and len(lost) == 1 and won[0]["version"] == 2, results
        assert lost[0]["error"] == "RemoteConflict", lost
        assert "v2" in lost[0]["message"] and "run again" in lost[0]["message"]
        loser = machines[results.index(lost[0])][1]
        assert Warehouse(loser).versions(NAME) == [1]  # the losing run committed nothing, here or there
        assert r.versions(NAME) == [1, 2]
    clean = Warehouse(tmp_path / "c" / "warehouse", remote_url)
    assert pull_versions(clean, NAME) == r.versions(NAME)  # every file of every version matches its manifest
