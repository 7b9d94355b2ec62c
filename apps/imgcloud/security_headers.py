"""The security headers of every imgcloud answer, defined once for all three services.

Every response gets the common set; the Content-Security-Policy depends on what the
response is. The web page (any ``text/html``) gets a strict policy that allows only the
page's own scripts, styles and images plus the ``blob:`` previews of files being
uploaded; everything else (JSON, static assets, metrics) gets one that allows nothing,
so an answer a browser is tricked into rendering as a document can run nothing. A header
a view set itself (the sandbox policy of image bytes, a policy passed back through the
dev-mode proxy) is kept.
"""

from __future__ import annotations

from quart import Quart, Response

# Nothing of ours reads Referer, and the page links nowhere else, so no request needs to
# say where it came from; this also keeps image URLs out of other sites' logs. The cost:
# same-origin POSTs carry ``Origin: null``, so a future CSRF check on Origin needs
# ``strict-origin-when-cross-origin`` instead.
REFERRER_POLICY = "no-referrer"

# Features a browser may offer a page; the page uses none of them. Only names Chromium
# knows: an unknown one costs a console error on every page load.
_DENIED_FEATURES = (
    "accelerometer",
    "camera",
    "display-capture",
    "geolocation",
    "gyroscope",
    "magnetometer",
    "microphone",
    "midi",
    "payment",
    "usb",
)

COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": REFERRER_POLICY,
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": ", ".join(f"{feature}=()" for feature in _DENIED_FEATURES),
}


def _policy(**directives: str) -> str:
    parts = (f"{name.replace('_', '-')} {value}".strip() for name, value in directives.items())
    return "; ".join(parts)


# The page: ES modules and one stylesheet from /static, JSON from /api, images from /api
# and the upload previews (``URL.createObjectURL``, so ``blob:``). No inline code at all.
PAGE_POLICY = _policy(
    default_src="'self'",
    script_src="'self'",
    style_src="'self'",
    img_src="'self' blob:",
    connect_src="'self'",
    object_src="'none'",
    base_uri="'none'",
    form_action="'self'",
    frame_ancestors="'none'",
)
# Everything that is not the page: a document that may load and run nothing.
RESOURCE_POLICY = _policy(default_src="'none'", frame_ancestors="'none'")
# Uploaded bytes opened directly: also a sandbox, so even a file a browser sniffs as
# something active gets a unique origin and no scripts.
IMAGE_POLICY = _policy(default_src="'none'", frame_ancestors="'none'", sandbox="")


def secure(response: Response) -> Response:
    """Add the headers ``response`` lacks; what its view set stays."""
    for name, value in COMMON.items():
        response.headers.setdefault(name, value)
    policy = PAGE_POLICY if response.mimetype == "text/html" else RESOURCE_POLICY
    response.headers.setdefault("Content-Security-Policy", policy)
    return response


def install(app: Quart) -> None:
    """Make every answer of ``app`` (errors and static files too) carry the headers."""

    @app.after_request
    async def security_headers(response: Response) -> Response:
        return secure(response)
