#!/usr/bin/env bash
# Format benchmark: cvat-cli against datumaro 1.13 and a plain typed serde_json parse, on the same files,
# in one run. Prints times, peak memory and the ratios the targets are stated in (docs/benchmarks.md).
#
#   bash bench/run.sh [S|L]          (default L: 50k images, 500k annotations, ~125 MB)
#
# Needs python3 (datumaro is installed from PyPI into .venv-bench) and ../shared/bench/gen_coco.py.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size=${1:-L}
work=${BENCH_DIR:-/tmp/cvat-bench}
shared=${SHARED_DIR:-$root/../shared}
venv=$root/.venv-bench
mkdir -p "$work"

if ! "$venv/bin/python" -c "import datumaro, tabulate, scipy, matplotlib, tensorboardX" 2>/dev/null; then
  echo "== installing datumaro 1.13 into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "datumaro[cli]==1.13.*"
fi
datum_version=$("$venv/bin/python" -c 'import datumaro; print(datumaro.__version__)')

input_dir=$work/coco-$size
input=$input_dir/annotations/instances_default.json
if [ ! -f "$input" ]; then
  echo "== generating COCO $size" >&2
  python3 "$shared/bench/gen_coco.py" --size "$size" --out "$input_dir"
fi
input_mb=$(python3 -c "import os;print(round(os.path.getsize('$input')/1e6,1))")

echo "== building (release)" >&2
(cd "$root" && cargo build --release -q -p cvat-cli -p cvat-bench)
bin=${CARGO_TARGET_DIR:-$root/target}/release
cli=$bin/cvat-cli
baseline=$bin/coco-parse-baseline

# Outputs go to a tmpfs when there is one (both tools alike): creating 50,000 small files on this
# kind of VM disk took anywhere from 2 s to 25 s (ext4 with discard, after the previous run's rm -rf),
# which would measure the disk, not the converters.
if [ -z "${BENCH_OUT:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  BENCH_OUT=/dev/shm/cvat-bench-out
fi
out=${BENCH_OUT:-$work/out}
trap 'rm -rf "$out"' EXIT

# measure NAME RUNS CMD... : best wall time (s) and peak RSS (MB) over RUNS runs
declare -A T M
measure() {
  local name=$1 runs=$2; shift 2
  local best_t="" best_m=""
  for _ in $(seq "$runs"); do
    rm -rf "$out"; mkdir -p "$out"; sync
    /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" > "$work/last.log" 2>&1 || {
      echo "!! $name failed:" >&2; tail -20 "$work/last.log" >&2; exit 1; }
    read -r t m < "$work/time.txt"
    if [ -z "$best_t" ] || python3 -c "import sys; sys.exit(0 if $t < $best_t else 1)"; then best_t=$t; fi
    if [ -z "$best_m" ] || [ "$m" -lt "$best_m" ]; then best_m=$m; fi
  done
  T[$name]=$best_t
  M[$name]=$(python3 -c "print(round($best_m/1024,1))")
  printf '%-34s %8.2f s %9.1f MB\n' "$name" "$best_t" "${M[$name]}" >&2
}

echo "== running (input $input_mb MB, datumaro $datum_version)" >&2
measure "serde_json typed parse" 3 "$baseline" "$input"
measure "cvat-cli COCO->CVAT images" 3 "$cli" convert --from "COCO 1.0" --to "CVAT for images 1.1" "$input" "$out/annotations.xml"
measure "cvat-cli COCO->YOLO" 3 "$cli" convert --from "COCO 1.0" --to "YOLO 1.1" "$input" "$out/yolo/"
measure "datum COCO->CVAT" 2 "$venv/bin/datum" convert -if coco_instances -i "$input_dir" -f cvat -o "$out/cvat"
measure "datum COCO->YOLO" 2 "$venv/bin/datum" convert -if coco_instances -i "$input_dir" -f yolo -o "$out/yolo"

ratio() { python3 -c "print(f'{$1/$2:.1f}')"; }
echo
echo "input: $input ($input_mb MB), datumaro $datum_version, $(nproc) cores; outputs in $out; best of 3 runs (cvat-cli, serde) and of 2 (datum)"
printf '%-60s %s\n' "COCO->CVAT: datumaro / cvat-cli (target >= 50x)" "$(ratio "${T[datum COCO->CVAT]}" "${T[cvat-cli COCO->CVAT images]}")x"
printf '%-60s %s\n' "COCO->CVAT: cvat-cli / serde_json parse (target <= 2.5x)" "$(ratio "${T[cvat-cli COCO->CVAT images]}" "${T[serde_json typed parse]}")x"
printf '%-60s %s\n' "COCO->CVAT: cvat-cli peak RSS / input (target < 3x)" "$(ratio "${M[cvat-cli COCO->CVAT images]}" "$input_mb")x"
printf '%-60s %s\n' "COCO->YOLO: datumaro / cvat-cli (target >= 15x)" "$(ratio "${T[datum COCO->YOLO]}" "${T[cvat-cli COCO->YOLO]}")x"
printf '%-60s %s\n' "COCO->YOLO: cvat-cli peak RSS / input" "$(ratio "${M[cvat-cli COCO->YOLO]}" "$input_mb")x"
