#!/bin/bash
# research-lab: applies to OpenVPN Access Server what SSM Parameter Store
# holds: the admin password, and the team, one Access Server user per member
# with their own password. A parameter's value is read only when its version
# differs from the one last applied, and nothing secret reaches a file or a
# log: the state holds versions and, per member the lab made, a salted slow
# hash of the password it set. research-lab-vpn-sync.timer runs it every
# minute; safe to run at any time.
set -euo pipefail
# shellcheck source=common.sh
. /usr/local/lib/research-lab/common.sh
# shellcheck source=/dev/null
. /etc/research-lab/vpn.env

sacli=/usr/local/openvpn_as/scripts/sacli
state=/var/lib/research-lab/vpn-sync
{{include "scripts/parameter-sync-lib.sh" .}}
mkdir -p "$state/members"

# password_hash PASSWORD: PBKDF2-SHA256 of the password, as Access Server
# keeps local passwords, with a random salt (stale compares with it). The
# password reaches python on stdin, never on its command line.
password_hash() {
	printf '%s' "$1" | python3 -c '
import hashlib, os, sys
salt = os.urandom(16)
key = hashlib.pbkdf2_hmac("sha256", sys.stdin.buffer.read(), salt, 100000)
print("pbkdf2-sha256:100000:" + salt.hex() + ":" + key.hex())'
}

# stale JSON: the members whose password is not the one the lab last set
# for them (no hash of it yet, or another), one a line. One python for the
# whole team: each member costs the hash's rounds, not a process. The
# passwords stay on stdin, as the shell would see them ($(...) drops a
# trailing newline).
stale() {
	printf '%s' "$1" | MADE="$state/members" python3 -c '
import hashlib, json, os, sys
for m in json.load(sys.stdin)["members"]:
    try:
        with open(os.path.join(os.environ["MADE"], m["name"])) as f:
            old = f.read().strip().split(":")
        key = hashlib.pbkdf2_hmac("sha256", m["password"].rstrip("\n").encode(), bytes.fromhex(old[2]), int(old[1])).hex()
        if len(old) == 4 and old[0] == "pbkdf2-sha256" and key == old[3]:
            continue
    except (OSError, ValueError, IndexError):
        pass
    print(m["name"])'
}

# apply_members JSON: a user for each member, with their password, changed
# only where it changed; the users the lab made for members no longer listed
# are deleted. Users the lab did not make (the admin openvpn, any made by
# hand) are never touched.
apply_members() {
	local list=$1 names users changed name password made hash failed=0
	names=$(printf '%s' "$list" | jq -r '.members[].name')
	for name in $names; do
		if ! [[ $name =~ ^[a-z][a-z0-9-]{0,31}$ ]] || [ "$name" = openvpn ]; then
			echo "research-lab: the team lists \"$name\", not a member name: nothing applied" >&2
			return 1
		fi
	done
	users=$("$sacli" UserPropGet | jq -r 'keys[]')
	changed=$(stale "$list")
	for name in $names; do
		made=$state/members/$name
		if [ ! -e "$made" ] && grep -qxF "$name" <<<"$users"; then
			echo "research-lab: $name is an Access Server user the lab did not make: left as it is" >&2
			failed=1
			continue
		fi
		if grep -qxF "$name" <<<"$users" && ! grep -qxF "$name" <<<"$changed"; then
			continue
		fi
		password=$(printf '%s' "$list" | jq -r --arg name "$name" '.members[] | select(.name == $name) | .password')
		# Remember the user before making it, so that an interrupted run
		# finishes it next time instead of taking it for someone else's.
		[ -e "$made" ] || save "$made" "made, no password yet"
		"$sacli" --user "$name" --key type --value user_connect UserPropPut >/dev/null
		"$sacli" --user "$name" --key user_auth_type --value local UserPropPut >/dev/null
		"$sacli" --user "$name" --new_pass "$password" SetLocalPassword >/dev/null
		hash=$(password_hash "$password")
		save "$made" "$hash"
		echo "research-lab: member $name connects with their password"
	done
	unset password
	for made in "$state"/members/*; do
		name=${made##*/}
		if [ ! -e "$made" ] || grep -qxF "$name" <<<"$names"; then
			continue
		fi
		if grep -qxF "$name" <<<"$users"; then
			"$sacli" --user "$name" UserPropDelAll >/dev/null
		fi
		rm -f "$made"
		echo "research-lab: member $name is removed"
	done
	return "$failed"
}

admin=$(version "$VPN_ADMIN_PASSWORD_PARAMETER")
if [ "$admin" != "$(applied "$state/admin-version")" ]; then
	password=$(value "$VPN_ADMIN_PASSWORD_PARAMETER")
	"$sacli" --user openvpn --new_pass "$password" SetLocalPassword >/dev/null
	unset password
	save "$state/admin-version" "$admin"
	echo "research-lab: the admin password (version $admin) is applied"
fi

team=$(version "$VPN_MEMBERS_PARAMETER")
if [ "$team" != "$(applied "$state/members-version")" ]; then
	list=$(member_list "$VPN_MEMBERS_PARAMETER")
	apply_members "$list"
	save "$state/members-version" "$team"
	echo "research-lab: the team (version $team) is applied"
fi
