#!/usr/bin/env bash
# make demo: image-to-video end to end with nothing but the repository. `wan22 demo`
# writes tiny random-weight models into a temporary folder (removed afterwards),
# animates a generated test image and writes the video. It never overwrites
# anything: the video goes to the first of demo.mp4, demo-1.mp4, demo-2.mp4, …
# for which neither that name nor its .avi fallback exists yet.
set -euo pipefail
bin=${1:-bin/wan22}
if [ ! -x "$bin" ]; then
  echo "demo.sh: $bin is missing (or not executable): build it with make build, or run make demo, which builds it first" >&2
  exit 1
fi
name=demo
n=0
while [ -e "$name.mp4" ] || [ -e "$name.avi" ]; do
  n=$((n + 1))
  name=demo-$n
done
exec "$bin" demo -out "$name.mp4"
