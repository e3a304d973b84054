"""Turn a trained dlsa model without hint propagation into one with it, as a starting point for fine-tuning.

    python examples/add_hint_propagation.py OLD_MODEL_DIR NEW_MODEL_DIR [--config hub_configs/dlsa-tiny]

The patch embedding gets zero weights for the three new input channels (propagated a, b and confidence) and
the head's last layer is zeroed, so the new model starts out predicting exactly the propagated hints; every
other weight is the old model's. This is how the bundled dlsa-tiny was started before its fine-tuning with
``examples/train.py --pretrained_model_name_or_path NEW_MODEL_DIR``.
"""

import argparse

import torch
from transformers import AutoConfig

import hf_colorize  # noqa: F401  (registers the families)
from hf_colorize import DlsaForColorization, DlsaImageProcessor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old_model", help="a saved dlsa model folder, e.g. the bundled hf_colorize.DEFAULT_MODEL")
    parser.add_argument("new_model", help="where to save the model with hint propagation")
    parser.add_argument("--config", help="config of the new model (default: the old one with propagation on)")
    args = parser.parse_args()
    old_path = args.old_model
    old = DlsaForColorization.from_pretrained(old_path, dtype=torch.float32)
    if old.config.hint_propagation:
        parser.error(f"{old_path} already uses hint propagation")
    config = AutoConfig.from_pretrained(args.config) if args.config else old.config
    config.hint_propagation = True
    new = DlsaForColorization(config)
    state = old.state_dict()
    embedding = state["dlsa.embeddings.projection.weight"]
    new_channels = torch.zeros(embedding.shape[0], 3, *embedding.shape[2:])
    state["dlsa.embeddings.projection.weight"] = torch.cat([embedding, new_channels], dim=1)
    state["head.reconstruction.weight"] = torch.zeros_like(state["head.reconstruction.weight"])
    state["head.reconstruction.bias"] = torch.zeros_like(state["head.reconstruction.bias"])
    new.load_state_dict(state)
    new.save_pretrained(args.new_model)
    DlsaImageProcessor.from_pretrained(old_path).save_pretrained(args.new_model)
    print(f"wrote {args.new_model}")


if __name__ == "__main__":
    main()
