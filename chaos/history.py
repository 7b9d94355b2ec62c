"""The history checker: did the cluster keep every upload it acknowledged, byte for byte?

Pure: the journal in, findings out (`readback.py` did the reading). For every upload
answered `202`: it ends `done`; the original read back has the SHA-256 of the bytes
sent (and so does its JSON, where it carries one); every variant decodes, fits its
bounding box, fills it as far as the original allows and is not larger than the
original; a `fit` variant keeps the original's orientation and aspect ratio, a `cover`
or `entropy` one is a square; the listing shows it exactly once. Every
upload that was not acknowledged (no final answer, or refused) either never appears
in the listing or appears complete by the same rules: never half-made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from imgcloud.config import DEFAULT_VARIANTS, Variant, parse_variants

from chaos.journal import Event, History, Op

# The variants the lab and the playbook deploy (roles/imgcloud sets no IMGCLOUD_VARIANTS):
# the checker reads the service's own default, so the two cannot drift apart.
VARIANTS: dict[str, Variant] = {v.name: v for v in parse_variants(DEFAULT_VARIANTS)}
ASPECT_TOLERANCE = 0.02  # a variant's width/height within 2 % of the original's
ROUNDING_PX = 1  # resizing rounds each side to a whole pixel


@dataclass
class Findings:
    acked: int = 0
    unacked: int = 0  # uploads sent and not acknowledged (refused or indeterminate)
    indeterminate: int = 0  # ... of which no final answer came
    unacked_stored: int = 0  # ... of which the listing shows a complete image
    lost: dict[str, str] = field(default_factory=dict)  # acked image -> why it is not done
    changed: dict[str, str] = field(default_factory=dict)  # original bytes not as sent
    bad_variants: dict[str, str] = field(default_factory=dict)
    misslisted: dict[str, str] = field(default_factory=dict)  # not listed exactly once
    half_made: dict[str, str] = field(default_factory=dict)  # filename -> what is wrong
    listing_problem: str | None = "no listing in the journal"

    def figures(self) -> dict[str, Any]:
        return {
            "lost": sorted(self.lost),
            "lost_why": dict(sorted(self.lost.items())),
            "changed": dict(sorted(self.changed.items())),
            "bad_variants": dict(sorted(self.bad_variants.items())),
            "misslisted": dict(sorted(self.misslisted.items())),
            "half_made": dict(sorted(self.half_made.items())),
            "unacked": self.unacked,
            "indeterminate": self.indeterminate,
            "unacked_stored": self.unacked_stored,
            "listing_problem": self.listing_problem,
        }


def fit(width: int, height: int, box: int) -> tuple[int, int]:
    """What a variant of a width x height original must measure: fit in the box, no upscale."""
    longest = max(width, height)
    if longest <= box:
        return width, height
    scale = box / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def _shape(width: int, height: int) -> str:
    return "landscape" if width > height else ("portrait" if width < height else "square")


def expected_size(variant: Variant, width: int, height: int) -> tuple[int, int]:
    """What ``variant`` of a width x height original must measure: inside the box
    (``fit``), or the largest square up to the box (``cover``, ``entropy``); never upscaled."""
    if variant.mode == "fit":
        return fit(width, height, variant.size)
    side = min(variant.size, width, height)
    return side, side


def variant_problems(variant: Variant, dims: Any, original: list[int]) -> list[str]:
    """Why a variant measured `dims` is not a right `variant` of `original` (empty: it is)."""
    name, box = variant.name, variant.size
    if not isinstance(dims, list) or len(dims) != 2:
        return [f"{name}: {dims or 'missing'}"]
    (w, h), (ow, oh) = dims, original
    label = f"{name} {w}x{h}"
    if w <= 0 or h <= 0:
        return [f"{label} is empty"]
    problems = []
    if max(w, h) > box:
        problems.append(f"{label} does not fit its {box} px box")
    if w > ow or h > oh:
        problems.append(f"{label} is larger than the original {ow}x{oh}")
    want_w, want_h = expected_size(variant, ow, oh)
    off_by_rounding = abs(w - want_w) <= ROUNDING_PX and abs(h - want_h) <= ROUNDING_PX
    if variant.mode != "fit":
        if w != h:
            problems.append(f"{label} is not the square a {variant.mode} variant is")
    else:
        if _shape(w, h) != _shape(ow, oh) and _shape(ow, oh) != "square":
            problems.append(f"{label} is not {_shape(ow, oh)} like the original {ow}x{oh}")
        if abs((w / h) / (ow / oh) - 1) > ASPECT_TOLERANCE and not off_by_rounding:
            problems.append(f"{label} changes the aspect ratio of {ow}x{oh}")
    if abs(max(w, h) - max(want_w, want_h)) > ROUNDING_PX:
        problems.append(f"{label} does not fill its box: want {want_w}x{want_h}")
    return problems


def image_problems(back: dict[str, Any] | None, sent: Op) -> dict[str, str]:
    """What is wrong with one stored image, by kind: lost, changed, variants."""
    if back is None:
        return {"lost": "never read back"}
    if back.get("error"):
        return {"lost": str(back["error"])}
    if back.get("status") != "done":
        return {"lost": f"ends {back.get('status')}"}
    out: dict[str, str] = {}
    changed = []
    if not sent.sha256:
        changed.append("no SHA-256 of what was sent in the journal")
    elif back.get("sha256") is None:
        changed.append(f"original {back.get('original') or 'unreadable'}")
    elif back["sha256"] != sent.sha256:
        changed.append(f"original sha256 {back['sha256'][:12]}… ≠ sent {sent.sha256[:12]}…")
    if sent.sha256 and back.get("json_sha256") and back["json_sha256"] != sent.sha256:
        changed.append(f"its JSON says sha256 {back['json_sha256'][:12]}…")
    if changed:
        out["changed"] = "; ".join(changed)
    original = sent.size or back.get("original")
    if not isinstance(original, list) or len(original) != 2:
        out["variants"] = f"the original's size is unknown ({original})"
        return out
    variants = back.get("variants") or {}
    bad = [
        problem
        for variant in VARIANTS.values()
        for problem in variant_problems(variant, variants.get(variant.name), original)
    ]
    if bad:
        out["variants"] = "; ".join(bad)
    return out


def _named(events: list[Event], name: str) -> list[Event]:
    return [e for e in events if e.name == name]


def judge(history: History) -> Findings:
    """Every acknowledged upload kept, every unacknowledged one absent or complete."""
    uploads = [op for op in history.ops if op.kind == "upload"]
    backs = {e.detail.get("image"): e.detail for e in _named(history.events, "readback")}
    listings = _named(history.events, "listing")
    found: dict[str, list[str]] = {}
    findings = Findings()
    buckets = {
        "lost": findings.lost,
        "changed": findings.changed,
        "variants": findings.bad_variants,
    }
    if listings:
        listing = listings[-1].detail
        found = listing.get("found") or {}
        findings.listing_problem = (
            None if listing.get("complete") else f"listing not read: {listing.get('error')}"
        )
    for op in uploads:
        if op.ok and op.image:
            findings.acked += 1
            for kind, why in image_problems(backs.get(op.image), op).items():
                buckets[kind][op.image] = why
            if findings.listing_problem is None:
                ids = found.get(op.filename or "", [])
                if len(ids) != 1:
                    findings.misslisted[op.image] = f"{op.filename} listed {len(ids)} times"
                elif ids[0] != op.image:
                    findings.misslisted[op.image] = f"{op.filename} listed as {ids[0]}"
            continue
        findings.unacked += 1
        findings.indeterminate += op.indeterminate
        ids = found.get(op.filename or "", [])
        wrong = [f"stored {len(ids)} times"] if len(ids) > 1 else []
        for image in ids:
            wrong += [f"{image}: {why}" for why in image_problems(backs.get(image), op).values()]
        if wrong:
            findings.half_made[op.filename or "?"] = "; ".join(wrong)
        elif ids:
            findings.unacked_stored += 1
    return findings
