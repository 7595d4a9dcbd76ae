"""What people type around a scene description: free phrasings for captions, shared by the datasets.

A dataset says *what* a picture shows (a `SceneWords`: each thing's names, colour, size, 3x3
position, and the background); this module says it the ways a person would: synonyms ("big",
"huge"; "ball", "disc"; "upper"; "centre"; "in the corner"; "right-hand"), word orders, a leading
verb ("draw", "show me", "can you draw"), plural-free lists ("a red ball, a blue box and ..."),
capitals, punctuation and a trailing "please".

There are two grammars over the same scene:

* ``split="train"``: what training captions say;
* ``split="heldout"``: phrasings training never produces, to measure whether a model understands
  phrasing it was not taught. Every held-out caption puts at least one slot (the lead, the noun
  phrase's form, a size word, a position phrase, the object's word order, the list joiner, the
  background phrase) in a held-out form and the rest in training forms.

Both are data (`Choice` / `Seq` trees), so the same tree that samples a caption also compiles to a
regular expression of everything it can say: `can_say(scene, text, "train")` is an exact
membership test, and the tests use it to prove that no held-out phrasing is a training phrasing.
Membership ignores what a text encoder hardly sees: letter case, punctuation and spacing
(`normalise`), so a held-out phrasing differs from training in its words, not its commas.

The public API: `SceneWords`, `ThingWords`, `caption`, `can_say`, `normalise`, and the word lists
(`SIZE_WORDS`, `SHAPE_NOUNS`, `POSITION_PHRASES`, ...). Everything is a pure function of its
arguments and the `numpy` generator passed in: captions are deterministic by seed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, Union

import numpy as np

PhrasingSplit = Literal["train", "heldout"]
POSITIONS = (
    "top left", "top", "top right",
    "left", "center", "right",
    "bottom left", "bottom", "bottom right",
)

# ---------------------------------------------------------------------------------------------
# Word lists: (training forms, held-out forms). The first training form is the plain one.

SIZE_WORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "large": (("large", "big", "huge"), ("giant",)),
    "small": (("small", "little", "tiny"), ("teeny",)),
}
SHAPE_NOUNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "circle": (("circle", "ball", "disc"), ("disk",)),
    "square": (("square", "box"), ("block",)),
    "triangle": (("triangle",), ("triangle shape",)),
    "diamond": (("diamond",), ("diamond shape",)),
}
# Colours people spell two ways; any other colour is said as it is named.
COLOUR_WORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "gray": (("gray", "grey"), ()),
}
LEADS: tuple[tuple[str, ...], tuple[str, ...]] = (
    ("draw", "draw me", "make", "put", "show me", "can you draw", "please draw", "paint", "create",
     "give me", "i want"),
    ("could you sketch", "i would like", "generate", "how about"),
)
TRAILS: tuple[str, ...] = ("please", ", please", "thanks")
BACKGROUND_FORMS: tuple[tuple[str, ...], tuple[str, ...]] = (
    ("on a {} background", "over a {} background", "with a {} background", "against a {} background",
     "on {}", "{} background", "on a {} backdrop"),
    ("on a plain {} background", "the background is {}"),
)
# How one thing and its place are put together: {np} the noun phrase, {where} the position.
PLACE_FORMS: tuple[tuple[str, ...], tuple[str, ...]] = (
    ("{np} {where}", "{where}, {np}", "{where} {np}"),
    ("{np} sitting {where}", "{where} there is {np}"),
)
# How a list of things is joined: the last two, and the ones before.
LAST_JOINERS: tuple[tuple[str, ...], tuple[str, ...]] = (("and", ", and", "with", ","), ("as well as", "plus"))

_VERTICAL = {"top": (("top", "upper"), ("up in the",)), "bottom": (("bottom", "lower"), ("down in the",))}
_HORIZONTAL = {"left": ("left", "left-hand"), "right": ("right", "right-hand")}
_MIDDLE = ("center", "centre", "middle")


def _corner_phrases(vertical: str, horizontal: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    verticals, (up,) = _VERTICAL[vertical]
    cores = [f"{v} {h}" for v in verticals for h in _HORIZONTAL[horizontal]]
    train = [f"{prep} {core}{corner}" for core in cores for prep in ("in the", "at the")
             for corner in ("", " corner")]
    train += [f"{core}{corner}" for core in cores for corner in ("", " corner")]
    heldout = [f"{up} {h} corner" for h in _HORIZONTAL[horizontal]]  # "up in the right-hand corner"
    heldout += [f"in the {vertical}-{horizontal}"]  # "in the top-right"
    return tuple(train), tuple(heldout)


def _edge_phrases(edge: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if edge in _VERTICAL:
        verticals, _ = _VERTICAL[edge]
        train = [f"at the {edge}", f"{edge}"]
        train += [f"{prep} {v} {m}" for v in verticals for m in _MIDDLE for prep in ("in the", "at the")]
        train += [f"{v} {m}" for v in verticals for m in _MIDDLE]
        heldout = [f"{'up' if edge == 'top' else 'down'} at the {edge}", f"at the very {edge}"]
    else:
        sides = _HORIZONTAL[edge]
        train = [f"on the {edge}", f"at the {edge}", f"{edge}", f"in the middle {edge}"]
        train += [f"on the {s} side" for s in sides] + [f"{s} side" for s in sides]
        heldout = [f"over on the {edge}", f"on the far {edge}"]
    return tuple(train), tuple(heldout)


def _position_phrases() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    phrases = {"center": (tuple(f"{prep} {m}" for m in _MIDDLE for prep in ("in the", "at the")) + _MIDDLE,
                          ("in the very middle", "dead center"))}
    for position in POSITIONS:
        words = position.split()
        if len(words) == 2:
            phrases[position] = _corner_phrases(*words)
        elif position != "center":
            phrases[position] = _edge_phrases(position)
    return phrases


POSITION_PHRASES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = _position_phrases()


# ---------------------------------------------------------------------------------------------
# What a caption describes


@dataclass(frozen=True)
class ThingWords:
    """One thing in a picture as a caption may name it. `nouns` are its names, the plain one
    first ("circle", "ball", "disc"); `heldout_nouns` names training never uses. Colour, size
    ("small" / "large") and position (one of `POSITIONS`) are said when given."""

    nouns: tuple[str, ...]
    colour: str | None = None
    size: str | None = None
    position: str | None = None
    heldout_nouns: tuple[str, ...] = ()

    def __post_init__(self):
        if not self.nouns:
            raise ValueError("a thing needs at least one noun")
        if self.size is not None and self.size not in SIZE_WORDS:
            raise ValueError(f"size must be one of {tuple(SIZE_WORDS)}, got {self.size!r}")
        if self.position is not None and self.position not in POSITION_PHRASES:
            raise ValueError(f"position must be one of {POSITIONS}, got {self.position!r}")


@dataclass(frozen=True)
class SceneWords:
    things: tuple[ThingWords, ...]
    background: str | None = None  # a colour name, said when given


def shape_thing(colour: str, shape: str, size: str, position: str) -> ThingWords:
    """The words for one object of the shapes dataset."""
    train, heldout = SHAPE_NOUNS[shape]
    return ThingWords(nouns=train, colour=colour, size=size, position=position, heldout_nouns=heldout)


# ---------------------------------------------------------------------------------------------
# Grammar trees: a node is a string, a Choice of nodes or a Seq of nodes


@dataclass(frozen=True)
class Choice:
    options: tuple["Node", ...]
    weights: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Seq:
    parts: tuple["Node", ...]


Node = Union[str, Choice, Seq]


def one_of(options) -> Choice:
    return Choice(tuple(options))


def maybe(node: Node, p: float) -> Choice:
    """`node` with probability p, else nothing."""
    return Choice((node, ""), (p, 1.0 - p))


def sample(node: Node, rng: np.random.Generator) -> list[str]:
    """The pieces of one random walk through the tree, in order (empty strings dropped)."""
    if isinstance(node, str):
        return [node] if node else []
    if isinstance(node, Seq):
        return [piece for part in node.parts for piece in sample(part, rng)]
    weights = None if node.weights is None else np.asarray(node.weights) / sum(node.weights)
    return sample(node.options[int(rng.choice(len(node.options), p=weights))], rng)


def pattern(node: Node) -> str:
    """A regular expression for everything the tree can say, over `normalise`d text in which every
    word is preceded by one space (so that sequences concatenate and empty options vanish)."""
    if isinstance(node, str):
        return "".join(" " + re.escape(word) for word in normalise(node).split())
    if isinstance(node, Seq):
        return "".join(pattern(part) for part in node.parts)
    return "(?:" + "|".join(pattern(option) for option in node.options) + ")"


# ---------------------------------------------------------------------------------------------
# The grammars


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _noun_phrases(thing: ThingWords, heldout_form: bool, heldout_words: bool) -> tuple[str, ...]:
    """Every way to say the thing itself ("a big red ball", "tiny green box"), as whole strings so
    that "a" / "an" agree with the next word."""
    # Held-out words: the held-out names where there are any, and a held-out size word where a
    # size is said (`heldout_slots` offers this slot only when there is at least one of them).
    nouns = (thing.heldout_nouns or thing.nouns) if heldout_words else thing.nouns
    sizes = [""] if thing.size is None else (
        SIZE_WORDS[thing.size][1] if heldout_words else SIZE_WORDS[thing.size][0])
    colours = [""] if thing.colour is None else COLOUR_WORDS.get(thing.colour, ((thing.colour,), ()))[0]
    phrases = []
    for noun in nouns:
        for size in sizes:
            for colour in colours:
                if heldout_form:  # colour before size ("a red big ball"), or "one" for the article
                    words = [w for w in (colour, size, noun) if w]
                    bare = " ".join(words)
                    phrases += [f"one {bare}"] if not (colour and size) else [f"{_article(bare)} {bare}", bare]
                else:
                    bare = " ".join(w for w in (size, colour, noun) if w)
                    phrases += [f"{_article(bare)} {bare}", bare]
    return tuple(dict.fromkeys(phrases))


def _place(thing: ThingWords, slots: frozenset[str], index: int) -> Node:
    """One thing with its place, in one of the word orders."""
    np_heldout = {"np_form", "np_words"} & slots and index == 0
    noun_phrases = _noun_phrases(thing, heldout_form=bool(np_heldout and "np_form" in slots),
                                 heldout_words=bool(np_heldout and "np_words" in slots))
    what = one_of(noun_phrases)
    if thing.position is None:
        return what
    where = one_of(POSITION_PHRASES[thing.position][1 if "position" in slots and index == 0 else 0])
    forms = PLACE_FORMS[1 if "place" in slots and index == 0 else 0]
    options = []
    for form in forms:
        parts: list[Node] = []
        for piece in re.split(r"(\{np\}|\{where\})", form):
            parts.append(what if piece == "{np}" else where if piece == "{where}" else piece)
        options.append(Seq(tuple(p for p in parts if p != "")))
    return one_of(options)


def _things(scene: SceneWords, slots: frozenset[str]) -> Node:
    """The things in the order the scene lists them or reversed, as a plain list: ``A, B and C``."""
    orders = [scene.things] if len(scene.things) == 1 else [scene.things, scene.things[::-1]]
    joiner = one_of(LAST_JOINERS[1 if "joiner" in slots else 0])
    options = []
    for things in orders:
        # The held-out slot of a thing goes to the scene's first thing wherever it is said.
        placed = [_place(t, slots, scene.things.index(t)) for t in things]
        parts: list[Node] = []
        for i, node in enumerate(placed):
            if i == len(placed) - 1 and i > 0:
                parts.append(joiner)
            elif i > 0:
                parts.append(",")
            parts.append(node)
        options.append(Seq(tuple(parts)))
    return one_of(options)


def _background(scene: SceneWords, heldout: bool) -> Node:
    forms = BACKGROUND_FORMS[1 if heldout else 0]
    colours = COLOUR_WORDS.get(scene.background, ((scene.background,), ()))[0]
    return one_of(form.format(c) for form in forms for c in colours)


def heldout_slots(scene: SceneWords) -> tuple[str, ...]:
    """The slots of this scene that have a held-out form."""
    first = scene.things[0]
    slots = ["lead", "np_form"]
    if first.heldout_nouns or first.size is not None:
        slots.append("np_words")
    if first.position is not None:
        slots += ["position", "place"]
    if len(scene.things) > 1:
        slots.append("joiner")
    if scene.background is not None:
        slots.append("background")
    return tuple(slots)


def grammar(scene: SceneWords, split: PhrasingSplit = "train", slot: str | None = None) -> Node:
    """The tree of everything a caption of `scene` may say. For the held-out split, `slot` picks
    which slot is held out (all of `heldout_slots(scene)` when None)."""
    if split == "heldout" and slot is None:
        return one_of(grammar(scene, "heldout", s) for s in heldout_slots(scene))
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
    slots = frozenset([slot] if split == "heldout" else [])
    lead = one_of(LEADS[1]) if "lead" in slots else maybe(one_of(LEADS[0]), 0.5)
    things = _things(scene, slots)
    if scene.background is None:
        body: Node = things
    elif "background" in slots:
        body = one_of([Seq((things, _background(scene, True))), Seq((things, ",", _background(scene, True)))])
    else:
        said = Seq((things, _background(scene, False)))
        first = Seq((_background(scene, False), ",", things))
        # The background is said half the time, like the original grammar (it is always drawn).
        body = Choice((things, said, first), (0.5, 0.4, 0.1))
    return Seq((lead, body, maybe(one_of(TRAILS), 0.2)))


# ---------------------------------------------------------------------------------------------
# Captions and membership


def _join(pieces: list[str]) -> str:
    text = " ".join(piece.strip() for piece in pieces)
    return re.sub(r"\s+([,.!?])", r"\1", " ".join(text.split()))


def _surface(text: str, rng: np.random.Generator) -> str:
    """Capitals and end punctuation, as people type them (a text encoder hardly sees either)."""
    case = rng.random()
    if case < 0.3:
        text = text[:1].upper() + text[1:]
    elif case < 0.35:
        text = text.upper()
    return text + str(rng.choice(["", "", ".", "!"]))


def caption(scene: SceneWords, rng: np.random.Generator, split: PhrasingSplit = "train") -> str:
    """One phrasing of `scene`; for ``split="heldout"`` one that training never produces."""
    return _surface(_join(sample(grammar(scene, split), rng)), rng)


def normalise(text: str) -> str:
    """Lower case, punctuation (not hyphens) as spaces, single spaces."""
    return " ".join(re.sub(r"[^\w\s'-]", " ", text.lower()).split())


def can_say(scene: SceneWords, text: str, split: PhrasingSplit = "train") -> bool:
    """Whether the grammar of `split` can produce `text` for `scene` (up to `normalise`)."""
    words = normalise(text)
    return bool(words) and _language(scene, split).fullmatch(" " + words) is not None


@lru_cache(maxsize=64)
def _language(scene: SceneWords, split: PhrasingSplit) -> re.Pattern:
    """The compiled language of a scene's grammar (compiling a three-object one takes a while)."""
    return re.compile(pattern(grammar(scene, split)))
