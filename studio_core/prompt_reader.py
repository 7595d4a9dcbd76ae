"""Reading a person's prompt into the words a bundled model was trained on.

`shapes-v1` was trained on one caption grammar ("a large red circle in the top left and a small
blue square at the bottom right on a navy background"). A person types "make a tiny purple box up
in the right-hand corner, please", "top-right: crimson ball" or "two blue discs on black". Its
frozen MiniLM text encoder maps such phrasings near, but not onto, the grammar's: on phrasings it
never saw the model followed the prompt about half as often (the held-out rows of
`python -m studio_core evaluate`). Retraining on free captions costs grammar accuracy (a 400-step
fine-tune: 85.5 -> 80 % single, 72 -> 58 % pairs), while the world of the shapes model is closed:
four shapes, eight colours, two sizes, nine places, four backgrounds. So the prompt is *read*:
every word that names an attribute is recognised from a broad lexicon (synonyms, near colours,
"upper", "right-hand", "in the corner", "bg"), attributes are bound to the thing they describe
(an adjective to the next noun of its clause, a place to the thing of its clause), and the scene
is said again in the grammar's own canonical words, things in reading order as training said
them. A prompt already in the grammar (in that order) and one that names no shape at all go to
the model as typed, so the model's figures on its own grammar are unchanged by construction.

The emoji model is read the same way over its own lexicon (its emoji's names and aliases, from
the checkpoint's names.json): "Draw me a cat face, please!" asks for *cat face*.

The reading is deterministic, never changes what a session records (the person's words), and the
app shows it ("read as ..."), so a person sees what the model was asked for. A checkpoint opts in
with ``"prompt_reader": "shapes"`` (or ``"emoji"``) in its studio.json; `READERS` lists them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from .data.shapes import BACKGROUND_COLOURS, OBJECT_COLOURS, POSITIONS, is_grammar_caption
from .regions import RegionWords

MAX_OBJECTS = 3  # the most objects a shapes training scene holds

# ---------------------------------------------------------------------------------------------
# The lexicon: every word (or hyphen-free phrase) a person may use, mapped to the model's word.

SHAPE_WORDS = {
    "circle": ("circle", "circles", "ball", "balls", "disc", "discs", "disk", "disks", "dot", "dots",
               "round", "sphere", "spheres", "ring", "rings", "oval", "ovals", "orb", "orbs", "blob"),
    "square": ("square", "squares", "box", "boxes", "block", "blocks", "cube", "cubes", "rectangle",
               "rectangles", "tile", "tiles", "quad"),
    "triangle": ("triangle", "triangles", "pyramid", "pyramids", "cone", "cones", "wedge", "wedges",
                 "triangular"),
    "diamond": ("diamond", "diamonds", "rhombus", "rhombuses", "lozenge", "lozenges", "kite", "kites",
                "gem", "gems", "rhomb"),
}
SIZE_WORDS = {
    "large": ("large", "big", "bigger", "biggest", "huge", "giant", "massive", "enormous", "great",
              "jumbo", "fat", "wide", "largeish", "larger", "largest", "oversized", "hefty"),
    "small": ("small", "little", "tiny", "teeny", "teensy", "mini", "miniature", "smaller",
              "smallest", "wee", "minuscule", "smallish", "itsy", "bitsy", "petite", "baby"),
}
# Object colours, and the near colours a person may name instead (the nearest the model draws).
COLOUR_WORDS = {
    "red": ("red", "crimson", "scarlet", "maroon", "ruby", "cherry", "pink", "rose", "magenta", "reddish"),
    "green": ("green", "lime", "olive", "emerald", "mint", "forest", "greenish", "jade"),
    "blue": ("blue", "bluish", "azure", "cobalt", "royal", "sapphire", "indigo", "navy", "darkblue", "navyblue"),
    "yellow": ("yellow", "gold", "golden", "lemon", "mustard", "yellowish", "blond", "amber"),
    "purple": ("purple", "violet", "lilac", "lavender", "plum", "mauve", "purplish", "fuchsia"),
    "orange": ("orange", "tangerine", "peach", "apricot", "coral", "orangey", "pumpkin"),
    "cyan": ("cyan", "turquoise", "teal", "aqua", "aquamarine", "skyblue", "lightblue"),
    "white": ("white", "ivory", "snow", "cream", "pearl", "silver", "light", "pale"),
}
# Backgrounds: the four the model draws, and the words that mean one of them. A background colour
# the model cannot draw (a green backdrop) is dropped rather than swapped for another colour.
BACKGROUND_WORDS = {
    "black": ("black", "dark", "night", "jet", "charcoal", "ebony"),
    "gray": ("gray", "grey", "silver", "slate", "ash", "grayish", "greyish", "white"),
    "navy": ("navy", "navyblue", "darkblue", "midnight", "blue", "indigo"),
    "brown": ("brown", "tan", "beige", "chocolate", "wooden", "wood", "coffee", "bronze", "sand",
              "sandy", "khaki", "brownish"),
}
# Phrases folded into one word before reading ("sky blue" is one colour, "right hand" one side).
PHRASES = (
    (r"\bsky blue\b", "skyblue"), (r"\blight blue\b", "lightblue"), (r"\bbaby blue\b", "lightblue"),
    (r"\bnavy blue\b", "navyblue"), (r"\bdark blue\b", "darkblue"), (r"\bmidnight blue\b", "darkblue"),
    (r"\b(left|right) hand\b", r"\1"), (r"\bas well as\b", "and"), (r"\balong with\b", "and"),
    (r"\btogether with\b", "and"), (r"\bnext to\b", "and"), (r"\bbeside\b", "and"),
    (r"\bin addition to\b", "and"), (r"\bcolou?red\b", ""),
    # "a pair of glasses" is one thing (one emoji of the vocabulary draws the pair); "a pair of circles" two
    (r"\ba pair of (?=(?:eye|sun)?glasses\b|goggles\b|jeans\b|socks\b|gloves\b)", ""),
    (r"\ba pair of\b", "two"),
    (r"\bnw\b", "top left"), (r"\bne\b", "top right"), (r"\bsw\b", "bottom left"), (r"\bse\b", "bottom right"),
    (r"\bnorth ?west\b", "top left"), (r"\bnorth ?east\b", "top right"),
    (r"\bsouth ?west\b", "bottom left"), (r"\bsouth ?east\b", "bottom right"),
    (r"\bbackground colou?r\b", "background"), (r"\bbg\b", "background"),
)
VERTICAL_WORDS = {"top": ("top", "upper", "up", "above", "high", "north", "topmost", "uppermost"),
                  "bottom": ("bottom", "lower", "down", "below", "low", "south", "bottommost", "lowest")}
HORIZONTAL_WORDS = {"left": ("left", "leftmost", "west", "lefthand"),
                    "right": ("right", "rightmost", "east", "righthand")}
MIDDLE_WORDS = ("center", "centre", "middle", "central", "centered", "centred", "mid", "centrally")
BACKGROUND_MARKERS = ("background", "backdrop", "backround", "backgroud", "canvas", "bg")
# Words that end one thing's clause and start the next.
SEPARATORS = ("and", ",", ";", "with", "plus", "also", "then", "&", "+", "while", "but")
COUNT_WORDS = {**{w: n for n, w in enumerate(("one", "two", "three", "four", "five", "six", "seven", "eight",
                                             "nine"), start=1)},
               **{str(n): n for n in range(1, 10)}, "both": 2, "couple": 2, "several": 3}
# Where things go when the prompt does not say: the first free cell of this list, in order.
DEFAULT_PLACES = ("center", "left", "right", "top", "bottom", "top left", "top right", "bottom left",
                  "bottom right")
DEFAULT_PLACES_FOR = {2: ("left", "right"), 3: ("left", "center", "right")}


def _index(table: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {word: key for key, words in table.items() for word in words}


SHAPE_OF, SIZE_OF, COLOUR_OF = _index(SHAPE_WORDS), _index(SIZE_WORDS), _index(COLOUR_WORDS)
BACKGROUND_OF = _index(BACKGROUND_WORDS)
VERTICAL_OF, HORIZONTAL_OF = _index(VERTICAL_WORDS), _index(HORIZONTAL_WORDS)
assert set(COLOUR_WORDS) == set(OBJECT_COLOURS) and set(BACKGROUND_WORDS) == set(BACKGROUND_COLOURS)


@dataclass(frozen=True)
class Lexicon:
    """What one model's world has words for: its things (word -> the model's name for it), their
    colours, its backgrounds, and how many things a picture holds. Names of several words ("cat
    face") are folded into one word before reading, longest first, so that the words inside a
    name ("upside-down face", "top hat") are not read as places. `keywords` are weaker words for
    a thing (CLDR keywords that only one emoji has: "burger", "ladybug"): they name it only where
    they are used as a noun, not right before another thing's word ("a cool dog" is a dog)."""

    things: dict[str, str]
    colours: dict[str, str]
    backgrounds: dict[str, str]
    max_things: int
    keywords: dict[str, str] = field(default_factory=dict)
    # Every single word of a thing's name, aliases and keywords -> the things it describes
    # ("sick" -> three sick faces): what `best_thing` weighs where no name is said.
    describes: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self):
        phrases = {**self.keywords, **self.things}
        several = sorted((w for w in phrases if " " in w), key=len, reverse=True)
        tokens = {name: f"xname{i}x" for i, name in enumerate(several)}
        pattern = re.compile(r"\b(?:" + "|".join(re.escape(n) for n in several) + r")\b") if several else None
        object.__setattr__(self, "_tokens", tokens)
        object.__setattr__(self, "_pattern", pattern)
        object.__setattr__(self, "_words", {**self.things,
                                            **{t: self.things[n] for n, t in tokens.items() if n in self.things}})
        object.__setattr__(self, "_keywords", {**self.keywords, **{t: self.keywords[n] for n, t in tokens.items()
                                                                   if n not in self.things}})
        object.__setattr__(self, "_unfold", {t: n for n, t in tokens.items()})
        object.__setattr__(self, "_own_words", {thing: frozenset(name_words(thing).split())
                                                for things in self.describes.values() for thing in things})

    def fold_names(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(lambda m: self._tokens[m.group(0)], text)

    def plain_words(self, word: str) -> list[str]:
        """A word of `words_of` as the words typed (a folded name of several words unfolded)."""
        return self._unfold.get(word, word).split()

    def best_thing(self, words: list[str], least_votes: int = 1) -> str | None:
        """The thing that the most of `words` describe ("sick face": the sick faces' names and
        keywords hold both words), with at least `least_votes` of them; among equals the one whose
        own name holds most of the words, then the shortest name (the plainest: "top hat" over
        "cowboy hat face"). A single word that describes more than `GENERIC_WORD_THINGS` things
        ("face", "fruit") names none of them."""
        said = set(words)
        votes: dict[str, int] = {}
        for word in said:
            for thing in self.describes.get(word, ()):
                votes[thing] = votes.get(thing, 0) + 1
        if not votes:
            return None
        most = max(votes.values())
        if most < least_votes:
            return None
        best = min((t for t, n in votes.items() if n == most), key=lambda t: (-len(said & self._own_words[t]), len(t), t))
        if most == 1 and all(len(self.describes[w]) > GENERIC_WORD_THINGS
                             for w in said if best in self.describes.get(w, ())):
            return None
        return best

    def thing_of(self, word: str) -> str | None:
        return self._words.get(word)

    def thing_at(self, words: list[str], i: int) -> str | None:
        """The thing word i names: by a name anywhere, by a keyword only where no thing's word
        follows it ("a burger", "burger and fries"; not "a cool dog")."""
        named = self.thing_of(words[i])
        if named or i + 1 < len(words) and (self.thing_of(words[i + 1]) or words[i + 1] in self._keywords):
            return named
        return self._keywords.get(words[i])


SHAPES_LEXICON = Lexicon(things=SHAPE_OF, colours=COLOUR_OF, backgrounds=BACKGROUND_OF, max_things=MAX_OBJECTS)
GENERIC_WORD_THINGS = 8  # "hat" (6 emoji) picks one; "fruit" (17) and "face" (128) are too vague alone


# ---------------------------------------------------------------------------------------------
# What was read


@dataclass
class Thing:
    """One thing as the prompt describes it (`what`: the model's name for it); None where the
    prompt does not say."""

    what: str
    at: int  # the noun's word index: adjectives and places bind by distance to it
    colour: str | None = None
    size: str | None = None
    position: str | None = None
    count: int = 1


@dataclass(frozen=True)
class Reading:
    """The scene a prompt asks for, as far as the prompt says it."""

    things: tuple[Thing, ...]
    background: str | None = None

    @property
    def ordered_things(self) -> tuple[Thing, ...]:
        """The things in reading order, top left to bottom right (unplaced ones first)."""
        return tuple(sorted(self.things, key=lambda t: POSITIONS.index(t.position) if t.position else 0))

    def caption(self) -> str:
        """The scene in the data's canonical words (shapes-v1's grammar; the emoji data's placed
        captions, which say it the same way): size, colour, thing, place. The things
        are said in reading order, top left to bottom right, as every training caption says them:
        the model learned that order (said the other way round, two-object prompts were followed
        20 points less often: 44 % against 64 %, `evaluate --single 100 --pairs 50`)."""
        parts = [_thing_phrase(t) for t in self.ordered_things]
        text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        if self.background is not None:
            text += f" on a {self.background} background"
        return text


_CANONICAL_PLACE = {
    "top left": "in the top left", "top": "at the top", "top right": "in the top right",
    "left": "on the left", "center": "in the center", "right": "on the right",
    "bottom left": "in the bottom left", "bottom": "at the bottom", "bottom right": "in the bottom right",
}


def _thing_phrase(thing: Thing) -> str:
    words = [w for w in (thing.size, thing.colour, thing.what) if w]
    article = "an" if words[0][0] in "aeiou" else "a"
    where = f" {_CANONICAL_PLACE[thing.position]}" if thing.position else ""
    return f"{article} {' '.join(words)}{where}"


# ---------------------------------------------------------------------------------------------
# Reading


def words_of(prompt: str, lexicon: Lexicon = SHAPES_LEXICON) -> list[str]:
    """Lower-case words, hyphens as spaces ("top-right", "right-hand"), commas kept as words, the
    lexicon's names of several words folded into one."""
    text = prompt.lower().replace("-", " ").replace("_", " ")
    text = re.sub(r"[^\w\s,;&+']", " ", text)
    text = re.sub(r"([,;&+])", r" \1 ", text)
    text = lexicon.fold_names(" ".join(text.split())).replace("'", " ")
    for pattern, replacement in PHRASES:
        text = re.sub(pattern, replacement, text)
    return text.split()


def read_background(words: list[str], lexicon: Lexicon = SHAPES_LEXICON) -> tuple[str | None, set[int]]:
    """The background colour and the word indices that said it ("on a navy background", "navy
    backdrop", "the background is dark blue", "... on black")."""
    for i, word in enumerate(words):
        if word not in BACKGROUND_MARKERS:
            continue
        # The nearest colour shortly before the marker ("on a dark navy background") or after it
        # ("background: black", "the background is grey"), with no shape between them.
        nearby = sorted(range(max(0, i - 3), min(len(words), i + 4)), key=lambda j: (abs(j - i), j > i))
        for j in nearby:
            between = words[min(i, j) + 1:max(i, j)]
            said = words[j] in lexicon.backgrounds or words[j] in lexicon.colours or words[j] in _ANY_COLOUR
            if said and not any(lexicon.thing_of(w) for w in between):
                return lexicon.backgrounds.get(words[j]), set(range(min(i, j), max(i, j) + 1))
        return None, {i}
    # "a red circle on black": "on" + a colour that no noun follows in its clause.
    for i in range(len(words) - 1):
        if words[i] in ("on", "over", "against"):
            j = i + 1 + (words[i + 1] in ("a", "an", "the", "plain"))
            if j < len(words) and words[j] in lexicon.backgrounds and not _noun_follows(words, j + 1, lexicon):
                return lexicon.backgrounds[words[j]], set(range(i, j + 1))
    return None, set()


# Colour words of any model: a background of a colour the model cannot draw is still a background.
_ANY_COLOUR = set(COLOUR_OF) | set(BACKGROUND_OF)


def _noun_follows(words: list[str], start: int, lexicon: Lexicon) -> bool:
    for word in words[start:]:
        if word in SEPARATORS:
            return False
        if lexicon.thing_of(word):
            return True
    return False


def clause_of(words: list[str], separators: tuple[str, ...] = SEPARATORS) -> list[int]:
    """Each word's clause number: clauses are split by "and", commas, "with", ..."""
    clauses, number = [], 0
    for word in words:
        if word in separators:
            number += 1
        clauses.append(number)
    return clauses


def read_things(words: list[str], skip: set[int], lexicon: Lexicon = SHAPES_LEXICON) -> list[Thing]:
    """The things named, each with the colour, size and count words that describe it."""
    things = [Thing(what, i) for i in range(len(words)) if i not in skip and (what := lexicon.thing_at(words, i))]
    things = without_settings(words, join_compounds(words, things, lexicon))
    things += described_things(words, skip, things, lexicon)
    if not things:
        return []
    clauses = clause_of(words)
    for i, word in enumerate(words):
        if i in skip:
            continue
        for table, attribute in ((lexicon.colours, "colour"), (SIZE_OF, "size"), (COUNT_WORDS, "count")):
            if word in table:
                thing = _described_by(things, clauses, i)
                if attribute == "count" or getattr(thing, attribute) is None:
                    setattr(thing, attribute, table[word])
    return things


_ARTICLES = {"a", "an", "the"}


def _joined_by(between: list[str], joiners: tuple[str, ...]) -> bool:
    """The words between two things are one of `joiners` and articles ("in the", "with a", "of")."""
    return bool(between) and between[0] in joiners and set(between[1:]) <= _ARTICLES


# "a cow in a field", "a crab on the beach": what follows these right after a thing is where it
# is, not a second thing to draw beside it ("field" would be field hockey, "sea" a sailboat).
SETTING_WORDS = ("in", "on", "at", "inside", "into", "within")


def without_settings(words: list[str], things: list[Thing]) -> list[Thing]:
    """The things less each one named right after another thing and a setting word ("in the",
    "on a"): a thing's setting is not drawn (the first thing alone is drawn as large as the
    picture). Places and backgrounds are read apart ("on the left", "on pink"); "over", "under"
    and the other relations still place two things ("a butterfly over a flower")."""
    kept: list[Thing] = []
    for thing in things:
        between = words[kept[-1].at + 1:thing.at] if kept else []
        if _joined_by(between, SETTING_WORDS):
            continue
        kept.append(thing)
    return kept


def join_compounds(words: list[str], things: list[Thing], lexicon: Lexicon) -> list[Thing]:
    """Two things named one right after the other are one thing ("a fire truck", "a sun flower",
    "an apple tree"): the thing both words describe where there is one (fire engine, sunflower),
    else the second word's, which the first only qualifies (the tree); so are two joined by "of"
    ("a bowl of ramen": the steaming bowl, not two of them; "a basket of apples": the apple).
    Two things joined by "with" are one where a thing's words hold both ("a happy face with
    sunglasses"), and so are a thing and a word "with" it that names none ("a heart with an
    arrow": the heart with arrow)."""
    joined: list[Thing] = []
    for thing in things:
        between = words[joined[-1].at + 1:thing.at] if joined else None
        joins = between is not None and (not between or _joined_by(between, ("with", "of")))
        if joins:
            both = lexicon.best_thing(lexicon.plain_words(words[joined[-1].at]) + lexicon.plain_words(words[thing.at]),
                                      least_votes=2)
            if both or not between or between[0] == "of":
                joined.pop()
                thing = replace(thing, what=both or thing.what)
        joined.append(thing)
    return [with_its_word(words, thing, {t.at for t in joined}, lexicon) for thing in joined]


def with_its_word(words: list[str], thing: Thing, named: set[int], lexicon: Lexicon) -> Thing:
    """The thing that a thing's words and the word "with" it describe together, where that word
    names no thing of its own ("a heart with an arrow"); else the thing unchanged ("a dog with a
    bone": no emoji is both)."""
    at = thing.at + 1
    if words[at:at + 1] != ["with"]:
        return thing
    at += 1
    while at < len(words) and words[at] in _ARTICLES:
        at += 1
    if at >= len(words) or at in named or words[at] not in lexicon.describes:
        return thing
    both = lexicon.best_thing(lexicon.plain_words(words[thing.at]) + [words[at]], least_votes=2)
    return replace(thing, what=both) if both else thing


def described_things(words: list[str], skip: set[int], things: list[Thing], lexicon: Lexicon) -> list[Thing]:
    """Things described rather than named ("a sick face", "a scared face", "a pet"): in each
    clause that names none, the thing its words describe best (`Lexicon.best_thing`); "with" does
    not end such a clause ("a face with a hat" is the cowboy hat face). Where the prompt names
    other things, a clause needs two describing words ("and a sick face"), so that a lone word
    beside a named thing ("a dog with a bone") does not add a second thing."""
    clauses = clause_of(words, tuple(w for w in SEPARATORS if w != "with"))
    named = {clauses[t.at] for t in things}
    describing: dict[int, list[int]] = {}  # clause -> its describing words' indices
    for i, word in enumerate(words):
        if clauses[i] not in named and i not in skip and word in lexicon.describes:
            describing.setdefault(clauses[i], []).append(i)
    found = []
    for at in describing.values():
        what = lexicon.best_thing([words[i] for i in at], least_votes=2 if things else 1)
        if what:
            found.append(Thing(what, at[-1]))
    return found


def _described_by(things: list[Thing], clauses: list[int], i: int) -> Thing:
    """The thing an adjective at word i describes: the next noun of its clause ("a red ball"),
    else the last noun before it in its clause ("a ball that is red"), else the next noun."""
    after = [t for t in things if t.at > i]
    if after and clauses[after[0].at] == clauses[i]:
        return after[0]
    before = [t for t in things if t.at < i and clauses[t.at] == clauses[i]]
    if before:
        return before[-1]
    return after[0] if after else things[-1]


# One thing placed against another ("a red ball above a blue box"): the word, and the places of
# the thing before it and the thing after it. "left" / "right" / "top" / "bottom" are relations
# only when "of" and a thing follow ("to the left of a box", "on top of a box"); "over" only when
# a thing follows ("a ball over a box", not "over to the left").
RELATIONS = {"above": ("top", "bottom"), "over": ("top", "bottom"), "atop": ("top", "bottom"),
             "below": ("bottom", "top"), "under": ("bottom", "top"), "underneath": ("bottom", "top"),
             "beneath": ("bottom", "top")}
RELATIONS_WITH_OF = {"left": ("left", "right"), "right": ("right", "left"), "top": ("top", "bottom"),
                     "bottom": ("bottom", "top")}
_RELATION_FILLER = ("a", "an", "the", "of", "that", "is", "one")
_PRONOUNS = ("it", "them", "that", "this")


def read_relations(words: list[str], skip: set[int], things: list[Thing], lexicon: Lexicon) -> set[int]:
    """Place the two things around each relation word of a clause, and return the words used, so
    that they are not read again as places of their own ("above" alone means "at the top")."""
    clauses, used = clause_of(words), set()
    for i, word in enumerate(words):
        if i in skip:
            continue
        if word in RELATIONS:
            places, first_after = RELATIONS[word], i + 1
        elif word in RELATIONS_WITH_OF and i + 1 < len(words) and words[i + 1] == "of":
            places, first_after = RELATIONS_WITH_OF[word], i + 2
        else:
            continue
        before = [t for t in things if t.at < i and clauses[t.at] == clauses[i]]
        after = next((t for t in things if t.at >= first_after and clauses[t.at] == clauses[i]), None)
        pronoun = after is None and first_after < len(words) and words[first_after] in _PRONOUNS
        if pronoun:  # "a red circle with a blue square below it": the last thing of an earlier clause
            after = next((t for t in reversed(things) if clauses[t.at] < clauses[i]), None)
        if not before or after is None or not pronoun and not _only_describes(words[first_after:after.at], lexicon):
            continue
        for thing, place in zip((before[-1], after), places):
            if thing.position is None:
                thing.position = place
        used |= set(range(i, first_after + pronoun))
        # "to the left of": the words that led up to the relation word are part of it
        j = i - 1
        while j >= 0 and words[j] in ("to", "the", "on", "at", "in", "just", "directly") and j not in skip:
            used.add(j)
            j -= 1
    return used


def _only_describes(words: list[str], lexicon: Lexicon) -> bool:
    """Between a relation and its second thing: articles and the thing's own adjectives only."""
    return all(w in _RELATION_FILLER or w in lexicon.colours or w in SIZE_OF or w in COUNT_WORDS for w in words)


def read_places(words: list[str], skip: set[int], things: list[Thing]) -> None:
    """Bind each place phrase ("up in the right-hand corner", "top-left", "middle") to a thing."""
    clauses = clause_of(words)
    for start, end, position in place_phrases(words, skip):
        in_clause = [t for t in things if clauses[t.at] == clauses[start]]
        if in_clause:  # the nearest noun of the clause
            thing = min(in_clause, key=lambda t: min(abs(t.at - start), abs(t.at - end)))
        else:  # "in the top left, a red circle": the next thing without a place, else the last
            unplaced = [t for t in things if t.position is None and t.at > end]
            thing = unplaced[0] if unplaced else things[-1]
        if thing.position is None:
            thing.position = position


def place_phrases(words: list[str], skip: set[int]) -> list[tuple[int, int, str]]:
    """(first word, last word, position) of each run of place words."""
    phrases, i = [], 0
    while i < len(words):
        if i in skip or not _is_place_word(words[i]):
            i += 1
            continue
        j = i
        vertical = horizontal = None
        middle = False
        while j < len(words) and j not in skip and (_is_place_word(words[j]) or words[j] in _PLACE_FILLER):
            vertical = vertical or VERTICAL_OF.get(words[j])
            horizontal = horizontal or HORIZONTAL_OF.get(words[j])
            middle = middle or words[j] in MIDDLE_WORDS
            j += 1
        position = _position(vertical, horizontal, middle)
        if position is not None:
            phrases.append((i, j - 1, position))
        i = j
    return phrases


_PLACE_FILLER = ("the", "in", "at", "on", "of", "side", "corner", "very", "far", "hand", "edge", "part",
                 "area", "half", "portion", "region", "over", "to", "towards", "toward", "a", "bit",
                 "slightly", "most", "dead", "exactly")


def _is_place_word(word: str) -> bool:
    return word in VERTICAL_OF or word in HORIZONTAL_OF or word in MIDDLE_WORDS


def _position(vertical: str | None, horizontal: str | None, middle: bool) -> str | None:
    if vertical and horizontal:
        return f"{vertical} {horizontal}"
    if vertical or horizontal:
        return vertical or horizontal
    return "center" if middle else None


def expand_counts(things: list[Thing]) -> list[Thing]:
    """"two blue discs" is two things alike; the places are filled in afterwards."""
    expanded = []
    for thing in things:
        expanded += [replace(thing, count=1)] + [replace(thing, count=1, position=None)
                                                 for _ in range(max(0, thing.count - 1))]
    return expanded


def fill_places(things: list[Thing]) -> list[Thing]:
    """Give every thing a distinct cell: the one asked for where it is free, else a default."""
    taken = set()
    for thing in things:
        if thing.position is not None and thing.position in taken:
            thing.position = None
        if thing.position is not None:
            taken.add(thing.position)
    preferred = DEFAULT_PLACES_FOR.get(len(things), ()) + DEFAULT_PLACES
    for thing in things:
        if thing.position is None:
            thing.position = next(p for p in preferred if p not in taken)
            taken.add(thing.position)
    return things


def read_scene(prompt: str, lexicon: Lexicon) -> Reading | None:
    """The scene a prompt asks of a model whose world `lexicon` names, or None where it names
    nothing of that world."""
    words = words_of(prompt, lexicon)
    background, background_words = read_background(words, lexicon)
    things = read_things(words, background_words, lexicon)
    if not things:
        return None
    relation_words = read_relations(words, background_words, things, lexicon)
    read_places(words, background_words | relation_words, things)
    # A picture holds at most the model's count: the first things asked for are drawn.
    things = expand_counts(things)[:lexicon.max_things]
    return Reading(tuple(things), background)


def read_shapes_prompt(prompt: str) -> Reading | None:
    """The scene a prompt asks of the shapes model (every shape in a cell of its own), or None
    where it names no shape."""
    reading = read_scene(prompt, SHAPES_LEXICON)
    return None if reading is None else replace(reading, things=tuple(fill_places(list(reading.things))))


def shapes_reader(prompt: str) -> str:
    """The shapes model's words for a prompt: as typed where it is already the training grammar
    with its things in reading order (so the model's figures on its own prompts are unchanged by
    construction) or where no shape is named (the model then does what it can with it); else the
    canonical caption of what it asks for."""
    reading = read_shapes_prompt(prompt)
    if reading is None or (is_grammar_caption(prompt) and said_in_reading_order(reading)):
        return prompt
    return reading.caption()


class ShapesReader:
    """`shapes_reader` as a checkpoint's reader, which can also say where a prompt names no shape."""

    def __call__(self, prompt: str) -> str:
        return shapes_reader(prompt)

    def names_nothing(self, prompt: str) -> bool:
        return read_shapes_prompt(prompt) is None


def said_in_reading_order(reading: Reading) -> bool:
    order = [POSITIONS.index(t.position) for t in reading.things]
    return order == sorted(order)


assert set(POSITIONS) == set(_CANONICAL_PLACE)


# ---------------------------------------------------------------------------------------------
# The emoji model: its things are the emoji's names (CLDR names and aliases, shipped with the
# checkpoint as names.json, since the app needs no CLDR files); a prompt that says no size, place
# or background asks for the emoji alone (a "bare name", as large as the picture).

EMOJI_BACKGROUND_WORDS = {
    "white": ("white", "ivory", "snow", "cream", "plain", "blank"),
    "black": ("black", "dark", "night", "jet", "charcoal", "ebony"),
    "gray": ("gray", "grey", "silver", "slate", "ash", "grayish", "greyish"),
    "blue": ("blue", "navy", "navyblue", "darkblue", "lightblue", "skyblue", "sky", "azure", "cobalt",
             "indigo", "bluish"),
    "green": ("green", "lime", "olive", "emerald", "grass", "mint", "forest", "greenish", "teal"),
    "pink": ("pink", "rose", "magenta", "fuchsia", "salmon", "blush", "pinkish"),
}
EMOJI_MAX_THINGS = 2  # the most emoji a training scene holds


def name_words(name: str) -> str:
    """A name as `words_of` sees it: lower case, hyphens and underscores as spaces."""
    return " ".join(name.lower().replace("-", " ").replace("_", " ").split())


# What people call an emoji where CLDR has no such name or alias: a generic word for a family
# ("tree", "flower") goes to one typical member, an everyday phrase ("happy face") to the emoji
# it usually means. Used only where the model knows that emoji, and after every CLDR name and
# alias, so a model whose names say otherwise keeps its own reading.
EMOJI_COMMON_WORDS = {
    "happy face": "grinning face", "smiley face": "grinning face with big eyes",
    "smiling face": "slightly smiling face", "sad face": "frowning face", "tree": "deciduous tree",
    "flower": "tulip", "kitten": "cat", "kitty": "cat", "puppy": "dog",
    "bunny": "rabbit", "plane": "airplane", "aeroplane": "airplane", "dinosaur": "sauropod",
    "car": "automobile", "boat": "sailboat", "coffee": "hot beverage", "heart": "red heart",
    "pine tree": "evergreen tree", "fir tree": "evergreen tree", "palm": "palm tree", "cherry": "cherries",
    "smiling sun": "sun with face", "sad cat": "crying cat", "happy cat": "grinning cat",
    "spaceship": "rocket", "space ship": "rocket", "rocket ship": "rocket", "space rocket": "rocket",
    "face with sunglasses": "smiling face with sunglasses", "love": "red heart",
    "fruit": "red apple", "ball": "soccer ball", "vegetable": "carrot",
    "pumpkin": "jack-o-lantern", "motorbike": "motor scooter", "motorcycle": "motor scooter",
}


def emoji_lexicon(names: dict[str, list[str]], keywords: dict[str, list[str]] | None = None) -> Lexicon:
    """`names`: each emoji's CLDR name -> its aliases. Plurals ("two cats") name the emoji too.
    Where two emoji share a word, a CLDR name wins over an alias, an alias over a common word
    (`EMOJI_COMMON_WORDS`), and those over a plural ("egg" is the egg, not the alias of
    "cooking"; "stars" the alias of "shooting star"). `keywords`: each emoji's CLDR keywords; one
    that a single emoji has, and that is no name and no word of the grammar, is a keyword thing."""
    common: dict[str, list[str]] = {}
    for words, name in EMOJI_COMMON_WORDS.items():
        if name in names:
            common.setdefault(name, []).append(words)
    things: dict[str, str] = {}
    for pick in (lambda n, a: [n], lambda n, a: a, lambda n, a: common.get(n, []),
                 lambda n, a: [w + "s" for w in (n, *a, *common.get(n, []))]):
        for name, aliases in names.items():
            for words in pick(name, aliases):
                things.setdefault(name_words(words), name)
    return Lexicon(things=things, colours={}, backgrounds=_index(EMOJI_BACKGROUND_WORDS),
                   max_things=EMOJI_MAX_THINGS, keywords=unique_keywords(keywords or {}, names, things),
                   describes=describing_words(names, keywords or {}))


# Words the reader reads as something else (or as nothing): never a keyword thing.
_NOT_KEYWORDS = (set(_index(EMOJI_BACKGROUND_WORDS)) | set(COLOUR_OF) | set(SIZE_OF) | set(COUNT_WORDS)
                 | set(VERTICAL_OF) | set(HORIZONTAL_OF) | set(MIDDLE_WORDS) | set(SEPARATORS)
                 | set(BACKGROUND_MARKERS) | set(RELATIONS) | set(_PLACE_FILLER)
                 | {"an", "or", "for", "me", "my", "please", "emoji", "draw", "make", "show", "picture", "image"})


# Small words no emoji is described by ("a face with a hat": face and hat describe it).
_NOT_DESCRIBING = ("a", "an", "the", "of", "i", "want", "like", "would", "could", "you", "can", "some",
                   "this", "that", "it", "is", "are", "be", "to", "in", "on", "at", "with", "very", "please")


def describing_words(names: dict[str, list[str]], keywords: dict[str, list[str]]) -> dict[str, tuple[str, ...]]:
    """Each single word (and its plural) of an emoji's name, aliases and keywords -> the emoji
    it describes, leaving out the words the reader reads as something else."""
    owners: dict[str, dict[str, None]] = {}
    for name, aliases in names.items():
        for phrase in (name, *aliases, *keywords.get(name, [])):
            for word in name_words(phrase).replace("'", " ").split():
                if len(word) > 2 and word not in _NOT_KEYWORDS and word not in _NOT_DESCRIBING:
                    for form in (word, word + "s"):
                        owners.setdefault(form, {})[name] = None
    return {word: tuple(things) for word, things in owners.items()}


def unique_keywords(keywords: dict[str, list[str]], names: dict[str, list[str]],
                    things: dict[str, str]) -> dict[str, str]:
    """keyword -> emoji for the keywords (and their plurals) that exactly one known emoji has."""
    owners: dict[str, set[str]] = {}
    for name, words in keywords.items():
        if name in names:
            for word in map(name_words, words):
                owners.setdefault(word, set()).add(name)
    unique = {w: next(iter(o)) for w, o in owners.items()
              if len(o) == 1 and w not in things and w not in _NOT_KEYWORDS}
    plurals = {w + "s": name for w, name in unique.items() if w + "s" not in things and w + "s" not in owners}
    return plurals | unique


def emoji_caption(reading: Reading) -> str:
    """The emoji data's canonical words: the bare name where nothing but the emoji is asked for,
    else every emoji with its size and place, in reading order, and the background when said."""
    return reading.things[0].what if is_bare_name(reading) else placed_scene(reading).caption()


def is_bare_name(reading: Reading) -> bool:
    """One emoji asked for by name alone (no size, place or background): drawn as large as the picture."""
    things = reading.things
    return len(things) == 1 and reading.background is None and things[0].size is None and things[0].position is None


def placed_scene(reading: Reading) -> Reading:
    """Every emoji with a size (large where unsaid, as a placed emoji is drawn) and a cell of its own."""
    return Reading(tuple(fill_places([replace(t, size=t.size or "large") for t in reading.things])),
                   reading.background)


def emoji_regions(reading: Reading) -> tuple[RegionWords, ...]:
    """Each emoji of a scene of several in words of its own (regions.py): the first in reading
    order for the whole picture, every other one for its cell. Each says the background, white
    where the prompt does not say one (the emoji's own background), so that the regions agree."""
    placed = placed_scene(reading)
    background = reading.background or "white"
    first, *rest = placed.ordered_things
    return (RegionWords(Reading((first,), background).caption()),
            *(RegionWords(Reading((t,), background).caption(), t.position) for t in rest))


class EmojiReader:
    """Reads a prompt into the emoji model's canonical words; names no emoji: as typed."""

    def __init__(self, names: dict[str, list[str]], keywords: dict[str, list[str]] | None = None):
        self.lexicon = emoji_lexicon(names, keywords)

    def __call__(self, prompt: str) -> str:
        reading = read_scene(prompt, self.lexicon)
        return prompt if reading is None else emoji_caption(reading)

    def names_nothing(self, prompt: str) -> bool:
        """The prompt names (or describes) no emoji of the model's: it goes to the model as typed."""
        return read_scene(prompt, self.lexicon) is None

    def regions(self, prompt: str) -> tuple[RegionWords, ...]:
        """Each emoji's own words where the prompt asks for several, else () (one region: the
        prompt as read)."""
        reading = read_scene(prompt, self.lexicon)
        return () if reading is None or len(reading.things) < 2 else emoji_regions(reading)

    def placed(self, prompt: str) -> Reading | None:
        """The scene of placed emoji a prompt asks for (every emoji with its size and cell, as the
        model is asked for it), or None where it asks for one emoji by name alone or for nothing
        the model draws (drafts.py draws the placed ones at full size first)."""
        reading = read_scene(prompt, self.lexicon)
        return None if reading is None or is_bare_name(reading) else placed_scene(reading)

    @classmethod
    def from_checkpoint(cls, directory: Path) -> "EmojiReader":
        """names.json is required; keywords.json is optional (checkpoints before it read without)."""
        names = read_word_lists(Path(directory) / EMOJI_NAMES_FILE, "the emoji's names")
        keywords_path = Path(directory) / EMOJI_KEYWORDS_FILE
        keywords = read_word_lists(keywords_path, "the emoji's keywords") if keywords_path.exists() else None
        return cls(names, keywords)


def read_word_lists(path: Path, what: str) -> dict[str, list[str]]:
    """A JSON file mapping each emoji name to a list of words, or a clear error."""
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: the emoji reader needs {what} ({err})") from err
    if not isinstance(table, dict) or not all(isinstance(v, list) and all(isinstance(w, str) for w in v)
                                              for v in table.values()):
        raise ValueError(f"{path}: must map each emoji name to a list of words")
    return table


EMOJI_NAMES_FILE = "names.json"
EMOJI_KEYWORDS_FILE = "keywords.json"


def as_typed(prompt: str) -> str:
    return prompt


# A reader maps the words typed to the model's words; one that knows the model's world also has
# `names_nothing(prompt)`, true where the prompt names nothing of it (the page then says so).
PromptReader = Callable[[str], str]
# Each reader is made for a checkpoint folder (the emoji reader reads its names from there).
READERS: dict[str, Callable[[Path], PromptReader]] = {
    "none": lambda directory: as_typed,
    "shapes": lambda directory: ShapesReader(),
    "emoji": EmojiReader.from_checkpoint,
}
