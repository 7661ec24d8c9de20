"""A partitioned dataset on the remote warehouse: a rebuilt day is uploaded, the kept days are copied on the server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines.remote import open_remote
from pipelines.remote_sync import pull_versions
from pipelines.runner import run_dataset
from pipelines.spec.loader import load_project
from pipelines.warehouse import Warehouse
from tests.partitions.daily import NAME, daily_project, day_file

DAYS = ["2026-03-02", "2026-03-03", "2026-03-04"]


@pytest.mark.slow  # two partitioned runs
def test_rebuilding_one_day_uploads_only_that_day_and_a_pull_shares_the_kept_days(
    tmp_path: Path, remote_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = daily_project(tmp_path / "project")
    wh = Warehouse(tmp_path / "a", remote_url)
    loaded = load_project(root, only=[NAME]).datasets[NAME]
    run_dataset(loaded, root, wh, partitions=DAYS)
    f = day_file(root, "2026-03-03")
    lines = f.read_text(encoding="utf-8").splitlines()
    lines[10] = re.sub(r",RUN$|,IDLE$|,SETUP$|,ALARM$|,OFF$", ",E-STOP", lines[10])
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")

    fs = open_remote(remote_url).fs
    uploaded: list[str] = []
    copied: list[str] = []
    put, copy = fs.put_file, fs.copy
    monkeypatch.setattr(fs, "put_file", lambda lpath, rpath, **kw: (uploaded.append(rpath), put(lpath, rpath, **kw))[1])
    monkeypatch.setattr(fs, "copy", lambda src, dst, **kw: (copied.append(dst), copy(src, dst, **kw))[1])
    pub = run_dataset(loaded, root, wh, partitions=["2026-03-03"])
    assert pub.version == 2
    v2 = [u for u in uploaded if "/v2/" in u]
    assert any("part-2026-03-03" in u for u in v2)
    assert not any("2026-03-02" in u or "2026-03-04" in u for u in v2)  # kept days: never uploaded again ...
    kept = [c for c in copied if "/v2/" in c]
    assert {"2026-03-02", "2026-03-04"} <= {d for c in kept for d in DAYS if d in c}  # ... but copied on the server
    monkeypatch.undo()

    other = Warehouse(tmp_path / "b", remote_url)
    assert pull_versions(other, NAME) == [1, 2]
    for p in wh.manifest(NAME, 2)["partitions"]:
        for f in p["files"]:
            here = other.version_dir(NAME, 2) / f["path"]
            shared = p["built_in_version"] == 1  # a kept day shares v1's bytes on this machine too
            assert (here.stat().st_ino == (other.version_dir(NAME, 1) / f["path"]).stat().st_ino) is shared, f["path"]
