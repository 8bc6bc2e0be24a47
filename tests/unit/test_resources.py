"""Resources are found from a checkout and from a bundle, and every glyph is legible.

The glyph checks render each icon for real (QtSvg, offscreen) on light and dark palettes
and look at the pixels, because a glyph that silently renders blank or in the wrong colour
is exactly the bug a user in a dark theme would hit.
"""

from __future__ import annotations

import configparser
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSize
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QImage, QPalette

from desktop import resources
from desktop.resources import (
    APP_ICON_SIZES,
    ICON_NAMES,
    app_icon,
    icon,
    icon_pixmap,
    resource_path,
    resources_root,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
LIGHT_TEXT = QColor("#1f1f1f")  # text colour of a light theme
DARK_TEXT = QColor("#ececec")  # text colour of a dark theme
FIXED_COLOUR_ICONS = {"status-read", "status-failed"}


def _opaque_pixels(image: QImage) -> list[QColor]:
    image = image.convertToFormat(QImage.Format.Format_ARGB32)
    return [
        image.pixelColor(x, y)
        for y in range(image.height())
        for x in range(image.width())
        if image.pixelColor(x, y).alpha() > 200
    ]


def _luminance(c: QColor) -> float:
    return 0.2126 * c.redF() + 0.7152 * c.greenF() + 0.0722 * c.blueF()


@pytest.fixture
def themed_palette(qapp: QGuiApplication) -> Iterator[None]:
    """Restore the application palette after a test changes it."""
    original = QPalette(qapp.palette())
    yield
    qapp.setPalette(original)


def test_resource_path_finds_files_in_a_checkout() -> None:
    assert resources_root() == REPO_ROOT / "resources"
    for name in ICON_NAMES:
        assert resource_path(f"icons/{name}.svg").is_file(), name
    assert resource_path("parley.desktop").is_file()
    assert resource_path("icons/parley.svg").is_file()


def test_resource_path_uses_the_pyinstaller_bundle_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resource_path("icons/send.svg") == tmp_path / "resources" / "icons" / "send.svg"


def test_resource_path_finds_wheel_data_files_when_installed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A non-editable install: the module sits in site-packages with no resources/ beside
    # it, and the wheel put the files in <prefix>/share/parley.
    site_packages = tmp_path / "lib" / "site-packages" / "desktop"
    site_packages.mkdir(parents=True)
    installed = tmp_path / "share" / "parley"
    (installed / "icons").mkdir(parents=True)
    (installed / "icons" / "send.svg").write_text("<svg/>", encoding="utf-8")
    monkeypatch.setattr(resources, "__file__", str(site_packages / "resources.py"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    assert resources_root() == installed
    assert resource_path("icons/send.svg").is_file()


@pytest.mark.parametrize("name", ICON_NAMES)
@pytest.mark.parametrize("text", [LIGHT_TEXT, DARK_TEXT], ids=["light", "dark"])
def test_every_glyph_renders_visibly_in_the_requested_colour(
    qapp: QGuiApplication, name: str, text: QColor
) -> None:
    qicon = icon(name, text)
    assert not qicon.isNull()
    image = qicon.pixmap(QSize(32, 32)).toImage()
    pixels = _opaque_pixels(image)
    # A 2px-stroke glyph on a 32px canvas covers well over 20 pixels; blank means broken.
    assert len(pixels) > 20, f"{name} rendered (nearly) empty"
    if name not in FIXED_COLOUR_ICONS:
        for c in pixels:
            assert abs(c.red() - text.red()) <= 2 and abs(c.blue() - text.blue()) <= 2, (
                f"{name} has pixel {c.name()} instead of {text.name()}"
            )


@pytest.mark.parametrize("name", sorted(FIXED_COLOUR_ICONS))
def test_coloured_status_icons_keep_their_colour_on_light_and_dark(
    qapp: QGuiApplication, name: str
) -> None:
    pixels = _opaque_pixels(icon_pixmap(name, 32).toImage())
    saturated = [c for c in pixels if c.hsvSaturationF() > 0.5]
    assert len(saturated) > 20, f"{name} should be drawn in its accent colour"
    mean = sum(_luminance(c) for c in saturated) / len(saturated)
    # Mid-luminance accents contrast with both a white and a near-black background.
    assert 0.2 < mean < 0.7


def test_default_colour_follows_the_palette(qapp: QGuiApplication, themed_palette: None) -> None:
    for text in (LIGHT_TEXT, DARK_TEXT):
        palette = QPalette(qapp.palette())
        palette.setColor(QPalette.ColorGroup.Active, QPalette.ColorRole.Text, text)
        qapp.setPalette(palette)
        pixels = _opaque_pixels(icon("send").pixmap(24, 24).toImage())
        assert pixels
        assert all(abs(c.green() - text.green()) <= 2 for c in pixels)


def test_disabled_mode_uses_the_disabled_text_colour(
    qapp: QGuiApplication, themed_palette: None
) -> None:
    palette = QPalette(qapp.palette())
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#808080"))
    qapp.setPalette(palette)
    image = icon("add", LIGHT_TEXT).pixmap(24, 24, QIcon.Mode.Disabled).toImage()
    pixels = _opaque_pixels(image)
    assert pixels
    assert all(abs(c.red() - 0x80) <= 2 for c in pixels)


def test_translucent_colour_fades_the_glyph_evenly(qapp: QGuiApplication) -> None:
    half = QColor(0, 0, 0, 128)
    image = icon_pixmap("add", 24, half).toImage()
    alphas = {image.pixelColor(12, y).alpha() for y in range(7, 17)}
    # Where the two strokes of the plus cross, the glyph is no darker than elsewhere.
    assert alphas and max(alphas) in range(120, 136)


def test_app_icon_has_every_png_size(qapp: QGuiApplication) -> None:
    qicon = app_icon()
    assert not qicon.isNull()
    available = {s.width() for s in qicon.availableSizes()}
    assert set(APP_ICON_SIZES) <= available
    for px in APP_ICON_SIZES:
        image = QImage(str(resource_path(f"icons/parley-{px}.png")))
        assert image.size() == QSize(px, px)
        # The mark is a filled square with rounded corners: the centre is opaque.
        assert image.pixelColor(px // 2, px // 2).alpha() == 255
        assert image.pixelColor(0, 0).alpha() == 0


def test_desktop_entry_is_a_valid_launcher() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(resource_path("parley.desktop"), encoding="utf-8")
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Parley"
    assert entry["Exec"] == "Parley"
    assert entry["Icon"] == "parley"
    assert entry["Terminal"] == "false"
    assert entry["StartupWMClass"] == "parley"
    assert {"Network", "InstantMessaging", "Chat"} <= set(
        filter(None, entry["Categories"].split(";"))
    )


def test_missing_glyph_raises_rather_than_rendering_blank(qapp: QGuiApplication) -> None:
    with pytest.raises(FileNotFoundError):
        resources.icon("no-such-glyph", LIGHT_TEXT)


def test_glyphs_have_a_transparent_background(qapp: QGuiApplication) -> None:
    image = icon_pixmap("close", 24, LIGHT_TEXT).toImage()
    assert image.hasAlphaChannel()
    assert image.pixelColor(0, 0).alpha() == 0
