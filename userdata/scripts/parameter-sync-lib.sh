# What the syncs of SSM parameters share (the VPNs' and the team's on
# Jupyter), included in each when rendered after it sets $state, its state
# directory: root's alone, and a run at a time.
umask 077
mkdir -p "$state"
exec 9>"$state/lock"
flock 9

{{/* The AWS CLI is .AWSCLI: version 2 on every server (Amazon Linux's
awscli-2, the VPN's aws-cli snap), whose get-parameter --query --output
text prints the bare value as version 1 did. Its output is captured by
$(...), never a terminal, so version 2 runs no pager (it pages only when
stdout is a TTY); nothing here passes a blob, so --cli-binary-format does
not apply. */ -}}
# version NAME: the parameter's version (not secret).
version() {
	local v
	v=$({{.AWSCLI}} ssm get-parameter --region "$AWS_REGION" --name "$1" --query Parameter.Version --output text)
	if ! [[ $v =~ ^[0-9]+$ ]]; then
		echo "research-lab: $1 has no version: $v" >&2
		return 1
	fi
	echo "$v"
}

# value NAME: the parameter's value, decrypted, for a variable in memory.
value() {
	{{.AWSCLI}} ssm get-parameter --region "$AWS_REGION" --name "$1" --with-decryption --query Parameter.Value --output text
}

# member_list NAME: the member list whose head is the parameter NAME, whole
# (memberparts.go): the head's value, or the parts it names, joined, once
# their digest is the head's. A name that is not one of the head's parts, a
# part that cannot be read, or parts of another update than the head's (read
# while the stack was being updated) fail: nothing is applied, and the next
# run reads them again.
member_list() {
	local head names part parts="" sum
	head=$(value "$1")
	if ! printf '%s' "$head" | jq -e 'has("parts")' >/dev/null; then
		printf '%s\n' "$head"
		return
	fi
	names=$(printf '%s' "$head" | jq -r '.parts[]')
	# Every name checked before any is read.
	while read -r part; do
		if [[ $part != "${1%-*}-part-"* || ! $part =~ ^[A-Za-z0-9_.-]+$ ]]; then
			echo "research-lab: $1 names \"$part\", which is not one of its parts: nothing applied" >&2
			return 1
		fi
	done <<<"$names"
	while read -r part; do
		if ! parts+=$(value "$part"); then
			echo "research-lab: $1's part $part cannot be read: nothing applied; the next run tries again" >&2
			return 1
		fi
		parts+=$'\n'
	done <<<"$names"
	sum=$(printf '%s' "$parts" | sha256sum)
	if [ "${sum%% *}" != "$(printf '%s' "$head" | jq -r .sha256)" ]; then
		echo "research-lab: the parts of $1 are not the ones it was written with (the stack is being updated?): nothing applied; the next run reads them again" >&2
		return 1
	fi
	printf '%s' "$parts" | jq -c -s '{members: map(.members[])}'
}

# applied FILE: what a state file holds; nothing before a first run.
applied() { cat "$1" 2>/dev/null || true; }

# save FILE TEXT: replaces a state file at once; a crash leaves the old one.
save() {
	printf '%s\n' "$2" >"$1.new"
	mv "$1.new" "$1"
}
