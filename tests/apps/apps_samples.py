"""Sample uploads made on the fly: every accepted format, and every kind of bad input."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def gradient(width: int = 320, height: int = 240, mode: str = "RGB") -> Image.Image:
    """A smooth two-colour gradient with a dark square in the top-left corner."""
    image = Image.linear_gradient("L").resize((width, height))
    rgb = Image.merge("RGB", (image, image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), image))
    rgb.paste((10, 10, 10), (0, 0, width // 4, height // 4))
    return rgb.convert(mode)


def mpo(width: int = 320, height: int = 240) -> bytes:
    first, second = gradient(width, height), Image.new("RGB", (width, height), "blue")
    return encode(first, "MPO", save_all=True, append_images=[second])


# Accepted formats: name -> bytes (320x240 each).
ACCEPTED = {
    "jpeg": lambda: encode(gradient(), "JPEG", quality=90),
    "png": lambda: encode(gradient(), "PNG"),
    "webp": lambda: encode(gradient(), "WEBP"),
    "gif": lambda: encode(gradient().convert("P"), "GIF"),
    "bmp": lambda: encode(gradient(), "BMP"),
    "tiff": lambda: encode(gradient(), "TIFF"),
    "mpo": mpo,
}
CONTENT_TYPES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "gif": "image/gif",
    "bmp": "image/bmp",
    "tiff": "image/tiff",
    "mpo": "image/jpeg",
}


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def truncated_jpeg() -> bytes:
    """A JPEG whose header is fine but whose pixel data stops half way."""
    data = encode(gradient(640, 480), "JPEG", quality=95)
    return data[: len(data) // 2]


def corrupt_png() -> bytes:
    """A PNG with a valid header and garbage compressed data."""
    data = bytearray(encode(gradient(), "PNG"))
    start = data.index(b"IDAT") + 4
    data[start : start + 200] = b"\xa5" * 200
    return bytes(data)


# Bad input refused at upload: name -> (bytes, status, reason).
REJECTED = {
    "empty": (b"", 400, "empty"),
    "text": (b"hello, this is a text file\n" * 10, 415, "not_image"),
    "html": (
        b"<!doctype html><html><body><script>alert(1)</script></body></html>",
        415,
        "not_image",
    ),
    "svg": (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        b'<rect width="10" height="10"/></svg>',
        415,
        "not_image",
    ),
    "pdf": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", 415, "unsupported_format"),
    "heic": (
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64,
        415,
        "unsupported_format",
    ),
    "avif": (
        b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1" + b"\x00" * 64,
        415,
        "unsupported_format",
    ),
    "ico": (b"\x00\x00\x01\x00\x01\x00\x10\x10" + b"\x00" * 64, 415, "unsupported_format"),
    "psd": (b"8BPS\x00\x01" + b"\x00" * 64, 415, "unsupported_format"),
    "jpeg-bad-header": (b"\xff\xd8\xff\xe0" + b"\x00garbage" * 20, 422, "bad_header"),
    "png-bad-header": (b"\x89PNG\r\n\x1a\n" + b"not a chunk" * 10, 422, "bad_header"),
    "gif-bad-header": (b"GIF89a\x00", 422, "bad_header"),
    "webp-bad-header": (b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\xff" * 16, 422, "bad_header"),
    "tiff-bad-header": (b"II*\x00\xff\xff\xff\x7f", 422, "bad_header"),
    "bmp-bad-header": (b"BM" + b"\x00" * 20, 422, "bad_header"),
    "zero-size-png": (png_declaring(0, 10), 422, "bad_header"),
    "bomb-png": (png_declaring(30_000, 30_000), 413, "too_many_pixels"),
}


def rgb_profile(red: tuple, green: tuple, blue: tuple, gamma: float = 2.2) -> bytes:
    """A minimal ICC v2 RGB display profile: the primaries' XYZ (D50) and one gamma.

    Pillow can only make sRGB, LAB and XYZ profiles and no other ships on the machine;
    a matrix/TRC profile is small enough to write out (ICC.1:2001-04, sections 6 and 6.5).
    """

    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    def xyz(values: tuple) -> bytes:
        return b"XYZ \0\0\0\0" + b"".join(s15(v) for v in values)

    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    text = b"imgcloud test profile\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * 4 + b"\0" * 4
    desc += b"\0\0" + b"\0" + b"\0" * 67
    desc += b"\0" * (-len(desc) % 4)
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz((0.9642, 1.0, 0.8249))),
        (b"rXYZ", xyz(red)),
        (b"gXYZ", xyz(green)),
        (b"bXYZ", xyz(blue)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = struct.pack(">I", size) + b"\0" * 4 + struct.pack(">I", 0x02100000)
    header += b"mntrRGB XYZ " + b"\0" * 12 + b"acsp" + b"\0" * 24
    header += b"\0" * 4 + s15(0.9642) + s15(1.0) + s15(0.8249) + b"\0" * 4
    header += b"\0" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + body


# sRGB's primaries adapted to D50, and the same with red and green swapped: a profile
# under which a red pixel means green.
SRGB_D50 = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))
SWAPPED_RED_GREEN = (SRGB_D50[1], SRGB_D50[0], SRGB_D50[2])
