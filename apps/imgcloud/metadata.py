"""An upload's original without what the camera or editor wrote about it.

Phones put the place a photo was taken (GPS) in its EXIF block, editors add XMP and
IPTC (names, addresses, software), and anyone holding an image's URL may fetch its
original. So the backend stores the original cleaned: the pixels, upright, and the
colour profile they need, nothing else.

Lossless where the format allows: the metadata blocks (JPEG segments, PNG and WebP
chunks, GIF extensions) are cut out and the coded image data is kept byte for byte; an
image without any comes back unchanged. It is encoded anew only when it must be:

- an orientation other than upright: the pixels are turned (a JPEG with the source's
  own quantisation tables and chroma subsampling, so it loses as little as it can);
- TIFF, whose metadata sits in the same directory as the pixels' layout (LZW, lossless).

Anything after a JPEG's end of image or a GIF's trailer (an MPO's other frames, data
hidden behind the image) is dropped as well: browsers show the first frame only.
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Iterator

from PIL import Image, JpegImagePlugin

EXIF_ORIENTATION = 0x0112
# How to turn the pixels for each EXIF orientation (1, upright, needs nothing).
TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG chunks that describe rather than draw: text (XMP is an iTXt), EXIF, a timestamp.
_PNG_DROPPED = {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME"}
# WebP chunks of metadata, and the VP8X flags that announce them.
_WEBP_DROPPED = {b"EXIF", b"XMP "}
_VP8X_EXIF, _VP8X_XMP = 0x08, 0x04
# GIF application extensions that steer playback; any other one (XMP among them) goes.
_GIF_KEPT_APPLICATIONS = {b"NETSCAPE2.0", b"ANIMEXTS1.0"}


class Unreadable(ValueError):
    """The bytes do not follow their format's structure far enough to be cleaned."""


def clean(data: bytes, image_format: str) -> bytes:
    """``data`` (an image in Pillow's ``image_format``) without EXIF, XMP, IPTC and
    comments, turned upright, its colour profile kept.

    Raises :class:`Unreadable` when the structure does not parse."""
    try:
        if image_format in ("JPEG", "MPO"):
            return _clean_jpeg(_upright(data, image_format))
        if image_format == "PNG":
            return _clean_png(_upright(data, image_format))
        if image_format == "WEBP":
            return _clean_webp(_upright(data, image_format))
        if image_format == "GIF":
            return _clean_gif(data)  # GIF has no orientation
        if image_format == "TIFF":
            return _reencode_tiff(data)
    except (IndexError, struct.error, OSError, SyntaxError) as exc:
        raise Unreadable(f"the {image_format} structure does not parse: {exc}") from None
    return data  # BMP: no metadata blocks, an embedded colour profile at most


def orientation(data: bytes) -> int:
    """The EXIF orientation the image declares (1, upright, when none)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(io.BytesIO(data)) as image:
                value = image.getexif().get(EXIF_ORIENTATION, 1)
        except OSError:  # an EXIF block after the pixels, in a file cut short before it
            return 1
    return value if value in TRANSPOSE else 1


def _upright(data: bytes, image_format: str) -> bytes:
    """The image with its pixels turned as its EXIF orientation says (unchanged if upright)."""
    turn = TRANSPOSE.get(orientation(data))
    if turn is None:
        return data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = Image.open(io.BytesIO(data))
        if getattr(source, "n_frames", 1) > 1 and image_format != "MPO":
            return data  # an animation keeps its frames; its EXIF block is cut below
        try:
            source.load()
        except OSError:
            return data  # cut short or damaged: the worker's decode says so, as it fails
        turned = source.transpose(turn)
    out = io.BytesIO()
    icc = source.info.get("icc_profile")
    if image_format in ("JPEG", "MPO"):
        turned.save(
            out,
            "JPEG",
            qtables=getattr(source, "quantization", None),
            subsampling=JpegImagePlugin.get_sampling(source),
            progressive=bool(source.info.get("progressive")),
            icc_profile=icc,
        )
    elif image_format == "PNG":
        options = (
            {"transparency": source.info["transparency"]} if "transparency" in source.info else {}
        )
        turned.save(out, "PNG", icc_profile=icc, **options)
    else:  # WEBP: lossless stays lossless; a lossy one is encoded near its own quality
        turned.save(out, "WEBP", lossless=_webp_is_lossless(data), quality=90, icc_profile=icc)
    return out.getvalue()


def _clean_jpeg(data: bytes) -> bytes:
    kept = [data[:2]]
    for marker, segment in _jpeg_segments(data):
        if _jpeg_keeps(marker, segment):
            kept.append(segment)
    return b"".join(kept)


def _jpeg_segments(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(marker, bytes) of each segment after SOI up to EOI; a scan's coded data is
    part of its SOS segment. A file cut short ends with what it has."""
    if data[:2] != b"\xff\xd8":
        raise Unreadable("a JPEG starts with FF D8")
    i = 2
    while i < len(data):
        if data[i] != 0xFF:
            raise Unreadable(f"no JPEG marker at byte {i}")
        start = i
        while i < len(data) and data[i] == 0xFF:  # fill bytes may precede a marker
            i += 1
        if i == len(data):
            return
        marker = data[i]
        i += 1
        if marker == 0xD9:  # EOI: what follows is not this image
            yield marker, data[start:i]
            return
        if not (0xD0 <= marker <= 0xD7 or marker == 0x01):  # those have no length
            i += int.from_bytes(data[i : i + 2], "big") if i + 2 <= len(data) else len(data)
            if marker == 0xDA:
                i = _jpeg_scan_end(data, i)
        yield marker, data[start:i]


def _jpeg_scan_end(data: bytes, i: int) -> int:
    """Where the coded data from ``i`` ends: at the next marker (FF then neither a
    stuffed 00, a restart marker nor a fill byte), or the end of a file cut short."""
    while True:
        i = data.find(b"\xff", i)
        if i < 0 or i + 1 >= len(data):
            return len(data)
        following = data[i + 1]
        if following not in (0x00, 0xFF) and not 0xD0 <= following <= 0xD7:
            return i
        i += 1


def _jpeg_keeps(marker: int, segment: bytes) -> bool:
    if not 0xE0 <= marker <= 0xEF:
        return marker != 0xFE  # COM is a comment; everything else draws the image
    payload = segment.lstrip(b"\xff")[3:]  # after the marker and its length
    if marker == 0xE0:
        return payload.startswith(b"JFIF\x00")  # the JFIF header, not a JFXX thumbnail
    if marker == 0xE2:
        return payload.startswith(b"ICC_PROFILE\x00")  # the colour profile, not MPF/FPXR
    if marker == 0xEE:
        return payload.startswith(b"Adobe")  # says how CMYK and YCCK are coded
    return False  # APP1 (EXIF, XMP), APP13 (IPTC) and every other application block


def _clean_png(data: bytes) -> bytes:
    if not data.startswith(_PNG_SIGNATURE):
        raise Unreadable("a PNG starts with its signature")
    kept, i = [_PNG_SIGNATURE], len(_PNG_SIGNATURE)
    while i < len(data):
        (length,) = struct.unpack(">I", data[i : i + 4])
        kind = data[i + 4 : i + 8]
        end = i + 12 + length  # past the end if the file is cut short: it ends here
        if kind not in _PNG_DROPPED:
            kept.append(data[i:end])
        i = end
        if kind == b"IEND":
            break
    return b"".join(kept)


def _webp_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise Unreadable("a WebP file is a RIFF of WEBP")
    (riff_size,) = struct.unpack("<I", data[4:8])
    end, i = min(len(data), 8 + riff_size), 12
    while i + 8 <= end:
        kind = data[i : i + 4]
        (size,) = struct.unpack("<I", data[i + 4 : i + 8])
        stop = i + 8 + size + (size & 1)  # chunks are padded to an even size
        yield kind, data[i:stop]  # a file cut short ends with what it has
        i = stop


def _webp_is_lossless(data: bytes) -> bool:
    return any(kind == b"VP8L" for kind, _ in _webp_chunks(data))


def _clean_webp(data: bytes) -> bytes:
    body = []
    for kind, chunk in _webp_chunks(data):
        if kind in _WEBP_DROPPED:
            continue
        if kind == b"VP8X":
            flags = chunk[8] & ~(_VP8X_EXIF | _VP8X_XMP)
            chunk = chunk[:8] + bytes([flags]) + chunk[9:]
        body.append(chunk)
    payload = b"WEBP" + b"".join(body)
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


def _clean_gif(data: bytes) -> bytes:
    (packed,) = data[10:11]
    i = 13 + _gif_colour_table_size(packed)
    kept = [data[:i]]
    while i < len(data):  # a file cut short ends with what it has
        introducer = data[i]
        if introducer == 0x3B:  # trailer
            kept.append(b"\x3b")
            return b"".join(kept)
        start = i
        if introducer == 0x21:
            label = data[i + 1] if i + 1 < len(data) else 0
            i = _gif_sub_blocks_end(data, i + 2)
            block = data[start:i]
            if label == 0xFE or (label == 0xFF and block[3:14] not in _GIF_KEPT_APPLICATIONS):
                continue  # a comment, or an application block such as XMP
            kept.append(block)
        elif introducer == 0x2C:
            packed = data[i + 9] if i + 9 < len(data) else 0
            i += 10 + _gif_colour_table_size(packed)
            i = _gif_sub_blocks_end(data, i + 1)  # after the LZW code size
            kept.append(data[start:i])
        else:
            raise Unreadable(f"no GIF block starts at byte {i}")
    return b"".join(kept)


def _gif_colour_table_size(packed: int) -> int:
    return 3 << ((packed & 0x07) + 1) if packed & 0x80 else 0


def _gif_sub_blocks_end(data: bytes, i: int) -> int:
    while i < len(data) and data[i]:
        i += 1 + data[i]
    return min(i + 1, len(data))


def _reencode_tiff(data: bytes) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = Image.open(io.BytesIO(data))
        source.load()  # the first page; TIFF tags travel with the file object, not the pixels
        pixels = source.copy()
        turn = TRANSPOSE.get(source.getexif().get(EXIF_ORIENTATION, 1))
    if turn is not None:
        pixels = pixels.transpose(turn)
    pixels.info = {}  # nothing of the source's directory is written back
    out = io.BytesIO()
    options: dict[str, object] = {"compression": "tiff_lzw"}
    if "icc_profile" in source.info:
        options["icc_profile"] = source.info["icc_profile"]
    if "dpi" in source.info:
        options["dpi"] = source.info["dpi"]
    pixels.save(out, "TIFF", **options)
    return out.getvalue()
