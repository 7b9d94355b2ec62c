"""A delete that races the worker: whatever lands first, a deleted image stays deleted.

The worker runs in this process against the stack's real MinIO, on an image seeded
straight into S3 (no job is published, so the stack's own worker never sees it). The
DELETE goes through the real backend at the last moment before the worker writes its
final manifest: the window in which a check-then-write worker brings the image back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import apps_samples as samples
import httpx
from apps_stack import Stack
from imgcloud import config, naming
from imgcloud.manifest import Manifest, VariantInfo
from imgcloud.metrics import Metrics
from imgcloud.worker import Worker

Write = Callable[..., Coroutine[Any, Any, Any]]


def seeded(worker: Worker, data: bytes) -> str:
    """A pending image in S3 (original, manifest, listing entry), as an upload leaves it."""
    image_id = naming.new_id()
    manifest = Manifest(
        id=image_id,
        status="pending",
        created=time.time(),
        filename="race.jpg",
        format="JPEG",
        original=VariantInfo(64, 48, len(data), "image/jpeg"),
    )
    asyncio.run(worker.catalog.add(manifest, data))
    return image_id


def delete_before_manifest_writes(worker: Worker, image_id: str, api: httpx.Client) -> list[str]:
    """Make every write of the image's manifest first DELETE the image through the API."""
    deleted: list[str] = []
    key = naming.manifest_key(image_id)
    storage = worker.storage

    def intercept(write: Write) -> Write:
        async def wrapped(target: str, *args: Any, **kwargs: Any) -> Any:
            if target == key and not deleted:
                answer = await asyncio.to_thread(api.delete, f"/api/images/{image_id}")
                deleted.append(f"{answer.status_code}")
            return await write(target, *args, **kwargs)

        return wrapped

    storage.put = intercept(storage.put)  # type: ignore[method-assign]
    storage.put_if_unchanged = intercept(storage.put_if_unchanged)  # type: ignore[method-assign]
    return deleted


def test_a_delete_just_before_the_final_manifest_write_stays_final(
    stack: Stack, api: httpx.Client
) -> None:
    worker = Worker(config.load("worker", stack.env), Metrics("worker"))
    image_id = seeded(worker, samples.ACCEPTED["jpeg"]())
    deleted = delete_before_manifest_writes(worker, image_id, api)

    outcome = asyncio.run(worker.process(image_id))

    assert deleted == ["200"], "the DELETE did not run in the window"
    assert outcome == "skipped"
    assert stack.keys(f"{naming.IMAGES_PREFIX}{image_id}/") == set(), "the worker brought it back"
    assert api.get(f"/api/images/{image_id}").status_code == 404
    assert all(item["id"] != image_id for item in api.get("/api/images").json()["images"])


def test_without_a_delete_the_same_path_finishes_the_image(stack: Stack, api: httpx.Client) -> None:
    """The race test's control: the seeded image and the in-process worker do finish."""
    worker = Worker(config.load("worker", stack.env), Metrics("worker"))
    image_id = seeded(worker, samples.ACCEPTED["jpeg"]())

    assert asyncio.run(worker.process(image_id)) == "done"
    view = api.get(f"/api/images/{image_id}").json()
    assert view["status"] == "done" and set(view["variants"]) >= {"original", "thumb"}
    api.delete(f"/api/images/{image_id}")
