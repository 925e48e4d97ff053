# two_ranks.sh — run.sh step two_ranks (option --two-ranks; sourced by tests/gpu/run.sh; uses its helpers cap, run_capped,
# verdict, record, figure and its variables BIN, PREFIX, LOG, NGPU).
#
# Two ranks on the one GPU, launched by the archive's own mpirun (Open MPI's orterun, relocated with
# OPAL_PREFIX; PMIx's plugins through PMIX_MCA_mca_base_component_path; no Open MPI on the host): every multi-rank
# gpu-labelled test of gpu-mpi-tests.txt ("NAME NP"; all ranks share the one GPU):
#   test_two_ranks_cuda (NP 2)  the multi-rank device path: device cuda, dist.backend mpi (E all-gather,
#                               dE reduce-scatter, sync-BN float64 sums, gradient buckets staged through
#                               host memory) == one rank alone, within the test's stated tolerance
#   test_buckets (NP 2, 4)      the bucketed all-reduce on the host communicator (the launcher works)
# Without a device (tests/gpu/rehearse.sh) they run their CPU twins (APT_TEST_CPU_TWIN=1 on the guard
# backend): what a rehearsal can prove is the packed launcher and the harness.
# NCCL between ranks needs one GPU per rank: test_comm_nccl at W >= 2 has never run (one GPU per host).
step_two_ranks() {
    local list="$PREFIX/gpu-mpi-tests.txt" name np c f
    if [ ! -s "$list" ] || [ ! -x "$BIN/mpirun" ]; then
        record "two ranks" FAIL "the archive has no mpirun or no multi-rank gpu tests (tests/gpu/pack.sh too old?)"
        return
    fi
    local pmix
    pmix=$(find "$PREFIX/usr/lib" -maxdepth 3 -type d -name pmix2 2> /dev/null | head -1)
    while read -r name np; do
        [ -n "$name" ] || continue
        c=$(cap 180)
        [ "$c" -gt 0 ] || { record "$name np$np" SKIP "time budget spent"; continue; }
        f="$LOG/${name}_np${np}.log"
        # OMP threads: the host's cores shared by the ranks (run.sh's default is for one process).
        # Without a device (the bare-root rehearsal) the tests run their CPU twin on the guard backend,
        # so the packed launcher and the whole harness are proven before a GPU host runs them.
        local twin=()
        [ "$NGPU" -gt 0 ] || twin=(APT_TEST_CPU_TWIN=1 APT_GUARD_BACKEND=1)
        run_capped "$c" "$f" env ${pmix:+PMIX_INSTALL_PREFIX="$pmix" PMIX_MCA_mca_base_component_path="$pmix/lib/pmix"} "${twin[@]}" \
            OMP_NUM_THREADS=$(($(nproc) / np > 0 ? $(nproc) / np : 1)) \
            "$BIN/mpirun" --oversubscribe --bind-to none -np "$np" "$BIN/$name"
        verdict "$name np$np" "$f"
        if [ "$RC" -eq 0 ] && grep -q 'worst per-tensor' "$f"; then
            figure "### $name, $np ranks $([ "$NGPU" -gt 0 ] && echo 'on one GPU (dist.backend mpi)' || echo 'on the guard backend (CPU twin, no device)') vs 1 rank" \
                '```' "$(grep -E 'worst per-tensor|bitwise identical' "$f")" '```'
        fi
    done < "$list"
}
