"""The history checker on hand-made histories, each with one planted defect."""

from __future__ import annotations

import io

import pytest
from chaos_fakes import listing, readback, settle, upload
from imgcloud.config import DEFAULT_VARIANTS, Variant, parse_variants
from imgcloud.imaging import render
from PIL import Image

from chaos import checkers, history
from chaos.journal import History


def _run(uploads):
    return settle(History(ops=list(uploads)))


def _good():
    return _run([upload(0, 0), upload(1, 1, size=(360, 480)), upload(2, 2, size=(800, 600))])


def _failing(h: History) -> dict[str, str]:
    fig = checkers.figures(h, ["vm1", "vm2", "vm3"])
    return {v.check: v.got for v in checkers.history_verdicts(fig) if not v.ok}


def _listing_also(h: History, **extra: list[str]) -> None:
    """Replace the listing with one that also shows `extra` ids under their file names."""
    h.events = [e for e in h.events if e.name != "listing"]
    h.events.append(listing([o for o in h.ops if o.kind == "upload"], **extra))


def _readback_of(h: History, image: str):
    return next(e for e in h.events if e.name == "readback" and e.detail["image"] == image)


def test_a_complete_history_passes_every_rule():
    assert _failing(_good()) == {}


def test_zero_acknowledged_uploads_judge_nothing_and_fail():
    failing = _failing(_run([upload(0, 0, ok=False)]))
    assert failing["nothing acknowledged lost"] == "0 acknowledged uploads: nothing to judge"
    assert failing["originals as sent"] == "0 acknowledged uploads: nothing to judge"


def test_a_lost_upload_is_named():
    h = _good()
    h.events.remove(_readback_of(h, "img1"))
    assert _failing(h) == {"nothing acknowledged lost": "1 of 3: img1: never read back"}


def test_an_upload_left_pending_is_lost():
    h = _good()
    _readback_of(h, "img2").detail["status"] = "pending"
    assert _failing(h) == {"nothing acknowledged lost": "1 of 3: img2: ends pending"}


def test_changed_original_bytes_are_named():
    h = _good()
    _readback_of(h, "img0").detail["sha256"] = "ab" * 32
    got = _failing(h)["originals as sent"]
    assert got.startswith("1 of 3: img0: original sha256 abababababab… ≠ sent 000000000000…")


def test_a_json_sha256_other_than_the_bytes_sent_is_named():
    h = _good()
    _readback_of(h, "img0").detail["json_sha256"] = "cd" * 32
    assert "its JSON says sha256 cdcdcdcdcdcd…" in _failing(h)["originals as sent"]


@pytest.mark.parametrize(
    ("image", "variant", "dims", "problem"),
    [
        ("img0", "thumb", [200, 150], "thumb 200x150 does not fit its 160 px box"),
        ("img0", "medium", [640, 480], "medium 640x480 is larger than the original 480x360"),
        ("img1", "medium", [480, 360], "medium 480x360 is not portrait like the original 360x480"),
        ("img2", "medium", [640, 400], "medium 640x400 changes the aspect ratio of 800x600"),
        ("img2", "medium", [320, 240], "medium 320x240 does not fill its box: want 640x480"),
        ("img2", "thumb", [160, 120], "thumb 160x120 is not the square a cover variant is"),
        ("img1", "thumb", [120, 120], "thumb 120x120 does not fill its box: want 160x160"),
        ("img0", "large", "does not decode: UnidentifiedImageError", "large: does not decode"),
        ("img0", "large", None, "large: missing"),
    ],
)
def test_a_wrong_variant_is_named(image, variant, dims, problem):
    h = _good()
    variants = _readback_of(h, image).detail["variants"]
    if dims is None:
        del variants[variant]
    else:
        variants[variant] = dims
    got = _failing(h)
    assert list(got) == ["variants decode, fit, keep orientation"]
    assert problem in got["variants decode, fit, keep orientation"]


def test_a_variant_off_by_rounding_is_right():
    fit_thumb = Variant("thumb", 160)
    assert history.variant_problems(fit_thumb, [160, 119], [481, 360]) == []


@pytest.mark.parametrize(
    ("original", "want"),
    [((480, 360), (160, 160)), ((360, 480), (160, 160)), ((100, 900), (100, 100))],
)
def test_a_square_variant_is_the_largest_square_up_to_its_box(original, want):
    cover = Variant("thumb", 160, "cover")
    assert history.expected_size(cover, *original) == want
    assert history.variant_problems(cover, list(want), list(original)) == []


@pytest.mark.parametrize("original", [(480, 360), (360, 480), (800, 600), (2000, 1500)])
def test_what_the_service_renders_by_default_passes_the_checker(original):
    """The checker and the service's own imaging agree on every default variant."""
    data = io.BytesIO()
    Image.new("RGB", original, (200, 90, 160)).save(data, "JPEG")
    made = render(data.getvalue(), parse_variants(DEFAULT_VARIANTS), max_pixels=50_000_000)
    assert {r.name for r in made} == set(history.VARIANTS)
    for r in made:
        dims = [r.width, r.height]
        assert history.variant_problems(history.VARIANTS[r.name], dims, list(original)) == []


def test_an_image_listed_twice_is_named():
    h = _good()
    listed = next(e for e in h.events if e.name == "listing")
    listed.detail["found"]["chaos-test-1.jpg"].append("img1")
    assert _failing(h) == {"listed exactly once": "1 of 3: img1: chaos-test-1.jpg listed 2 times"}


def test_an_image_missing_from_the_listing_is_named():
    h = _good()
    listed = next(e for e in h.events if e.name == "listing")
    del listed.detail["found"]["chaos-test-2.jpg"]
    assert _failing(h) == {"listed exactly once": "1 of 3: img2: chaos-test-2.jpg listed 0 times"}


def test_an_unread_listing_judges_nothing_and_fails():
    h = _good()
    h.events = [e for e in h.events if e.name != "listing"]
    assert _failing(h) == {"listed exactly once": "no listing in the journal"}


def test_an_indeterminate_upload_that_never_appears_is_fine():
    h = _run([upload(0, 0), upload(1, 1, ok=False)])
    fig = checkers.figures(h, [])
    half = next(v for v in checkers.history_verdicts(fig) if v.check == "no half-made upload")
    assert half.ok and half.got == "0 of 1 unacknowledged (1 without an answer, 0 stored complete)"


def test_an_indeterminate_upload_stored_complete_is_fine():
    h = _run([upload(0, 0), upload(1, 1, ok=False)])
    _listing_also(h, **{"chaos-test-1.jpg": ["late1"]})
    h.events.append(readback("late1", f"{1:064x}"))
    assert _failing(h) == {}
    assert checkers.figures(h, [])["unacked_stored"] == 1


@pytest.mark.parametrize(
    ("breaks", "problem"),
    [
        ({"status": "pending"}, "late1: ends pending"),
        ({"status": "failed"}, "late1: ends failed"),
        ({"variants": {"thumb": [160, 160]}}, "late1: large: missing; medium: missing"),
        ({"sha256": None, "original": "unreadable: 404"}, "late1: original unreadable: 404"),
    ],
)
def test_a_half_made_indeterminate_upload_is_named(breaks, problem):
    h = _run([upload(0, 0), upload(1, 1, ok=False)])
    _listing_also(h, **{"chaos-test-1.jpg": ["late1"]})
    h.events.append(readback("late1", f"{1:064x}", **breaks))
    got = _failing(h)
    assert list(got) == ["no half-made upload"]
    assert got["no half-made upload"].startswith("1 of 1 unacknowledged")
    assert f"chaos-test-1.jpg: {problem}" in got["no half-made upload"]


def test_an_indeterminate_upload_stored_twice_is_half_made():
    h = _run([upload(0, 0), upload(1, 1, ok=False)])
    _listing_also(h, **{"chaos-test-1.jpg": ["late1", "late2"]})
    h.events += [readback("late1", f"{1:064x}"), readback("late2", f"{1:064x}")]
    assert "chaos-test-1.jpg: stored 2 times" in _failing(h)["no half-made upload"]
