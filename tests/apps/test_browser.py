"""The web page in Debian's Chromium: upload, watch the thumbnail appear, errors, detail, delete."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import apps_samples as samples
import httpx
import pytest
from apps_stack import Stack, finished, upload
from imgcloud.bench import photo_like
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Response,
    Route,
    expect,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_MS = 30_000
TIMES = "\N{MULTIPLICATION SIGN}"  # the page writes sizes as "160 x 120" with this sign


# Runs in the page before its own code: every Content-Security-Policy violation it meets
# goes to the test (reportViolation) and stays countable in the page (cspViolations).
WATCH_POLICY = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const seen = `${event.violatedDirective} blocked ${event.blockedURI || "inline code"}`
    + ` at ${event.sourceFile || "?"}:${event.lineNumber}`;
  window.cspViolations.push(seen);
  window.reportViolation(seen);
});
"""
# What Chromium logs when a policy blocks something or a policy header is malformed.
POLICY_MESSAGES = ("Content Security Policy", "Permissions-Policy", "Refused to")


@dataclass
class Trouble:
    """What went wrong in a page: script errors, policy violations, policy console errors."""

    page_errors: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    policy_console: list[str] = field(default_factory=list)

    def watch(self, context: BrowserContext, page: Page) -> None:
        context.expose_function("reportViolation", self._violation)
        context.add_init_script(WATCH_POLICY)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("console", self._console)

    def _violation(self, seen: str) -> None:
        self.violations.append(seen)

    def _console(self, message: ConsoleMessage) -> None:
        if any(part in message.text for part in POLICY_MESSAGES):
            self.policy_console.append(f"{message.type}: {message.text}")

    def __bool__(self) -> bool:
        return bool(self.page_errors or self.violations or self.policy_console)


@dataclass(frozen=True)
class Member:
    name: str
    password: str
    token: str  # upload and delete, for the test to act as the member outside the page


@pytest.fixture(scope="module")
def member(stack: Stack) -> Member:
    """A team member of the module's own, made by the admin."""
    name, password = f"browser-{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    with stack.client() as admin:
        made = admin.post("/api/users", json={"name": name, "password": password})
        assert made.status_code == 201, made.text
        token = admin.post("/api/tokens", json={"user": name, "scopes": ["upload", "delete"]})
        assert token.status_code == 201, token.text
    return Member(name, password, token.json()["token"])


@pytest.fixture
def member_api(stack: Stack, member: Member) -> Iterator[httpx.Client]:
    """The API as the signed-in member (what they upload shows in their gallery)."""
    headers = {"Authorization": f"Bearer {member.token}"}
    with httpx.Client(base_url=stack.backend.url, timeout=30, headers=headers) as client:
        yield client


def sign_in(page: Page, member: Member) -> None:
    """Sign in with the page's form, as a person does."""
    page.get_by_label("Name").fill(member.name)
    page.get_by_label("Password").fill(member.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("signed-in-as")).to_have_text(member.name, timeout=WAIT_MS)


@pytest.fixture
def watched(
    browser: Browser, stack: Stack, member: Member, tmp_path: Path
) -> Iterator[tuple[Page, Trouble]]:
    """The page, signed in, opened with its errors and policy violations recorded."""
    context = browser.new_context(
        base_url=stack.frontend.url, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    trouble = Trouble()
    trouble.watch(context, page)
    page.goto("/")
    sign_in(page, member)
    yield page, trouble
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    context.close()


@pytest.fixture
def page(watched: tuple[Page, Trouble]) -> Iterator[Page]:
    """The page; the test fails if it threw or broke its own security policy."""
    page, trouble = watched
    yield page
    assert not trouble, trouble


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


def test_the_page_receives_its_thumbnails_in_webp(page: Page, tmp_path: Path) -> None:
    """Chromium names image/webp in the Accept of its image requests: the variant it
    picks from the card's srcset comes as WebP, with Vary: Accept, and decodes
    (naturalWidth > 0)."""
    # A name of its own: the detail test finds its card by "harbour.jpg".
    photo = tmp_path / "webp-lighthouse.jpg"
    photo.write_bytes(photo_like(1600, 1200, seed=8))
    variants: list[Response] = []
    page.on(
        "response",
        lambda answer: (
            variants.append(answer)
            if answer.url.rsplit("/", 1)[-1] in ("thumb", "medium", "large")
            else None
        ),
    )
    page.get_by_test_id("file-input").set_input_files(str(photo))
    thumbnail_shows(page, photo.name)

    ok = [answer for answer in variants if answer.status == 200]
    assert ok, f"no thumbnail fetched: {[(a.url, a.status) for a in variants]}"
    for answer in ok:
        headers = answer.all_headers()
        assert headers["content-type"] == "image/webp", headers
        assert headers["vary"] == "Accept"
        assert "image/webp" in answer.request.all_headers()["accept"]


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
    page: Page, member_api: httpx.Client, tmp_path: Path
) -> None:
    api = member_api
    image_id = upload(api, photo_like(1600, 1200, seed=3), "harbour.jpg").json()["id"]
    finished(api, image_id)
    page.reload()
    card_for(page, "harbour.jpg").click()
    detail = page.get_by_test_id("detail")
    expect(detail).to_be_visible()
    rows = detail.locator("tbody tr")
    expect(rows).to_have_count(4)
    expect(detail.locator('tr[data-variant="thumb"]')).to_contain_text(f"160 {TIMES} 160")
    expect(detail.locator('tr[data-variant="large"]')).to_contain_text(f"1280 {TIMES} 960")
    expect(detail.locator('tr[data-variant="original"]')).to_contain_text(f"1600 {TIMES} 1200")
    assert detail.locator("#detail-image").evaluate("img => img.src").endswith("/large")
    expect(detail.locator("#detail-image")).to_have_js_property("complete", True)
    page.screenshot(path=str(tmp_path / "detail.png"))
    detail.get_by_test_id("delete").click()
    expect(detail).to_be_hidden()
    expect(card_for(page, "harbour.jpg")).to_have_count(0)
    assert api.get(f"/api/images/{image_id}").status_code == 404


def test_the_page_uploads_under_its_strict_policy_without_a_violation(
    watched: tuple[Page, Trouble], api: httpx.Client, tmp_path: Path
) -> None:
    page, trouble = watched
    document = page.reload()
    assert document is not None
    policy = document.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-" not in policy, policy
    photo = tmp_path / "policy-check.jpg"
    photo.write_bytes(photo_like(1200, 900, seed=11))
    page.get_by_test_id("file-input").set_input_files(str(photo))
    thumbnail_shows(page, photo.name)
    card_for(page, photo.name).click()
    shown = "() => document.getElementById('detail-image').naturalWidth > 0"
    page.wait_for_function(shown, timeout=WAIT_MS)
    assert page.evaluate("window.cspViolations") == []
    assert not trouble, trouble


def test_a_lost_answer_is_sent_again_with_the_same_key_and_stores_one_image(
    page: Page, member_api: httpx.Client, tmp_path: Path
) -> None:
    keys: list[str | None] = []

    def lose_the_first_answer(route: Route) -> None:
        if route.request.method != "POST":
            route.fallback()
            return
        keys.append(route.request.headers.get("idempotency-key"))
        if len(keys) == 1:
            route.fetch()  # the backend stores the image; its answer never arrives
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/images", lose_the_first_answer)
    photo = tmp_path / "answer-lost.jpg"
    photo.write_bytes(photo_like(1000, 750, seed=13))
    page.get_by_test_id("file-input").set_input_files(str(photo))
    thumbnail_shows(page, photo.name)
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1], keys
    expect(card_for(page, photo.name)).to_have_count(1)
    images = member_api.get("/api/images", params={"limit": 100}).json()["images"]
    assert [image["filename"] for image in images].count(photo.name) == 1


def test_a_file_chosen_while_the_settings_are_on_their_way_is_uploaded(
    browser: Browser, stack: Stack, member: Member, tmp_path: Path
) -> None:
    """The page's settings (config.json) held back until the upload has been answered:
    the file input works from the first moment the page is loaded, not from when its
    first request comes back (a slow node behind the floating IP)."""
    context = browser.new_context(base_url=stack.frontend.url)
    page = context.new_page()
    held: list[Route] = []
    page.route("**/config.json", lambda route: held.append(route))
    page.goto("/")
    sign_in(page, member)
    photo = tmp_path / "chosen-early.jpg"
    photo.write_bytes(photo_like(800, 600, seed=21))
    with page.expect_response(
        lambda r: r.url.endswith("/api/images") and r.request.method == "POST", timeout=WAIT_MS
    ) as upload:
        page.get_by_test_id("file-input").set_input_files(str(photo))
    assert upload.value.status == 202
    assert len(held) == 1, "the settings request was not held back"
    held[0].continue_()
    thumbnail_shows(page, photo.name)
    context.close()


# Code the policy must stop, each as the page would meet it if someone slipped it in.
BLOCKED = {
    "inline-script": """() => {
        const script = document.createElement("script");
        script.textContent = "window.smuggled = true";
        document.body.append(script);
    }""",
    "inline-style": """() => {
        const style = document.createElement("style");
        style.textContent = "body { display: none }";
        document.head.append(style);
    }""",
    # Later, not in the test's own call: Playwright's evaluate may itself use eval.
    "eval": """() => setTimeout(() => {
        try { window.smuggled = eval("true"); } catch (error) { /* blocked and reported */ }
    })""",
    "foreign-script": """() => {
        const script = document.createElement("script");
        script.src = "http://127.0.0.2:9/evil.js";
        document.body.append(script);
    }""",
    "foreign-image": """() => {
        document.body.append(Object.assign(new Image(), { src: "http://127.0.0.2:9/x.png" }));
    }""",
}


@pytest.mark.parametrize("snippet", sorted(BLOCKED))
def test_the_policy_blocks_and_reports_smuggled_code(
    watched: tuple[Page, Trouble], snippet: str
) -> None:
    page, trouble = watched
    page.evaluate(BLOCKED[snippet])
    page.wait_for_function("() => window.cspViolations.length > 0", timeout=WAIT_MS)
    assert page.evaluate("window.smuggled") is None
    assert page.evaluate("getComputedStyle(document.body).display") != "none"
    assert trouble.violations, "the violation reached the test too"


def test_another_site_cannot_frame_the_page(browser: Browser, stack: Stack) -> None:
    context = browser.new_context()
    host = context.new_page()
    with host.expect_console_message(
        predicate=lambda message: (
            "frame-ancestors" in message.text or "X-Frame-Options" in message.text
        ),
        timeout=WAIT_MS,
    ):
        host.set_content(f'<iframe src="{stack.frontend.url}/"></iframe>')
    frame = host.frames[-1]
    assert frame.evaluate("() => document.getElementById('drop')") is None
    context.close()


def test_signed_out_the_page_asks_to_sign_in_and_says_a_wrong_password(
    browser: Browser, stack: Stack, member: Member
) -> None:
    context = browser.new_context(base_url=stack.frontend.url)
    page = context.new_page()
    page.goto("/")
    expect(page.get_by_test_id("sign-in")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_test_id("dropzone")).to_be_hidden()
    page.get_by_label("Name").fill(member.name)
    page.get_by_label("Password").fill(member.password + "-not")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert").filter(has_text="wrong")).to_be_visible(timeout=WAIT_MS)
    assert context.cookies() == []
    context.close()


def test_the_session_cookie_is_secure_httponly_strict_and_ends_on_sign_out(
    watched: tuple[Page, Trouble], stack: Stack
) -> None:
    page, _ = watched
    [cookie] = page.context.cookies()
    assert (cookie["secure"], cookie["httpOnly"], cookie["sameSite"]) == (True, True, "Strict")
    assert page.evaluate("document.cookie") == ""  # no script of the page can read it
    page.get_by_test_id("sign-out").click()
    expect(page.get_by_test_id("sign-in")).to_be_visible(timeout=WAIT_MS)
    # The session is gone on the server too, not only from this browser.
    stale = httpx.get(
        f"{stack.backend.url}/api/session",
        cookies={cookie["name"]: cookie["value"]},
        timeout=30,
    )
    assert stale.status_code == 401, stale.text
