#!/bin/bash
# research-lab: installs OpenVPN Access Server from OpenVPN's apt repository and
# configures it: public host name = the Elastic IP, the private subnets pushed
# as routes, client internet traffic not rerouted, NAT mode; the admin
# password and the team come from SSM Parameter Store, applied now and every
# minute by research-lab-vpn-sync, and are never written to disk. Safe to run
# again.
set -euo pipefail
# shellcheck source=common.sh
. /usr/local/lib/research-lab/common.sh
# shellcheck source=/dev/null
. /etc/research-lab/vpn.env
log_to /var/log/research-lab/vpn-setup.log

export DEBIAN_FRONTEND=noninteractive
if ! dpkg-query -W -f='${Status}' openvpn-as 2>/dev/null | grep -q "install ok installed"; then
	retry apt-get update -q
	retry apt-get install -y -q ca-certificates curl gnupg jq
	install -d -m 0755 /etc/apt/keyrings
	retry curl -fsSL --retry 3 -o /etc/apt/keyrings/openvpn-as.asc "$VPN_REPO_KEY_URL"
	echo "deb [arch=$(dpkg --print-architecture) signed-by=/etc/apt/keyrings/openvpn-as.asc] $VPN_REPO_URL $(. /etc/os-release && echo "$VERSION_CODENAME") main" \
		>/etc/apt/sources.list.d/openvpn-as.list
	retry apt-get update -q
	retry apt-get install -y -q openvpn-as unattended-upgrades
fi

{{include "scripts/aws-cli-snap.sh" .}}
sacli=/usr/local/openvpn_as/scripts/sacli
# The service answers a little after the package is installed.
RETRY_MAX=20 retry "$sacli" ConfigQuery >/dev/null

# A fresh Access Server logs a random initial password for openvpn. Replace it
# first with one nobody knows, so that it is useless even if a later step fails.
"$sacli" --user openvpn --new_pass "$(head -c 32 /dev/urandom | base64)" SetLocalPassword >/dev/null
# The sync below must then set the password from SSM again, and look at the
# team afresh.
rm -f /var/lib/research-lab/vpn-sync/admin-version /var/lib/research-lab/vpn-sync/members-version

put() { "$sacli" --key "$1" --value "$2" ConfigPut >/dev/null; }
put host.name "$VPN_HOSTNAME"
put cs.https.port "$VPN_WEB_PORT"
put admin_ui.https.port "$VPN_WEB_PORT"
put vpn.server.daemon.tcp.port "$VPN_TCP_PORT"
put vpn.server.daemon.udp.port "$VPN_UDP_PORT"
put vpn.server.routing.private_access nat
put vpn.client.routing.reroute_gw false
put vpn.client.routing.reroute_dns false
# Replace, not add to, the routes pushed to clients.
for i in $(seq 0 9); do
	"$sacli" --key "vpn.server.routing.private_network.$i" ConfigDel >/dev/null || true
done
i=0
for net in $VPN_PRIVATE_NETWORKS; do
	put "vpn.server.routing.private_network.$i" "$net"
	i=$((i + 1))
done

"$sacli" --user openvpn --key type --value user_connect UserPropPut >/dev/null
"$sacli" --user openvpn --key prop_superuser --value true UserPropPut >/dev/null
# The admin password and the team, from SSM; the timer keeps them in step.
retry /usr/local/sbin/research-lab-vpn-sync
"$sacli" start >/dev/null
systemctl enable openvpnas.service
systemctl daemon-reload
systemctl enable --now research-lab-vpn-sync.timer
echo "research-lab: OpenVPN Access Server ready at https://$VPN_HOSTNAME:$VPN_WEB_PORT/admin"
