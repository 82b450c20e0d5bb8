#!/bin/bash
# research-lab: installs a team's JupyterHub on Amazon Linux 2023: the hub and
# the members' servers from one Python 3.11 venv, root's (members only read
# it; their own packages go to their user site), and the hub's proxy from the
# npm registry, exactly as the lock the userdata's digests pin. The units, the
# configurations and the environment are written by cloud-init; the members
# come from research-lab-members. Safe to run again: root runs only what root
# owns.
set -euo pipefail
# shellcheck source=common.sh
. /usr/local/lib/research-lab/common.sh
# shellcheck source=/dev/null
. /etc/research-lab/notebooks.env
log_to /var/log/research-lab/jupyter-setup.log
cd / # python -m imports from the current folder: never one a user can write

retry dnf -y -q install python3.11 python3.11-pip awscli-2 util-linux shadow-utils jq nodejs22 nodejs22-npm nftables
# The sync has its own user (the instance's credentials are its and root's
# only), in the shared folder's group and no member's: it sees a member's
# notebooks only as the copies the member's own rights made.
id -u "$SYNC_USER" >/dev/null 2>&1 || useradd --system --shell /sbin/nologin "$SYNC_USER"
getent group "$TEAM_GROUP" >/dev/null || groupadd --system "$TEAM_GROUP"
getent group "$SHARED_GROUP" >/dev/null || groupadd --system "$SHARED_GROUP"
usermod -a -G "$SHARED_GROUP" "$SYNC_USER"
install -d -o root -g root -m 0755 "$(dirname "$SHARED_DIR")"
install -d -o "$SYNC_USER" -g "$SHARED_GROUP" -m 2770 "$SHARED_DIR"
# The sync's state (which folders it restored), as the units' StateDirectory=
# makes it: the members' sync restores a member's folder before those run.
install -d -o "$SYNC_USER" -g "$SYNC_USER" -m 0755 /var/lib/research-lab

[ -x "$HUB_VENV/bin/python" ] || python3.11 -m venv --system-site-packages "$HUB_VENV"
read -ra packages <<<"$JUPYTER_PACKAGES"
retry "$HUB_VENV/bin/pip" install -q -c "$PIP_CONSTRAINTS" "${packages[@]}"

# The proxy: the package files from the bucket, checked against the digests
# in the userdata; npm ci installs exactly what the lock names, each package
# checked against its integrity hash, and runs no package's scripts.
install -d -m 0755 "$PROXY_DIR"
fetch_proxy() {
	local f
	for f in package.json package-lock.json; do
		aws s3 cp --only-show-errors "$PROXY_SOURCE$f" "$PROXY_DIR/$f" || return 1
	done
	(cd "$PROXY_DIR" && sha256sum --quiet --check /etc/research-lab/hub-proxy.sha256)
}
retry fetch_proxy
retry "$PROXY_NPM" ci --prefix "$PROXY_DIR" --omit=dev --ignore-scripts --no-audit --no-fund

# The hub's state: its database, cookie secret and the members' sync's API
# token, root's alone.
install -d -m 0700 "$HUB_STATE"
if [ ! -s "$HUB_STATE/members-api-token" ]; then
	(umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$HUB_STATE/members-api-token")
fi
chmod 0600 /etc/research-lab/jupyterhub_config.py
