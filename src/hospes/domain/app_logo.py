"""An application's logo: which images are accepted, read from their bytes (never from what the sender says).

Entra's guidance for an enterprise app's logo ("Change the name or logo of an enterprise application") is a PNG,
JPEG or GIF of 215 x 215 pixels; Graph's ``PUT /applications/{id}/logo`` has been seen to take larger images
(AzureAD/azure-activedirectory-powershell#20). Hospes holds every surface to one rule, at most 100 KB (its own
bound: the logo address is public and uncounted) and 215 x 215 pixels, so a logo set through Graph shows the same
on My Apps as one uploaded in the portal. SVG is never accepted: served from the
deployment's own origin, it could run script.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from hospes.domain.errors import InvalidInputError

MAX_LOGO_BYTES = 100 * 1024
MAX_LOGO_SIDE = 215
LOGO_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif"}


@dataclass(frozen=True)
class LogoImage:
    content_type: str
    width: int
    height: int

    @property
    def extension(self) -> str:
        return LOGO_TYPES[self.content_type]


class LogoError(InvalidInputError):
    """A logo refused; ``reason`` (``type``, ``size``, ``dimensions``, ``empty``) lets a page say it in words."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message, target="logo")
        self.reason = reason


def too_large() -> LogoError:
    return LogoError(f"The logo is larger than {MAX_LOGO_BYTES // 1024} KB.", "size")


def read_logo(data: bytes, declared: str | None = None) -> LogoImage:
    """The image ``data`` holds, checked against the limits; ``declared`` (a Content-Type) must agree with it."""
    if not data:
        raise LogoError("The logo is empty.", "empty")
    if len(data) > MAX_LOGO_BYTES:
        raise too_large()
    image = _sniff(data)
    if image is None:
        raise LogoError("The logo must be a PNG, JPEG or GIF image.", "type")
    if declared is not None:
        kind = declared.split(";", 1)[0].strip().lower()
        if kind == "image/jpg":
            kind = "image/jpeg"
        if kind != image.content_type:
            raise LogoError(f"The Content-Type '{kind[:64]}' does not match the image, a {image.extension}.", "type")
    if not (0 < image.width <= MAX_LOGO_SIDE and 0 < image.height <= MAX_LOGO_SIDE):
        raise LogoError(f"The logo must be at most {MAX_LOGO_SIDE} x {MAX_LOGO_SIDE} pixels.", "dimensions")
    return image


def _sniff(data: bytes) -> LogoImage | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return LogoImage("image/png", width, height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return LogoImage("image/gif", width, height)
    if data.startswith(b"\xff\xd8\xff"):
        return _jpeg(data)
    return None


def _jpeg(data: bytes) -> LogoImage | None:
    """The frame size from the first start-of-frame marker, walking the segments after SOI."""
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            at += 2
            continue
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if length < 2:
            return None
        if marker in (*range(0xC0, 0xC4), *range(0xC5, 0xC8), *range(0xC9, 0xCC), *range(0xCD, 0xD0)):
            if at + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return LogoImage("image/jpeg", width, height)
        at += 2 + length
    return None
