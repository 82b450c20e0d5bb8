#!/bin/bash
# research-lab: installs Jupyter Notebook (Python 3.11 venv) on Amazon Linux
# 2023 for its own user, without sudo, who owns the venv so that %pip install
# works in a notebook. The units, the server configuration and the
# environment are written by cloud-init; this script installs software and
# owners. Safe to run again: what the notebook user can change (the venv, its
# home) is touched only as that user, never by root.
set -euo pipefail
# shellcheck source=common.sh
. /usr/local/lib/research-lab/common.sh
# shellcheck source=/dev/null
. /etc/research-lab/notebooks.env
log_to /var/log/research-lab/jupyter-setup.log
cd / # python -m imports from the current folder: never one a user can write

retry dnf -y -q install python3.11 python3.11-pip awscli-2 util-linux nftables
home=$(dirname "$NOTEBOOK_DIR")
id -u "$NOTEBOOK_USER" >/dev/null 2>&1 ||
	useradd --system --home-dir "$home" --create-home --shell /sbin/nologin "$NOTEBOOK_USER"
# The sync has its own user (the instance's credentials are its and root's
# only) in the notebook user's group, which the notebook folder keeps (setgid).
id -u "$SYNC_USER" >/dev/null 2>&1 || useradd --system --shell /sbin/nologin "$SYNC_USER"
usermod -a -G "$NOTEBOOK_USER" "$SYNC_USER"
install -d -o "$NOTEBOOK_USER" -g "$NOTEBOOK_USER" -m 0750 "$home"
install -d -o "$NOTEBOOK_USER" -g "$NOTEBOOK_USER" -m 0755 /opt/jupyter
as_user() { runuser -u "$NOTEBOOK_USER" -- "$@"; }
as_user install -d -m 2770 "$NOTEBOOK_DIR"
[ -x /opt/jupyter/bin/python ] || as_user python3.11 -m venv /opt/jupyter
read -ra packages <<<"$JUPYTER_PACKAGES"
retry as_user /opt/jupyter/bin/pip install -q -c "$PIP_CONSTRAINTS" "${packages[@]}"
# The configuration holds the password hash: readable by the server only.
chown "root:$NOTEBOOK_USER" /etc/research-lab/jupyter_server_config.py
chmod 0640 /etc/research-lab/jupyter_server_config.py
