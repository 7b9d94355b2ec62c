"""Configuration from IMGCLOUD_* variables: defaults, parsing, and messages naming the variable."""

from __future__ import annotations

import pytest
from imgcloud.config import ConfigError, Variant, load, parse_variants
from imgcloud.naming import created_at, is_id, new_id

SERVICE_ENV = {
    "IMGCLOUD_S3_ENDPOINT": "http://127.0.0.1:9000",
    "IMGCLOUD_S3_ACCESS_KEY": "a",
    "IMGCLOUD_S3_SECRET_KEY": "b",
    "IMGCLOUD_AMQP_URL": "amqp://u:p@127.0.0.1:5672/",
}


def test_defaults_match_the_design() -> None:
    settings = load("backend", SERVICE_ENV)
    assert settings.variants == (
        Variant("large", 1280),
        Variant("medium", 640),
        Variant("thumb", 160, "cover"),
    )
    assert (settings.s3_bucket, settings.s3_region, settings.queue) == (
        "imgcloud",
        "us-east-1",
        "imgcloud.jobs",
    )
    assert settings.max_upload_bytes == 25 * 1024 * 1024
    assert settings.max_pixels == 50_000_000


@pytest.mark.parametrize("missing", sorted(SERVICE_ENV))
@pytest.mark.parametrize("role", ["backend", "worker"])
def test_a_missing_setting_is_named(role: str, missing: str) -> None:
    env = {k: v for k, v in SERVICE_ENV.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        load(role, env)


def test_the_frontend_needs_nothing() -> None:
    assert load("frontend", {}).backend_url == ""


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("IMGCLOUD_MAX_PIXELS", "lots"),
        ("IMGCLOUD_MAX_UPLOAD_BYTES", "-1"),
        ("IMGCLOUD_BIND", "8000"),
        ("IMGCLOUD_VARIANTS", "thumb"),
        ("IMGCLOUD_VARIANTS", "original=100"),
        ("IMGCLOUD_VARIANTS", "a=1,a=2"),
        ("IMGCLOUD_VARIANTS", "huge=99999"),
        ("IMGCLOUD_KEEP_METADATA", "maybe"),
    ],
)
def test_malformed_values_fail_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load("backend", {**SERVICE_ENV, name: value})


@pytest.mark.parametrize(
    ("value", "keep"), [("", False), ("false", False), ("TRUE", True), ("1", True)]
)
def test_keeping_metadata_is_off_unless_asked_for(value: str, keep: bool) -> None:
    assert load("backend", {**SERVICE_ENV, "IMGCLOUD_KEEP_METADATA": value}).keep_metadata is keep


def test_variants_are_sorted_largest_first() -> None:
    assert [v.name for v in parse_variants("s=10, l=1000,m=100")] == ["l", "m", "s"]


def test_ids_sort_newest_first_and_carry_their_time() -> None:
    older, newer = new_id(1_700_000_000.0), new_id(1_700_000_000.5)
    assert newer < older
    assert is_id(newer) and not is_id("../etc/passwd") and not is_id(newer.upper())
    assert created_at(older) == pytest.approx(1_700_000_000.0, abs=0.001)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("webp", ("WEBP",)),
        ("webp,avif", ("WEBP", "AVIF")),
        ("AVIF, webp", ("AVIF", "WEBP")),
        ("none", ()),
        ("webp,webp", ("WEBP",)),
    ],
)
def test_alternates_are_parsed_in_the_operator_s_order(raw: str, expected: tuple) -> None:
    env = {**SERVICE_ENV, "IMGCLOUD_ALTERNATES": raw}
    assert load("worker", env).alternates == expected


def test_the_default_alternate_is_webp_and_an_unknown_one_is_named() -> None:
    assert load("worker", SERVICE_ENV).alternates == ("WEBP",)
    with pytest.raises(ConfigError, match="IMGCLOUD_ALTERNATES: jxl is not one of"):
        load("worker", {**SERVICE_ENV, "IMGCLOUD_ALTERNATES": "webp,jxl"})


def test_a_variant_s_mode_is_parsed_and_an_unknown_one_named() -> None:
    assert parse_variants("t=100:entropy,m=500:fit,c=50:cover") == (
        Variant("m", 500, "fit"),
        Variant("t", 100, "entropy"),
        Variant("c", 50, "cover"),
    )
    with pytest.raises(ConfigError, match="mode 'crop' is not one of fit, cover, entropy"):
        parse_variants("thumb=160:crop")


def test_widths_and_the_frame_limit_are_parsed_and_bad_ones_named() -> None:
    assert load("backend", SERVICE_ENV).widths == (320, 480, 960, 1920)
    assert load("backend", {**SERVICE_ENV, "IMGCLOUD_WIDTHS": "960, 320,960"}).widths == (320, 960)
    assert load("backend", {**SERVICE_ENV, "IMGCLOUD_WIDTHS": "none"}).widths == ()
    with pytest.raises(ConfigError, match="IMGCLOUD_WIDTHS: '0' is not a width from 1 to 10000"):
        load("backend", {**SERVICE_ENV, "IMGCLOUD_WIDTHS": "320,0"})
    with pytest.raises(ConfigError, match="IMGCLOUD_MAX_FRAMES='x' is not a whole number"):
        load("worker", {**SERVICE_ENV, "IMGCLOUD_MAX_FRAMES": "x"})
