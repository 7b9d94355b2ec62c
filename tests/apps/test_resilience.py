"""Faults on a stack of the module's own: S3 away, and a broker restart under load.

Nothing acknowledged (202) may be lost; nothing refused (503) may be left behind.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import apps_samples as samples
import httpx
import pytest
from apps_stack import Stack, eventually, finished, keyed_upload, metric, upload
from imgcloud.bench import photo_like

pytestmark = pytest.mark.slow


@pytest.fixture
def api(own_stack: Stack) -> Iterator[httpx.Client]:
    with own_stack.client(timeout=30) as client:
        yield client


def ready(stack: Stack, role: str) -> bool:
    return httpx.get(getattr(stack, role).url + "/readyz", timeout=5).status_code == 200


def test_upload_while_s3_is_down_is_503(own_stack: Stack, api: httpx.Client) -> None:
    own_stack.minio.stop()
    try:
        answer = upload(api, samples.ACCEPTED["png"]())
        assert answer.status_code == 503
        body = answer.json()
        assert body["reason"] == "s3"
        # What the user can act on; S3's address and the client library's words go
        # to the log only, under the answer's request id.
        assert (
            body["error"]
            == "the upload was not stored: the image store is not answering; try again"
        )
        request_id = answer.headers["x-request-id"]
        assert body["request_id"] == request_id
        logged = [
            line for line in own_stack.backend.log.read_text().splitlines() if request_id in line
        ]
        assert logged and own_stack.minio.endpoint.split("//")[1] in logged[0], logged
    finally:
        own_stack.minio.start()
    eventually(lambda: ready(own_stack, "backend"), 30, "backend sees S3 again")


def test_jobs_wait_out_an_s3_outage_and_still_end_done(own_stack: Stack, api: httpx.Client) -> None:
    own_stack.worker.stop()
    ids = [upload(api, samples.ACCEPTED["jpeg"]()).json()["id"] for _ in range(3)]
    own_stack.minio.stop()
    try:
        own_stack.worker.start(ready=False)
        eventually(
            lambda: metric(own_stack.worker.url, "imgcloud_jobs_total", 'outcome="retried"') >= 2,
            60,
            "the worker retries while S3 is away",
        )
    finally:
        own_stack.minio.start()
    assert [finished(api, image_id)["status"] for image_id in ids] == ["done"] * 3


def test_a_keyed_upload_refused_at_the_broker_is_completed_by_its_retry(
    own_stack: Stack, api: httpx.Client
) -> None:
    data, key = photo_like(1000, 700, seed=31), "resilience-broker-away"
    before = own_stack.upload_keys()
    own_stack.rabbitmq.stop()
    try:
        eventually(lambda: not ready(own_stack, "backend"), 30, "the backend sees the broker go")
        first = keyed_upload(api, data, key)
        assert first.status_code == 503, first.text
        assert first.json()["reason"] == "broker"
        # The original is kept for the retry, but nothing half-made is listed.
        assert not {k for k in own_stack.upload_keys() - before if k.startswith("index/")}
    finally:
        own_stack.rabbitmq.start()
    eventually(lambda: ready(own_stack, "backend"), 60, "the backend sees the broker again")
    retry = keyed_upload(api, data, key)
    assert retry.status_code == 202, retry.text
    image_id = retry.json()["id"]
    assert finished(api, image_id, 120)["status"] == "done"
    # The retry completed the first attempt's image instead of storing a second one.
    assert own_stack.upload_keys() - before == {f"index/{image_id}", f"images/{image_id}/original"}


def test_a_failing_retry_never_removes_what_an_earlier_attempt_acknowledged(
    own_stack: Stack, api: httpx.Client
) -> None:
    data, key = photo_like(900, 700, seed=32), "resilience-acknowledged-then-retried"
    own_stack.worker.stop()  # keep the image pending, so the retry publishes again
    try:
        first = keyed_upload(api, data, key)
        assert first.status_code == 202, first.text
        image_id = first.json()["id"]
        own_stack.rabbitmq.stop()
        try:
            eventually(lambda: not ready(own_stack, "backend"), 30, "the backend sees it go")
            retry = keyed_upload(api, data, key)
            assert retry.status_code == 503, retry.text
            assert api.get(f"/api/images/{image_id}").status_code == 200
            assert api.get(f"/api/images/{image_id}/original").content == data
        finally:
            own_stack.rabbitmq.start()
    finally:
        own_stack.worker.start()
    assert finished(api, image_id, 120)["status"] == "done"


def broker_down_is_503_and_not_ready(stack: Stack, api: httpx.Client) -> None:
    answer = upload(api, samples.ACCEPTED["jpeg"]())
    assert answer.status_code == 503
    assert answer.json()["reason"] == "broker"
    eventually(lambda: not ready(stack, "backend"), 10, "the backend reports not ready")
    readiness = httpx.get(stack.backend.url + "/readyz", timeout=5).json()
    assert readiness["checks"]["broker"] != "ok"


def test_a_broker_restart_loses_no_acknowledged_upload(own_stack: Stack, api: httpx.Client) -> None:
    photo = photo_like(2400, 1600)
    accepted: list[str] = []
    refused: list[int] = []
    stop = threading.Event()

    def keep_uploading() -> None:
        with own_stack.client(timeout=30) as client:
            while not stop.is_set():
                answer = upload(client, photo)
                if answer.status_code == 202:
                    accepted.append(answer.json()["id"])
                else:
                    assert answer.status_code == 503, answer.text
                    refused.append(answer.status_code)
                    time.sleep(0.2)

    before = own_stack.upload_keys()
    uploader = threading.Thread(target=keep_uploading)
    uploader.start()
    try:
        eventually(lambda: len(accepted) >= 6, 60, "uploads flow before the restart")
        eventually(
            lambda: (
                metric(own_stack.worker.url, "imgcloud_jobs_in_progress") >= 1
                and metric(own_stack.backend.url, "imgcloud_queue_messages") >= 1
            ),
            60,
            "resizes in progress and jobs waiting in the queue",
        )
        own_stack.rabbitmq.stop()
        broker_down_is_503_and_not_ready(own_stack, api)
        own_stack.rabbitmq.start()
        count = len(accepted)
        eventually(lambda: len(accepted) >= count + 6, 90, "uploads flow after the restart")
    finally:
        stop.set()
        uploader.join(60)
    assert refused, "no upload hit the outage: the restart was not under load"
    statuses = {image_id: finished(api, image_id, 120)["status"] for image_id in accepted}
    print(f"{len(accepted)} accepted, {len(refused)} refused during the restart")
    assert set(statuses.values()) == {"done"}, statuses
    # Refused uploads left nothing: every new index entry is an accepted upload.
    new_index = {k for k in own_stack.upload_keys() - before if k.startswith("index/")}
    assert new_index == {f"index/{image_id}" for image_id in accepted}
    eventually(
        lambda: ready(own_stack, "backend") and ready(own_stack, "worker"),
        60,
        "backend and worker are ready again",
    )
