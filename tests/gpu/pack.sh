#!/usr/bin/env bash
# pack.sh — on the Debian build machine, after a CUDA build: pack what the GPU check runs into one
# compressed archive the device tool can carry (ignored folder .gpubin/, limit 64 MiB with the tree).
#
#     APT_BUILD_DIR=build launch/build.sh && tests/gpu/pack.sh          then carry .gpubin
#
# The archive .gpubin/aptgpu.tar.xz holds, at Debian's own paths below a prefix the run chooses:
#   bin/        stripped aptrain, the single-rank gpu-labelled test binaries (from tests/*/tests.cmake)
#               and the CUDA benchmarks bench_loss_cuda, bench_resnet_cuda, bench_nccl
#   usr/lib/... every shared library those binaries need (from `ldd`) except what a GPU host has:
#               the CUDA driver, cudart, cuBLAS(Lt), cuDNN, NCCL, glibc, libstdc++, libgcc_s
#   Open MPI's dlopened components (openmpi3/) with their own libraries and its help files, when a
#   binary links libmpi (the GPU host has no Open MPI; run.sh sets OPAL_PREFIX to the unpacked copy)
#   gpu-tests.txt  the test names run.sh runs;  gpu-mpi-tests.txt  multi-rank gpu tests ("NAME NP"), run
#                  under bin/mpirun (Open MPI's orterun, packed with orted and PMIx's plugins);
#   libdirs.txt    the library folders for LD_LIBRARY_PATH;
#   manifest.txt   commit, date, every file with its size and where it came from
# Prints the archive size and fails when the archive plus the tracked tree exceed 64 MiB.
# Env: APT_BUILD_DIR (default build), APT_GPU_PACK_OUT (default .gpubin), APT_GPU_PACK_LIMIT_MIB (64).
set -uo pipefail
die() { echo "pack.sh: $*" >&2; exit 1; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)" || die "cannot find the project root"
cd "$root" || die "cannot enter $root"
build="${APT_BUILD_DIR:-$root/build}"
out="${APT_GPU_PACK_OUT:-$root/.gpubin}"
limit_mib="${APT_GPU_PACK_LIMIT_MIB:-64}"
for tool in ldd strip tar xz readelf; do
    command -v "$tool" > /dev/null || die "'$tool' not found"
done
[ -x "$build/aptrain" ] || die "no $build/aptrain: build first (APT_BUILD_DIR=$build launch/build.sh)"

# What a GPU host provides (driver, CUDA toolkit / PyTorch wheels, glibc, the compiler runtime).
host_has='^(libcuda\.so|libcudart\.so|libcublas\.so|libcublasLt\.so|libcudnn[a-z_]*\.so|libnccl\.so|libc\.so|libm\.so|libmvec\.so|libpthread\.so|libdl\.so|librt\.so|libutil\.so|libresolv\.so|libanl\.so|libnsl\.so|ld-linux-x86-64\.so|linux-vdso\.so|libstdc\+\+\.so|libgcc_s\.so)'

# ---- 1. the binaries: aptrain, single-rank gpu-labelled tests, the CUDA benchmarks ----
# apt_test(NAME n SOURCES ... [NP k] [ARGS ...] LABELS ... gpu ...) on one line; NP ones need mpirun.
mapfile -t tests < <(grep -h 'apt_test(NAME' tests/*/tests.cmake | grep -E 'LABELS[^)]*\bgpu\b' \
    | grep -vE '\bNP [0-9]' | sed -E 's/.*NAME ([A-Za-z0-9_]+).*/\1/' | sort -u)
[ "${#tests[@]}" -gt 0 ] || die "no single-rank gpu-labelled tests found in tests/*/tests.cmake"
if grep -h 'apt_test(NAME' tests/*/tests.cmake | grep -E 'LABELS[^)]*\bgpu\b' | grep -q ' ARGS '; then
    die "a gpu-labelled test has ARGS; teach pack.sh and run.sh to carry them"
fi
find_bin() { # name -> path in the build tree (tests and benchmarks build into build/tests)
    local p
    for p in "$build/$1" "$build/tests/$1"; do [ -x "$p" ] && [ -f "$p" ] && { echo "$p"; return 0; }; done
    p=$(find "$build" -maxdepth 3 -type f -name "$1" -perm -u+x 2> /dev/null | head -1)
    [ -n "$p" ] && echo "$p"
}
# Multi-rank gpu-labelled tests (NP k): run by run.sh under the archive's own mpirun (the host has no
# Open MPI); listed as "NAME k" in gpu-mpi-tests.txt.
mapfile -t mpi_tests < <(grep -h 'apt_test(NAME' tests/*/tests.cmake | grep -E 'LABELS[^)]*\bgpu\b' \
    | grep -E '\bNP [0-9]' | sed -E 's/.*NAME ([A-Za-z0-9_]+).*\bNP ([0-9]+).*/\1 \2/' | sort -u)
bins=(aptrain "${tests[@]}" bench_loss_cuda bench_resnet_cuda bench_nccl)
for t in "${mpi_tests[@]}"; do bins+=("${t%% *}"); done
stage=$(mktemp -d) || die "mktemp failed"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin"
: > "$stage/manifest.txt"
for b in "${bins[@]}"; do
    src=$(find_bin "$b") || true
    [ -n "$src" ] || die "binary $b not found under $build (is the CUDA backend on? see $build/configure.log)"
    strip --strip-unneeded -o "$stage/bin/$b" "$src" || die "strip $src failed"
    echo "bin/$b $(stat -c %s "$stage/bin/$b") $src" >> "$stage/manifest.txt"
done
printf '%s\n' "${tests[@]}" > "$stage/gpu-tests.txt"
printf '%s\n' "${mpi_tests[@]}" > "$stage/gpu-mpi-tests.txt"
# The launcher for them: Open MPI's mpirun (orterun; it starts local ranks itself, no ssh, no orted
# needed on one node, but orted travels for completeness) — its libraries join the ldd closure below.
if [ "${#mpi_tests[@]}" -gt 0 ]; then
    for pair in "mpirun:$(command -v orterun || true)" "orted:$(command -v orted || true)"; do
        src=${pair#*:}
        [ -n "$src" ] || die "${pair%%:*}: Open MPI's orterun/orted not found (apt-get install openmpi-bin)"
        strip --strip-unneeded -o "$stage/bin/${pair%%:*}" "$(realpath "$src")" || die "strip $src failed"
        echo "bin/${pair%%:*} $(stat -c %s "$stage/bin/${pair%%:*}") $(realpath "$src")" >> "$stage/manifest.txt"
        bins+=("${pair%%:*}")
    done
fi

# ---- 2. their shared libraries (ldd: the transitive closure), less what the host has ----
declare -A libs=() # soname -> resolved path
add_ldd() {        # file: record every library ldd resolves; a library not found here is an error
    local line name path
    while IFS= read -r line; do
        name=$(awk '{print $1}' <<< "$line")
        case "$line" in
        *"=> not found"*)
            [[ $name =~ $host_has ]] || die "ldd $1: $name not found on this machine" ;;
        *"=> /"*)
            path=$(sed -E 's/.*=> ([^ ]+) .*/\1/' <<< "$line")
            [[ $name =~ $host_has ]] || libs[$name]=$path ;;
        esac
    done < <(ldd "$1" 2>&1)
}
for b in "${bins[@]}"; do add_ldd "$stage/bin/$b"; done

# ---- 3. Open MPI: it dlopens components (and their libraries) that ldd of a binary never shows ----
extra_dirs=()
if [ -n "${libs[libmpi.so.40]:-}" ]; then
    mca_dir=$(ompi_info --path pkglibdir --parsable 2> /dev/null | sed -n 's/^path:pkglibdir://p')
    [ -n "$mca_dir" ] || mca_dir=/usr/lib/x86_64-linux-gnu/openmpi/lib/openmpi3
    [ -d "$mca_dir" ] || die "Open MPI component folder $mca_dir not found"
    extra_dirs+=("$mca_dir" /usr/share/openmpi)
    for so in "$mca_dir"/*.so; do add_ldd "$so"; done
    # PMIx (mpirun's process-management server; external to Open MPI on Debian): its own plugins and help
    # files, found at the unpacked copy through PMIX_INSTALL_PREFIX and PMIX_MCA_mca_base_component_path
    # (tests/gpu/steps/two_ranks.sh; without the latter PMIx looks at its build path and warns).
    pmix_dir=$(dirname "$(dirname "$(realpath "${libs[libpmix.so.2]:-/usr/lib/x86_64-linux-gnu/pmix2/lib/libpmix.so.2}")")")
    if [ -d "$pmix_dir/lib/pmix" ]; then
        extra_dirs+=("$pmix_dir/lib/pmix" "$pmix_dir/share")
        for so in "$pmix_dir"/lib/pmix/*.so; do add_ldd "$so"; done
    fi
fi

# Copy each library to its real folder (symlinks such as /lib -> usr/lib and alternatives resolved)
# under its soname, so a prefix P plus the Debian path is where the run finds it.
declare -A dirs=()
for name in "${!libs[@]}"; do
    path=${libs[$name]}
    d=$(realpath "$(dirname "$path")") || die "realpath $path failed"
    mkdir -p "$stage$d"
    cp -L "$path" "$stage$d/$name" || die "copy $path failed"
    dirs[$d]=1
    echo "${d#/}/$name $(stat -c %s "$stage$d/$name") $(realpath "$path")" >> "$stage/manifest.txt"
done
for d in "${extra_dirs[@]}"; do
    mkdir -p "$stage$(dirname "$d")"
    cp -rL "$d" "$stage$d" || die "copy $d failed"
    echo "${d#/}/ $(du -sb "$d" | cut -f1) (folder)" >> "$stage/manifest.txt"
done
printf '%s\n' "${!dirs[@]}" | sort > "$stage/libdirs.txt"
{
    echo "# aptrain GPU archive: commit $(git rev-parse --short HEAD 2> /dev/null || echo '?')$(git diff --quiet HEAD 2> /dev/null || echo '+changes'), packed $(date -u '+%Y-%m-%d %H:%M UTC') on $(hostname)"
    echo "# $(ls "$stage/bin" | wc -l) binaries, ${#libs[@]} libraries; path bytes source"
    sort "$stage/manifest.txt"
} > "$stage/manifest.tmp" && mv "$stage/manifest.tmp" "$stage/manifest.txt"

# ---- 4. compress (one solid xz stream: the binaries share most of their bytes) ----
mkdir -p "$out" || die "cannot create $out"
raw=$(du -sb "$stage" | cut -f1)
t0=$SECONDS
tar -C "$stage" -cf - . | xz -T2 -9 > "$out/aptgpu.tar.xz.tmp" || die "tar | xz failed"
mv "$out/aptgpu.tar.xz.tmp" "$out/aptgpu.tar.xz"
cp "$stage/manifest.txt" "$out/manifest.txt"
size=$(stat -c %s "$out/aptgpu.tar.xz")
tree=$(git ls-files -z | xargs -0 stat -c %s 2> /dev/null | awk '{s += $1} END {print s + 0}')
total=$((size + tree))
mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
echo "pack.sh: ${#bins[@]} binaries (${#tests[@]} tests), ${#libs[@]} libraries$([ ${#extra_dirs[@]} -gt 0 ] && echo ", Open MPI components")"
echo "pack.sh: $(mib "$raw") raw -> $out/aptgpu.tar.xz $(mib "$size") in $((SECONDS - t0)) s; with the tracked tree ($(mib "$tree")): $(mib "$total") of $limit_mib MiB"
if [ "$total" -gt $((limit_mib * 1048576)) ]; then
    rm -f "$out/aptgpu.tar.xz" # never carry one the device tool would refuse
    die "too large: $(mib "$total") > $limit_mib MiB (archive removed)"
fi
echo "pack.sh: carry .gpubin; on the GPU host: tests/gpu/run.sh \"\$OUT\""
