#!/bin/bash
# research-lab: the WireGuard server. Installs WireGuard's tools (the module
# is in Ubuntu 22.04's kernel) and the AWS CLI, forwards the members to the
# lab's private networks with this server's address, writes wg0's
# configuration from SSM Parameter Store (the private key and the team, kept
# in step every minute by research-lab-vpn-sync) and starts wg0. Safe to run
# again.
set -euo pipefail
# shellcheck source=common.sh
. /usr/local/lib/research-lab/common.sh
# shellcheck source=/dev/null
. /etc/research-lab/wireguard.env
log_to /var/log/research-lab/vpn-setup.log

export DEBIAN_FRONTEND=noninteractive
missing=()
for p in wireguard-tools nftables jq unattended-upgrades; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	retry apt-get update -q
	retry apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

{{include "scripts/aws-cli-snap.sh" .}}
systemctl daemon-reload
systemctl enable --now research-lab-vpn-nat.service
# The key and the team from SSM, looked at afresh: wg0's configuration.
rm -f /var/lib/research-lab/vpn-sync/applied
retry /usr/local/sbin/research-lab-vpn-sync
systemctl enable --now "wg-quick@$WG_INTERFACE.service" research-lab-vpn-sync.timer
echo "research-lab: WireGuard listens on $WG_PORT/udp as $WG_ADDRESS"
