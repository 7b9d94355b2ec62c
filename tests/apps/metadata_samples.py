"""Images carrying metadata in every field their format has, each with a planted marker.

What a phone or an editor writes (EXIF with GPS, XMP, IPTC, comments), made here with
Pillow and by hand where Pillow writes no such block, for the cleaner's unit tests and
the API's.
"""

from __future__ import annotations

import struct
import zlib

import apps_samples as samples
from PIL import ExifTags, Image, ImageCms

MARKER = b"imgcloud-planted-52.3676N-4.9041E"
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
    b'22-rdf-syntax-ns#"><rdf:Description>' + MARKER + b"</rdf:Description></rdf:RDF></x:xmpmeta>"
)
ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def exif(orientation: int = 1) -> Image.Exif:
    """EXIF as a phone writes it: camera, orientation, and where the photo was taken."""
    block = Image.Exif()
    block[ExifTags.Base.Make] = MARKER.decode()
    block[ExifTags.Base.Orientation] = orientation
    gps = block.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (52.0, 22.0, 3.36)
    gps[ExifTags.GPS.GPSProcessingMethod] = MARKER.decode()
    return block


def portrait_marked() -> Image.Image:
    """40x20, the left half red, the right half blue: which way it was turned shows."""
    image = Image.new("RGB", (40, 20), "blue")
    image.paste((255, 0, 0), (0, 0, 20, 20))
    return image


def jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def with_jpeg_segments(data: bytes, *segments: bytes) -> bytes:
    """The JPEG with ``segments`` right after its SOI."""
    return data[:2] + b"".join(segments) + data[2:]


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))


def with_png_chunks(data: bytes, *chunks: bytes) -> bytes:
    """The PNG with ``chunks`` right after its IHDR."""
    return data[:33] + b"".join(chunks) + data[33:]


def jpeg_marked(orientation: int = 1) -> bytes:
    data = samples.encode(
        samples.gradient(), "JPEG", quality=90, exif=exif(orientation), icc_profile=ICC
    )
    return with_jpeg_segments(
        data,
        jpeg_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + XMP),
        jpeg_segment(0xED, b"Photoshop 3.0\x00" + MARKER),  # IPTC
        jpeg_segment(0xFE, MARKER),  # a comment
    )


def png_marked() -> bytes:
    data = samples.encode(samples.gradient(), "PNG", icc_profile=ICC, exif=exif())
    return with_png_chunks(
        data,
        png_chunk(b"tEXt", b"Author\x00" + MARKER),
        png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + XMP),
        png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(MARKER)),
    )


def webp_marked(**options: object) -> bytes:
    return samples.encode(
        samples.gradient(), "WEBP", exif=exif(), xmp=XMP, icc_profile=ICC, **options
    )


def gif_marked() -> bytes:
    frames = [samples.gradient().convert("P"), Image.new("P", (320, 240), 3)]
    data = samples.encode(
        frames[0], "GIF", save_all=True, append_images=frames[1:], loop=0, comment=MARKER
    )
    xmp_block = b"\x21\xff\x0bXMP DataXMP" + bytes([len(MARKER)]) + MARKER + b"\x00"
    trailer = data.rindex(b"\x3b")
    return data[:trailer] + xmp_block + data[trailer:]


def tiff_marked() -> bytes:
    return samples.encode(
        samples.gradient(),
        "TIFF",
        icc_profile=ICC,
        # Make, ImageDescription and XMP, in the image's own directory
        tiffinfo={271: MARKER.decode(), 270: MARKER.decode(), 700: XMP},
    )
