"""The manifest: everything known about one image, kept as JSON beside its bytes in S3.

S3 is the only store of metadata. The backend writes a ``pending`` manifest with the
upload (and the SHA-256 of its bytes); the worker rewrites it ``done`` with each
variant's size, or ``failed`` with the reason.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

Status = Literal["pending", "done", "failed"]


@dataclass(frozen=True)
class VariantInfo:
    width: int
    height: int
    bytes: int
    content_type: str
    # The same pixels in other formats: content type -> bytes (empty for the original,
    # and for images made before alternates existed).
    alternates: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    id: str
    status: Status
    created: float
    filename: str
    format: str
    original: VariantInfo
    variants: dict[str, VariantInfo] = field(default_factory=dict)
    error: str | None = None
    processed_by: str | None = None
    sha256: str | None = None  # of the original's bytes; None for images stored before it
    owner: str | None = None  # the member who uploaded it; None for images from before accounts

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        data = json.loads(raw)
        return cls(
            id=data["id"],
            status=data["status"],
            created=data["created"],
            filename=data.get("filename", ""),
            format=data["format"],
            original=VariantInfo(**data["original"]),
            variants={name: VariantInfo(**info) for name, info in data["variants"].items()},
            error=data.get("error"),
            processed_by=data.get("processed_by"),
            sha256=data.get("sha256"),
            owner=data.get("owner"),
        )

    def done(self, variants: dict[str, VariantInfo], node: str) -> Manifest:
        return replace(self, status="done", variants=variants, error=None, processed_by=node)

    def failed(self, reason: str, node: str) -> Manifest:
        return replace(self, status="failed", variants={}, error=reason, processed_by=node)

    def content_type_of(self, variant: str) -> str | None:
        if variant == "original":
            return self.original.content_type
        info = self.variants.get(variant)
        return info.content_type if info else None


def public_view(manifest: Manifest, base_url: str) -> dict[str, Any]:
    """The JSON the API returns for an image: status, URLs and sizes of what exists."""
    sizes = {"original": manifest.original, **manifest.variants}
    view: dict[str, Any] = {
        "id": manifest.id,
        "status": manifest.status,
        "created": manifest.created,
        "filename": manifest.filename,
        "format": manifest.format,
        "variants": {name: f"{base_url}/{manifest.id}/{name}" for name in sizes},
        "sizes": {name: asdict(info) for name, info in sizes.items()},
    }
    if manifest.error:
        view["error"] = manifest.error
    if manifest.processed_by:
        view["processed_by"] = manifest.processed_by
    if manifest.sha256:
        view["sha256"] = manifest.sha256
    if manifest.owner:
        view["owner"] = manifest.owner
    return view
