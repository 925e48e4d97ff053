"""check_export.py RUN_DIR OUT.safetensors DATA_DIR — the exported weights in PyTorch give our embeddings.

Builds torchvision's resnet18 with a 1-channel conv1 (the synthetic images are 28x28x1) and fc replaced by
Linear(512, D), loads OUT.safetensors (strict, except BatchNorm's num_batches_tracked, which aptrain does
not keep), embeds the test split in eval mode (BatchNorm frozen, as trained) with the run's normalisation,
L2-normalises, and compares with RUN_DIR/embeddings_test.h5 written by aptrain's own evaluation.
Tolerance 1e-4 absolute on unit vectors: float32 convolutions summed in different orders (oneDNN vs
PyTorch's CPU kernels) differ in the last bits, a few ulps times the depth of the network.
"""
import json, re, struct, sys
import h5py, numpy as np, torch, torchvision

run, st, data = sys.argv[1:4]
with open(st, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    blob = f.read()
sd = {}
for name, t in header.items():
    if name == "__metadata__":
        continue
    assert t["dtype"] == "F32", (name, t["dtype"])
    a, b = t["data_offsets"]
    sd[name] = torch.from_numpy(np.frombuffer(blob[a:b], dtype="<f4").reshape(t["shape"]).copy())
D = sd["fc.weight"].shape[0]
model = torchvision.models.resnet18(weights=None)
model.conv1 = torch.nn.Conv2d(1, 64, 7, 2, 3, bias=False)
model.fc = torch.nn.Linear(512, D)
missing, unexpected = model.load_state_dict(sd, strict=False)
assert not unexpected, unexpected
assert all(m.endswith("num_batches_tracked") for m in missing), missing
model.eval()

cfg = open(f"{run}/config.yaml").read()
mean = float(re.search(r"^\s*mean: \[([^\],]*)\]", cfg, re.M).group(1))
std = float(re.search(r"^\s*std: \[([^\],]*)\]", cfg, re.M).group(1))
with h5py.File(f"{data}/test-00000.h5", "r") as f:
    x = f["images"][()].astype(np.float32) / 255.0  # [N, H, W, C]
x = torch.from_numpy((x - mean) / std).permute(0, 3, 1, 2).contiguous()
with torch.no_grad():
    ours_torch = torch.nn.functional.normalize(model(x), dim=1).numpy()
with h5py.File(f"{run}/embeddings_test.h5", "r") as f:
    emb = f["embeddings"][()]
    idx = f["indices"][()]
diff = np.abs(ours_torch[idx] - emb).max()
print(f"export: {len(sd)} tensors, D={D}, {len(idx)} test embeddings, max |torch - aptrain| = {diff:.2e}")
assert diff < 1e-4, diff
