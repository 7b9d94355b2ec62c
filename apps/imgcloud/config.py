"""Runtime configuration: every setting comes from an ``IMGCLOUD_`` environment variable.

One place reads the environment, with typed defaults; a setting a role needs and does
not have fails at start with a sentence naming the variable.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

PREFIX = "IMGCLOUD_"
DEFAULT_VARIANTS = "thumb=160:cover,medium=640,large=1280"
# How a variant fills its box: inside it (fit), or the box filled by a square crop,
# centred (cover) or where the image has most detail (entropy).
VARIANT_MODES = ("fit", "cover", "entropy")
DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_BINDS = {"backend": "0.0.0.0:8000", "worker": "0.0.0.0:8001", "frontend": "0.0.0.0:8080"}
_VARIANT_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_RESERVED_NAMES = {"original", "manifest"}
# Formats a variant may be stored in besides its own, as IMGCLOUD_ALTERNATES names them.
KNOWN_ALTERNATES = {"webp": "WEBP", "avif": "AVIF"}
DEFAULT_ALTERNATES = "webp"
DEFAULT_WIDTHS = "320,480,960,1920"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Variant:
    """A named box of ``size`` x ``size``, never upscaled: the image fit inside it, or
    (``cover``, ``entropy``) a square crop of it filling the box."""

    name: str
    size: int
    mode: str = "fit"


@dataclass(frozen=True)
class Settings:
    node_name: str
    bind: str
    s3_endpoint: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_bucket: str = "imgcloud"
    s3_region: str = "us-east-1"
    amqp_url: str = ""
    queue: str = "imgcloud.jobs"
    max_upload_bytes: int = 25 * 1024 * 1024
    max_pixels: int = DEFAULT_MAX_PIXELS
    variants: tuple[Variant, ...] = field(default_factory=lambda: parse_variants(DEFAULT_VARIANTS))
    backend_url: str = ""
    prefetch: int = 4
    concurrency: int = 2
    idempotency_ttl: int = 24 * 3600
    delivery_limit: int = 5
    sweep_interval: int = 30
    sweep_after: int = 300
    sweep_republish_limit: int = 3
    alternates: tuple[str, ...] = ("WEBP",)
    widths: tuple[int, ...] = (320, 480, 960, 1920)
    max_frames: int = 100
    # Store originals as sent, EXIF (GPS included) and XMP with them: for teams that
    # want their photos' metadata served. Off by default (imgcloud.metadata).
    keep_metadata: bool = False
    # SHA-256 (hex) of the admin token made at deploy (imgcloud.accounts): the one
    # credential that works before any member exists. Empty: no such token.
    admin_token_sha256: str = ""

    @property
    def variant_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variants)


# What each command cannot start without, and an example to put in the message.
_REQUIRED = {
    "backend": ("S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY", "AMQP_URL"),
    "worker": ("S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY", "AMQP_URL"),
    "frontend": (),
}
_EXAMPLES = {
    "S3_ENDPOINT": "http://127.0.0.1:9000",
    "S3_ACCESS_KEY": "the S3 access key id",
    "S3_SECRET_KEY": "the S3 secret key",
    "AMQP_URL": "amqp://user:password@127.0.0.1:5672/",
}


def load(role: str, env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings ``role`` (backend, worker or frontend) runs with."""
    env = os.environ if env is None else env
    if role not in _REQUIRED:
        raise ConfigError(f"unknown role {role!r}: expected one of {', '.join(_REQUIRED)}")
    for name in _REQUIRED[role]:
        if not env.get(PREFIX + name):
            raise ConfigError(
                f"{PREFIX}{name} is not set: the {role} needs it (e.g. {_EXAMPLES[name]})"
            )

    def text(name: str, default: str) -> str:
        return env.get(PREFIX + name) or default

    return Settings(
        node_name=text("NODE_NAME", socket.gethostname()),
        bind=_bind(text("BIND", DEFAULT_BINDS[role])),
        s3_endpoint=text("S3_ENDPOINT", ""),
        s3_access_key=text("S3_ACCESS_KEY", ""),
        s3_secret_key=text("S3_SECRET_KEY", ""),
        s3_bucket=text("S3_BUCKET", "imgcloud"),
        s3_region=text("S3_REGION", "us-east-1"),
        amqp_url=text("AMQP_URL", ""),
        queue=text("QUEUE", "imgcloud.jobs"),
        max_upload_bytes=_positive_int(env, "MAX_UPLOAD_BYTES", 25 * 1024 * 1024),
        max_pixels=_positive_int(env, "MAX_PIXELS", DEFAULT_MAX_PIXELS),
        variants=_variants_from(env),
        backend_url=text("BACKEND_URL", "").rstrip("/"),
        prefetch=_positive_int(env, "PREFETCH", 4),
        concurrency=_positive_int(env, "CONCURRENCY", os.cpu_count() or 1),
        idempotency_ttl=_positive_int(env, "IDEMPOTENCY_TTL", 24 * 3600),
        delivery_limit=_positive_int(env, "DELIVERY_LIMIT", 5),
        sweep_interval=_positive_int(env, "SWEEP_INTERVAL", 30),
        sweep_after=_positive_int(env, "SWEEP_AFTER", 300),
        sweep_republish_limit=_positive_int(env, "SWEEP_REPUBLISH_LIMIT", 3),
        alternates=_alternates_from(env),
        widths=_widths_from(env),
        max_frames=_positive_int(env, "MAX_FRAMES", 100),
        keep_metadata=_flag(env, "KEEP_METADATA"),
        admin_token_sha256=_sha256_from(env, "ADMIN_TOKEN_SHA256"),
    )


def parse_variants(spec: str) -> tuple[Variant, ...]:
    """Parse ``thumb=160:cover,medium=640`` into variants, largest first."""
    variants: dict[str, Variant] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, sep, rest = item.partition("=")
        name = name.strip()
        size, _, mode = rest.partition(":")
        mode = mode.strip() or "fit"
        if not sep or not size.strip().isdigit():
            raise ConfigError(f"variant {item!r} is not NAME=PIXELS[:MODE] (e.g. thumb=160:cover)")
        if mode not in VARIANT_MODES:
            raise ConfigError(
                f"variant {name!r} mode {mode!r} is not one of {', '.join(VARIANT_MODES)}"
            )
        if not _VARIANT_NAME.match(name) or name in _RESERVED_NAMES:
            raise ConfigError(
                f"variant name {name!r} must be lowercase letters, digits, - or _, "
                f"start with a letter, and not be one of {sorted(_RESERVED_NAMES)}"
            )
        if name in variants:
            raise ConfigError(f"variant {name!r} is given twice")
        pixels = int(size)
        if not 1 <= pixels <= 10_000:
            raise ConfigError(f"variant {name!r} size {pixels} is outside 1..10000 pixels")
        variants[name] = Variant(name, pixels, mode)
    if not variants:
        raise ConfigError("no variants given (e.g. thumb=160,medium=640,large=1280)")
    return tuple(sorted(variants.values(), key=lambda v: v.size, reverse=True))


def _variants_from(env: Mapping[str, str]) -> tuple[Variant, ...]:
    try:
        return parse_variants(env.get(PREFIX + "VARIANTS") or DEFAULT_VARIANTS)
    except ConfigError as exc:
        raise ConfigError(f"{PREFIX}VARIANTS: {exc}") from None


def _widths_from(env: Mapping[str, str]) -> tuple[int, ...]:
    """IMGCLOUD_WIDTHS: the widths made on demand, e.g. ``320,480,960,1920``, or none."""
    raw = env.get(PREFIX + "WIDTHS", DEFAULT_WIDTHS).strip()
    if raw.lower() in ("", "none"):
        return ()
    widths = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        if not part.isdigit() or not 1 <= int(part) <= 10_000:
            raise ConfigError(f"{PREFIX}WIDTHS: {part!r} is not a width from 1 to 10000 pixels")
        widths.append(int(part))
    return tuple(sorted(set(widths)))


def _alternates_from(env: Mapping[str, str]) -> tuple[str, ...]:
    """IMGCLOUD_ALTERNATES: ``webp``, ``webp,avif`` or ``none``; Pillow's format names."""
    raw = env.get(PREFIX + "ALTERNATES", DEFAULT_ALTERNATES).strip().lower()
    if raw in ("", "none"):
        return ()
    names = [part.strip() for part in raw.split(",") if part.strip()]
    unknown = [name for name in names if name not in KNOWN_ALTERNATES]
    if unknown:
        raise ConfigError(
            f"{PREFIX}ALTERNATES: {', '.join(unknown)} is not one of "
            f"{', '.join(KNOWN_ALTERNATES)} (or none)"
        )
    return tuple(dict.fromkeys(KNOWN_ALTERNATES[name] for name in names))


def _sha256_from(env: Mapping[str, str], name: str) -> str:
    raw = (env.get(PREFIX + name) or "").strip().lower()
    if raw and not re.fullmatch(r"[0-9a-f]{64}", raw):
        raise ConfigError(f"{PREFIX}{name} is not a SHA-256 in hex (64 digits 0-9, a-f)")
    return raw


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(PREFIX + name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{PREFIX}{name}={raw!r} is not one of true, false, 1, 0, yes, no, on, off")


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(PREFIX + name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{PREFIX}{name}={raw!r} is not a whole number") from None
    if value <= 0:
        raise ConfigError(f"{PREFIX}{name}={raw!r} must be greater than zero")
    return value


def _bind(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{PREFIX}BIND={value!r} is not HOST:PORT (e.g. 0.0.0.0:8000)")
    return value
