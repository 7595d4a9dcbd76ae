"""Captioned emoji: real, recognisable pictures from the Noto Color Emoji font, as an unlimited,
seed-deterministic text-to-image dataset with the same interface as the shapes set.

Sources (all installed from packages, nothing downloaded at run time):
  * pictures: Noto Color Emoji (Debian `fonts-noto-color-emoji`; artwork Apache-2.0, font
    OFL-1.1), drawn by Pillow with `embedded_color=True`;
  * words: CLDR short names and keywords (Debian `unicode-cldr-core`, `annotations/en.xml`;
    Unicode licence) and the GitHub-style aliases of the `emoji` package on PyPI (BSD);
  * groups: CLDR `properties/labels.txt` says which emoji are animals, food, faces, ...; the
    vocabulary is chosen by group (see `VOCABULARY_GROUPS`).

A scene is either a bare name (the emoji alone, centred on white, as large as the font draws it)
or one or two emoji on the 3x3 grid of the shapes set, small or large, on a named background.
A fixed share of (emoji, size, position, background) combinations is held out, as in the shapes
set: training scenes never contain one. Some caption templates are held out as well
(`HELDOUT_TEMPLATES`): training captions never use them.
"""

from __future__ import annotations

import hashlib
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageFont

from .unlimited import UnlimitedDataset

IMAGE_SIZE = 64
FONT_SIZE = 109  # the one size at which Noto Color Emoji's bitmaps are drawn
FONT_PATHS = (
    "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf",
    "/usr/share/fonts/noto/NotoColorEmoji.ttf",
)
CLDR_ROOT = Path(os.environ.get("STUDIO_CLDR_ROOT", "/usr/share/unicode/cldr/common"))

BACKGROUND_COLOURS: dict[str, tuple[int, int, int]] = {
    "white": (255, 255, 255),
    "black": (20, 20, 20),
    "gray": (128, 128, 128),
    "blue": (60, 110, 220),
    "green": (60, 160, 80),
    "pink": (245, 170, 200),
}
POSITIONS = (
    "top left", "top", "top right",
    "left", "center", "right",
    "bottom left", "bottom", "bottom right",
)
# Full extent in pixels of a placed emoji. A grid cell is 64/3 ~ 21 px: a large emoji fills it.
SIZES: dict[str, int] = {"small": 13, "large": 20}
BARE = "bare"  # the size of a bare-name scene's only emoji: as large as the picture
CELL = IMAGE_SIZE / 3
JITTER = 1
HELDOUT_FRACTION = 1 / 8
SCENE_MIX = (0.4, 0.35, 0.25)  # bare name, one placed emoji, two placed emoji

# What a person would type: animals, plants, food, faces, hearts, weather, vehicles, sports,
# games, instruments and everyday objects. Left out: people and gestures (the skin-tone and
# gender variants multiply the count without adding new things), flags (hundreds of look-alike
# rectangles, a 64x64 picture cannot tell most apart), keycaps, letters, arrows, clocks and
# other signs that are text more than pictures; and office, paper, mail, science, money, music
# signs, lamps, buildings and zodiac signs, which are rarely asked for and often look alike
# (eleven kinds of book and paper, two dozen buildings). About 640 emoji stay: a vocabulary
# the transformer can learn on two CPU cores, of things people ask for.
VOCABULARY_GROUPS = (
    "face-positive", "face-neutral", "face-negative", "face-sick", "face-role", "face-fantasy",
    "cat-face", "monkey-face", "emotion",
    "animal-mammal", "animal-bird", "animal-amphibian", "animal-reptile", "animal-marine",
    "animal-bug", "plant-flower", "plant-other",
    "food-fruit", "food-vegetable", "food-prepared", "food-asian", "food-sweet", "drink",
    "sky & weather", "transport-ground", "transport-air", "transport-water",
    "sport", "game", "event", "award-medal", "musical-instrument",
    "clothing", "household", "tool", "phone", "place-geographic",
)

Split = Literal["train", "heldout"]


class EmojiDataError(RuntimeError):
    """The font or the word lists are not installed (see the README: `fonts-noto-color-emoji`)."""


# ---------------------------------------------------------------------------------------------
# Sources


def find_font() -> Path:
    override = os.environ.get("STUDIO_EMOJI_FONT")
    for candidate in ([override] if override else []) + list(FONT_PATHS):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise EmojiDataError("Noto Color Emoji is not installed: apt-get install fonts-noto-color-emoji "
                         "(or set STUDIO_EMOJI_FONT to NotoColorEmoji.ttf)")


def font_available() -> bool:
    try:
        find_font()
        return CLDR_ROOT.joinpath("annotations", "en.xml").is_file()
    except EmojiDataError:
        return False


def parse_unicode_set(text: str) -> list[str]:
    """The strings of a CLDR UnicodeSet such as `[☺😀-😆{🧑‍🎄}]`: ranges, single code points and
    multi-code-point strings in braces."""
    body = text.strip()[1:-1]
    items, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == "{":
            end = body.index("}", i)
            items.append(body[i + 1:end])
            i = end + 1
        elif i + 2 < len(body) and body[i + 1] == "-":
            items.extend(chr(c) for c in range(ord(ch), ord(body[i + 2]) + 1))
            i += 3
        else:
            if not ch.isspace():
                items.append(ch)
            i += 1
    return items


def read_groups(root: Path = CLDR_ROOT) -> dict[str, str]:
    """emoji -> CLDR sub-group (e.g. "food-vegetable")."""
    groups: dict[str, str] = {}
    path = root / "properties" / "labels.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        unicode_set, _group, subgroup = (part.strip() for part in line.split(";"))
        for item in parse_unicode_set(unicode_set):
            groups.setdefault(item, subgroup)
    return groups


def read_annotations(root: Path = CLDR_ROOT) -> tuple[dict[str, str], dict[str, list[str]]]:
    """CLDR English short names (`type="tts"`) and keywords, by emoji (without FE0F)."""
    names: dict[str, str] = {}
    keywords: dict[str, list[str]] = {}
    tree = ET.parse(root / "annotations" / "en.xml")
    for node in tree.iter("annotation"):
        cp, text = node.get("cp", ""), (node.text or "").strip()
        if node.get("type") == "tts":
            names[cp] = text
        else:
            keywords[cp] = [k.strip() for k in text.split("|") if k.strip()]
    return names, keywords


def package_aliases() -> dict[str, list[str]]:
    """The `emoji` package's names and GitHub aliases, as words: ":sweat_smile:" -> "sweat smile"."""
    import emoji

    aliases: dict[str, list[str]] = {}
    for char, data in emoji.EMOJI_DATA.items():
        words = [data.get("en", "")] + list(data.get("alias", []))
        key = char.replace("\ufe0f", "")
        aliases.setdefault(key, [])
        for word in words:
            phrase = word.strip(":").replace("_", " ").strip()
            if phrase and phrase not in aliases[key]:
                aliases[key].append(phrase)
    return aliases


@dataclass(frozen=True)
class EmojiEntry:
    char: str
    name: str  # CLDR short name, lower case
    group: str
    aliases: tuple[str, ...] = ()  # other names a person might type (emoji package, GitHub)
    keywords: tuple[str, ...] = ()  # CLDR keywords other than the name's own words


def clean_words(text: str) -> str:
    text = text.lower().replace("’", "'").replace("“", "").replace("”", "")
    return re.sub(r"\s+", " ", text).strip()


def build_vocabulary(groups: tuple[str, ...] = VOCABULARY_GROUPS, root: Path = CLDR_ROOT) -> list[EmojiEntry]:
    """Single-glyph emoji of the chosen groups with a CLDR name, in a stable order (by group,
    then code point). Names are unique: an emoji whose name is already taken is left out."""
    group_of = read_groups(root)
    names, keywords = read_annotations(root)
    aliases = package_aliases()
    entries, seen = [], set()
    for char in sorted(group_of, key=lambda c: (groups.index(group_of[c]) if group_of[c] in groups
                                                 else len(groups), [ord(x) for x in c])):
        group = group_of[char]
        if group not in groups or char not in names or "\u200d" in char or len(char) > 2:
            continue
        name = clean_words(names[char])
        if name in seen or ":" in name or "flag" in name:
            continue
        seen.add(name)
        name_words = set(name.split())
        entries.append(EmojiEntry(
            char=char, name=name, group=group,
            aliases=tuple(a for a in (clean_words(x) for x in aliases.get(char, []))
                          if a != name and a not in seen and re.fullmatch(r"[a-z][a-z '-]*", a))[:3],
            keywords=tuple(k for k in (clean_words(x) for x in keywords.get(char, []))
                           if k != name and k not in name_words)[:4],
        ))
    return entries


@lru_cache(maxsize=4)
def vocabulary() -> tuple[EmojiEntry, ...]:
    return tuple(build_vocabulary())


# ---------------------------------------------------------------------------------------------
# Rendering


class GlyphCache:
    """Each emoji's colour glyph, drawn once at the font's size and cropped to its ink (RGBA)."""

    def __init__(self, font_path: Path | None = None):
        self.font_path = font_path or find_font()
        self._font = None
        self._glyphs: dict[str, Image.Image] = {}
        self._scaled: dict[tuple[str, int], Image.Image] = {}

    def glyph(self, char: str) -> Image.Image:
        if char not in self._glyphs:
            if self._font is None:
                self._font = ImageFont.truetype(str(self.font_path), FONT_SIZE)
            left, top, right, bottom = self._font.getbbox(char)
            canvas = Image.new("RGBA", (right - left, bottom - top), (0, 0, 0, 0))
            canvas.paste((0, 0, 0, 0), (0, 0, *canvas.size))
            from PIL import ImageDraw

            ImageDraw.Draw(canvas).text((-left, -top), char, font=self._font, embedded_color=True)
            box = canvas.getbbox() or (0, 0, *canvas.size)
            self._glyphs[char] = canvas.crop(box)
        return self._glyphs[char]

    def scaled(self, char: str, extent: int) -> Image.Image:
        """The glyph shrunk so that its longer side is `extent` pixels (aspect kept)."""
        key = (char, extent)
        if key not in self._scaled:
            glyph = self.glyph(char)
            scale = extent / max(glyph.size)
            size = (max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale)))
            self._scaled[key] = glyph.resize(size, Image.LANCZOS)
        return self._scaled[key]


@dataclass(frozen=True)
class EmojiObject:
    name: str  # the CLDR short name (the key of the vocabulary)
    size: str  # "small", "large" or "bare"
    position: str

    @property
    def combination(self) -> tuple[str, str, str]:
        return (self.name, self.size, self.position)


@dataclass(frozen=True)
class EmojiScene:
    objects: tuple[EmojiObject, ...]
    background: str

    @property
    def is_bare(self) -> bool:
        return len(self.objects) == 1 and self.objects[0].size == BARE

    def to_dict(self) -> dict:
        return {"background": self.background, "objects": [o.__dict__.copy() for o in self.objects]}

    @staticmethod
    def from_dict(d: dict) -> "EmojiScene":
        return EmojiScene(tuple(EmojiObject(**o) for o in d["objects"]), d["background"])


@dataclass(frozen=True)
class EmojiExample:
    image: np.ndarray  # (64, 64, 3) uint8
    caption: str
    scene: EmojiScene


def cell_centre(position: str) -> tuple[float, float]:
    row, col = divmod(POSITIONS.index(position), 3)
    return (col + 0.5) * CELL, (row + 0.5) * CELL


def render_emoji_scene(scene: EmojiScene, glyphs: GlyphCache, by_name: dict[str, EmojiEntry],
                       offsets: list[tuple[int, int]] | None = None) -> np.ndarray:
    image = Image.new("RGBA", (IMAGE_SIZE, IMAGE_SIZE), BACKGROUND_COLOURS[scene.background] + (255,))
    for i, obj in enumerate(scene.objects):
        extent = IMAGE_SIZE if obj.size == BARE else SIZES[obj.size]
        sprite = glyphs.scaled(by_name[obj.name].char, extent)
        cx, cy = (IMAGE_SIZE / 2, IMAGE_SIZE / 2) if obj.size == BARE else cell_centre(obj.position)
        dx, dy = offsets[i] if offsets else (0, 0)
        image.alpha_composite(sprite, (round(cx + dx - sprite.width / 2), round(cy + dy - sprite.height / 2)))
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


# ---------------------------------------------------------------------------------------------
# Held-out combinations


def is_heldout(obj: EmojiObject, background: str) -> bool:
    """Whether (emoji, size, position, background) is held out: a stable hash, the same everywhere.
    A bare name is never held out (it is the one way to ask for that emoji alone)."""
    if obj.size == BARE:
        return False
    digest = hashlib.sha256("|".join((*obj.combination, background)).encode()).digest()
    return digest[0] < 256 * HELDOUT_FRACTION


# ---------------------------------------------------------------------------------------------
# Captions. Placed scenes are said by the shared phrasing module; the templates below are the
# emoji's own ways to ask for one thing, and the canonical phrasing of evaluation prompts.

_POSITION_PHRASES = {
    "top left": ["in the top left", "at the top left", "in the top left corner"],
    "top": ["at the top", "in the top middle", "at the top centre"],
    "top right": ["in the top right", "at the top right", "in the top right corner"],
    "left": ["on the left", "at the left", "in the middle left"],
    "center": ["in the center", "in the middle", "at the centre"],
    "right": ["on the right", "at the right", "in the middle right"],
    "bottom left": ["in the bottom left", "at the bottom left", "in the bottom left corner"],
    "bottom": ["at the bottom", "in the bottom middle", "at the bottom centre"],
    "bottom right": ["in the bottom right", "at the bottom right", "in the bottom right corner"],
}
_BACKGROUND_PHRASES = ["on a {} background", "over a {} background", "with a {} background", "on {}"]
# How a bare name is asked for. `{a}` is the article ("a"/"an"), `{n}` the name or an alias,
# `{k}` a CLDR keyword.
TRAIN_TEMPLATES = (
    "{n}", "{n}", "{a} {n}", "{a} {n}", "{a} {n} emoji", "an emoji of {a} {n}", "{n} emoji",
    "{k}: {n}", "{a} {n}, {k}",
)
HELDOUT_TEMPLATES = ("a picture of {a} {n}", "{n} icon", "an image showing {a} {n}")


def article(words: str) -> str:
    return "an" if words[:1] in "aeiou" else "a"


def name_phrase(entry: EmojiEntry, rng: np.random.Generator) -> str:
    """The emoji's CLDR name most of the time, one of its aliases sometimes."""
    if entry.aliases and rng.random() < 0.2:
        return str(rng.choice(list(entry.aliases)))
    return entry.name


def fill_template(template: str, entry: EmojiEntry, words: str, rng: np.random.Generator) -> str:
    keyword = str(rng.choice(list(entry.keywords))) if entry.keywords else entry.group.split("-")[-1]
    return template.format(a=article(words), n=words, k=keyword)


def bare_caption(entry: EmojiEntry, rng: np.random.Generator, templates=TRAIN_TEMPLATES) -> str:
    return fill_template(str(rng.choice(templates)), entry, name_phrase(entry, rng), rng)


def placed_caption(scene: EmojiScene, by_name: dict[str, EmojiEntry], rng: np.random.Generator) -> str:
    """Every placed emoji with its size and position, and (always) the background."""
    parts = []
    for obj in scene.objects:
        words = name_phrase(by_name[obj.name], rng)
        what = f"{article(obj.size)} {obj.size} {words}"
        where = str(rng.choice(_POSITION_PHRASES[obj.position]))
        parts.append(f"{where}, {what}" if rng.random() < 0.25 else f"{what} {where}")
    text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return text + " " + str(rng.choice(_BACKGROUND_PHRASES)).format(scene.background)


def scene_words(scene: EmojiScene, by_name: dict[str, EmojiEntry]):
    """The scene for the shared phrasing module: each emoji's names (CLDR name first, then its
    aliases), size and place, and the background; a bare name has no size, place or background."""
    from .phrasing import SceneWords, ThingWords

    def nouns(entry: EmojiEntry) -> tuple[str, ...]:
        return (entry.name, *entry.aliases)

    if scene.is_bare:
        return SceneWords((ThingWords(nouns(by_name[scene.objects[0].name])),))
    return SceneWords(tuple(ThingWords(nouns(by_name[o.name]), size=o.size, position=o.position)
                            for o in scene.objects), background=scene.background)


def caption_emoji_scene(scene: EmojiScene, by_name: dict[str, EmojiEntry], rng: np.random.Generator,
                        split: Split = "train") -> str:
    """Placed emoji: the shared free phrasing (`phrasing.py`: synonyms, word orders, a leading verb,
    capitals, "please"); bare names: half the time this module's emoji templates ("an emoji of a
    dog", "dog, animal"), half the time the free phrasing ("draw a dog please"). `split="heldout"`
    uses only phrasings training never produces."""
    from .phrasing import caption

    if scene.is_bare and rng.random() < 0.5:
        templates = TRAIN_TEMPLATES if split == "train" else HELDOUT_TEMPLATES
        return bare_caption(by_name[scene.objects[0].name], rng, templates)
    return caption(scene_words(scene, by_name), rng, split)


# ---------------------------------------------------------------------------------------------
# Sampling


def sample_emoji_scene(rng: np.random.Generator, names: list[str], split: Split,
                       num_objects: int | None = None) -> EmojiScene:
    """num_objects 0 = a bare name; 1 or 2 = placed emoji; None = drawn from `SCENE_MIX`.
    Held-out scenes contain at least one held-out combination; training scenes none."""
    n = num_objects if num_objects is not None else int(rng.choice(3, p=SCENE_MIX))
    if n == 0:  # a bare name has no held-out combination: both splits draw them
        return EmojiScene((EmojiObject(str(rng.choice(names)), BARE, "center"),), "white")
    while True:
        cells = sorted(rng.choice(len(POSITIONS), size=n, replace=False))
        background = str(rng.choice(list(BACKGROUND_COLOURS)))
        objects = tuple(EmojiObject(str(rng.choice(names)), str(rng.choice(list(SIZES))), POSITIONS[int(c)])
                        for c in cells)
        heldout = any(is_heldout(o, background) for o in objects)
        if heldout == (split == "heldout"):
            return EmojiScene(objects, background)


@dataclass
class EmojiDataset(UnlimitedDataset[EmojiExample]):
    """Example i of (seed, split) is always the same picture and caption; the set is unlimited.
    `num_objects`: 0 for bare names only, 1 or 2 for placed emoji only, None for the mix.
    `templates`: "train" phrasings, or "heldout" ones that training never produces."""

    seed: int = 0
    split: Split = "train"
    num_objects: int | None = None
    templates: str = "train"
    entries: tuple[EmojiEntry, ...] = field(default_factory=vocabulary)
    glyphs: GlyphCache = field(default_factory=GlyphCache)

    def __post_init__(self):
        if self.split not in ("train", "heldout"):
            raise ValueError(f"split must be 'train' or 'heldout', got {self.split!r}")
        if self.templates not in ("train", "heldout"):
            raise ValueError(f"templates must be 'train' or 'heldout', got {self.templates!r}")
        self.by_name = {e.name: e for e in self.entries}
        self.names = [e.name for e in self.entries]

    def __getitem__(self, index: int) -> EmojiExample:
        split_id = 0 if self.split == "train" else 1
        rng = np.random.default_rng([self.seed, split_id, index, 7])
        scene = sample_emoji_scene(rng, self.names, self.split, self.num_objects)
        offsets = [tuple(int(v) for v in rng.integers(-JITTER, JITTER + 1, 2)) for _ in scene.objects]
        if scene.is_bare:
            offsets = None
        caption = caption_emoji_scene(scene, self.by_name, rng, self.templates)
        return EmojiExample(self.render(scene, offsets), caption, scene)

    def render(self, scene: EmojiScene, offsets: list[tuple[int, int]] | None = None) -> np.ndarray:
        return render_emoji_scene(scene, self.glyphs, self.by_name, offsets)



def emoji_scene_prompt(scene: EmojiScene) -> str:
    """The canonical phrasing of a scene, used for evaluation prompts: the bare CLDR name, or the
    placed caption with names (no aliases) and a fixed choice of phrases."""
    by_name = {e.name: e for e in vocabulary()}
    if scene.is_bare:
        return scene.objects[0].name
    rng = np.random.default_rng(0)
    plain = {n: EmojiEntry(e.char, e.name, e.group) for n, e in by_name.items()}
    return placed_caption(scene, plain, rng)
