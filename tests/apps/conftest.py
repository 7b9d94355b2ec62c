"""Fixtures: a real RabbitMQ and MinIO on loopback, and the three services against them.

The session shares one broker, one MinIO and one stack (backend, worker, frontend);
tests that stop the broker or S3 get their own (see ``own_stack``).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from apps_stack import Stack, start_infra, start_stack
from imgcloud.devstack import Service


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    rabbitmq, minio = start_infra(tmp_path_factory.mktemp("infra"))
    yield rabbitmq, minio
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda part: part.stop(), (rabbitmq, minio)))


@pytest.fixture(scope="session")
def stack(infra: tuple, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    rabbitmq, minio = infra
    running = start_stack(tmp_path_factory.mktemp("stack"), rabbitmq, minio, "shared")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A broker, MinIO and services of the module's own, to stop and restart at will."""
    root: Path = tmp_path_factory.mktemp("own")
    rabbitmq, minio = start_infra(root)
    # One resize at a time, so a backlog builds up for the faults to hit.
    running = start_stack(
        root, rabbitmq, minio, f"own{secrets.token_hex(2)}", concurrency="1", prefetch="2"
    )
    yield running
    running.stop()
    for part in (rabbitmq, minio):
        part.stop()


@pytest.fixture(scope="module")
def second_backend(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """Another backend on the shared stack's broker and bucket: a second VM's."""
    root: Path = tmp_path_factory.mktemp("backend-b")
    backend = Service("backend", root, {**stack.env, "IMGCLOUD_NODE_NAME": "backend-b"})
    backend.start()
    yield backend
    backend.stop()


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client(timeout=30) as client:
        yield client
