# What the syncs of SSM parameters share (the VPNs' and the team's on
# Jupyter), included in each when rendered after it sets $state, its state
# directory: root's alone, and a run at a time.
umask 077
mkdir -p "$state"
exec 9>"$state/lock"
flock 9

# version NAME: the parameter's version (not secret).
version() {
	local v
	v=$(aws ssm get-parameter --region "$AWS_REGION" --name "$1" --query Parameter.Version --output text)
	if ! [[ $v =~ ^[0-9]+$ ]]; then
		echo "research-lab: $1 has no version: $v" >&2
		return 1
	fi
	echo "$v"
}

# value NAME: the parameter's value, decrypted, for a variable in memory.
value() {
	aws ssm get-parameter --region "$AWS_REGION" --name "$1" --with-decryption --query Parameter.Value --output text
}

# applied FILE: what a state file holds; nothing before a first run.
applied() { cat "$1" 2>/dev/null || true; }

# save FILE TEXT: replaces a state file at once; a crash leaves the old one.
save() {
	printf '%s\n' "$2" >"$1.new"
	mv "$1.new" "$1"
}
