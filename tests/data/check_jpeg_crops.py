#!/usr/bin/python3
# check_jpeg_crops.py CASES OURS — the loader's jpeg transforms against Pillow/torchvision (Debian's
# /usr/bin/python3 with python3-pil and python3-torchvision). CASES: one line per sample
#   path mode y0 x0 h w flip d oh ow resize
# (mode train: RandomResizedCrop box y0 x0 h w in original pixels + flip; mode eval: Resize(resize) +
# CenterCrop(oh, ow)); d is the DCT scale denominator the loader used. OURS: the loader's uint8 outputs,
# [oh, ow, 3] each, concatenated.
#   d == 1, train: torchvision.transforms.functional.resized_crop (+ hflip) on the PIL image: bit-exact.
#   d == 1, eval:  torchvision Resize + CenterCrop: the loader resizes only the centre box of the whole image,
#                  whose filter centres equal Resize's up to float rounding: within 1/255 per pixel.
#   d > 1:         Pillow's own DCT-scaled decode (Image.draft, the same libjpeg-turbo scaled IDCT), then
#                  the same box resize (Image.resize(box=...)): bit-exact. How far the DCT-scaled result
#                  is from the full decode is printed by the C test (an interpolation difference, not an
#                  error: the decoder averages 2x2..8x8 blocks before the antialiased bilinear filter).
import math
import sys

import numpy as np
from PIL import Image
import torchvision.transforms as T
import torchvision.transforms.functional as F


def scaled_crop_ref(path, y0, x0, h, w, d, oh, ow, whole):
    im = Image.open(path)
    W0, H0 = im.size
    if d > 1:
        im.draft("RGB", (W0 // d, H0 // d))
        assert im.size == (-(-W0 // d), -(-H0 // d)), (im.size, W0, H0, d)
    im = im.convert("RGB")
    ws, hs = im.size
    fy0, fx0, fh, fw = y0 / d, x0 / d, h / d, w / d
    if whole:
        return im.resize((ow, oh), Image.BILINEAR, box=(fx0, fy0, fx0 + fw, fy0 + fh))
    iy0, ix0 = math.floor(fy0), math.floor(fx0)
    iy1 = min(math.ceil(fy0 + fh - 1e-9), hs)
    ix1 = min(math.ceil(fx0 + fw - 1e-9), ws)
    region = im.crop((ix0, iy0, ix1, iy1))
    bx, by = fx0 - ix0, fy0 - iy0
    return region.resize((ow, oh), Image.BILINEAR, box=(bx, by, bx + fw, by + fh))


def main():
    cases = [l.split() for l in open(sys.argv[1]) if l.strip()]
    ours = np.fromfile(sys.argv[2], dtype=np.uint8)
    off, fails = 0, 0
    worst = {}
    for c in cases:
        path, mode = c[0], c[1]
        y0, x0, h, w, flip, d, oh, ow, resize = (int(v) for v in c[2:])
        got = ours[off:off + oh * ow * 3].reshape(oh, ow, 3)
        off += oh * ow * 3
        if mode == "train":
            if d == 1:
                ref = F.resized_crop(Image.open(path).convert("RGB"), y0, x0, h, w, [oh, ow],
                                     T.InterpolationMode.BILINEAR)
            else:
                ref = scaled_crop_ref(path, y0, x0, h, w, d, oh, ow, False)
            if flip:
                ref = F.hflip(ref)
            tol = 0
        else:
            if d == 1:
                ref = T.Compose([T.Resize(resize), T.CenterCrop((oh, ow))])(Image.open(path).convert("RGB"))
                tol = 1
            else:
                W0, H0 = Image.open(path).size
                if W0 <= H0:  # torchvision's _compute_resized_output_size
                    rw, rh = resize, int(resize * H0 / W0)
                else:
                    rw, rh = int(resize * W0 / H0), resize
                sy, sx = H0 / rh, W0 / rw
                by, bx = round((rh - oh) / 2.0) * sy, round((rw - ow) / 2.0) * sx
                ref = scaled_crop_ref(path, by, bx, oh * sy, ow * sx, d, oh, ow, True)
                tol = 0
        ref = np.asarray(ref, dtype=np.int16)
        err = int(np.abs(ref - got.astype(np.int16)).max())
        key = (mode, d)
        worst[key] = max(worst.get(key, 0), err)
        if err > tol:
            fails += 1
            print(f"FAIL {path} {mode} box ({y0},{x0},{h},{w}) flip {flip} d {d}: max |diff| {err} > {tol}")
    assert off == ours.size, (off, ours.size)
    for (mode, d), e in sorted(worst.items()):
        n = sum(1 for c in cases if c[1] == mode and int(c[7]) == d)
        print(f"ok   {mode:5s} d={d}: {n:3d} samples, max |ours - reference| = {e} "
              f"({'torchvision' if d == 1 else 'Pillow draft + box resize'})")
    print("check_jpeg_crops:", "FAILED" if fails else "all samples match")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
