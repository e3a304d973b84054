"""Package a training checkpoint as a bundled model (fp16 weights, loads as fp32) with its model card.

python examples/bundle_model.py runs/dlsa-tiny/checkpoint-3500 --config hub_configs/dlsa-tiny
python examples/bundle_model.py runs/smsanet-small/checkpoint-800 --config hub_configs/smsanet-small

The bundle goes to ``src/hf_colorize/weights/<variant>`` (the config folder's name), where
``hf_colorize.BUNDLED_MODELS`` and the CLI's ``--model <variant>`` find it.
"""

import argparse
from pathlib import Path

from transformers import AutoConfig, AutoImageProcessor, AutoModelForImageToImage

import hf_colorize
from hf_colorize.profiling import count_macs, count_parameters, inference_call
from hf_colorize.training.card import render_model_card
from hf_colorize.training.export import export_half_precision, load_checkpoint_into

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = Path(hf_colorize.__file__).parent / "weights"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="a checkpoint-N folder written by examples/train.py")
    parser.add_argument("--config", required=True, help="the variant's config folder, e.g. hub_configs/dlsa-tiny")
    parser.add_argument("--output_dir", help="default: src/hf_colorize/weights/<variant>")
    parser.add_argument("--no_ema", action="store_true", help="use the raw weights even if EMA weights exist")
    parser.add_argument("--repo_id", help="Hub id the card's example loads (default: hf-colorize/<variant>)")
    parser.add_argument(
        "--evaluation_table",
        help="Markdown file with the evaluation results for the card (written by benchmarks/evaluate_quality.py; "
        "default: benchmarks/results/cards/<variant>.md)",
    )
    parser.add_argument("--training_summary", default="See the project README.", help="how it was trained")
    args = parser.parse_args()
    variant = Path(args.config).resolve().name
    config = AutoConfig.from_pretrained(args.config)
    model = AutoModelForImageToImage.from_config(config)
    load_checkpoint_into(model, args.checkpoint, use_ema=not args.no_ema)
    processor = AutoImageProcessor.from_pretrained(args.config)
    folder = export_half_precision(model.eval(), processor, args.output_dir or WEIGHTS / variant)
    table_file = Path(args.evaluation_table or ROOT / "benchmarks" / "results" / "cards" / f"{variant}.md")
    table = table_file.read_text() if table_file.is_file() else "Not evaluated yet."
    card = render_model_card(
        Path(args.config) / "card_template.md",
        config.model_type,
        repo_id=args.repo_id or f"hf-colorize/{variant}",
        gmacs=count_macs(inference_call(model), **model.dummy_inputs) / 1e9,
        parameters=count_parameters(model),
        training_summary=args.training_summary,
        evaluation_table=table,
    )
    card.save(Path(folder) / "README.md")
    size = sum(path.stat().st_size for path in Path(folder).iterdir())
    print(f"wrote {folder} ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
