#!/bin/bash
# research-lab: builds lab-acme (the site's ACME client) from its source in the
# bucket ($ACME_SOURCE: $ACME_FILES) when that changed, with the Go release its go.mod names and every
# module checked against go.sum. Safe to run again.
set -euo pipefail
# shellcheck source=common.sh
. /usr/local/lib/research-lab/common.sh
# shellcheck source=/dev/null
. /etc/research-lab/notebooks.env
export AWS_DEFAULT_REGION
src=/usr/local/src/lab-acme
bin=/usr/local/bin/lab-acme

command -v go >/dev/null || retry dnf -y -q install golang git # git: for a GOPROXY=direct default
fetched=$(mktemp -d)
trap 'rm -rf "$fetched"' EXIT
for f in $ACME_FILES; do
	retry aws s3 cp --only-show-errors "$ACME_SOURCE$f" "$fetched/$f"
done
if [ -x "$bin" ] && diff -rq "$fetched" "$src" >/dev/null 2>&1; then
	exit 0
fi
rm -rf "$src"
mkdir -p "$src"
cp "$fetched"/* "$src"/
cd "$src"
retry env HOME=/root GOPATH=/root/go GOTOOLCHAIN=auto GOFLAGS=-mod=readonly go build -trimpath -o "$bin.new" .
mv "$bin.new" "$bin"
