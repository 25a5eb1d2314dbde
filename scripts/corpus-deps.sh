#!/usr/bin/env bash
# System packages the diverse corpora need (beyond `make run`/`make test`'s libfluidsynth3):
#   fluid-soundfont-gm  FluidR3_GM.sf2 (unseen-source accompaniment)
#   opl3-soundfont      OPL-3_FM_128M.sf2 (second training soundfont)
#   espeak-ng           the espeak-ng singer (unseen-source vocals)
# Installs them with apt-get when run as root, otherwise names them and exits 1.
set -euo pipefail
missing=()
[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || [ -n "${GENEX_SF2_FLUIDR3_GM:-}" ] || missing+=(fluid-soundfont-gm)
[ -f /usr/share/sounds/sf2/OPL-3_FM_128M.sf2 ] || missing+=(opl3-soundfont)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
{ ldconfig -p 2>/dev/null | grep -q 'libfluidsynth\.so\.3'; } || missing+=(libfluidsynth3)
if [ ${#missing[@]} -eq 0 ]; then
  echo "[corpus-deps] all corpus packages present"
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "[corpus-deps] installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "The corpora need these system packages: ${missing[*]}" >&2
  echo "Install them, e.g.:  sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
