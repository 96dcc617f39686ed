"""Capture the code (git) and the environment (installed packages) of a training process."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from recops.registry.entities import CodeRef, EnvironmentRef

_GIT_TIMEOUT = 60


def _git(cwd: Path, *args: str) -> bytes | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(cwd), *args],
            capture_output=True,
            timeout=_GIT_TIMEOUT,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _text(cwd: Path, *args: str) -> str | None:
    out = _git(cwd, *args)
    if out is None:
        return None
    value = out.decode("utf-8", "replace").strip()
    return value or None


def strip_credentials(url: str) -> str:
    """A remote URL without user name and password (``https://user:token@host/x`` → ``https://host/x``)."""
    parts = urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return url


def capture_code(path: str | Path | None = None) -> CodeRef | None:
    """The git state of ``path`` (default: the current directory).

    ``dirty`` is true when tracked files differ from HEAD or untracked (not ignored)
    files exist; ``diff_digest`` is the SHA-256 of ``git diff HEAD --binary`` followed by
    each untracked file's path and SHA-256, so two runs from the same uncommitted state
    get the same digest.

    Returns:
        None when ``path`` is not inside a git work tree (or git is not installed).
    """
    cwd = Path(path or Path.cwd()).resolve()
    top = _text(cwd, "rev-parse", "--show-toplevel")
    if top is None:
        return None
    root = Path(top)
    commit = _text(cwd, "rev-parse", "--verify", "-q", "HEAD")
    branch = _text(cwd, "symbolic-ref", "--short", "-q", "HEAD")
    remote = _text(cwd, "config", "--get", "remote.origin.url")
    status = _git(cwd, "status", "--porcelain", "--untracked-files=all")
    dirty = bool(status and status.strip()) if status is not None else None
    diff_digest = _diff_digest(root, has_head=commit is not None) if dirty else None
    rel = cwd.relative_to(root).as_posix() if cwd != root else "."
    return CodeRef(
        repo=strip_credentials(remote) if remote else str(root),
        commit=commit,
        dirty=dirty,
        diff_digest=diff_digest,
        branch=branch,
        path=rel,
    )


def _diff_digest(root: Path, *, has_head: bool) -> str:
    h = hashlib.sha256()
    base = ["diff", "HEAD"] if has_head else ["diff", "--cached"]
    h.update(_git(root, *base, "--binary", "--no-color", "--no-ext-diff") or b"")
    untracked = _git(root, "ls-files", "--others", "--exclude-standard", "-z") or b""
    for name in sorted(n for n in untracked.split(b"\0") if n):
        file = root / name.decode("utf-8", "surrogateescape")
        h.update(b"\0untracked\0" + name + b"\0")
        if file.is_file():
            h.update(hashlib.sha256(file.read_bytes()).digest())
    return "sha256:" + h.hexdigest()


_NORMALIZE = re.compile(r"[-_.]+")


def installed_packages() -> list[str]:
    """Sorted ``name==version`` of every distribution importable here (PEP 503 names)."""
    found: set[str] = set()
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        if not name:
            continue
        found.add(f"{_NORMALIZE.sub('-', name).lower()}=={dist.version}")
    return sorted(found)


def capture_environment() -> EnvironmentRef:
    """The interpreter and installed package set, with its digest."""
    python = f"{platform.python_implementation().lower()}=={platform.python_version()}"
    packages = installed_packages()
    text = "\n".join([python, *packages]) + "\n"
    return EnvironmentRef(
        digest="sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest(),
        python=platform.python_version(),
        packages=tuple(packages),
    )
