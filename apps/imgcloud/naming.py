"""Image ids and the S3 key layout.

An id starts with the upload time inverted (``2**44 - 1 - milliseconds`` in 11 hex
digits), so S3's lexicographic listing of ``index/`` returns the newest upload first
and a page ends at a key the next page can start after. Ten random hex digits follow
so ids made in the same millisecond on different backends never collide.

    images/<id>/original        the bytes as uploaded
    images/<id>/<variant>       one object per resized variant (JPEG or PNG)
    images/<id>/<variant>.webp  the same variant in an alternate format (also .avif)
    images/<id>/manifest.json   status, dimensions, sizes, error (the only metadata)
    index/<id>                  empty marker: the gallery's newest-first listing
    owners/<name>/<id>          the same, one list per member (what a member's listing reads)
    pending/<id>                an upload whose job has not finished: what the sweeper
                                looks at (imgcloud.sweeper); removed once the job ends
"""

from __future__ import annotations

import re
import secrets
import time

_TIME_SPAN = 2**44  # milliseconds: about 557 years from 1970
_ID = re.compile(r"^[0-9a-f]{21}$")
INDEX_PREFIX = "index/"
IMAGES_PREFIX = "images/"
PENDING_PREFIX = "pending/"
OWNERS_PREFIX = "owners/"


def new_id(now: float | None = None) -> str:
    """A fresh image id that sorts before every id made earlier."""
    millis = int((time.time() if now is None else now) * 1000)
    return f"{_TIME_SPAN - 1 - millis:011x}{secrets.token_hex(5)}"


def time_prefix(when: float) -> str:
    """The first 11 digits of an id made at ``when``: every id made at or before that
    millisecond sorts at or after it."""
    return f"{_TIME_SPAN - 1 - int(when * 1000):011x}"


def is_id(value: str) -> bool:
    return bool(_ID.match(value))


def created_at(image_id: str) -> float:
    """The upload time (seconds since the epoch) an id carries."""
    return (_TIME_SPAN - 1 - int(image_id[:11], 16)) / 1000


def original_key(image_id: str) -> str:
    return f"{IMAGES_PREFIX}{image_id}/original"


def variant_key(image_id: str, variant: str) -> str:
    return f"{IMAGES_PREFIX}{image_id}/{variant}"


def alternate_key(image_id: str, variant: str, content_type: str) -> str:
    """Where a variant's alternate encoding (``image/webp``, ``image/avif``) is kept."""
    return f"{IMAGES_PREFIX}{image_id}/{variant}.{content_type.removeprefix('image/')}"


def manifest_key(image_id: str) -> str:
    return f"{IMAGES_PREFIX}{image_id}/manifest.json"


def index_key(image_id: str) -> str:
    return f"{INDEX_PREFIX}{image_id}"


def id_from_index_key(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def owner_prefix(owner: str) -> str:
    return f"{OWNERS_PREFIX}{owner}/"


def owner_index_key(owner: str, image_id: str) -> str:
    return f"{owner_prefix(owner)}{image_id}"


def pending_key(image_id: str) -> str:
    return f"{PENDING_PREFIX}{image_id}"


def id_from_pending_key(key: str) -> str:
    return key.removeprefix(PENDING_PREFIX)
