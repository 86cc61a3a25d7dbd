#!/usr/bin/env bash
# Client benchmark: cvat-cli against the official Python cvat-cli 2.23.1, both against the same local
# `cvat-cli serve`, in one run. Prints times, peak memory and the ratios the targets are stated in
# (docs/benchmarks.md).
#
#   bash bench/client.sh            (1,000 JPEGs of ~100 KB, 500 frames, a 2 GB upload for memory)
#   BIG_GB=0 bash bench/client.sh   (skip the 2 GB memory run)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_DIR:-/tmp/cvat-bench-client}
venv=$root/.venv-bench-cli
big_gb=${BIG_GB:-2}
pw=bench-Password-1
mkdir -p "$work"

if [ ! -x "$venv/bin/cvat-cli" ]; then
  echo "== installing the official cvat-cli 2.23.1 into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "cvat-cli==2.23.1"
fi

echo "== building (release)" >&2
(cd "$root" && cargo build --release -q -p cvat-cli -p cvat-bench)
bin=${CARGO_TARGET_DIR:-$root/target}/release
cli=$bin/cvat-cli

[ -d "$work/jpegs" ] || "$bin/gen-jpegs" 1000 100 "$work/jpegs" >&2
if [ "$big_gb" != 0 ] && [ ! -d "$work/big" ]; then
  # 2 GB as 400 pictures of ~5 MB
  "$bin/gen-jpegs" $((big_gb * 200)) 5120 "$work/big" >&2
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
rm -rf "$work/server"
"$cli" serve --bind "127.0.0.1:$port" --data-dir "$work/server" --admin-password "$pw" > "$work/server.log" 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/api/server/about" > /dev/null && break; sleep 0.1; done

ours=("$cli" --auth "admin:$pw" --server-host 127.0.0.1 --server-port "$port" --quiet)
theirs=("$venv/bin/cvat-cli" --auth "admin:$pw" --server-host 127.0.0.1 --server-port "$port")
labels='[{"name": "object", "attributes": []}]'

declare -A T M
measure() {
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" > "$work/last.log" 2>&1 || {
    echo "!! $name failed:" >&2; tail -20 "$work/last.log" >&2; exit 1; }
  read -r t m < "$work/time.txt"
  T[$name]=$t
  M[$name]=$(python3 -c "print(round($m/1024,1))")
  printf '%-40s %8.2f s %9.1f MB\n' "$name" "$t" "${M[$name]}" >&2
}
task_id() { grep -oE '[0-9]+' "$work/last.log" | tail -1; }

files=("$work"/jpegs/*.jpg)
echo "== create: ${#files[@]} JPEGs ($(du -sh "$work/jpegs" | cut -f1))" >&2
measure "official create" "${theirs[@]}" create bench-official --labels "$labels" local "${files[@]}"
measure "cvat-cli create" "${ours[@]}" create bench-ours --labels "$labels" local "${files[@]}"
tid=$(task_id)

echo "== frames: 500 of task $tid" >&2
rm -rf "$work/f1" "$work/f2"; mkdir -p "$work/f1" "$work/f2"
measure "official frames" "${theirs[@]}" frames --outdir "$work/f1" "$tid" $(seq 0 499)
measure "cvat-cli frames" "${ours[@]}" frames --outdir "$work/f2" "$tid" 0-499
# ours are saved as the server sent them (the official client decodes and re-encodes them with PIL):
# check every one against the server's bytes, and that the official client saved as many
bad=0
for i in $(seq 0 499); do
  curl -sf -u "admin:$pw" "http://127.0.0.1:$port/api/tasks/$tid/data?type=frame&number=$i&quality=original" \
    | cmp -s - "$work/f2/task_${tid}_frame_$(printf %06d "$i").jpg" || bad=$((bad + 1))
done
echo "frames: $((500 - bad))/500 byte-identical to the server's; official saved $(ls "$work/f1" | wc -l)" >&2
[ "$bad" = 0 ] || { echo "!! cvat-cli frames differ from the server's" >&2; exit 1; }

if [ "$big_gb" != 0 ]; then
  echo "== memory: uploading $(du -sh "$work/big" | cut -f1)" >&2
  measure "cvat-cli create (big)" "${ours[@]}" create bench-big --labels "$labels" local "$work"/big/*.jpg
fi

ratio() { python3 -c "print(f'{$1/$2:.1f}')"; }
echo
echo "server: cvat-cli serve (local), $(nproc) cores; official client: cvat-cli 2.23.1"
printf '%-55s %s\n' "create 1000 JPEGs: official / cvat-cli (target >= 3x)" "$(ratio "${T[official create]}" "${T[cvat-cli create]}")x"
printf '%-55s %s\n' "500 frames: official / cvat-cli (target >= 5x)" "$(ratio "${T[official frames]}" "${T[cvat-cli frames]}")x"
if [ "$big_gb" != 0 ]; then
  printf '%-55s %s MB\n' "peak RSS uploading ${big_gb} GB (target < 100 MB)" "${M[cvat-cli create (big)]}"
fi
