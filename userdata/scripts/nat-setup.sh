#!/bin/bash
# research-lab: installs nftables on the NAT instance. The rules, the sysctl
# and the unit that loads them at every boot are written by cloud-init. Safe
# to run again.
set -euo pipefail
# shellcheck source=common.sh
. /usr/local/lib/research-lab/common.sh
log_to /var/log/research-lab/nat-setup.log

retry dnf -y -q install nftables
