"""The web page in Debian's Chromium: upload, watch the thumbnail appear, errors, detail, delete."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import apps_samples as samples
import httpx
import pytest
from apps_stack import Stack, finished, upload
from imgcloud.bench import photo_like
from playwright.sync_api import Browser, Locator, Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_MS = 30_000
TIMES = "\N{MULTIPLICATION SIGN}"  # the page writes sizes as "160 x 120" with this sign


@pytest.fixture
def page(browser: Browser, stack: Stack, tmp_path: Path) -> Iterator[Page]:
    context = browser.new_context(
        base_url=stack.frontend.url, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("/")
    yield page
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    context.close()
    assert not errors, errors


def card_for(page: Page, filename: str, status: str = "done") -> Locator:
    return page.locator(f'[data-testid=card][data-status="{status}"]').filter(has_text=filename)


def thumbnail_shows(page: Page, filename: str) -> None:
    card = card_for(page, filename)
    expect(card).to_be_visible(timeout=WAIT_MS)
    image = card.locator("img")
    expect(image).to_have_class("loaded", timeout=WAIT_MS)
    assert image.evaluate("img => img.naturalWidth") > 0


def test_an_uploaded_file_gets_its_thumbnail_and_the_serving_node(
    page: Page, tmp_path: Path
) -> None:
    photo = tmp_path / "sunset-over-the-bay.jpg"
    photo.write_bytes(photo_like(1600, 1200, seed=7))
    page.get_by_test_id("file-input").set_input_files(str(photo))
    thumbnail_shows(page, photo.name)
    expect(page.get_by_test_id("served-by")).to_have_text("node-shared")


def test_several_files_upload_at_once(page: Page, tmp_path: Path) -> None:
    files = []
    for index, name in enumerate(["png", "webp", "gif"]):
        path = tmp_path / f"batch-{index}.{name}"
        path.write_bytes(samples.ACCEPTED[name]())
        files.append(str(path))
    page.get_by_test_id("file-input").set_input_files(files)
    for path in files:
        thumbnail_shows(page, Path(path).name)


def test_a_dropped_file_is_uploaded(page: Page) -> None:
    data = base64.b64encode(samples.ACCEPTED["png"]()).decode()
    page.get_by_test_id("dropzone").evaluate(
        """(zone, data) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], "dropped.png", { type: "image/png" }));
            zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true,
                                                       cancelable: true }));
        }""",
        data,
    )
    thumbnail_shows(page, "dropped.png")


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("notes.png", b"just some text, honestly", "not an image"),
        ("logo.svg", samples.REJECTED["svg"][0], "SVG is a vector format"),
        ("bomb.png", samples.png_declaring(30_000, 30_000), "the limit is 50.0 MP"),
    ],
    ids=["text", "svg", "bomb"],
)
def test_a_rejected_file_shows_the_reason(
    page: Page, tmp_path: Path, filename: str, content: bytes, message: str
) -> None:
    path = tmp_path / filename
    path.write_bytes(content)
    page.get_by_test_id("file-input").set_input_files(str(path))
    error = page.get_by_test_id("upload-error").filter(has_text=filename)
    expect(error).to_contain_text(message, timeout=WAIT_MS)


def test_a_corrupt_image_card_says_why(page: Page, tmp_path: Path) -> None:
    path = tmp_path / "half-a-picture.jpg"
    path.write_bytes(samples.truncated_jpeg())
    page.get_by_test_id("file-input").set_input_files(str(path))
    card = card_for(page, path.name, "failed")
    expect(card).to_contain_text("cannot be decoded", timeout=WAIT_MS)


def test_detail_lists_every_variant_and_delete_removes_the_image(
    page: Page, api: httpx.Client, tmp_path: Path
) -> None:
    image_id = upload(api, photo_like(1600, 1200, seed=3), "harbour.jpg").json()["id"]
    finished(api, image_id)
    page.reload()
    card_for(page, "harbour.jpg").click()
    detail = page.get_by_test_id("detail")
    expect(detail).to_be_visible()
    rows = detail.locator("tbody tr")
    expect(rows).to_have_count(4)
    expect(detail.locator('tr[data-variant="thumb"]')).to_contain_text(f"160 {TIMES} 120")
    expect(detail.locator('tr[data-variant="large"]')).to_contain_text(f"1280 {TIMES} 960")
    expect(detail.locator('tr[data-variant="original"]')).to_contain_text(f"1600 {TIMES} 1200")
    assert detail.locator("#detail-image").evaluate("img => img.src").endswith("/large")
    expect(detail.locator("#detail-image")).to_have_js_property("complete", True)
    page.screenshot(path=str(tmp_path / "detail.png"))
    detail.get_by_test_id("delete").click()
    expect(detail).to_be_hidden()
    expect(card_for(page, "harbour.jpg")).to_have_count(0)
    assert api.get(f"/api/images/{image_id}").status_code == 404
