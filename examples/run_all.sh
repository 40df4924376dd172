#!/usr/bin/env bash
# The series' four netcat runs, emulated: TCP and UDP over IPv4 and IPv6 loopback, each as
#     nc -l [-u] [-6] -k 1234 > /dev/null  &  head -c SIZE /dev/zero | nc [-u] ADDR 1234
# and each printing dd's line and what the fragment allocator did.
#
# usage: examples/run_all.sh [SIZE [ALLOCATOR]]    e.g. examples/run_all.sh 1G page_frag
#        SIZE as head -c takes it (default 32M); ALLOCATOR default page_frag_cache;
#        $PYTHON picks the interpreter (default python3).
set -euo pipefail

size=${1:-32M}
allocator=${2:-page_frag_cache}
python=${PYTHON:-python3}
here=$(cd "$(dirname "$0")" && pwd)

for flow in tcp4 udp4 tcp6 udp6; do
    echo "==> nc_${flow}.py ${size} ${allocator}"
    "$python" "$here/nc_${flow}.py" "$size" "$allocator"
    echo
done
echo "Done"
