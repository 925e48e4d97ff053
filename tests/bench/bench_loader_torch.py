"""PyTorch peer of bench_loader: torch.utils.data.DataLoader over the same aprep shards (h5py, one
handle per worker, opened lazily), random class-agnostic sampling, float output normalised (x/255-0.5)/0.5,
batch 128. Usage: /usr/bin/python3 bench_loader_torch.py [/tmp/fm] [images] [workers...]"""
import os, sys, time
import h5py, numpy as np, torch


class Shards(torch.utils.data.Dataset):
    def __init__(self, root, split):
        with h5py.File(os.path.join(root, split + ".h5"), "r") as m:
            self.files = [os.path.join(root, s.decode() if isinstance(s, bytes) else s) for s in m["shards"][()]]
            self.start = np.concatenate([[0], np.cumsum(m["shard_sizes"][()])])
            self.labels = m["labels"][()]
        self.h = {}

    def __len__(self):
        return int(self.start[-1])

    def __getitem__(self, i):
        s = int(np.searchsorted(self.start, i, side="right") - 1)
        if s not in self.h:
            self.h[s] = h5py.File(self.files[s], "r")["images"]
        x = torch.from_numpy(self.h[s][i - self.start[s]]).permute(2, 0, 1).float().div_(255).sub_(0.5).div_(0.5)
        return x, int(self.labels[i])


root = sys.argv[1] if len(sys.argv) > 1 else "/tmp/fm"
images = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
workers = [int(w) for w in sys.argv[3:]] or [0, 2]
torch.set_num_threads(1)
ds = Shards(root, "train")
for w in workers:
    dl = torch.utils.data.DataLoader(ds, batch_size=128, shuffle=True, num_workers=w, drop_last=True)
    it = iter(dl)
    next(it)
    done, t0 = 0, time.time()
    while done < images:
        try:
            x, y = next(it)
        except StopIteration:
            it = iter(dl)
            continue
        done += x.shape[0]
    print(f"torch DataLoader num_workers={w}: {done / (time.time() - t0):.0f} images/s")
