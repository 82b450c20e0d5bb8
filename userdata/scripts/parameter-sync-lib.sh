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

# applied FILE: what a state file holds; nothing before a first run.
applied() { cat "$1" 2>/dev/null || true; }

# save FILE TEXT: replaces a state file at once; a crash leaves the old one.
save() {
	printf '%s\n' "$2" >"$1.new"
	mv "$1.new" "$1"
}
