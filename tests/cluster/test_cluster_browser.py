"""The web page through the floating IP, in Debian's Chromium: it loads and an upload works."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from deploy.smoke import png

pytestmark = [pytest.mark.lab, pytest.mark.browser]


@pytest.fixture
def page(browser: Browser, service_url: str) -> Iterator[Page]:
    context = browser.new_context(base_url=service_url)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    path = tmp_path / "through-the-vip.png"
    path.write_bytes(png(1024, 768))
    return path


def test_page_loads_through_the_floating_ip(page: Page) -> None:
    response = page.goto("/")
    assert response is not None and response.status == 200
    assert response.headers.get("x-served-by")
    page.wait_for_selector("input[type=file]", state="attached", timeout=15_000)


def test_upload_in_the_browser_shows_the_resized_image(page: Page, picture: Path) -> None:
    page.goto("/")
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
