"""Brand kits: the palette, fonts, logo, end card and caption style an agency hands over.

A kit is data (``templates/brands/<name>.json`` next to its logo), not code, so a director adds
a brand without touching Python. Paths inside a kit file are relative to that file, so a kit
folder can be copied anywhere; a font may also be one of the OFL fonts nbvideo ships
(``manrope``, ``manrope-extrabold``, ``league-spartan``), which Pillow and ffmpeg's drawtext
both read from the same file, so a caption measured here is the caption drawn there. A look's
files (logo, product reference) resolve here too: against the project and the bundled kits.

    >>> kit = load_brand("trailhead")
    >>> kit.font_path("headline").name
    'LeagueSpartan-Bold.otf'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, PrivateAttr, ValidationError

from nbvideo.errors import InvalidInput, from_validation, quote
from nbvideo.model.checked import Checked
from nbvideo.model.color import Color, hex_rgb, luma
from nbvideo.model.look import Look
from nbvideo.model.pack import BUILTIN, SLUG, installed_packs, pack_dir, packs_root, resolve_ref
from nbvideo.store.confine import confined_file

__all__ = [
    "BUNDLED_FONTS", "BrandKit", "CaptionStyle", "EndCard", "Fonts", "LogoPlacement",
    "brands_dir", "font_file", "list_brands", "load_brand", "logo_for", "look_roots",
    "project_brand", "reference_for",
]  # fmt: skip

_DATA = Path(__file__).parents[1] / "data" / "fonts"
BUNDLED_FONTS: dict[str, str] = {
    "manrope": "Manrope-Regular.ttf",
    "manrope-extrabold": "Manrope-ExtraBold.ttf",
    "league-spartan": "LeagueSpartan-Bold.otf",
}
Corner = Literal["top-left", "top-right", "bottom-left", "bottom-right"]


def brands_dir() -> Path:
    """Where the bundled kits live: ``brands/`` in the template pack (a real folder, in a wheel
    and in a source checkout alike)."""
    return pack_dir() / "brands"


def font_file(name: str, base: Path | None = None) -> Path:
    """A bundled font name, or a font file path (relative paths resolve against `base`).

    Raises InvalidInput naming the bundled fonts when neither is found: a missing font would
    otherwise only surface as an ffmpeg error halfway through an export. With a `base` (a
    kit's folder) the file must live inside it and load as a font.
    """
    if name.lower() in BUNDLED_FONTS:
        return _DATA / BUNDLED_FONTS[name.lower()]
    p = Path(name).expanduser()
    if not p.is_absolute() and base is not None:
        p = base / p
    if p.suffix.lower() not in (".ttf", ".otf") or not p.is_file():
        raise InvalidInput(
            f"font {name!r} is neither a .ttf/.otf file that exists nor a bundled font "
            f"({', '.join(BUNDLED_FONTS)})"
        )
    if base is None:  # named in code, not read from a kit file
        return p.resolve()
    return confined_file(name, field="brand kit font", roots=[("the brand kit's folder", base)],
                         kind="font")


class _Model(Checked):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Fonts(_Model):
    headline: str = Field("manrope-extrabold", description="Bundled font name or .ttf/.otf path.")
    body: str = Field("manrope", description="Bundled font name or .ttf/.otf path.")


class LogoPlacement(_Model):
    """Where the watermark sits. Sizes are fractions of the frame's SHORT side, so one kit
    gives the same-looking logo in 9:16 and 16:9; the corner is taken inside the safe area."""

    corner: Corner = "top-right"
    margin: float = Field(0.03, ge=0, le=0.2, description="Gap to the safe area's edge.")
    scale: float = Field(0.14, gt=0, le=0.5, description="Logo width / frame short side.")
    opacity: float = Field(0.85, ge=0, le=1)


class EndCard(_Model):
    """The closing card: call to action, URL, on the brand's background."""

    cta: str = Field("Shop now", min_length=1, max_length=60)
    url: str = Field("", max_length=80)
    duration_s: float = Field(2.0, ge=0.5, le=10)
    background: Color | None = Field(None, description="Defaults to the darkest palette colour.")
    text_color: Color | None = Field(None, description="Defaults to the lightest palette colour.")


class CaptionStyle(_Model):
    """How on-screen text and captions look. `size_pct` is of the frame height; layout shrinks
    the font toward `min_size_pct` when a line would not fit the safe area."""

    font: str = "manrope-extrabold"
    size_pct: float = Field(4.0, ge=1, le=15)
    min_size_pct: float = Field(2.4, ge=0.5, le=15)
    color: Color = "#ffffff"
    outline_color: Color = "#000000"
    outline_px: float = Field(3, ge=0, le=20, description="Pixels at 1080 frame height; scaled.")
    box: bool = False
    box_color: Color = "#000000"
    box_opacity: float = Field(0.55, ge=0, le=1)
    position: Literal["bottom", "top", "center"] = "bottom"
    max_lines: int = Field(2, ge=1, le=6)
    line_spacing: float = Field(1.18, ge=1, le=2, description="Line pitch / font size.")


class BrandKit(_Model):
    """Everything brand-specific about an export. `source` is the kit file it came from."""

    name: str = Field(min_length=1, max_length=60)
    palette: list[Color] = Field(min_length=1, max_length=8)
    fonts: Fonts = Field(default_factory=Fonts)
    logo: str | None = Field(None, description="PNG with transparency, relative to the kit file.")
    logo_placement: LogoPlacement = Field(default_factory=LogoPlacement)
    end_card: EndCard = Field(default_factory=EndCard)
    caption_style: CaptionStyle = Field(default_factory=CaptionStyle)
    _base: Path | None = PrivateAttr(default=None)

    @property
    def base_dir(self) -> Path | None:
        """Folder relative paths in the kit resolve against (the kit file's folder)."""
        return self._base

    def font_path(self, role: Literal["headline", "body", "caption"]) -> Path:
        name = self.caption_style.font if role == "caption" else getattr(self.fonts, role)
        return font_file(name, self._base)

    def logo_path(self) -> Path | None:
        """The logo file: inside the kit's folder (a kit built in code: the current folder)
        and an image that decodes, else InvalidInput/PathEscape naming the kit."""
        if self.logo is None:
            return None
        root = ("the brand kit's folder", self._base) if self._base is not None else (
            "the current folder", Path.cwd())
        return confined_file(self.logo, field=f"brand {self.name!r}: logo", roots=[root],
                             kind="image")

    @property
    def darkest(self) -> str:
        return min(self.palette, key=luma)

    @property
    def lightest(self) -> str:
        return max(self.palette, key=luma)

    @property
    def accent(self) -> str:
        """The most saturated palette colour: highlights, rules, the CTA button."""
        return max(self.palette, key=lambda c: max(hex_rgb(c)) - min(hex_rgb(c)))


def _kit_files() -> dict[str, Path]:
    """Kit name -> file: the bundled kits by bare name, installed packs' as ``pack/name``."""
    found = {p.stem: p for p in sorted(brands_dir().glob("*.json"))}
    for pack, folder in installed_packs().items():
        found.update({f"{pack}/{p.stem}": p for p in sorted((folder / "brands").glob("*.json"))})
    return found


def _kit_file(name: str) -> Path | None:
    """The kit file a name picks (bundled, ``pack/name``, or a bare name only one pack has)."""
    files = _kit_files()
    key = resolve_ref(name, files, what="brand kit")
    return files[key] if key is not None else None


def _pack_ref(name: str) -> bool:
    """'acme/bold' names a kit in an installed pack (not a file in the project)."""
    pack, sep, kit = name.partition("/")
    return bool(sep and SLUG.match(pack) and SLUG.match(kit)
                and (pack == BUILTIN or pack in installed_packs()))


def list_brands() -> list[str]:
    """The kits a name can pick: bundled ones, then ``pack/name`` for installed packs'."""
    return sorted(_kit_files())


def load_brand(name_or_path: str | Path) -> BrandKit:
    """A bundled kit by name ('trailhead'), or a kit JSON file anywhere on disk.

    Errors name the file and field (pydantic's path), or list the bundled kits.
    """
    p = Path(name_or_path).expanduser()
    if not (p.suffix.lower() == ".json" or p.is_file()):
        found = _kit_file(str(name_or_path))
        if found is None:
            raise InvalidInput(
                f"no brand kit {quote(str(name_or_path))}; bundled kits are {', '.join(list_brands())}"
                " (or pass the path of a kit .json file)"
            )
        p = found
    if not p.is_file():
        raise InvalidInput(f"brand kit file {p} does not exist")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        kit = BrandKit.model_validate(data)
    except json.JSONDecodeError as e:
        raise InvalidInput(f"{p}: not valid JSON ({e.msg} at line {e.lineno})") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{p}: not valid JSON (not UTF-8 text)") from None
    except ValidationError as e:
        raise from_validation(e, prefix=f"{p}: ") from None
    kit._base = p.parent.resolve()
    # Fail at load, not mid-export: every font and the logo must resolve.
    for role in ("headline", "body", "caption"):
        kit.font_path(role)  # type: ignore[arg-type]
    kit.logo_path()
    return kit


def project_brand(brand: str, project_root: Path) -> BrandKit:
    """The kit a project's finishing names: a bundled kit by name, or a kit file inside the
    project (`p.finish(brand="kits/acme.json")`), never a file elsewhere on disk."""
    if brand.lower().endswith(".json") or "\\" in brand or ("/" in brand and not _pack_ref(brand)):
        return load_brand(confined_file(brand, field="finish: brand",
                                        roots=[("the project folder", project_root)]))
    found = _kit_file(brand)
    if found is None:
        raise InvalidInput(
            f"no brand kit {brand!r}; bundled kits are {', '.join(list_brands())}"
            " (or pass the path of a kit .json file)"
        )
    return load_brand(found)



def finishing_kit(brand: str | None, project_root: Path) -> BrandKit | None:
    """The kit a project's finishing names (`Finishing.brand`), or None without one."""
    return project_brand(brand, project_root) if brand else None


# --------------------------------------------------------------------------- a look's files

def look_roots(base: Path | None) -> list[tuple[str, Path]]:
    """Where a look's files may live: the project folder, the bundled brand kits' folder and
    the installed packs (a look made from a kit points at the kit's logo)."""
    first = ("the project folder", base) if base is not None else ("the current folder",
                                                                   Path.cwd())
    return [first, ("the bundled brand kits", brands_dir()),
            ("the installed template packs", packs_root())]


def _look_file(field: str, value: str, base: Path | None) -> Path:
    return confined_file(value, field=f"look.{field}", roots=look_roots(base), kind="image")


def reference_for(look: Look, accepts_reference: bool, base: Path | None = None) -> Path | None:
    """The reference image to send, or None: only to models that take one, and only if it
    is an image inside the project (InvalidInput or PathEscape otherwise: an error here
    rather than a paid call without it, or with a file from elsewhere)."""
    if not accepts_reference or not look.reference_image:
        return None
    return _look_file("reference_image", look.reference_image, base)


def logo_for(look: Look, base: Path | None = None) -> Path | None:
    """The logo file local frames place, or None; relative paths resolve against `base`."""
    return _look_file("logo", look.logo, base) if look.logo else None
