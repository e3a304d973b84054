"""Model cards: YAML metadata (``ModelCardData``) rendered with a variant's template from ``hub_configs/``."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

from ..models import REGISTERED_FAMILIES

TRAINING_CARD_TEMPLATE = Path(__file__).with_name("card_template.md")
"""The card written into every training run's ``output_dir``."""


def render_model_card(
    template: str | Path,
    model_type: str,
    repo_id: str,
    gmacs: float,
    parameters: int,
    training_summary: str,
    evaluation_table: str,
    datasets: list[str] | None = None,
    **template_values: str,
) -> ModelCard:
    """A card with pipeline tag ``image-to-image``, the project's tags, and the template filled in.

    ``template`` is a variant's ``hub_configs/<variant>/card_template.md`` or, for any training run,
    :data:`TRAINING_CARD_TEMPLATE` (whose usage line loads ``model_id``, a value of ``template_values``: the Hub id
    the model is pushed to, or its folder); ``template_values`` fill its further placeholders.
    """
    card_data = ModelCardData(
        library_name="hf-colorize",
        license="apache-2.0",
        pipeline_tag="image-to-image",
        tags=["image-colorization", "hf-colorize", model_type],
        datasets=datasets or None,
    )
    return ModelCard.from_template(
        card_data,
        template_path=str(template),
        repo_id=repo_id,
        gmacs=f"{gmacs:.2f}",
        parameters=f"{parameters / 1e6:.2f}M",
        training_summary=training_summary,
        evaluation_table=evaluation_table,
        paper=REGISTERED_FAMILIES[model_type].paper if model_type in REGISTERED_FAMILIES else "",
        model_type=model_type,
        **template_values,
    )
