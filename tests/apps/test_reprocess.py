"""``imgcloud reprocess``: presets added after an image was made reach it, once.

Against the real RabbitMQ and MinIO, with in-process workers on a queue and bucket of
their own (:mod:`apps_worker`): images made under the old presets (two variants, no
WebP), then the new ones deployed (a third variant, the thumb a square, WebP) and
reprocess run over the listing.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import apps_samples as samples
from apps_stack import Stack
from apps_worker import delete_queues, ended, keys, own_worker, publish, running, seed, until
from imgcloud import naming
from imgcloud.reprocess import reprocess
from imgcloud.worker import Worker

OLD = {"variants": "thumb=160,medium=640", "alternates": "none"}
NEW = {"variants": "thumb=160:cover,medium=640,tiny=64", "alternates": "webp"}


async def made_under(worker: Worker, count: int) -> list[str]:
    async with running(worker):
        ids = [await seed(worker, samples.ACCEPTED["jpeg"]()) for _ in range(count)]
        for image_id in ids:
            await publish(worker, image_id)
        for image_id in ids:
            assert (await ended(worker, image_id)).status == "done"
    return ids


def before_and_after(stack: Stack) -> tuple[Worker, Worker]:
    """Workers under the old presets and the new ones, on one queue and bucket."""
    old = own_worker(stack, **OLD)
    new = own_worker(stack, **NEW, queue=old.settings.queue, s3_bucket=old.settings.s3_bucket)
    return old, new


def test_new_presets_reach_old_images_and_a_second_run_queues_nothing(stack: Stack) -> None:
    old, new = before_and_after(stack)

    async def scenario() -> tuple:
        ids = await made_under(old, 3)
        limited = await reprocess(new.settings, dry_run=True, limit=2)
        first = await reprocess(new.settings, rate=1000)
        async with running(new):

            async def all_redone() -> bool:
                found = [await new.catalog.manifest(i) for i in ids]
                return all(m is not None and "tiny" in m.variants for m in found)

            await until(all_redone, "every image has the new preset")
            second = await reprocess(new.settings, rate=1000)
            manifests = [await new.catalog.manifest(i) for i in ids]
            stored = [await keys(new, f"{naming.IMAGES_PREFIX}{i}/") for i in ids]
        return limited, first, second, manifests, stored, ids

    try:
        limited, first, second, manifests, stored, ids = asyncio.run(scenario())
    finally:
        asyncio.run(delete_queues(old))

    assert limited.queued == 2, "--limit did not stop the walk"
    assert (first.seen, first.queued) == (3, 3)
    assert (second.seen, second.queued) == (3, 0), "not idempotent: it queued again"
    for manifest, objects, image_id in zip(manifests, stored, ids, strict=True):
        assert manifest is not None and manifest.status == "done"
        assert set(manifest.variants) == {"thumb", "medium", "tiny"}
        assert manifest.variants["thumb"].width == manifest.variants["thumb"].height
        assert all("image/webp" in v.alternates for v in manifest.variants.values())
        assert naming.alternate_key(image_id, "tiny", "image/webp") in objects


def test_an_image_deleted_before_its_reprocess_job_runs_stays_deleted(stack: Stack) -> None:
    old, new = before_and_after(stack)

    async def scenario() -> tuple:
        ids = await made_under(old, 2)
        queued = await reprocess(new.settings, rate=1000)
        await new.catalog.remove(ids[0], new.settings.variant_names)
        async with running(new):
            kept = await until(lambda: _has_tiny(new, ids[1]), "the kept image has the new preset")
            gone = await keys(new, f"{naming.IMAGES_PREFIX}{ids[0]}/")
        return queued, kept, gone

    try:
        queued, kept, gone = asyncio.run(scenario())
    finally:
        asyncio.run(delete_queues(old))

    assert queued.queued == 2
    assert kept
    assert gone == set(), "the reprocess job brought a deleted image back"


async def _has_tiny(worker: Worker, image_id: str) -> bool:
    manifest = await worker.catalog.manifest(image_id)
    return manifest is not None and "tiny" in manifest.variants


def _command(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("IMGCLOUD_")}
    return subprocess.run(
        [sys.executable, "-m", "imgcloud", "reprocess", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_command_refuses_bad_options_and_missing_settings(stack: Stack) -> None:
    bad_rate = _command("--rate", "0", env=stack.env)
    bad_limit = _command("--limit", "0", env=stack.env)
    no_settings = _command(env={})

    assert bad_rate.returncode == 2 and "--rate must be greater than zero" in bad_rate.stderr
    assert bad_limit.returncode == 2 and "--limit must be greater than zero" in bad_limit.stderr
    assert no_settings.returncode == 2
    assert "IMGCLOUD_S3_ENDPOINT is not set" in no_settings.stderr
