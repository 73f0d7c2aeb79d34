#!/usr/bin/env python3
"""Builds the "inputs as people have them" image fixtures of marnet-extract (docs/datasets.md) in
extract/tests/fixtures/inputs/. Run by hand; the Rust tests only read the files:

    python3 -m venv /tmp/fixvenv
    /tmp/fixvenv/bin/pip install pillow==11.0.0 numpy==2.4.6 simplejpeg==1.9.0 pypng==0.20220715.0
    /tmp/fixvenv/bin/python tools/make_input_fixtures.py

Every expected array comes from Pillow (the decoder transformers' `load_image` uses), never from
marnet: `ImageOps.exif_transpose` for the EXIF orientations and
`Image.alpha_composite(white, im.convert("RGBA"))` (transformers' `convert_to_rgb`) for images
with transparency. The script asserts those Pillow results before writing, so a fixture cannot
disagree with its expected file.

Files (all a few hundred bytes):
  upright_24x16.png          the upright picture U: 3x2 blocks of 8x8 pixels, six colours
  orient_{1..8}.png|.jpg     U stored rotated/flipped so that EXIF Orientation k makes it U again
  orient_6.webp              the same for a lossless WebP
  rb_plain.jpg, rb_orient6.jpg   64x32, left half red, right half blue; without EXIF / Orientation=6
  exif_garbage.jpg, exif_bad_offset.jpg, exif_orient9.jpg   U with a corrupt EXIF block: upright
  icc_srgb.png, icc_srgb.jpg U with an embedded sRGB ICC profile
  ycck_16x16.jpg, cmyk_16x16.jpg   red | blue halves as Adobe YCCK and CMYK JPEGs
  rgba16_4x2.png             16-bit RGBA with transparency; expected rgba16_4x2.expected.png
  grey16_4x2.png             16-bit greyscale (values 257*k, expected k: hand computation)
  rgba_lossless.webp, rgb_lossy.webp   WebP; expected *.expected.png
  anim_2frames.gif           two frames (the first with a transparent index); expected
                             anim_2frames.expected.png = frame 0 composited on white
"""
import io
import os

import numpy as np
import png
import simplejpeg
from PIL import Image, ImageCms, ImageOps

OUT = os.path.join(os.path.dirname(__file__), "..", "extract", "tests", "fixtures", "inputs")
os.makedirs(OUT, exist_ok=True)

COLOURS = [[(230, 30, 30), (30, 200, 40), (40, 50, 220)],
           [(240, 220, 20), (200, 40, 200), (20, 210, 220)]]


def upright() -> Image.Image:
    a = np.zeros((16, 24, 3), np.uint8)
    for by, row in enumerate(COLOURS):
        for bx, c in enumerate(row):
            a[by * 8:(by + 1) * 8, bx * 8:(bx + 1) * 8] = c
    return Image.fromarray(a, "RGB")


# The stored picture whose EXIF orientation k shows U: the inverse of exif_transpose's step.
INVERSE = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,    # exif_transpose applies ROTATE_270 (90 degrees clockwise)
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,   # exif_transpose applies ROTATE_90
}


def exif_bytes(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def path(name: str) -> str:
    return os.path.join(OUT, name)


def max_diff(a: Image.Image, b: Image.Image) -> int:
    assert a.size == b.size, (a.size, b.size)
    return int(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).max())


def on_white(im: Image.Image) -> Image.Image:
    rgba = im.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def main() -> None:
    u = upright()
    u.save(path("upright_24x16.png"))
    jpeg = dict(quality=100, subsampling=0)
    for k, op in INVERSE.items():
        stored = u if op is None else u.transpose(op)
        stored.save(path(f"orient_{k}.png"), exif=exif_bytes(k))
        stored.save(path(f"orient_{k}.jpg"), exif=exif_bytes(k), **jpeg)
        assert max_diff(ImageOps.exif_transpose(Image.open(path(f"orient_{k}.png"))).convert("RGB"), u) == 0
        assert max_diff(ImageOps.exif_transpose(Image.open(path(f"orient_{k}.jpg"))).convert("RGB"), u) <= 2
    u.transpose(INVERSE[6]).save(path("orient_6.webp"), lossless=True, exif=exif_bytes(6))
    assert max_diff(ImageOps.exif_transpose(Image.open(path("orient_6.webp"))).convert("RGB"), u) == 0

    rb = np.zeros((32, 64, 3), np.uint8)
    rb[:, :32] = (255, 0, 0)
    rb[:, 32:] = (0, 0, 255)
    rb = Image.fromarray(rb, "RGB")
    rb.save(path("rb_plain.jpg"), quality=95)
    rb.save(path("rb_orient6.jpg"), quality=95, exif=exif_bytes(6))
    turned = ImageOps.exif_transpose(Image.open(path("rb_orient6.jpg")))
    assert turned.size == (32, 64) and turned.getpixel((16, 8))[0] > 200 and turned.getpixel((16, 56))[2] > 200

    # Corrupt EXIF blocks: Pillow reads them as "no orientation".
    u.save(path("exif_garbage.jpg"), exif=b"Exif\x00\x00this is not a TIFF header", **jpeg)
    u.save(path("exif_bad_offset.jpg"), exif=b"Exif\x00\x00II*\x00\xff\xff\x00\x00", **jpeg)
    u.save(path("exif_orient9.jpg"), exif=exif_bytes(9), **jpeg)
    for name in ["exif_garbage.jpg", "exif_bad_offset.jpg", "exif_orient9.jpg"]:
        assert max_diff(ImageOps.exif_transpose(Image.open(path(name))).convert("RGB"), u) <= 2

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    u.save(path("icc_srgb.png"), icc_profile=srgb)
    u.save(path("icc_srgb.jpg"), icc_profile=srgb, **jpeg)
    assert Image.open(path("icc_srgb.jpg")).info["icc_profile"] == srgb

    # Adobe CMYK JPEG values are stored inverted (255 = no ink): red = C0 M255 Y255 K0.
    cmyk = np.zeros((16, 16, 4), np.uint8)
    cmyk[:, :8] = (255, 0, 0, 255)
    cmyk[:, 8:] = (0, 0, 255, 255)
    with open(path("ycck_16x16.jpg"), "wb") as f:
        f.write(simplejpeg.encode_jpeg(cmyk, quality=100, colorspace="CMYK", colorsubsampling="444"))
    ycck = Image.open(path("ycck_16x16.jpg"))
    assert ycck.mode == "CMYK" and ycck.info["adobe_transform"] == 2
    halves = Image.fromarray(np.concatenate([np.full((16, 8, 3), (255, 0, 0), np.uint8),
                                             np.full((16, 8, 3), (0, 0, 255), np.uint8)], axis=1))
    assert max_diff(ycck.convert("RGB"), halves) <= 3
    Image.fromarray(255 - cmyk, "CMYK").save(path("cmyk_16x16.jpg"), quality=100)
    assert max_diff(Image.open(path("cmyk_16x16.jpg")).convert("RGB"), halves) <= 3

    # 16-bit RGBA: values 257*k, so every 8-bit reduction gives k.
    px16 = [[(200, 0, 0, 255), (0, 0, 200, 128), (0, 255, 0, 0), (100, 100, 100, 255)],
            [(10, 20, 30, 64), (255, 255, 255, 255), (0, 0, 0, 255), (250, 120, 0, 200)]]
    rows = [[v * 257 for p in row for v in p] for row in px16]
    png.Writer(4, 2, bitdepth=16, greyscale=False, alpha=True).write(open(path("rgba16_4x2.png"), "wb"), rows)
    im16 = Image.open(path("rgba16_4x2.png"))
    assert im16.mode == "RGBA" and im16.getpixel((0, 0)) == (200, 0, 0, 255)
    on_white(im16).save(path("rgba16_4x2.expected.png"))
    grey = [[k * 257 for k in (0, 60, 128, 255)], [k * 257 for k in (1, 2, 254, 100)]]
    png.Writer(4, 2, bitdepth=16, greyscale=True).write(open(path("grey16_4x2.png"), "wb"), grey)

    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:4] = (220, 40, 40, 255)
    rgba[4:, :4] = (40, 40, 220, 128)
    rgba[4:, 4:] = (40, 220, 40, 0)
    Image.fromarray(rgba, "RGBA").save(path("rgba_lossless.webp"), lossless=True)
    on_white(Image.open(path("rgba_lossless.webp"))).save(path("rgba_lossless.expected.png"))
    u.save(path("rgb_lossy.webp"), quality=90)
    Image.open(path("rgb_lossy.webp")).convert("RGB").save(path("rgb_lossy.expected.png"))

    # Two-frame GIF: frame 0 has a transparent palette index (left half), frame 1 is blue.
    f0 = Image.new("P", (8, 4), 1)
    f0.putpalette([0, 0, 0, 230, 30, 30, 0, 0, 255] + [0] * (256 * 3 - 9))
    for y in range(4):
        for x in range(4):
            f0.putpixel((x, y), 0)
    f1 = Image.new("P", (8, 4), 2)
    f1.putpalette(f0.getpalette())
    f0.save(path("anim_2frames.gif"), save_all=True, append_images=[f1], transparency=0, duration=100,
            disposal=2, loop=0)
    gif = Image.open(path("anim_2frames.gif"))
    assert gif.n_frames == 2
    first = on_white(gif)
    assert first.getpixel((0, 0)) == (255, 255, 255) and first.getpixel((7, 3)) == (230, 30, 30)
    first.save(path("anim_2frames.expected.png"))

    total = sum(os.path.getsize(path(n)) for n in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total} bytes, to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
