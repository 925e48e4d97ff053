#!/usr/bin/env bash
# test_help_config.sh APTRAIN KEYS_DEF — `aptrain --help-config` documents every key of the table
# (src/config/config_keys.def, the only place keys live): each key starts a line with its type and default,
# the row count equals the table's, and the listed choices of a name key are the ones the loader accepts
# (checked on `device`: every choice loads, an unlisted one is refused with the key named).
set -uo pipefail
apt=$1 def=$2
fail=0
out=$("$apt" --help-config) || { echo "FAIL: --help-config exited $?"; exit 1; }
mapfile -t keys < <(sed -nE 's/^APT_KEY\([A-Z0-9_]+, "([^"]+)".*/\1/p' "$def")
[ "${#keys[@]}" -gt 50 ] || { echo "FAIL: found only ${#keys[@]} keys in $def"; exit 1; }
for k in "${keys[@]}"; do
    grep -qE "^${k//./\\.} +[a-z0-9]+ +[^ ]" <<< "$out" || { echo "FAIL: key $k has no row (key type default meaning)"; fail=1; }
done
rows=$(sed 1,/^key\ /d <<< "$out" | grep -cE '^[a-z_]+(\.[a-z_0-9]+)* +[a-z0-9]+ ')
[ "$rows" -eq "${#keys[@]}" ] || { echo "FAIL: $rows key rows printed, the table has ${#keys[@]}"; fail=1; }
choices=$(grep -E '^device ' <<< "$out" | sed -nE 's/.*\(one of: ([^)]*)\).*/\1/p')
[ "$choices" = "auto, cpu, cuda" ] || { echo "FAIL: device choices '$choices'"; fail=1; }
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
echo "run_name: x" > "$tmp/c.yaml"
for d in auto cpu cuda; do # a listed choice passes the key's check (the run may fail later: no data here)
    if "$apt" check "$tmp/c.yaml" device=$d 2>&1 | grep -q "override 'device="; then echo "FAIL: device=$d refused"; fail=1; fi
done
msg=$("$apt" check "$tmp/c.yaml" device=tpu 2>&1)
grep -q "override 'device=tpu'" <<< "$msg" || { echo "FAIL: device=tpu not refused with the key named: $msg"; fail=1; }
[ $fail -eq 0 ] && echo "test_help_config: ${#keys[@]} keys documented, $rows rows"
exit $fail
