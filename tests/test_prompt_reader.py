"""Reading a person's prompt into shapes-v1's grammar: every attribute to its object, every
phrasing of the data's grammars read back to its scene, the rest left as typed."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from studio_core.checkpoints import CheckpointError
from studio_core.data.shapes import Scene, caption_scene, free_caption, sample_scene
from studio_core.prompt_reader import MAX_OBJECTS, read_shapes_prompt, shapes_reader
from studio_core.studio import Studio


def scene_read_from(prompt: str) -> tuple[list[tuple], str | None]:
    reading = read_shapes_prompt(prompt)
    assert reading is not None, prompt
    return sorted((t.colour, t.shape, t.size, t.position) for t in reading.things), reading.background


def objects_of(scene: Scene) -> list[tuple]:
    return sorted((o.colour, o.shape, o.size, o.position) for o in scene.objects)


@pytest.mark.parametrize("wording", ["grammar", "train", "heldout"])
def test_every_phrasing_of_the_data_reads_back_to_its_scene(wording):
    rng = np.random.default_rng(7)
    for i in range(300):
        scene = sample_scene(rng, "heldout" if i % 2 else "train")
        prompt = caption_scene(scene, rng) if wording == "grammar" else free_caption(scene, rng, wording)
        objects, background = scene_read_from(prompt)
        assert objects == objects_of(scene), prompt
        assert background in (None, scene.background), prompt
        assert (background is None) == (scene.background not in prompt.lower().replace("grey", "gray")), prompt


def test_the_training_grammar_in_reading_order_goes_to_the_model_as_typed():
    rng = np.random.default_rng(3)
    for _ in range(200):
        prompt = caption_scene(sample_scene(rng, "train"), rng)
        assert shapes_reader(prompt) == prompt
    reversed_order = "a small blue square in the bottom right and a large red circle in the top left"
    assert shapes_reader(reversed_order) == "a large red circle in the top left and a small blue square in the bottom right"


# Phrasings written apart from the data's grammars: what people type, with what it must mean.
PEOPLE_TYPE = [
    ("make a tiny purple box up in the right-hand corner, please", "a small purple square in the top right"),
    ("top-right: crimson ball", "a red circle in the top right"),
    ("a circle that is red, bottom left", "a red circle in the bottom left"),
    ("NW corner: big yellow rhombus!!", "a large yellow diamond in the top left"),
    ("a red square and a blue circle", "a red square on the left and a blue circle on the right"),
    ("two blue discs on black", "a blue circle on the left and a blue circle on the right on a black background"),
    ("the background is dark blue, a big orange lozenge dead centre",
     "a large orange diamond in the center on a navy background"),
    ("teal dot lower left & lime pyramid upper right, grey bg",
     "a green triangle in the top right and a cyan circle in the bottom left on a gray background"),
    ("A huge white cube at the very bottom with a brown backdrop", "a large white square at the bottom on a brown background"),
]


@pytest.mark.parametrize("prompt, meaning", PEOPLE_TYPE)
def test_what_people_type_is_read_as_they_mean_it(prompt, meaning):
    assert shapes_reader(prompt) == meaning


def test_things_are_said_in_reading_order_as_the_model_learned():
    assert shapes_reader("a blue square at the bottom right and a red ball top left") == \
        "a red circle in the top left and a blue square in the bottom right"


def test_colours_bind_to_their_own_object_in_either_order():
    assert shapes_reader("a blue circle and a red square") == "a blue circle on the left and a red square on the right"
    assert shapes_reader("a square in red, a circle in blue") == "a red square on the left and a blue circle on the right"


def test_a_prompt_that_names_no_shape_goes_to_the_model_as_typed():
    for prompt in ("a cat on the moon", "", "red"):
        assert shapes_reader(prompt) == prompt


def test_every_thing_gets_a_cell_of_its_own_and_at_most_the_models_count():
    reading = read_shapes_prompt("a red circle in the center, a blue circle in the center, five squares")
    places = [t.position for t in reading.things]
    assert len(places) == MAX_OBJECTS and len(set(places)) == MAX_OBJECTS and places[0] == "center"
    assert reading.notes


def test_a_background_the_model_cannot_draw_is_dropped_not_swapped():
    assert shapes_reader("a red circle on a green background") == "a red circle in the center"


def test_the_studio_conditions_on_the_reading_and_records_the_words_typed(tiny_checkpoint, tmp_path):
    reading = shutil.copytree(tiny_checkpoint, tmp_path / "reading")
    manifest = json.loads((reading / "studio.json").read_text())
    (reading / "studio.json").write_text(json.dumps({**manifest, "prompt_reader": "shapes"}))
    studio, plain = Studio.load(reading, cpu=True), Studio.load(tiny_checkpoint, cpu=True)
    typed = "show me a tiny crimson ball up in the left-hand corner"
    assert studio.read_prompt(typed) == "a small red circle in the top left"
    assert plain.read_prompt(typed) == typed

    state = studio.generate_image(typed, seed=3)
    assert state.current.prompt == typed
    canonical = plain.generate_image("a small red circle in the top left", seed=3)
    assert np.array_equal(state.current.ids, canonical.current.ids)

    as_typed = studio.with_prompt_reader("none")
    assert as_typed.read_prompt(typed) == typed and studio.read_prompt(typed) != typed
    with pytest.raises(ValueError, match="prompt reader must be one of"):
        studio.with_prompt_reader("spellcheck")

    (reading / "studio.json").write_text(json.dumps({**manifest, "prompt_reader": "spellcheck"}))
    with pytest.raises(CheckpointError, match='"prompt_reader" must be one of'):
        Studio.load(reading, cpu=True)


def test_the_page_says_how_the_model_read_the_prompt(tiny_checkpoint, tmp_path):
    from app.views import reading_of

    reading = shutil.copytree(tiny_checkpoint, tmp_path / "reading")
    manifest = json.loads((reading / "studio.json").read_text())
    (reading / "studio.json").write_text(json.dumps({**manifest, "prompt_reader": "shapes"}))
    studio = Studio.load(reading, cpu=True)
    assert reading_of(studio, "draw a giant teal ball") == "a large cyan circle in the center"
    assert reading_of(studio, "A large cyan circle in the center") is None  # read as typed: nothing to say
    assert reading_of(studio, "a cat") is None
