#!/usr/bin/python3
"""Photo-like synthetic JPEGs for the loader benchmark: ROOT/{train,test}/cNNN/NNNNN.jpg, 500x375 (every
third 375x500), multi-octave smooth noise (1/f spectrum like natural images) + shapes + film grain, saved by
Pillow at quality 90 (4:2:0): ~50-70 KB each, close to iNaturalist's photos of that size. Deterministic.
Usage: /usr/bin/python3 make_photos.py ROOT [train_images] [classes] [test_images]"""
import os
import sys

import numpy as np
from PIL import Image, ImageDraw

root = sys.argv[1]
n_train = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
classes = int(sys.argv[3]) if len(sys.argv) > 3 else 100
n_test = int(sys.argv[4]) if len(sys.argv) > 4 else 200
rng = np.random.default_rng(2026)


def photo(w, h):
    acc = np.zeros((h, w, 3), np.float32)
    for k, (gw, gh) in enumerate([(4, 3), (8, 6), (16, 12), (32, 24), (64, 48), (128, 96)]):
        g = rng.normal(0, 1, (gh, gw, 3)).astype(np.float32)
        up = np.stack([np.asarray(Image.fromarray(g[:, :, c]).resize((w, h), Image.BICUBIC)) for c in range(3)], -1)
        acc += up * (60.0 / (1.6 ** k))
    base = rng.uniform(60, 190, 3).astype(np.float32)
    img = Image.fromarray(np.clip(acc + base, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(3, 9))):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(10, w // 2)), y0 + int(rng.integers(10, h // 2))
        col = tuple(int(v) for v in rng.integers(0, 256, 3))
        (d.ellipse if rng.random() < 0.5 else d.rectangle)((x0, y0, x1, y1), fill=col)
    a = np.asarray(img).astype(np.float32) + rng.normal(0, 5, (h, w, 3)).astype(np.float32)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


for split, n in (("train", n_train), ("test", n_test)):
    for i in range(n):
        c = i % classes
        d = os.path.join(root, split, "c%03d" % c)
        os.makedirs(d, exist_ok=True)
        w, h = (375, 500) if i % 3 == 2 else (500, 375)
        photo(w, h).save(os.path.join(d, "%05d.jpg" % i), quality=90)
print(f"{root}: {n_train} train + {n_test} test photos, {classes} classes")
