#!/usr/bin/env bash
# Set up GenEx Lab on a Debian machine: system packages (as root through apt-get, or a clear
# message naming them), a .venv with the CPU torch pinned by $TORCH, and the project itself.
# Re-running on a set-up machine does nothing but a few checks (stamp file keyed by inputs).
#
# Usage: scripts/setup.sh [run|test|notebook]   (test also needs chromium for the browser tests;
#                                               notebook adds JupyterLab, the `notebook` extra)
# Env:   TORCH   the torch requirement to install first (default: torch==2.13.0, the CPU build
#                on this machine's disk). Bring your own: TORCH='torch==2.5.1' or TORCH='' to
#                keep whatever torch the venv already has.
#        PYTHON  interpreter used to create the venv (default: python3, must be >= 3.11)
set -euo pipefail
cd "$(dirname "$0")/.."

purpose="${1:-run}"
TORCH="${TORCH-torch==2.13.0}"
PYTHON="${PYTHON:-python3}"
VENV=.venv

say() { printf '[setup] %s\n' "$*"; }

# ---- system packages -------------------------------------------------------------------------
missing=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
{ ldconfig -p 2>/dev/null | grep -q 'libfluidsynth\.so\.3'; } || missing+=(libfluidsynth3)
if [ "$purpose" = test ]; then
  command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
  # the diverse corpus tests render with these singers and soundfonts (issue 9)
  command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
  [ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || missing+=(fluid-soundfont-gm)
  [ -f /usr/share/sounds/sf2/OPL-3_FM_128M.sf2 ] || missing+=(opl3-soundfont)
fi
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then missing+=(python3-venv); fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "GenEx Lab needs these system packages: ${missing[*]}" >&2
    echo "Install them, e.g.:  sudo apt-get install ${missing[*]}" >&2
    echo "(ffmpeg: museval/stempeg; libfluidsynth3: General MIDI rendering; chromium: browser tests;
 espeak-ng, fluid-soundfont-gm, opl3-soundfont: the diverse-corpus tests)" >&2
    exit 1
  fi
fi

# ---- Python environment ----------------------------------------------------------------------
"$PYTHON" - <<'PY' || { echo "GenEx Lab needs Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY
[ -x "$VENV/bin/python" ] || { say "creating $VENV"; "$PYTHON" -m venv "$VENV"; }

stamp_for() { echo "$VENV/.genex-setup-$( { cat pyproject.toml; echo "TORCH=$TORCH purpose=$1"; } | sha256sum | cut -c1-16)"; }
stamp=$(stamp_for "$purpose")
if [ -f "$stamp" ] && "$VENV/bin/python" -c 'import core, dashboard, torch, streamlit' >/dev/null 2>&1; then
  say "environment up to date ($stamp)"
  exit 0
fi

export PIP_DISABLE_PIP_VERSION_CHECK=1
if [ -n "$TORCH" ]; then
  say "installing $TORCH (CPU build by default; override with TORCH=...)"
  "$VENV/bin/pip" install -q "$TORCH"
fi
extra=""
[ "$purpose" = test ] && extra="[test]"
[ "$purpose" = notebook ] && extra="[notebook]"
say "installing GenEx Lab and its dependencies"
"$VENV/bin/pip" install -q -e ".$extra"
rm -f "$VENV"/.genex-setup-*
touch "$stamp"
# a test environment holds everything a run needs: `make run` after `make test` installs nothing
[ "$purpose" = test ] || [ "$purpose" = notebook ] && touch "$(stamp_for run)"
say "done"
