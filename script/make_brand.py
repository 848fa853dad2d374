"""Draw the integration's brand images: a SIM card glyph, and the glyph with the name.

Writes custom_components/prepaid_sim/brand/icon.png (256x256), icon@2x.png (512x512) and
logo.png (the glyph and "Prepaid SIM", 256 high). Home Assistant serves them from there
for a custom integration (Settings, Repairs, ...). Regenerate with:

    uv run --group run python script/make_brand.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

BRAND = Path(__file__).resolve().parents[1] / "custom_components" / "prepaid_sim" / "brand"

CARD = (37, 99, 235, 255)  # blue
CHIP = (251, 191, 36, 255)  # gold
CHIP_LINES = (180, 83, 9, 255)
TEXT = CARD  # readable on light and dark backgrounds alike
SUPERSAMPLE = 4


def _sim_card(size: int) -> Image.Image:
    """Draw the glyph on a transparent square of ``size`` pixels (anti-aliased)."""
    big = size * SUPERSAMPLE
    s = big / 256  # design units: a 256 grid
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)

    # The card: a portrait rounded rectangle with its top-right corner cut off.
    left, top, right, bottom = 44 * s, 16 * s, 212 * s, 240 * s
    cut = 56 * s
    card = Image.new("L", (big, big), 0)
    card_draw = ImageDraw.Draw(card)
    card_draw.rounded_rectangle((left, top, right, bottom), radius=18 * s, fill=255)
    card_draw.polygon([(right - cut, top - 1), (right + 1, top - 1), (right + 1, top + cut)], 0)
    image.paste(Image.new("RGBA", (big, big), CARD), (0, 0), card)

    # The chip: gold, with the contact pads' dividing lines.
    c_left, c_top, c_right, c_bottom = 80 * s, 108 * s, 176 * s, 204 * s
    draw.rounded_rectangle((c_left, c_top, c_right, c_bottom), radius=14 * s, fill=CHIP)
    line = round(5 * s)
    third = (c_bottom - c_top) / 3
    pad = 32 * s  # width of the side pads; the middle one is whole
    for k in (1, 2):
        y = c_top + k * third
        draw.line([(c_left, y), (c_left + pad, y)], fill=CHIP_LINES, width=line)
        draw.line([(c_right - pad, y), (c_right, y)], fill=CHIP_LINES, width=line)
    draw.line([(c_left + pad, c_top), (c_left + pad, c_bottom)], fill=CHIP_LINES, width=line)
    draw.line([(c_right - pad, c_top), (c_right - pad, c_bottom)], fill=CHIP_LINES, width=line)
    # Redraw the chip's outline so the lines end cleanly at its edge.
    draw.rounded_rectangle(
        (c_left, c_top, c_right, c_bottom), radius=14 * s, outline=CHIP_LINES, width=line
    )
    return image.resize((size, size), Image.Resampling.LANCZOS)


def _logo(height: int = 256) -> Image.Image:
    """Return the glyph followed by the name, trimmed, ``height`` pixels high."""
    icon = _sim_card(height)
    font = ImageFont.load_default(size=round(height * 0.42))
    text = "Prepaid SIM"
    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    x0, y0, x1, y1 = probe.textbbox((0, 0), text, font=font)
    gap = round(height * 0.06)
    logo = Image.new("RGBA", (height + gap + (x1 - x0), height), (0, 0, 0, 0))
    logo.paste(icon, (0, 0), icon)
    draw = ImageDraw.Draw(logo)
    draw.text((height + gap - x0, (height - (y1 - y0)) / 2 - y0), text, font=font, fill=TEXT)
    return logo.crop(logo.getbbox())


def main() -> None:
    """Write the brand images."""
    BRAND.mkdir(parents=True, exist_ok=True)
    images = {
        "icon.png": _sim_card(256),
        "icon@2x.png": _sim_card(512),
        "logo.png": _logo(256),
    }
    for name, image in images.items():
        image.save(BRAND / name, optimize=True)
        print(f"{BRAND / name}: {image.width}x{image.height}")


if __name__ == "__main__":
    main()
