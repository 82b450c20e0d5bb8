#!/bin/bash
# research-lab: installs lab-acme (the site's certificate client, built by
# `pulumi up`) from the bucket only if its SHA-256 is this userdata's.
{{- /*
Nothing runs the download before that check. Run as root by
voila-certificate.service. Safe to run again.
*/}}
set -euo pipefail
# shellcheck source=common.sh
. /usr/local/lib/research-lab/common.sh
# shellcheck source=/dev/null
. /etc/research-lab/notebooks.env
export AWS_DEFAULT_REGION
source={{shq .ACMEBinaryURI}}
digest={{shq .ACMEBinarySHA}}
bin=/usr/local/bin/lab-acme
verified() { echo "$digest  $1" | sha256sum --check --status; }

if [ -f "$bin" ] && verified "$bin"; then
	exit 0
fi
download=$(mktemp)
trap 'rm -f "$download"' EXIT
retry aws s3 cp --only-show-errors "$source" "$download"
if ! verified "$download"; then
	echo "research-lab: $source has SHA-256 $(sha256sum <"$download" | cut -d' ' -f1), not $digest as this server's userdata says: lab-acme NOT installed" >&2
	exit 1
fi
install -o root -g root -m 0755 "$download" "$bin.new"
mv -f "$bin.new" "$bin"
echo "research-lab: installed lab-acme $digest"
