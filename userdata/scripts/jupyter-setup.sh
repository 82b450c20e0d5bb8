#!/bin/bash
# research-lab: installs Jupyter Notebook (Python 3.11 venv) on Amazon Linux
# 2023 for its own user, without sudo, who owns the venv so that %pip install
# works in a notebook. The units, the server configuration and the
# environment are written by cloud-init; this script installs software and
# owners. Safe to run again.
set -euo pipefail
# shellcheck source=common.sh
. /usr/local/lib/research-lab/common.sh
# shellcheck source=/dev/null
. /etc/research-lab/notebooks.env
log_to /var/log/research-lab/jupyter-setup.log

retry dnf -y -q install python3.11 python3.11-pip awscli-2
home=$(dirname "$NOTEBOOK_DIR")
id -u "$NOTEBOOK_USER" >/dev/null 2>&1 ||
	useradd --system --home-dir "$home" --create-home --shell /sbin/nologin "$NOTEBOOK_USER"
[ -x /opt/jupyter/bin/python ] || python3.11 -m venv /opt/jupyter
retry /opt/jupyter/bin/pip install -q --upgrade pip
read -ra packages <<<"$JUPYTER_PACKAGES"
retry /opt/jupyter/bin/pip install -q "${packages[@]}"
chown -R "$NOTEBOOK_USER:$NOTEBOOK_USER" /opt/jupyter
install -d -o "$NOTEBOOK_USER" -g "$NOTEBOOK_USER" -m 0750 "$home" "$NOTEBOOK_DIR"
# The configuration holds the password hash: readable by the server only.
chown "root:$NOTEBOOK_USER" /etc/research-lab/jupyter_server_config.py
chmod 0640 /etc/research-lab/jupyter_server_config.py
