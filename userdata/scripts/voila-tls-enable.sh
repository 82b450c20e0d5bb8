#!/bin/bash
# research-lab: puts lab-acme's certificate in service (root, after each run).
{{- /*
With a certificate it switches Nginx to the HTTPS variant, and reloads Nginx
only when the certificate changed; if Nginx refuses, the previous
configuration comes back, so the site never breaks. Safe to run again.
*/}}
set -euo pipefail
cert={{.ACMEStateDir}}/cert.pem
key={{.ACMEStateDir}}/key.pem
conf=/etc/nginx/conf.d/voila.conf
https=/etc/research-lab/nginx/voila-https.conf
served=/var/lib/research-lab/served-certificate.sha256

if [ ! -s "$cert" ] || [ ! -s "$key" ]; then
	echo "research-lab: no certificate yet; the site stays on HTTP"
	exit 0
fi
current=$(cat "$cert" "$key" | sha256sum)
if cmp -s "$https" "$conf" && [ "$current" = "$(cat "$served" 2>/dev/null)" ]; then
	exit 0
fi
previous=$(mktemp)
trap 'rm -f "$previous"' EXIT
cp -p "$conf" "$previous"
install -m 0644 "$https" "$conf"
if ! nginx -t; then
	echo "research-lab: Nginx refuses the certificate; the previous configuration stays" >&2
	cp -p "$previous" "$conf"
	exit 1
fi
systemctl reload nginx
echo "$current" >"$served"
echo "research-lab: Nginx serves the new certificate"
