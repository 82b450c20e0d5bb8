#!/bin/bash
# research-lab: lab-acme's deploy hook, run after each new certificate. The
# first time it switches Nginx to its HTTPS variant; if Nginx refuses that,
# the previous configuration comes back, so the site never breaks.
set -euo pipefail
conf=/etc/nginx/conf.d/voila.conf
previous=$(mktemp)
trap 'rm -f "$previous"' EXIT
cp -p "$conf" "$previous"
install -m 0644 /etc/research-lab/nginx/voila-https.conf "$conf"
if ! nginx -t; then
	echo "research-lab: Nginx refuses the HTTPS configuration; the site stays on HTTP" >&2
	cp -p "$previous" "$conf"
	exit 1
fi
systemctl reload nginx
echo "research-lab: Nginx serves the new certificate"
