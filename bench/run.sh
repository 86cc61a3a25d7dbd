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

# measure NAME CMD... : one run; keeps the best wall time (s) and peak RSS (MB) of NAME so far
declare -A T M ALL
measure() {
  local name=$1; shift
  rm -rf "$out"; mkdir -p "$out"; sync
  /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" > "$work/last.log" 2>&1 || {
    echo "!! $name failed:" >&2; tail -20 "$work/last.log" >&2; exit 1; }
  local t m
  read -r t m < "$work/time.txt"
  m=$(python3 -c "print(round($m/1024,1))")
  ALL[$name]="${ALL[$name]:-} $t"
  if [ -z "${T[$name]:-}" ] || python3 -c "import sys; sys.exit(0 if $t < ${T[$name]} else 1)"; then T[$name]=$t; fi
  if [ -z "${M[$name]:-}" ] || python3 -c "import sys; sys.exit(0 if $m < ${M[$name]} else 1)"; then M[$name]=$m; fi
  printf '  %-34s %8.2f s %9.1f MB\n' "$name" "$t" "$m" >&2
}

# Rounds, each running every command once, so that each tool's runs are spread over the whole
# benchmark: on a shared VM a slowdown lasting a few seconds would otherwise hit all the runs of a
# ~1 s command in a row. The short commands run in 5 rounds, datumaro (20-90 s a run, which averages
# such slowdowns out) in the first 2.
echo "== running (input $input_mb MB, datumaro $datum_version)" >&2
for round in 1 2 3 4 5; do
  echo "round $round" >&2
  measure "serde_json typed parse" "$baseline" "$input"
  measure "cvat-cli COCO->CVAT images" "$cli" convert --from "COCO 1.0" --to "CVAT for images 1.1" "$input" "$out/annotations.xml"
  measure "cvat-cli COCO->YOLO" "$cli" convert --from "COCO 1.0" --to "YOLO 1.1" "$input" "$out/yolo/"
  if [ "$round" -le 2 ]; then
    measure "datum COCO->CVAT" "$venv/bin/datum" convert -if coco_instances -i "$input_dir" -f cvat -o "$out/cvat"
    measure "datum COCO->YOLO" "$venv/bin/datum" convert -if coco_instances -i "$input_dir" -f yolo -o "$out/yolo"
  fi
done
echo >&2
declare -A MED
printf '%-34s %10s %10s %10s\n' "" "best" "median" "peak RSS" >&2
for name in "serde_json typed parse" "cvat-cli COCO->CVAT images" "cvat-cli COCO->YOLO" "datum COCO->CVAT" "datum COCO->YOLO"; do
  # shellcheck disable=SC2086
  MED[$name]=$(python3 -c "import statistics, sys; print(statistics.median(map(float, sys.argv[1:])))" ${ALL[$name]})
  printf '%-34s %8.2f s %8.2f s %7.1f MB\n' "$name" "${T[$name]}" "${MED[$name]}" "${M[$name]}" >&2
done

ratio() { python3 -c "print(f'{$1/$2:.1f}')"; }
echo
echo "input: $input ($input_mb MB), datumaro $datum_version, $(nproc) cores; outputs in $out; best (and median) of 5 interleaved rounds (cvat-cli, serde) and of 2 (datum)"
printf '%-60s %s\n' "COCO->CVAT: datumaro / cvat-cli (target >= 50x)" "$(ratio "${T[datum COCO->CVAT]}" "${T[cvat-cli COCO->CVAT images]}")x (medians: $(ratio "${MED[datum COCO->CVAT]}" "${MED[cvat-cli COCO->CVAT images]}")x)"
printf '%-60s %s\n' "COCO->CVAT: cvat-cli / serde_json parse (target <= 2.5x)" "$(ratio "${T[cvat-cli COCO->CVAT images]}" "${T[serde_json typed parse]}")x"
printf '%-60s %s\n' "COCO->CVAT: cvat-cli peak RSS / input (target < 3x)" "$(ratio "${M[cvat-cli COCO->CVAT images]}" "$input_mb")x"
printf '%-60s %s\n' "COCO->YOLO: datumaro / cvat-cli (target >= 15x)" "$(ratio "${T[datum COCO->YOLO]}" "${T[cvat-cli COCO->YOLO]}")x (medians: $(ratio "${MED[datum COCO->YOLO]}" "${MED[cvat-cli COCO->YOLO]}")x)"
printf '%-60s %s\n' "COCO->YOLO: cvat-cli peak RSS / input" "$(ratio "${M[cvat-cli COCO->YOLO]}" "$input_mb")x"
