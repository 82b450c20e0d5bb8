#!/bin/bash
# research-lab: jupyter.service's ExecStop. systemd runs it both when it stops
# Jupyter (then Jupyter is still running: EXIT_CODE is unset) and after
# Jupyter exited by itself. Only a clean exit of its own, Jupyter's idle
# shutdown, powers the instance off.
set -euo pipefail
if [ "${EXIT_CODE:-}" = exited ] && [ "${EXIT_STATUS:-}" = 0 ]; then
	echo "research-lab: Jupyter stopped itself after its idle timeout; powering off"
	systemctl poweroff --no-block
fi
