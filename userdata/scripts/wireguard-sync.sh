#!/bin/bash
# research-lab: applies to the WireGuard server what SSM Parameter Store
# holds: its private key, and the team, one peer per member (their public
# key, their address). It writes wg0's configuration, root's alone, and with
# wg0 up applies it with `wg syncconf`, which keeps the tunnels of the members
# who stay. The values are read only when a version differs from the ones
# last applied; the key reaches no log and no command line.
# research-lab-vpn-sync.timer runs it every minute; safe to run at any time.
set -euo pipefail
# shellcheck source=common.sh
. /usr/local/lib/research-lab/common.sh
# shellcheck source=/dev/null
. /etc/research-lab/wireguard.env

conf=/etc/wireguard/$WG_INTERFACE.conf
state=/var/lib/research-lab/vpn-sync
{{include "scripts/parameter-sync-lib.sh" .}}
mkdir -p "${conf%/*}"

# ip4 ADDRESS: an IPv4 address as a number.
ip4() {
	local a b c d
	IFS=. read -r a b c d <<<"$1"
	echo $(((10#$a << 24) | (10#$b << 16) | (10#$c << 8) | 10#$d))
}

# member_address ADDRESS: an address of the tunnel network, not the server's.
member_address() {
	local octet='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])' bits=${WG_ADDRESS#*/} mask
	[[ $1 =~ ^$octet\.$octet\.$octet\.$octet$ ]] || return 1
	mask=$(((0xffffffff << (32 - bits)) & 0xffffffff))
	[ $(($(ip4 "$1") & mask)) -eq $(($(ip4 "${WG_ADDRESS%/*}") & mask)) ] && [ "$1" != "${WG_ADDRESS%/*}" ]
}

# A key as wg(8) writes it: 32 bytes in base64.
key_re='^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=$'

key_version=$(version "$WG_KEY_PARAMETER")
team_version=$(version "$VPN_MEMBERS_PARAMETER")
wanted="key $key_version, team $team_version"
if [ "$wanted" = "$(applied "$state/applied")" ] && [ -s "$conf" ]; then
	exit 0
fi
key=$(value "$WG_KEY_PARAMETER")
list=$(member_list "$VPN_MEMBERS_PARAMETER")
if ! [[ $key =~ $key_re ]]; then
	echo "research-lab: $WG_KEY_PARAMETER holds no WireGuard key: nothing applied" >&2
	exit 1
fi
# Every member checked before anything changes: a bad list changes nothing.
peers=$(printf '%s' "$list" | jq -r '.members[] | [.name, .publicKey, .address] | @tsv')
if [ -n "$peers" ]; then
	while IFS=$'\t' read -r name public address; do
		if ! [[ $name =~ ^[a-z][a-z0-9-]{0,31}$ && $public =~ $key_re ]] || ! member_address "$address"; then
			echo "research-lab: the team's entry for \"$name\" is not a member with a key and a tunnel address: nothing applied" >&2
			exit 1
		fi
	done <<<"$peers"
	if [ -n "$(cut -f2 <<<"$peers" | sort | uniq -d)$(cut -f3 <<<"$peers" | sort | uniq -d)" ]; then
		echo "research-lab: two members of the team share a key or an address: nothing applied" >&2
		exit 1
	fi
fi

# ListenPort and PrivateKey are always written: wg syncconf resets what the
# file leaves out.
new=$(mktemp "$conf.XXXXXX")
{
	echo "# research-lab: written by research-lab-vpn-sync from SSM ($wanted); edits are lost."
	echo "[Interface]"
	echo "Address = $WG_ADDRESS"
	echo "ListenPort = $WG_PORT"
	printf 'PrivateKey = %s\n' "$key"
	if [ -n "$peers" ]; then
		while IFS=$'\t' read -r name public address; do
			printf '\n[Peer]\n# %s\nPublicKey = %s\nAllowedIPs = %s/32\n' "$name" "$public" "$address"
		done <<<"$peers"
	fi
} >"$new"
mv "$new" "$conf"
unset key
if wg show "$WG_INTERFACE" >/dev/null 2>&1; then
	stripped=$(wg-quick strip "$conf")
	wg syncconf "$WG_INTERFACE" <(printf '%s\n' "$stripped")
	unset stripped
fi
save "$state/applied" "$wanted"
echo "research-lab: WireGuard serves $(grep -c '^\[Peer\]' "$conf") members ($wanted)"
