"""Find or build the Go binaries imgcloud needs (consul, nomad, minio).

No package registry reachable here carries them, so each has a tiny Go module
beside this file that requires the upstream program at a pinned release. A
binary already on PATH wins (real users with official releases build nothing);
otherwise it is built once with the machine's Go and cached by version outside
the checkout, so a second call is instant.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

MODULES_DIR = Path(__file__).resolve().parent
CACHE_DIR = Path(os.environ.get("IMGCLOUD_BIN_CACHE", Path.home() / ".cache" / "imgcloud" / "bin"))


@dataclass(frozen=True)
class Program:
    name: str
    package: str
    version: str
    cgo: bool

    @property
    def cached_path(self) -> Path:
        return CACHE_DIR / f"{self.name}-{self.version}"


# Whether cgo is on mirrors the upstream release builds: consul and minio ship
# static binaries, nomad links libc.
_CGO = {"consul": False, "minio": False, "nomad": True}


def names() -> list[str]:
    return sorted(p.name for p in MODULES_DIR.iterdir() if (p / "go.mod").is_file())


def program(name: str) -> Program:
    go_mod = MODULES_DIR / name / "go.mod"
    if not go_mod.is_file():
        raise KeyError(f"no Go module for {name!r}; known: {', '.join(names())}")
    text = go_mod.read_text()
    match = re.search(r"^tool\s+(\S+)", text, re.MULTILINE)
    if match is None:
        raise ValueError(f"{go_mod} has no 'tool' line naming the package to build")
    package = match.group(1)
    # The package may live below its module's root (toxiproxy's cmd/server): the
    # version is that of the longest required module the package path starts with.
    required = re.findall(r"^\s*(?:require\s+)?(\S+)\s+(v\S+)", text, re.MULTILINE)
    owners = [
        (mod, ver) for mod, ver in required if package == mod or package.startswith(mod + "/")
    ]
    if not owners:
        raise ValueError(f"{go_mod} does not require {package} or a module holding it")
    version = max(owners, key=lambda owner: len(owner[0]))[1]
    return Program(name, package, version, _CGO.get(name, False))


def find(name: str) -> Path | None:
    """The binary to use without building: PATH first, then the cache."""
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    cached = program(name).cached_path
    return cached if cached.is_file() else None


def ensure(name: str, *, log=sys.stderr) -> Path:
    """Return a runnable binary for ``name``, building it if nothing has one."""
    found = find(name)
    if found is not None:
        return found
    prog = program(name)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    # Two callers (say, the lab and a test fixture) must not build at once.
    with open(CACHE_DIR / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if prog.cached_path.is_file():
            return prog.cached_path
        _build(prog, log)
    return prog.cached_path


def _build(prog: Program, log) -> None:
    go = shutil.which("go")
    if go is None:
        raise RuntimeError(
            f"{prog.name} is not on PATH and Go is not installed to build it: "
            f"install Go or put an official {prog.name} binary on PATH"
        )
    print(
        f"building {prog.name} {prog.version} with Go (once; cached in {CACHE_DIR})",
        file=log,
        flush=True,
    )
    env = dict(os.environ, CGO_ENABLED="1" if prog.cgo else "0", GOFLAGS="-mod=mod")
    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as tmp:
        out = Path(tmp) / prog.name
        subprocess.run(
            [go, "build", "-trimpath", "-ldflags=-s -w", "-o", str(out), prog.package],
            cwd=MODULES_DIR / prog.name,
            env=env,
            check=True,
        )
        out.rename(prog.cached_path)
