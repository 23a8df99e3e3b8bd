#!/usr/bin/python3
"""Writes the Pillow reference outputs that PillowParityTest compares the RandAugment ops against.

Each record is the result of the Pillow call that timm 0.4.12's auto_augment.py makes for one op and argument,
on three small odd-sized test images (noise, a smooth picture with a disc, a gray picture). Needs Pillow and numpy
(Debian: apt-get install python3-pil python3-numpy). Output: a gzipped stream of records
  u16 name length, name (UTF-8), u16 width, u16 height, width*height*3 bytes (RGB)
named "input/K" for the inputs and "K/Op/arg" for the outputs.
usage: /usr/bin/python3 polaformer/scripts/make_pillow_golden.py
"""
import gzip
import os
import struct

import numpy as np
import PIL
from PIL import Image, ImageEnhance, ImageOps

FILL = (124, 116, 104)
W, H = 23, 17
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "test", "resources", "dev", "polaformer",
                   "data", "pillow-golden.bin.gz")


def inputs():
    rng = np.random.default_rng(20240601)
    noise = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    y, x = np.mgrid[0:H, 0:W]
    disc = (x - W * 0.6) ** 2 + (y - H * 0.4) ** 2 < (min(W, H) * 0.3) ** 2
    picture = np.stack([x * 255 // (W - 1), y * 255 // (H - 1), np.where(disc, 230, 40)], axis=-1).astype(np.uint8)
    gray = ((x * 7 + y * 11) % 200 + 30).astype(np.uint8)
    gray = np.stack([gray, gray, gray], axis=-1)
    return [Image.fromarray(a, "RGB") for a in (noise, picture, gray)]


def affine(img, matrix):
    return img.transform(img.size, Image.AFFINE, matrix, resample=Image.BICUBIC, fillcolor=FILL)


def solarize_add(img, add, thresh=128):
    lut = [min(255, i + add) if i < thresh else i for i in range(256)]
    return img.point(lut * 3)


OPS = [
    ("AutoContrast", None, ImageOps.autocontrast),
    ("Equalize", None, ImageOps.equalize),
    ("Invert", None, ImageOps.invert),
    *[("Posterize", b, lambda im, b=b: ImageOps.posterize(im, b)) for b in (0, 1, 2, 4)],
    *[("Solarize", t, lambda im, t=t: ImageOps.solarize(im, t)) for t in (26, 128)],
    ("SolarizeAdd", 99, lambda im: solarize_add(im, 99)),
    *[("Color", f, lambda im, f=f: ImageEnhance.Color(im).enhance(f)) for f in (0.19, 0.5, 1.81)],
    *[("Contrast", f, lambda im, f=f: ImageEnhance.Contrast(im).enhance(f)) for f in (0.19, 1.81)],
    *[("Brightness", f, lambda im, f=f: ImageEnhance.Brightness(im).enhance(f)) for f in (0.19, 1.81)],
    *[("Sharpness", f, lambda im, f=f: ImageEnhance.Sharpness(im).enhance(f)) for f in (0.19, 1.81)],
    *[("Rotate", d, lambda im, d=d: im.rotate(d, resample=Image.BICUBIC, fillcolor=FILL)) for d in (27.3, -13.9, 90)],
    ("ShearX", 0.27, lambda im: affine(im, (1, 0.27, 0, 0, 1, 0))),
    ("ShearY", -0.27, lambda im: affine(im, (1, 0, 0, -0.27, 1, 0))),
    ("TranslateXRel", 0.405, lambda im: affine(im, (1, 0, 0.405 * im.size[0], 0, 1, 0))),
    ("TranslateYRel", -0.3, lambda im: affine(im, (1, 0, 0, 0, 1, -0.3 * im.size[1]))),
    ("HFlip", None, lambda im: im.transpose(Image.FLIP_LEFT_RIGHT)),
    ("ResizedCrop", "3,2,15,11,32,29", lambda im: im.crop((3, 2, 18, 13)).resize((32, 29), Image.BICUBIC)),
    ("ResizedCrop", "0,0,23,17,8,6", lambda im: im.resize((8, 6), Image.BICUBIC)),
]


def record(name, img):
    a = np.asarray(img.convert("RGB"), dtype=np.uint8)
    n = name.encode()
    return struct.pack(">H", len(n)) + n + struct.pack(">HH", a.shape[1], a.shape[0]) + a.tobytes()


def main():
    out = []
    for k, img in enumerate(inputs()):
        out.append(record(f"input/{k}", img))
        for op, arg, fn in OPS:
            out.append(record(f"{k}/{op}/{'' if arg is None else arg}", fn(img)))
    with gzip.GzipFile(OUT, "wb", mtime=0) as f:
        f.write(b"".join(out))
    print(f"{os.path.normpath(OUT)}: {len(out)} records, Pillow {PIL.__version__}")


if __name__ == "__main__":
    main()
