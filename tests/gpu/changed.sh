#!/usr/bin/env bash
# changed.sh — what changed since the last recorded GPU run, for whoever updates tests/gpu/changed.txt:
#
#     tests/gpu/changed.sh [PATH ...]     (default paths: src/backend/cuda tests/backend tests/gpu
#                                          tests/bench src/nn src/train)
#
# Reads the commit from the line `last-gpu-run-commit: <sha>` in tests/bench/RESULTS.md and prints it,
# the files under PATHs changed since it (committed, staged or in the working tree; `git diff --stat`),
# the commits since it that touched them, and the steps changed.txt names now. Exit 1 when RESULTS.md
# records no commit or git does not know it.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)" || exit 1
cd "$root" || exit 1
sha=$(sed -n 's/^last-gpu-run-commit: *\([0-9a-f]\{7,40\}\).*/\1/p' tests/bench/RESULTS.md | tail -1)
[ -n "$sha" ] || { echo "changed.sh: no 'last-gpu-run-commit: <sha>' line in tests/bench/RESULTS.md" >&2; exit 1; }
git cat-file -e "$sha^{commit}" 2> /dev/null || { echo "changed.sh: commit $sha unknown to git here" >&2; exit 1; }
paths=("$@")
[ ${#paths[@]} -gt 0 ] || paths=(src/backend/cuda tests/backend tests/gpu tests/bench src/nn src/train)
echo "last GPU run: $(git log -1 --format='%h %cs %s' "$sha" | cut -c1-110)"
echo
echo "## files changed since $(git rev-parse --short "$sha") under ${paths[*]}"
git diff --stat=110 "$sha" -- "${paths[@]}" | sed '$d'
echo
echo "## commits since then touching them"
git log --format='%h %cs %s' "$sha..HEAD" -- "${paths[@]}" | cut -c1-140
echo
echo "## steps tests/gpu/changed.txt names (run.sh --changed runs these)"
sed 's/#.*//' tests/gpu/changed.txt | awk 'NF { print "  " $1 }'
