#!/usr/bin/env bash
# Installs the Debian packages the test suite uses for real: Chromium for the headless
# browser tests and the FusionInventory and OCS Inventory agents. Idempotent and quiet.
set -euo pipefail
need=()
# fonts-wqy-microhei: without a CJK font Chromium draws Chinese as boxes in screenshots.
for pkg in chromium fonts-wqy-microhei fusioninventory-agent ocsinventory-agent; do
  dpkg-query -W -f '${db:Status-Abbrev}' "$pkg" 2>/dev/null | grep -q '^ii' || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "Installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
# The agents' packages would start daemons/cron; policy-rc.d keeps services from starting.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
