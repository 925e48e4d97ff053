"""End-to-end: `aprep fashion-mnist OUT && aprep verify OUT`, then the DESIGN §4 contract checked
independently with h5py/numpy against the original idx.gz files (every pixel and label of both splits).
Usage: check_fashion_mnist.py APREP_BINARY. Exit 77 (skip) when the dataset package is absent."""
import gzip, os, shutil, subprocess, sys, tempfile, time

SRC = "/usr/share/datasets/fashion-mnist"
if not os.path.exists(os.path.join(SRC, "train-images-idx3-ubyte.gz")):
    print("SKIP: dataset-fashion-mnist not installed")
    sys.exit(77)
import h5py
import numpy as np

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
aprep = sys.argv[1]
tmp = tempfile.mkdtemp(prefix="apt_fm_")
out = os.path.join(tmp, "fm")
fails = 0


def check(cond, msg):
    global fails
    if not cond:
        fails += 1
        print("FAIL", msg)


def idx(path, magic, ndim):
    raw = gzip.open(path).read()
    assert int.from_bytes(raw[:4], "big") == magic
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def s(x):
    return x.decode() if isinstance(x, bytes) else str(x)


t0 = time.time()
subprocess.run([aprep, "fashion-mnist", out], check=True)
t1 = time.time()
subprocess.run([aprep, "verify", out], check=True)
t2 = time.time()
print(f"aprep fashion-mnist {t1 - t0:.2f} s, verify {t2 - t1:.2f} s")
check(not [n for n in os.listdir(tmp) if ".tmp." in n], "temp directory left beside OUT")

for split, prefix, n in (("train", "train", 60000), ("test", "t10k", 10000)):
    images = idx(os.path.join(SRC, f"{prefix}-images-idx3-ubyte.gz"), 0x803, 3)
    labels = idx(os.path.join(SRC, f"{prefix}-labels-idx1-ubyte.gz"), 0x801, 1)
    with h5py.File(os.path.join(out, f"{split}.h5"), "r") as m:
        a = m.attrs
        want = dict(format_version=2, num_samples=n, num_classes=10, height=28, width=28, channels=1)
        for k, v in want.items():
            check(k in a and int(a[k]) == v, f"{split}: attribute {k} = {a.get(k)}, want {v}")
        check(s(a["storage"]) == "raw" and s(a["name"]) == "fashion-mnist", f"{split}: storage/name attributes")
        check([s(c) for c in m["class_names"][()]] == CLASSES, f"{split}: class names")
        check(m["labels"].dtype == np.int32 and m["labels"].shape == (n,), f"{split}: /labels dtype/shape")
        check(np.array_equal(m["labels"][()], labels), f"{split}: manifest labels differ from the idx file")
        shards = [s(x) for x in m["shards"][()]]
        sizes = m["shard_sizes"][()]
        check(sum(sizes) == n and len(shards) == len(sizes), f"{split}: shard sizes")
    start = 0
    for i, (name, size) in enumerate(zip(shards, sizes)):
        check(name == f"{split}-{i:05d}.h5", f"{split}: shard name {name}")
        with h5py.File(os.path.join(out, name), "r") as f:
            d = f["images"]
            check(d.dtype == np.uint8 and d.shape == (size, 28, 28, 1), f"{name}: /images {d.dtype} {d.shape}")
            check(d.chunks == (1, 28, 28, 1) and d.compression is None, f"{name}: chunks {d.chunks}")
            check(np.array_equal(d[()][..., 0], images[start:start + size]), f"{name}: pixels differ from the idx file")
            check(np.array_equal(f["labels"][()], labels[start:start + size]), f"{name}: /labels")
            check(f["paths"].shape == (size,), f"{name}: /paths")
        start += size
    print(f"ok   {split}: {n} samples, {len(shards)} shards, pixels and labels equal the idx files")

print(subprocess.run(["h5ls", "-r", os.path.join(out, "train.h5")], capture_output=True, text=True).stdout)
shutil.rmtree(tmp)
print("check_fashion_mnist:", "FAILED" if fails else "all checks passed")
sys.exit(1 if fails else 0)
