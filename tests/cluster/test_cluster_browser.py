"""The web page through the floating IP, in Debian's Chromium: a member signs in, an
upload works.

The page is loaded from https://<floating IP>/ and Chromium checks its certificate for
real: it trusts the cluster CA through an NSS database of its own (`chromium_env`,
tests/cluster/conftest.py), never by ignoring certificate errors. A secure origin, so
the session's Secure cookie is kept as a user's browser keeps it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from deploy.smoke import png

pytestmark = [pytest.mark.lab, pytest.mark.browser]


@pytest.fixture(scope="module")
def member(http: httpx.Client) -> Iterator[tuple[str, str]]:
    """A member the admin adds for the test, and removes after."""
    name, password = f"browser-{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    made = http.post("/api/users", json={"name": name, "password": password})
    assert made.status_code == 201, made.text
    yield name, password
    http.delete(f"/api/users/{name}")


@pytest.fixture
def page(browser: Browser, service_url: str) -> Iterator[Page]:
    context = browser.new_context(base_url=service_url)
    page = context.new_page()
    yield page
    context.close()


def sign_in(page: Page, member: tuple[str, str]) -> None:
    name, password = member
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("signed-in-as")).to_have_text(name, timeout=30_000)


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    path = tmp_path / "through-the-vip.png"
    path.write_bytes(png(1024, 768))
    return path


def test_page_loads_through_the_floating_ip(page: Page, service_url: str) -> None:
    assert service_url.startswith("https://")
    response = page.goto("/")
    assert response is not None and response.status == 200
    assert response.url == service_url  # served over HTTPS, certificate checked
    assert response.headers.get("x-served-by")
    page.wait_for_selector("input[type=file]", state="attached", timeout=15_000)
    expect(page.get_by_test_id("sign-in")).to_be_visible(timeout=15_000)


def test_a_member_signs_in_and_an_upload_shows_the_resized_image(
    page: Page, picture: Path, member: tuple[str, str]
) -> None:
    page.goto("/")
    sign_in(page, member)
    with page.expect_response(
        lambda r: r.url.endswith("/api/images") and r.request.method == "POST", timeout=30_000
    ) as upload:
        # The page uploads as soon as files are chosen.
        page.set_input_files("input[type=file]", str(picture))
    assert upload.value.status == 202
    image_id = upload.value.json()["id"]
    # The gallery shows the new image (a variant's URL) once the worker has made it.
    shown = page.locator(f"img[src*='{image_id}']").first
    shown.wait_for(state="visible", timeout=90_000)
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=shown.element_handle(), timeout=90_000
    )
