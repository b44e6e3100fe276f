#!/usr/bin/env bash
# Runs every fuzz target for a bounded time and prints executions and crashes.
#   fuzz/run.sh [SECONDS_PER_TARGET]   (default 60)
# Needs the nightly toolchain and cargo-fuzz (installed here when missing).
# The protocol targets build without wasmtime; json_values needs the host
# crate (built with REGCENTER_SKIP_GUEST_BUILD=1) and the echo-types plugin
# from a normal build (`cargo build --release`), made here when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
[ -f target/plugins/echo_types.wasm ] || cargo build --release
# The fuzz builds reuse the main build's components instead of building their own.
export REGCENTER_SKIP_GUEST_BUILD=1 REGCENTER_PLUGIN_DIR="$PWD/target/plugins"
status=0
summary=""
for spec in protocol:frame_decoder protocol:messages values:json_values; do
  dir="fuzz/${spec%%:*}" target="${spec#*:}"
  mkdir -p "$dir/corpus/$target" "$dir/artifacts/$target"
  before=$(find "$dir/artifacts/$target" -type f | wc -l)
  log=$(mktemp)
  seeds=()
  [ -d "$dir/seeds" ] && seeds=("$dir/seeds")
  if ! cargo +nightly fuzz run --fuzz-dir "$dir" "$target" "$dir/corpus/$target" "${seeds[@]}" -- -max_total_time="$secs" >"$log" 2>&1; then
    status=1
  fi
  runs=$(grep -Eo '^Done [0-9]+ runs' "$log" | grep -Eo '[0-9]+' || echo "?")
  crashes=$(( $(find "$dir/artifacts/$target" -type f | wc -l) - before ))
  [ "$crashes" -eq 0 ] || status=1
  summary+=$(printf '%-14s %12s executions in %ss, %d crash(es)' "$target" "$runs" "$secs" "$crashes")$'\n'
  [ "$status" -eq 0 ] || tail -40 "$log"
  rm -f "$log"
done
printf '%s' "$summary"
exit "$status"
