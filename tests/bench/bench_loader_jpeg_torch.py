"""PyTorch peer of `bench_loader` on JPEG files: torchvision ImageFolder (PIL decode) with the official
recipes' transforms — train: RandomResizedCrop(224) + RandomHorizontalFlip + ToTensor + Normalize(ImageNet);
eval: Resize(256) + CenterCrop(224) + ToTensor + Normalize — through torch.utils.data.DataLoader, batch 128,
one intra-op thread. Usage: /usr/bin/python3 bench_loader_jpeg_torch.py ROOT [images] [workers...]
(ROOT holds train/ and test/ class folders, e.g. from make_photos.py; EVAL_SPLIT=train in the environment
makes eval read train/, as bench_loader --eval-split train)."""
import os
import sys
import time

import torch
import torchvision.transforms as T
from torchvision.datasets import ImageFolder

root = sys.argv[1]
images = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
workers = [int(w) for w in sys.argv[3:]] or [0]
torch.set_num_threads(1)
norm = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
tf = {
    "train": T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(), norm]),
    "eval": T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), norm]),
}
print(f"torch {torch.__version__}, {root}, batch 128, {images} images per run")
print(f"{'workers':<8} {'mode':<6} {'images/s':>10} {'images/CPU-second':>18}  (CPU time of this process only: workers=0)")
for w in workers:
    for mode, split in (("train", "train"), ("eval", os.environ.get("EVAL_SPLIT", "test"))):
        ds = ImageFolder(os.path.join(root, split), transform=tf[mode])
        done, t0, c0, first = 0, None, None, True
        while done < images:
            dl = torch.utils.data.DataLoader(ds, batch_size=128, shuffle=mode == "train", num_workers=w)
            for x, y in dl:
                if first:  # warm-up batch, as bench_loader
                    first, t0, c0 = False, time.time(), time.process_time()
                    continue
                done += x.shape[0]
                if done >= images:
                    break
        print(f"{w:<8} {mode:<6} {done / (time.time() - t0):>10.0f} {done / (time.process_time() - c0):>18.0f}")
