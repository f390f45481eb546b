"""A fake camera for Chromium: a still picture of a QR code as a YUV4MPEG2 (Y4M) video.

Chromium's `--use-file-for-fake-video-capture=<file.y4m>` plays the file in a loop as the
camera every `getUserMedia` call gets. Y4M is the simplest video there is: a one-line header
(`YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg`), then per frame a `FRAME` line and the raw
planes: Y at full size, then Cb and Cr at half width and half height (4:2:0, JPEG siting).
Pillow's YCbCr conversion gives those planes (full-range BT.601, as JPEG uses), so nothing
beyond Pillow and qrcode is needed.
"""

from __future__ import annotations

from pathlib import Path

import qrcode
import qrcode.constants
from PIL import Image

#: A 640×480 camera, the size Chromium's own fake device uses.
WIDTH = 640
HEIGHT = 480


def qr_image(text: str, side: int) -> Image.Image:
    """`text` as a black-on-white QR code `side` pixels square (quiet zone included)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, box_size=1)
    code.add_data(text)
    code.make(fit=True)
    small: Image.Image = code.make_image(fill_color="black", back_color="white").get_image().convert("L")
    scale = max(1, side // small.width)
    return small.resize((small.width * scale, small.height * scale), Image.Resampling.NEAREST)


def frame_with(picture: Image.Image, width: int = WIDTH, height: int = HEIGHT) -> Image.Image:
    """`picture` centred on a light grey frame, as a counter under a phone would look."""
    frame = Image.new("RGB", (width, height), (200, 200, 196))
    frame.paste(picture.convert("RGB"), ((width - picture.width) // 2, (height - picture.height) // 2))
    return frame


def write_y4m(path: Path, frame: Image.Image, frames: int = 10, fps: int = 10) -> Path:
    """Write `frames` copies of `frame` (even width and height) as a 4:2:0 Y4M file."""
    width, height = frame.size
    if width % 2 or height % 2:
        raise ValueError("4:2:0 needs an even width and height")
    y, cb, cr = frame.convert("YCbCr").split()
    half = (width // 2, height // 2)
    planes = (
        y.tobytes() + cb.resize(half, Image.Resampling.BOX).tobytes() + cr.resize(half, Image.Resampling.BOX).tobytes()
    )
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for _ in range(frames):
            out.write(b"FRAME\n")
            out.write(planes)
    return path


def qr_video(path: Path, text: str) -> Path:
    """A Y4M video of the QR code of `text`, filling most of the frame's height."""
    return write_y4m(path, frame_with(qr_image(text, side=HEIGHT - 40)))
