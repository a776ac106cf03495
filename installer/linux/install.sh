#!/usr/bin/env bash
# Install the built Prune Studio bundle for this user (default) or for everyone (--system).
#
#   bash installer/linux/install.sh [--system] [BUNDLE_DIR]
#
# BUNDLE_DIR defaults to installer/dist/prune-studio (what installer/build.sh builds).
#   user:     ~/.local/opt/prune-studio, launcher ~/.local/bin/prune-studio,
#             menu entry and icons under ${XDG_DATA_HOME:-~/.local/share}
#   --system: /opt/prune-studio, launcher /usr/local/bin/prune-studio,
#             menu entry and icons under /usr/share (run as root)
# Undo with installer/linux/uninstall.sh (same --system flag).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SYSTEM=0
BUNDLE="$HERE/../dist/prune-studio"
for arg in "$@"; do
    case "$arg" in
        --system) SYSTEM=1 ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        -*) echo "install.sh: unknown option '$arg' (valid: --system, --help)" >&2; exit 2 ;;
        *) BUNDLE="$arg" ;;
    esac
done

if [ ! -x "$BUNDLE/prune-studio" ]; then
    echo "install.sh: no bundle at '$BUNDLE' (expected the executable $BUNDLE/prune-studio);" \
         "build it first with 'make installer' or pass the bundle folder." >&2
    exit 1
fi
BUNDLE="$(cd "$BUNDLE" && pwd)"

. "$HERE/locations.sh"

# Icons: from the bundle (PyInstaller puts data files under _internal/), else from the checkout.
ICONS=""
for candidate in "$BUNDLE/_internal/resources/icons" "$BUNDLE/resources/icons" "$HERE/../../resources/icons"; do
    if [ -f "$candidate/prune-studio.svg" ]; then ICONS="$candidate"; break; fi
done
if [ -z "$ICONS" ]; then
    echo "install.sh: the icons were not found in the bundle or the checkout." >&2
    exit 1
fi

echo "Installing $BUNDLE -> $PREFIX"
if [ "$BUNDLE" != "$PREFIX" ]; then
    rm -rf "$PREFIX.new"
    mkdir -p "$(dirname "$PREFIX")"
    cp -a "$BUNDLE" "$PREFIX.new"
    rm -rf "$PREFIX"
    mv "$PREFIX.new" "$PREFIX"
fi

mkdir -p "$BIN_DIR"
ln -sfn "$PREFIX/prune-studio" "$BIN_DIR/prune-studio"

mkdir -p "$DATA_DIR/applications"
sed -e "s|^Exec=prune-studio|Exec=$PREFIX/prune-studio|" \
    -e "s|^TryExec=prune-studio|TryExec=$PREFIX/prune-studio|" \
    "$HERE/prune-studio.desktop" > "$DATA_DIR/applications/prune-studio.desktop"

HICOLOR="$DATA_DIR/icons/hicolor"
for png in "$ICONS"/prune-studio-*.png; do
    size="$(basename "$png" .png)"
    size="${size#prune-studio-}"
    install -D -m 644 "$png" "$HICOLOR/${size}x${size}/apps/prune-studio.png"
done
install -D -m 644 "$ICONS/prune-studio.svg" "$HICOLOR/scalable/apps/prune-studio.svg"

# Refresh the desktop's caches when the tools exist; a missing tool is not an error.
command -v update-desktop-database >/dev/null && update-desktop-database -q "$DATA_DIR/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$HICOLOR" || true

echo "Installed. Start it from the applications menu or with: $BIN_DIR/prune-studio"
case ":$PATH:" in
    *":$BIN_DIR:"*) ;;
    *) echo "Note: $BIN_DIR is not on your PATH; add it to run 'prune-studio' by name." ;;
esac
