#!/usr/bin/env bash
# Makes the Fashion-MNIST subset bundled as a jar resource (dev/polaformer/data/fashion-mnist/): the first
# TRAIN_COUNT training and the first TEST_COUNT test images with their labels, as gzipped IDX files.
# Source: Debian's dataset-fashion-mnist package (apt-get install dataset-fashion-mnist), which installs the
# original Zalando Research files in /usr/share/datasets/fashion-mnist/. Run from anywhere; the output is
# reproducible (gzip -n stores no name or time stamp).
#   usage: polaformer/scripts/make_fashion_mnist_subset.sh [SOURCE_DIR] [TRAIN_COUNT] [TEST_COUNT]
set -euo pipefail

src=${1:-/usr/share/datasets/fashion-mnist}
train_count=${2:-8000}
test_count=${3:-2000}
out="$(cd "$(dirname "$0")/.." && pwd)/src/main/resources/dev/polaformer/data/fashion-mnist"
mkdir -p "$out"

# An IDX header is a 4-byte magic (0 0 type dims) and one big-endian 4-byte size per dimension.
be32() { printf "\\x$(printf %02x $(($1 >> 24 & 255)))\\x$(printf %02x $(($1 >> 16 & 255)))\\x$(printf %02x $(($1 >> 8 & 255)))\\x$(printf %02x $(($1 & 255)))"; }

subset() {  # name count header-bytes bytes-per-item
    local name=$1 count=$2 header=$3 item=$4
    local file="$src/$name-ubyte.gz"
    [ -f "$file" ] || { echo "missing $file (apt-get install dataset-fashion-mnist)" >&2; exit 1; }
    local raw="$tmp/$name"
    gzip -dc "$file" > "$raw"
    local total
    total=$(od -An -tu1 -j4 -N4 "$raw" | awk '{print $1*16777216 + $2*65536 + $3*256 + $4}')
    [ "$count" -le "$total" ] || { echo "$file holds only $total items" >&2; exit 1; }
    {
        dd if="$raw" bs=1 count=4 status=none                       # magic
        be32 "$count"                                               # the new item count
        dd if="$raw" bs=1 skip=8 count=$((header - 8)) status=none  # the other dimensions (28, 28), if any
        dd if="$raw" bs=64K iflag=skip_bytes,count_bytes skip="$header" count=$((count * item)) status=none
    } | gzip -n -9 > "$out/$name-ubyte.gz"
    echo "$out/$name-ubyte.gz: $count of $total items, $(stat -c %s "$out/$name-ubyte.gz") bytes"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

subset train-images-idx3 "$train_count" 16 784
subset train-labels-idx1 "$train_count" 8 1
subset t10k-images-idx3 "$test_count" 16 784
subset t10k-labels-idx1 "$test_count" 8 1
