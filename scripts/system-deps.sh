#!/usr/bin/env bash
# Debian packages the test suite needs: Chromium for page tests, Noto CJK so Japanese renders,
# Pango and HarfBuzz's subsetter for the campaign posters (WeasyPrint; also needed to serve them).
# As root (as on CI machines) install what is missing; otherwise print the one command to run.
set -euo pipefail
packages=(chromium fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "installing ${missing[*]} (Debian packages for the browser and poster tests)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "missing Debian packages for the browser and poster tests; run:  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
