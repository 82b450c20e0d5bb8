#!/bin/bash
# research-lab: powers the instance off once no member's server has run for
# {{.IdleStopSeconds}}s (jupyterIdleStopMinutes); each member's idle server stops
# itself first. jupyter-team-idle.timer runs it every minute. The count starts
# at boot (its state lives in /run), so members have as long to log in.
set -euo pipefail
last="${RUNTIME_DIRECTORY:-/run/research-lab-idle}/last-active"
mkdir -p "$(dirname "$last")"
now=$(date +%s)
if [ ! -s "$last" ] ||
	systemctl list-units --no-legend --plain --state=active 'jupyter-*-singleuser.service' | grep -q .; then
	echo "$now" >"$last"
	exit 0
fi
idle=$((now - $(<"$last")))
if [ "$idle" -ge {{.IdleStopSeconds}} ]; then
	echo "research-lab: no member's server has run for ${idle}s; powering off"
	systemctl poweroff --no-block
fi
