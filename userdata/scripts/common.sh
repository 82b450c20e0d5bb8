# shellcheck shell=bash
# research-lab: helpers sourced by the setup and sync scripts.

# retry CMD...: runs CMD until it succeeds, waiting a little longer each time.
# Egress (the NAT gateway, the Elastic IP) may come up after the instance, so
# network steps wait instead of failing. RETRY_MAX bounds the attempts
# (default 40, about 20 minutes).
retry() {
	local attempt=1 max="${RETRY_MAX:-40}" delay
	until "$@"; do
		if [ "$attempt" -ge "$max" ]; then
			echo "research-lab: giving up after $attempt attempts: $*" >&2
			return 1
		fi
		delay=$((attempt < 6 ? attempt * 5 : 30))
		echo "research-lab: attempt $attempt failed, retrying in ${delay}s: $*" >&2
		sleep "$delay"
		attempt=$((attempt + 1))
	done
}

# log_to FILE: everything the script prints goes to FILE as well as to
# cloud-init's output (/var/log/cloud-init-output.log).
log_to() {
	mkdir -p "$(dirname "$1")"
	exec > >(tee -a "$1") 2>&1
	echo "research-lab: $(basename "$0") started $(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
