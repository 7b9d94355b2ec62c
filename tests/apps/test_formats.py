"""Upload validation from the bytes alone: formats accepted, every bad-input class refused."""

from __future__ import annotations

import apps_samples as samples
import pytest
from imgcloud.formats import Rejected, inspect, sniff

LIMITS = {"max_bytes": 25 * 1024 * 1024, "max_pixels": 50_000_000}


@pytest.mark.parametrize("name", sorted(samples.ACCEPTED))
def test_accepted_formats_are_detected_with_their_size(name: str) -> None:
    info = inspect(samples.ACCEPTED[name](), **LIMITS)
    assert (info.content_type, info.width, info.height) == (samples.CONTENT_TYPES[name], 320, 240)


@pytest.mark.parametrize("name", sorted(samples.REJECTED))
def test_bad_input_is_refused_with_status_and_reason(name: str) -> None:
    data, status, reason = samples.REJECTED[name]
    with pytest.raises(Rejected) as refused:
        inspect(data, **LIMITS)
    assert (refused.value.status, refused.value.reason) == (status, reason)
    assert "<_io" not in refused.value.message


def test_the_format_comes_from_the_bytes_not_the_name() -> None:
    assert sniff(samples.ACCEPTED["png"]()[:64]) == "PNG"
    assert sniff(b"<svg></svg>") is None


def test_a_file_over_the_byte_limit_is_413() -> None:
    data = samples.ACCEPTED["bmp"]()
    with pytest.raises(Rejected) as refused:
        inspect(data, max_bytes=len(data) - 1, max_pixels=50_000_000)
    assert (refused.value.status, refused.value.reason) == (413, "too_large")


def test_the_pixel_limit_is_the_configured_one() -> None:
    with pytest.raises(Rejected) as refused:
        inspect(samples.ACCEPTED["png"](), max_bytes=10**6, max_pixels=320 * 240 - 1)
    assert refused.value.reason == "too_many_pixels"
    assert "320x240" in refused.value.message
