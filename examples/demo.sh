#!/usr/bin/env bash
# The main job on the embedded default: start the local CVAT server (`cvat-cli serve`) in a temporary
# directory, create a task from the sample images, upload its annotations, download frames, dump the
# annotations as COCO 1.0, then check and convert the dump offline. Stops the server when done.
#
#   bash examples/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
sample=examples/sample-task

echo "== building cvat-cli (release)" >&2
cargo build --release -q -p cvat-cli
cli=${CARGO_TARGET_DIR:-target}/release/cvat-cli

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 18080)
export PASS=demo-Password-1
"$cli" serve --bind "127.0.0.1:$port" --data-dir "$work/server" --admin-password "$PASS" > "$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
c=("$cli" --auth admin --server-host 127.0.0.1 --server-port "$port")
for _ in $(seq 100); do "${c[@]}" --quiet ls > /dev/null 2>&1 && break; sleep 0.2; done
echo "== local CVAT server on http://127.0.0.1:$port (data in $work/server)" >&2

set -x
"$cli" validate "$sample"
"$cli" convert "$sample" "$work/sample.xml" --to "CVAT for images 1.1"
id=$("${c[@]}" create street --labels "$sample/create-labels.json" --annotation_path "$work/sample.xml" \
      --annotation_format "CVAT 1.1" local "$sample"/images/*.jpg | sed -n 's/^Created task id //p')
"${c[@]}" ls --csv
mkdir -p "$work/frames"
"${c[@]}" frames "$id" 0-2 --outdir "$work/frames"
"${c[@]}" dump --format "COCO 1.0" "$id" "$work/coco.zip"
"$cli" validate "$work/coco.zip"
"$cli" convert "$work/coco.zip" "$work/yolo.zip" --to "YOLO 1.1" --frames "$sample/data_meta.json"
"${c[@]}" delete "$id"
set +x
echo "== done: task $id created, annotated, downloaded, converted and deleted" >&2
