#!/bin/bash
# research-lab: applies the team that SSM Parameter Store holds to this
# JupyterHub server. Each member gets a Unix user with their password's hash
# (chpasswd -e: never a password), the team's groups, a home and notebook
# folder of their own (no one else's: the sync copies it as the member), a
# link to the shared folder, and, the first time the member appears on this
# server, their notebooks from the bucket, before they may log in. A member
# whose folder is broken (a file, a link to another's) is named and passed
# over; the others and the removals go on. A removed member is locked, leaves the groups, and the hub stops
# their server and forgets their sessions; their files stay, here and in the
# bucket. The list is read only when its version differs from the one last
# applied. research-lab-members.timer runs it every minute; safe at any time.
set -euo pipefail
# shellcheck source=common.sh
. /usr/local/lib/research-lab/common.sh
# shellcheck source=/dev/null
. /etc/research-lab/notebooks.env
export AWS_DEFAULT_REGION AWS_REGION="$AWS_DEFAULT_REGION"

state=/var/lib/research-lab-members
{{include "scripts/parameter-sync-lib.sh" .}}

# as_member NAME CMD...: runs CMD as the member: root never writes where a
# member may (a link planted there could point anywhere).
as_member() {
	local name=$1
	shift
	(umask 0007 && setpriv --reuid="$name" --regid="$name" --init-groups env HOME="$MEMBERS_HOME/$name" "$@")
}

# forget NAME: the hub stops the member's server and forgets them, their
# sessions with them. False while the hub cannot say so (not started yet).
forget() {
	local status
	# The token goes to curl through a pipe, never its command line.
	status=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H @<(printf 'Authorization: token %s\n' "$(<"$HUB_STATE/members-api-token")") \
		"$HUB_API/users/$1") || status="no answer"
	case "$status" in
	204 | 404) return 0 ;;
	esac
	echo "research-lab: the hub did not remove $1 yet (HTTP $status); the next run tries again" >&2
	return 1
}

# apply_member NAME HASH: the member's user, folder and notebooks (written
# as the member: root never writes where a member may, a link planted there
# could point anywhere), and only then what lets them log in: the team's
# group and their password.
apply_member() {
	local name=$1 hash=$2 home="$MEMBERS_HOME/$1" link
	if ! id -u "$name" >/dev/null 2>&1; then
		useradd --create-home --home-dir "$home" --shell /bin/bash --user-group "$name"
		echo "$name" >>"$state/users"
	fi
	chown "$name:$name" "$home"
	chmod 0750 "$home"
	as_member "$name" install -d -m 2770 "$home/$MEMBER_NOTEBOOKS"
	# Once per member and server; never over a file already here.
	/usr/local/bin/notebook-sync restore "$name"
	if [ -n "$PUBLISH_FOLDER" ] && [ ! -e "$home/$MEMBER_NOTEBOOKS/$PUBLISH_FOLDER" ]; then
		as_member "$name" install -d -m 2770 "$home/$MEMBER_NOTEBOOKS/$PUBLISH_FOLDER"
	fi
	link="$home/$MEMBER_NOTEBOOKS/$SHARED_FOLDER"
	[ -e "$link" ] || [ -L "$link" ] || as_member "$name" ln -s "$SHARED_DIR" "$link"
	usermod -a -G "$TEAM_GROUP,$SHARED_GROUP" "$name"
	# A locked member coming back gets the hash whole, unlocked.
	printf '%s:%s\n' "$name" "$hash" | chpasswd -e
}

team=$(version "$MEMBERS_PARAMETER")
pending=$(applied "$state/leaving")
changed=no
[ "$team" = "$(applied "$state/version")" ] || changed=yes
if [ "$changed" = no ] && [ -z "$pending" ]; then
	exit 0
fi

members=""
retry_team=no
if [ "$changed" = yes ]; then
	list=$(member_list "$MEMBERS_PARAMETER")
	entries=$(printf '%s' "$list" | jq -r '.members[] | [.name, .passwordHash] | @tsv')
	unset list
	# Every member checked before anything changes: a bad list changes nothing.
	if [ -n "$entries" ]; then
		while IFS=$'\t' read -r name hash; do
			if ! [[ $name =~ ^[a-z][a-z0-9-]{0,31}$ && $hash =~ ^\$6\$rounds=[0-9]+\$[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}$ ]]; then
				echo "research-lab: the team's entry for \"$name\" is not a member with a SHA-512 crypt hash: nothing applied" >&2
				exit 1
			fi
			# A user this sync did not make (a system account) never becomes a member.
			if id -u "$name" >/dev/null 2>&1 && ! grep -qx "$name" "$state/users" 2>/dev/null; then
				echo "research-lab: \"$name\" is a user of this server that the lab did not make: nothing applied" >&2
				exit 1
			fi
		done <<<"$entries"
		members=$(cut -f1 <<<"$entries")
	fi

	if [ -n "$members" ]; then
		# The list on its own descriptor: nothing run for a member reads it.
		# Each member on their own (errexit holds in a background job, not
		# in a function called from a condition).
		while IFS=$'\t' read -r -u 3 name hash; do
			apply_member "$name" "$hash" &
			if ! wait $!; then
				echo "research-lab: $name: not applied, see above; the next run tries again" >&2
				retry_team=yes
			fi
		done 3<<<"$entries"
	fi
	unset entries

	# Who left: the members of the last list that are not in this one.
	previous=$(applied "$state/members")
	if [ -n "$previous" ]; then
		pending=$(printf '%s\n%s\n' "$pending" "$(comm -23 <(sort <<<"$previous") <(sort <<<"$members"))" | sed '/^$/d' | sort -u)
	fi
	# One who came back is no longer leaving.
	if [ -n "$pending" ] && [ -n "$members" ]; then
		pending=$(comm -23 <(sort <<<"$pending") <(sort <<<"$members"))
	fi
else
	members=$(applied "$state/members")
fi

left=""
if [ -n "$pending" ]; then
	while read -r -u 3 name; do
		if id -u "$name" >/dev/null 2>&1; then
			usermod -L "$name"
			gpasswd -d "$name" "$TEAM_GROUP" >/dev/null 2>&1 || true
			gpasswd -d "$name" "$SHARED_GROUP" >/dev/null 2>&1 || true
		fi
		if forget "$name"; then
			echo "research-lab: $name left the team: locked, server stopped; their notebooks stay"
		else
			left="$left$name"$'\n'
		fi
	done 3<<<"$pending"
fi
save "$state/members" "$members"
save "$state/leaving" "${left%$'\n'}"
# A member not applied: the same version is applied again next run.
[ "$retry_team" = yes ] || save "$state/version" "$team"
echo "research-lab: the team is $(wc -w <<<"$members") members (version $team)"
