#!/usr/bin/env bash
# Install every Debian 12 package aptrain needs to build, test and run its quickstart (idempotent, as root).
#   launch/install-deps.sh          build + run + test dependencies (incl. Python references for tests)
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  libopenmpi-dev openmpi-bin               # MPI communicator, mpirun
  libhdf5-openmpi-dev hdf5-tools           # dataset shards, checkpoints (parallel HDF5); h5ls/h5dump
  libyaml-dev                              # configs
  libopenblas-dev                          # CPU GEMM
  libdnnl-dev ocl-icd-opencl-dev           # oneDNN CPU convolutions
  libturbojpeg0-dev libjpeg-dev libpng-dev zlib1g-dev  # image decode/encode, idx.gz
  libcjson-dev                             # safetensors headers
  dataset-fashion-mnist                    # quickstart data
  python3-torch python3-numpy python3-h5py # test-time references only (never at run time)
  python3-pil                              # test-time reference for image resize/decode
  python3-torchvision                      # test-time reference: ResNet topology and names (tests/ref/nn_ref.py)
  slurmctld slurmd slurm-client munge      # tests/launch/test_slurm.sh: a private one-node Slurm cluster
  clang libclang-rt-14-dev libomp-dev      # tests/fuzz: libFuzzer targets and the ASan/UBSan tree (clang, its OpenMP)
  gnuplot-nox                              # launch/plot.sh (tested by tests/launch/test_run_tools.sh)
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or: sudo $0)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
