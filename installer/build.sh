#!/usr/bin/env bash
# Build the one-folder desktop bundle of Prune Studio and prove it runs.
#
#   bash installer/build.sh          (what `make installer` runs)
#
# Installs the `installer` extra (PyInstaller) into the project's venv if missing, builds
# installer/dist/prune-studio/ from installer/prune-studio.spec, prints the bundle's size,
# then runs the bundle's `--self-test` headless and fails if it fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
DIST="$ROOT/installer/dist"
WORK="$ROOT/installer/build"
BUNDLE="$DIST/prune-studio"

cd "$ROOT"
if ! "$PY" -c "import PyInstaller" 2>/dev/null; then
    echo "== installing the installer extra (PyInstaller)"
    "$PY" -m pip install -q -e ".[installer]"
fi

echo "== building $BUNDLE (several minutes)"
start=$(date +%s)
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$DIST" --workpath "$WORK" installer/prune-studio.spec
echo "== built in $(( $(date +%s) - start )) s"

echo "== bundle size"
du -sh "$BUNDLE"
du -sb "$BUNDLE" | awk '{printf "%d bytes (%.0f MB)\n", $1, $1 / 1e6}'

echo "== self-test of the built bundle (offscreen)"
QT_QPA_PLATFORM=offscreen "$BUNDLE/prune-studio" --self-test
echo "== bundle OK: $BUNDLE"
