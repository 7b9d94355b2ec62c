"""The service as a user sees it, through the floating IP."""

from __future__ import annotations

import re

import httpx
import pytest

from deploy.smoke import SmokeResult

pytestmark = pytest.mark.lab


def test_upload_through_the_floating_ip_makes_every_variant(
    uploaded: SmokeResult, http: httpx.Client
) -> None:
    assert {"thumb", "medium", "large"} <= set(uploaded.variants)
    record = http.get(f"/api/images/{uploaded.image_id}").json()
    assert record["status"] == "done"


@pytest.mark.parametrize(
    ("path", "tier"),
    [("/healthz", "backend"), ("/api/images", "backend"), ("/", "frontend")],
)
def test_requests_are_served_by_more_than_one_vm(
    http: httpx.Client, cluster_names: list[str], path: str, tier: str
) -> None:
    served_by = set()
    for _ in range(4 * len(cluster_names)):
        response = http.get(path)
        assert response.status_code == 200, f"{path} ({tier}): {response.status_code}"
        served_by.add(response.headers.get("X-Served-By"))
    assert None not in served_by, f"a {tier} response had no X-Served-By"
    assert len(served_by) > 1, f"every {tier} answer came from {served_by}"
    assert served_by <= set(cluster_names)


@pytest.mark.parametrize("variant", ["original", "thumb", "medium", "large"])
def test_variant_is_served_through_the_floating_ip(
    uploaded: SmokeResult, http: httpx.Client, variant: str
) -> None:
    response = http.get(f"/api/images/{uploaded.image_id}/{variant}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/")
    assert len(response.content) > 0


def test_unknown_image_is_a_clear_404(http: httpx.Client) -> None:
    response = http.get("/api/images/does-not-exist")
    assert response.status_code == 404
    assert "error" in response.json()


def test_every_request_gets_haproxys_own_id_whatever_the_client_sent(http: httpx.Client) -> None:
    # HAProxy names each request (unique-id-format) and replaces a client's
    # X-Request-Id: the id in an error body is one the operator can find in the
    # service's log, and no client can make two requests share one.
    ids = []
    for path in ("/api/images/does-not-exist", "/api/images/does-not-exist", "/healthz", "/"):
        response = http.get(path, headers={"X-Request-Id": "client-chosen-id"})
        request_id = response.headers["x-request-id"]
        assert request_id != "client-chosen-id"
        assert re.fullmatch(
            r"[0-9A-F]{8}:[0-9A-F]{4}_[0-9A-F]{8}:[0-9A-F]{4}_[0-9A-F]+_[0-9A-F]+", request_id
        ), request_id
        if response.status_code == 404:
            assert response.json()["request_id"] == request_id
        ids.append(request_id)
    assert len(set(ids)) == len(ids), ids
