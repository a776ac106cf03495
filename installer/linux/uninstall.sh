#!/usr/bin/env bash
# Remove what installer/linux/install.sh installed (pass --system if it was installed so).
#
#   bash installer/linux/uninstall.sh [--system]
set -euo pipefail

SYSTEM=0
for arg in "$@"; do
    case "$arg" in
        --system) SYSTEM=1 ;;
        -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
        *) echo "uninstall.sh: unknown argument '$arg' (valid: --system, --help)" >&2; exit 2 ;;
    esac
done

. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/locations.sh"

# Remove the install folder only if it holds our executable, never an unrelated folder.
if [ -d "$PREFIX" ]; then
    if [ -x "$PREFIX/prune-studio" ]; then
        rm -rf "$PREFIX"
        echo "Removed $PREFIX"
    else
        echo "uninstall.sh: $PREFIX does not look like a Prune Studio install; left it in place." >&2
    fi
fi

# The launcher is removed only if it is our link (or points at our install folder).
if [ -L "$BIN_DIR/prune-studio" ] || [ -e "$BIN_DIR/prune-studio" ]; then
    target="$(readlink "$BIN_DIR/prune-studio" || true)"
    if [ "$target" = "$PREFIX/prune-studio" ]; then
        rm -f "$BIN_DIR/prune-studio"
    else
        echo "uninstall.sh: $BIN_DIR/prune-studio is not our launcher; left it in place." >&2
    fi
fi

rm -f "$DATA_DIR/applications/prune-studio.desktop"
HICOLOR="$DATA_DIR/icons/hicolor"
rm -f "$HICOLOR"/*/apps/prune-studio.png "$HICOLOR/scalable/apps/prune-studio.svg"

command -v update-desktop-database >/dev/null && update-desktop-database -q "$DATA_DIR/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$HICOLOR" || true
echo "Prune Studio is uninstalled."
