"""Package a training checkpoint as the bundled default model (fp16 weights, loads as fp32).

python examples/bundle_default_model.py runs/dlsa-tiny/checkpoint-3500 --config hub_configs/dlsa-tiny
"""

import argparse
from pathlib import Path

import torch
from transformers import AutoConfig

import hf_colorize
from hf_colorize import DlsaForColorization, DlsaImageProcessor
from hf_colorize.profiling import count_macs, count_parameters
from hf_colorize.training.card import render_model_card
from hf_colorize.training.export import export_half_precision, load_checkpoint_into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="a checkpoint-N folder written by examples/train.py")
    parser.add_argument("--config", required=True, help="the variant's config folder")
    parser.add_argument("--output_dir", default=hf_colorize.DEFAULT_MODEL)
    parser.add_argument("--no_ema", action="store_true", help="use the raw weights even if EMA weights exist")
    parser.add_argument("--repo_id", default="hf-colorize/dlsa-tiny", help="Hub id the card's example loads")
    parser.add_argument(
        "--evaluation_table",
        default=str(Path(__file__).resolve().parent.parent / "benchmarks" / "results" / "cards" / "dlsa-tiny.md"),
        help="Markdown file with the evaluation results for the card (written by benchmarks/evaluate_quality.py)",
    )
    parser.add_argument("--training_summary", default="See the project README.", help="how it was trained")
    args = parser.parse_args()
    model = DlsaForColorization(AutoConfig.from_pretrained(args.config))
    load_checkpoint_into(model, args.checkpoint, use_ema=not args.no_ema)
    processor = DlsaImageProcessor.from_pretrained(args.config)
    folder = export_half_precision(model.eval(), processor, args.output_dir)
    table_file = Path(args.evaluation_table)
    table = table_file.read_text() if table_file.is_file() else "Not evaluated yet."
    card = render_model_card(
        Path(args.config) / "card_template.md",
        model.config.model_type,
        repo_id=args.repo_id,
        gmacs=count_macs(model, pixel_values=torch.zeros(1, 4, 224, 224)) / 1e9,
        parameters=count_parameters(model),
        training_summary=args.training_summary,
        evaluation_table=table,
    )
    card.save(Path(folder) / "README.md")
    size = sum(path.stat().st_size for path in Path(folder).iterdir())
    print(f"wrote {folder} ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
