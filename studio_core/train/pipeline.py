"""From a trained tokenizer to a complete studio checkpoint: encode the data once, train the
transformer (resuming from the work folder if a run was interrupted), lay out the checkpoint."""

from __future__ import annotations

from pathlib import Path

from ..checkpoints import assemble_studio_checkpoint, read_json, write_json
from ..text_encoder import TextEncoder
from ..tokenizer import ImageTokenizer
from .cache import EncodedDataset, build_encoded_dataset
from .transformer import TransformerTrainConfig, train_transformer, validate_train_config, with_overrides


def training_source(data_folder: str | None, seed: int, captions: str = "grammar", twins: bool = False,
                    dataset: str = "shapes"):
    from ..data import CaptionedImageFolder, ShapesDataset
    from .tokenizer import builtin_dataset

    if data_folder:
        return CaptionedImageFolder(data_folder)
    if dataset != "shapes":
        if captions != "grammar" or twins:
            raise ValueError(f"--captions and --twins apply to the shapes data set, not {dataset!r}")
        return builtin_dataset(dataset, seed, "train")
    return ShapesDataset(seed=seed, split="train", captions=captions, twins=twins)


def encoded_data(tokenizer: ImageTokenizer, work: Path, examples: int, data_folder: str | None,
                 text_encoder: str, seed: int, captions: str = "grammar", twins: bool = False,
                 dataset: str = "shapes") -> EncodedDataset:
    # The original data keeps its file names; other captions or twins get their own cache.
    tag = ("" if captions == "grammar" else f"_{captions}") + ("_twins" if twins else "")
    path = work / f"encoded_{examples}{tag}.pt"
    if path.exists():
        return EncodedDataset.load(path)
    encoder = TextEncoder.from_pretrained(text_encoder)
    data = build_encoded_dataset(tokenizer, encoder, training_source(data_folder, seed, captions, twins, dataset),
                                 examples, text_cache=work / f"text_cache_{examples}{tag}.pt")
    data.save(path)
    return data


def train_studio_model(tokenizer_dir: str, out: str, work: str, examples: int, data_folder: str | None,
                       text_encoder: str, overrides: dict, captions: str = "grammar",
                       twins: bool = False, dataset: str = "shapes") -> Path:
    work_dir = Path(work)
    config = validate_train_config(with_overrides(TransformerTrainConfig(out=str(work_dir)), **overrides))
    tokenizer = ImageTokenizer.from_pretrained(tokenizer_dir)
    data = encoded_data(tokenizer, work_dir, examples, data_folder, text_encoder, config.seed, captions, twins,
                        dataset)
    train_transformer(config, data, tokenizer.codebook_size, text_encoder)

    def copy_transformer(directory: Path) -> None:
        from ..autoregressive import load_transformer

        load_transformer(work_dir / "model").save_pretrained(directory)

    checkpoint = assemble_studio_checkpoint(out, tokenizer_dir, text_encoder, copy_transformer)
    if dataset == "emoji":
        add_emoji_reader(checkpoint)
    return checkpoint


def add_emoji_reader(checkpoint: Path) -> None:
    """Ship the emoji's words with the checkpoint (CLDR names and aliases, and every CLDR keyword)
    and have its prompts read in the emoji data's words (prompt_reader.EmojiReader): the app
    needs no CLDR files."""
    from ..data.emoji import read_annotations, vocabulary
    from ..prompt_reader import EMOJI_KEYWORDS_FILE, EMOJI_NAMES_FILE

    _, keywords = read_annotations()
    write_json(checkpoint / EMOJI_NAMES_FILE, {e.name: list(e.aliases) for e in vocabulary()})
    write_json(checkpoint / EMOJI_KEYWORDS_FILE, {e.name: keywords.get(e.char, []) for e in vocabulary()})
    write_json(checkpoint / "studio.json", read_json(checkpoint / "studio.json") | {"prompt_reader": "emoji"})
