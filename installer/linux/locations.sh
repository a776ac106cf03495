# Where install.sh puts Prune Studio and where uninstall.sh removes it from; sourced by both
# so the two can never disagree. Reads SYSTEM (1 for /opt and /usr/local, else ~/.local).
if [ "$SYSTEM" = 1 ]; then
    PREFIX=/opt/prune-studio
    BIN_DIR=/usr/local/bin
    DATA_DIR=/usr/share
else
    PREFIX="$HOME/.local/opt/prune-studio"
    BIN_DIR="$HOME/.local/bin"
    DATA_DIR="${XDG_DATA_HOME:-$HOME/.local/share}"
fi
