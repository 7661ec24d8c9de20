"""Where the project and the warehouse are; read from arguments or the environment when asked, never at import."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipelines.warehouse import BINDING, Warehouse, bound_remote

ENV_PROJECT = "MOSHU_PROJECT"
ENV_WAREHOUSE = "MOSHU_WAREHOUSE"
ENV_REMOTE = "MOSHU_REMOTE"


def _default_project() -> Path:
    """The project folder: `MOSHU_PROJECT`, else the current folder if it has `dataset_specs/`, else this checkout."""
    env = os.environ.get(ENV_PROJECT)
    if env:
        return Path(env)
    cwd = Path.cwd()
    if (cwd / "dataset_specs").is_dir():
        return cwd
    return Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Settings:
    """Resolved locations for one invocation."""

    project: Path
    warehouse: Warehouse

    @classmethod
    def resolve(cls, project: Path | None = None, warehouse: Path | None = None, remote: str | None = None) -> Settings:
        """Explicit arguments win; then `MOSHU_PROJECT` / `MOSHU_WAREHOUSE` / `MOSHU_REMOTE`; then `./warehouse` in the
        project, with the remote the folder is bound to (`remote.json`), if any."""
        proj = (project or _default_project()).resolve()
        env_wh = os.environ.get(ENV_WAREHOUSE)
        wh = warehouse or (Path(env_wh) if env_wh else proj / "warehouse")
        root = wh.resolve()
        named, bound = remote or os.environ.get(ENV_REMOTE) or None, bound_remote(root)
        if named and bound and named != bound:
            from pipelines.errors import StorageError

            raise StorageError(
                f"warehouse folder {root} is the copy of {bound}, not {named}; use another folder for {named} "
                f"(or delete {root / BINDING} if the remote moved)"
            )
        return cls(project=proj, warehouse=Warehouse(root, named or bound))
