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
