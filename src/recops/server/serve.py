"""``recops serve``: the app under uvicorn, with the scheduler, refusing unsafe binds."""

from __future__ import annotations

import ipaddress

from recops.errors import InvalidInput
from recops.server.tokens import any_live_token
from recops.workspace import Workspace


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(workspace: Workspace, host: str) -> None:
    """Refuse to listen beyond loopback while no token exists (nobody could sign in safely).

    Raises:
        InvalidInput: saying how to create a token.
    """
    if not is_loopback(host) and not any_live_token(workspace.store):
        raise InvalidInput(
            f"refusing to listen on {host}: no API token exists, so the server would be open to the "
            "network; create one with `recops token create NAME --role admin`, or bind 127.0.0.1"
        )


def serve(workspace: Workspace, *, host: str, port: int, schedule: bool = True) -> None:
    """Serve until interrupted."""
    import uvicorn

    from recops.server.app import create_app
    from recops.server.scheduler import Scheduler

    check_bind(workspace, host)
    period = workspace.config.server.schedule_seconds
    scheduler = Scheduler(workspace, period_seconds=period) if schedule and period > 0 else None
    app = create_app(workspace, scheduler=scheduler)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
