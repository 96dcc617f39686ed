"""The composition root: find the workspace, open its config, store and lake. Wiring only."""

from __future__ import annotations

import os
from pathlib import Path

from recops.config import CONFIG_FILE, DEFAULT_CONFIG, Config, load_config
from recops.errors import InvalidInput, WorkspaceNotFound
from recops.lake import Lake
from recops.store import Store

ENV_VAR = "RECOPS_WORKSPACE"


def find_root(explicit: str | Path | None = None) -> Path:
    """The workspace folder: ``explicit``, else $RECOPS_WORKSPACE, else the current folder or a parent.

    Raises:
        WorkspaceNotFound: saying where it looked.
    """
    if explicit is not None or os.environ.get(ENV_VAR):
        root = Path(explicit if explicit is not None else os.environ[ENV_VAR]).expanduser()
        if not (root / CONFIG_FILE).is_file():
            source = "--workspace" if explicit is not None else f"${ENV_VAR}"
            raise WorkspaceNotFound(f"no {CONFIG_FILE} in {root} (from {source}); run `recops init {root}`")
        return root.resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise WorkspaceNotFound(
        f"no {CONFIG_FILE} in {here} or its parents; run `recops init`, pass --workspace DIR "
        f"or set ${ENV_VAR}"
    )


class Workspace:
    """An open workspace: its config, metadata store and lake.

    Opening reads the config only: the store connects (and migrates) when first used,
    so a command that reads just the lake catalog of a SQLite store stays light.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.store = Store(config.store_url)
        self.lake = Lake(config.data_dir, self.store)

    @classmethod
    def open(cls, explicit: str | Path | None = None) -> Workspace:
        return cls(load_config(find_root(explicit) / CONFIG_FILE))

    @classmethod
    def init(cls, root: Path, *, store_url: str | None = None) -> Workspace:
        """Create ``recops.toml``, the lake folder and the store in ``root``.

        Raises:
            InvalidInput: ``root`` already holds a workspace, or is not a folder.
        """
        try:
            root.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise InvalidInput(f"{root} is a file, not a folder: choose a folder for the workspace") from None
        path = root / CONFIG_FILE
        if path.exists():
            raise InvalidInput(f"{path} exists already; this folder is a workspace")
        text = DEFAULT_CONFIG
        if store_url:
            text = text.replace('store_url = "sqlite:///recops.db"', f'store_url = "{store_url}"')
        path.write_text(text, encoding="utf-8")
        workspace = cls(load_config(path))
        workspace.store.migrate()  # the store opens on first use: create it now
        return workspace

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
