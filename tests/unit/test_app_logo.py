"""Which images a logo may be, read from the bytes."""

from __future__ import annotations

import pytest

from hospes.domain.app_logo import LogoError, read_logo
from tests.helpers.images import gif, jpeg_header, png


def test_reads_type_and_size_from_the_bytes() -> None:
    assert read_logo(png(215, 215)).content_type == "image/png"
    assert (read_logo(gif(3, 4)).width, read_logo(gif(3, 4)).height) == (3, 4)
    image = read_logo(jpeg_header(120, 80), "image/jpg")
    assert (image.content_type, image.width, image.height, image.extension) == ("image/jpeg", 120, 80, "jpg")


@pytest.mark.parametrize(
    ("data", "declared", "reason"),
    [
        (b"", None, "empty"),
        (png(216, 1), None, "dimensions"),
        (png(1, 216), None, "dimensions"),
        (png(1, 1) + b"\0" * 102400, None, "size"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml", "type"),
        (b"GIF89a", None, "type"),  # too short to hold a size
        (b"\xff\xd8\xff\xe0\x00\x01", None, "type"),  # a JPEG segment length below 2
        (png(), "image/gif", "type"),
        (gif(), "text/html", "type"),
    ],
)
def test_refusals_say_why(data: bytes, declared: str | None, reason: str) -> None:
    with pytest.raises(LogoError) as caught:
        read_logo(data, declared)
    assert caught.value.reason == reason
