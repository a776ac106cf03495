"""The Linux menu entry and the app icons are well formed."""

import configparser
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DESKTOP = ROOT / "installer" / "linux" / "prune-studio.desktop"
ICONS = ROOT / "resources" / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
# Main categories of the freedesktop.org menu specification.
MAIN_CATEGORIES = {"AudioVideo", "Audio", "Video", "Development", "Education", "Game", "Graphics",
                   "Network", "Office", "Science", "Settings", "System", "Utility"}


def _entry():
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive in .desktop files
    parser.read_string(DESKTOP.read_text(encoding="utf-8"))
    return parser


def test_desktop_entry_has_the_required_keys():
    parser = _entry()
    assert parser.sections() == ["Desktop Entry"]
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Prune Studio"
    assert entry["Terminal"] == "false"
    assert entry["Comment"]


def test_desktop_entry_exec_icon_and_categories():
    entry = _entry()["Desktop Entry"]
    command, *codes = entry["Exec"].split()
    assert command == "prune-studio" == entry["TryExec"]
    assert codes == ["%f"]  # a model file dropped on the launcher opens in the app
    assert entry["Icon"] == "prune-studio"
    assert (ICONS / f"{entry['Icon']}.svg").is_file()
    categories = entry["Categories"]
    assert categories.endswith(";")
    assert set(categories.rstrip(";").split(";")) & MAIN_CATEGORIES
    assert entry["Keywords"].endswith(";")


def test_icon_pngs_have_their_sizes():
    for size in SIZES:
        data = (ICONS / f"prune-studio-{size}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
        width, height, depth, color_type = struct.unpack(">IIBB", data[16:26])
        assert (width, height) == (size, size)
        assert color_type == 6  # RGBA: transparent corners around the rounded square


def test_icon_svg_is_square_svg():
    root = ET.parse(ICONS / "prune-studio.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == "0 0 512 512"


def test_windows_and_macos_icons_exist():
    ico = (ICONS / "prune-studio.ico").read_bytes()
    assert ico[:4] == b"\x00\x00\x01\x00"  # ICO header: reserved 0, type 1 (icon)
    assert (ICONS / "prune-studio.icns").read_bytes()[:4] == b"icns"
