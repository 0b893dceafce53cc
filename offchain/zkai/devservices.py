"""Local services for development, tests and `zkai up`: find a reachable Redis or start one.

Policy (the same for the test command and the local network): use a Redis that answers at the
configured URL; otherwise start `redis-server` on a free loopback port; if it is not installed and
we are root on Debian, install Debian's package; otherwise fail with the command that fixes it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from zkai.errors import ToolchainError


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def redis_reachable(url: str, timeout: float = 1.0) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def redis_server_binary(install: bool = True) -> str:
    """Path of `redis-server`, installing Debian's package when missing and running as root."""
    found = shutil.which("redis-server")
    if found:
        return found
    apt_get = shutil.which("apt-get")
    if install and os.geteuid() == 0 and apt_get:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run([apt_get, "update", "-qq"], check=True, env=env)
        subprocess.run([apt_get, "install", "-y", "-qq", "redis-server"], check=True, env=env)
        found = shutil.which("redis-server")
        if found:
            return found
    raise ToolchainError(
        "redis-server is not installed and no Redis is reachable. "
        "Install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) "
        "or point ZKAI_REDIS_URL at a running Redis."
    )


@dataclass
class RedisServer:
    """A `redis-server` process this program started (and must stop)."""

    port: int
    process: subprocess.Popen[bytes]
    workdir: Path
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.workdir / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def restart(self) -> None:
        """Stop and start again on the same port (used by fault tests)."""
        self.stop()
        self.process = _spawn_redis(redis_server_binary(), self.port, self.workdir)
        wait_for_redis(self.url, process=self.process)


def redis_server_command(binary: str, port: int, workdir: Path) -> list[str]:
    """A loopback-only redis-server that keeps nothing on disk."""
    return [
        binary,
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
        "--logfile",
        str(workdir / "redis.log"),
    ]


def _spawn_redis(binary: str, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        redis_server_command(binary, port, workdir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for_redis(
    url: str, timeout: float = 15.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Block until a Redis answers at `url`; fail at once if `process` (its server) exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ToolchainError(f"redis-server exited with code {process.returncode}")
        if redis_reachable(url, timeout=0.5):
            return
        time.sleep(0.05)
    raise ToolchainError(f"no Redis answered at {url} within {timeout:.0f} s")


def start_redis(port: int | None = None, workdir: Path | None = None) -> RedisServer:
    """Start a private `redis-server` on loopback that keeps nothing on disk."""
    binary = redis_server_binary()
    port = port or free_port()
    workdir = workdir or Path(tempfile.mkdtemp(prefix="zkai-redis-"))
    process = _spawn_redis(binary, port, workdir)
    wait_for_redis(f"redis://127.0.0.1:{port}/0", process=process)
    return RedisServer(port=port, process=process, workdir=workdir)


def ensure_redis(url: str) -> tuple[str, RedisServer | None]:
    """A reachable Redis URL: `url` itself if it answers, else one we start (returned to stop)."""
    if redis_reachable(url):
        return url, None
    server = start_redis()
    return server.url, server
