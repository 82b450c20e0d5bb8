#!/bin/bash
# research-lab: installs Nginx and Voila (Python 3.11 venv) on Amazon Linux 2023.
# The units, the Nginx server block and the environment are written by
# cloud-init; this script installs software and owners. Safe to run again.
set -euo pipefail
# shellcheck source=common.sh
. /usr/local/lib/research-lab/common.sh
# shellcheck source=/dev/null
. /etc/research-lab/notebooks.env
log_to /var/log/research-lab/voila-setup.log
cd / # python -m imports from the current folder: never one a user can write

retry dnf -y -q install python3.11 python3.11-pip nginx awscli-2 nftables
# Nginx reads research-lab's nginx.conf: the Voila site and nothing else.
install -m 0644 /etc/research-lab/nginx/nginx.conf /etc/nginx/nginx.conf
id -u "$NOTEBOOK_USER" >/dev/null 2>&1 ||
	useradd --system --home-dir {{.VoilaHome}} --no-create-home --shell /sbin/nologin "$NOTEBOOK_USER"
# Voila's home is root's: its kernels cannot leave files there that run again.
install -d -o root -g root -m 0755 {{.VoilaHome}}
id -u "$SYNC_USER" >/dev/null 2>&1 || useradd --system --shell /sbin/nologin "$SYNC_USER"
# The static pages' render: no home, no login, no credentials.
id -u {{.Voila.StaticUser}} >/dev/null 2>&1 ||
	useradd --system --home-dir /nonexistent --no-create-home --shell /sbin/nologin {{.Voila.StaticUser}}
[ -x /opt/voila/bin/python ] || python3.11 -m venv /opt/voila
read -ra packages <<<"$VOILA_PACKAGES"
retry /opt/voila/bin/pip install -q -c "$PIP_CONSTRAINTS" "${packages[@]}"
# The sync's: Voila (its group) reads, its kernels cannot change it.
install -d -o "$SYNC_USER" -g "$NOTEBOOK_USER" -m 2750 "$NOTEBOOK_DIR"
# lab-acme's own user owns the webroot Nginx serves the ACME challenges from,
# and the account, certificate and key.
id -u {{.ACMEUser}} >/dev/null 2>&1 ||
	useradd --system --home-dir {{.ACMEStateDir}} --no-create-home --shell /sbin/nologin {{.ACMEUser}}
install -d -m 0755 /var/lib/research-lab
install -d -o {{.ACMEUser}} -g {{.ACMEUser}} -m 0755 {{.ACMEWebroot}}
install -d -o {{.ACMEUser}} -g {{.ACMEUser}} -m 0700 {{.ACMEStateDir}}
nginx -t
