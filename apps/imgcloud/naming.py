"""Image ids and the S3 key layout.

An id starts with the upload time inverted (``2**44 - 1 - milliseconds`` in 11 hex
digits), so S3's lexicographic listing of ``index/`` returns the newest upload first
and a page ends at a key the next page can start after. Ten random hex digits follow
so ids made in the same millisecond on different backends never collide.

    images/<id>/original        the bytes as uploaded
    images/<id>/<variant>       one object per resized variant
    images/<id>/manifest.json   status, dimensions, sizes, error (the only metadata)
    index/<id>                  empty marker: the gallery's newest-first listing
"""

from __future__ import annotations

import re
import secrets
import time

_TIME_SPAN = 2**44  # milliseconds: about 557 years from 1970
_ID = re.compile(r"^[0-9a-f]{21}$")
INDEX_PREFIX = "index/"
IMAGES_PREFIX = "images/"


def new_id(now: float | None = None) -> str:
    """A fresh image id that sorts before every id made earlier."""
    millis = int((time.time() if now is None else now) * 1000)
    return f"{_TIME_SPAN - 1 - millis:011x}{secrets.token_hex(5)}"


def is_id(value: str) -> bool:
    return bool(_ID.match(value))


def created_at(image_id: str) -> float:
    """The upload time (seconds since the epoch) an id carries."""
    return (_TIME_SPAN - 1 - int(image_id[:11], 16)) / 1000


def original_key(image_id: str) -> str:
    return f"{IMAGES_PREFIX}{image_id}/original"


def variant_key(image_id: str, variant: str) -> str:
    return f"{IMAGES_PREFIX}{image_id}/{variant}"


def manifest_key(image_id: str) -> str:
    return f"{IMAGES_PREFIX}{image_id}/manifest.json"


def index_key(image_id: str) -> str:
    return f"{INDEX_PREFIX}{image_id}"


def id_from_index_key(key: str) -> str:
    return key.removeprefix(INDEX_PREFIX)
