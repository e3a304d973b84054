"""The ``image-colorization`` pipeline task.

``preprocess`` reads an image (any mode, EXIF orientation applied) and reduces it to lightness at model
resolution with the request's hints; ``_forward`` predicts ab; ``postprocess`` upsamples ab to the input's
size and joins it with the input's own full-resolution L, so the output keeps the input's lightness.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import torch
from huggingface_hub.errors import StrictDataclassError
from PIL import Image
from safetensors import SafetensorError
from transformers import AutoModelForImageToImage, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY
from transformers.utils import IMAGE_PROCESSOR_NAME

from .bundled import BUNDLED_MODELS, DEFAULT_MODEL
from .image_processing import ProcessorConfigError
from .images import keep_freed_image_blocks
from .models import REGISTERED_FAMILIES, families_accepting, family_capabilities
from .pil_memory import keep_images_whole

TASK = "image-colorization"

HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")
"""What a Hub model id looks like (``org/name``): only such a name is looked up on the Hub."""

HUB_CONFIGS = Path(__file__).resolve().parent / "hub_configs"
"""The published variants' configurations (config, processor config, card template), shipped with the package; a
clone's ``hub_configs`` is a link to this folder."""

_REQUEST_NAMES = {"hints": "colour hints", "reference": "a reference image", "samples": "several samples"}


def check_request(model_type: str, requested: set[str]) -> None:
    """Raise a ``ValueError`` naming the families that honour a request this family cannot."""
    capabilities = family_capabilities(model_type)
    for request in sorted(requested - capabilities):
        others = families_accepting(request)
        supported = f"use a {' or '.join(repr(f) for f in others)} model" if others else "no family supports it yet"
        raise ValueError(f"the {model_type!r} model does not take {_REQUEST_NAMES[request]}: {supported}")


class ImageColorizationPipeline(Pipeline):
    """Colorize images: ``pipe(image, hints=[(x, y, "#rrggbb"), ...])`` returns an RGB ``PIL.Image``.

    Inputs are paths, PIL images or numpy arrays, or dicts ``{"image": ..., "hints": ...}`` (or ``"reference"``)
    to give each image of a batch its own hints or reference. A list of inputs returns a list of images. A family
    that samples (its image processor accepts ``samples``) takes ``num_samples=N, seed=S, temperature=T`` and
    returns a list of N images per input when N > 1.
    """

    onnx_model = None
    """An ``hf_colorize.export.OnnxRuntimeModel`` that stands in for the PyTorch model when set."""

    _load_processor = False
    _load_image_processor = True
    _load_feature_extractor = False
    _load_tokenizer = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        keep_freed_image_blocks()
        keep_images_whole()  # pictures made from now on are read and written in place

    def use_onnx(self, path: str | Path) -> None:
        """Run the model's exported ONNX graph (``hf_colorize.export.to_onnx``) with onnxruntime from now on.

        Raises:
            ValueError: the family cannot run from ONNX, or the file is missing, unreadable or another family's.
        """
        from .export import OnnxRuntimeModel, example_inputs

        model_type = self.model.config.model_type
        reason = REGISTERED_FAMILIES[model_type].onnx_unsupported_reason
        if reason is not None:
            raise ValueError(f"the {model_type!r} model cannot run from ONNX: {reason}")
        try:
            onnx_model = OnnxRuntimeModel(path)
        except FileNotFoundError as error:
            raise ValueError(str(error)) from None
        except Exception as error:  # onnxruntime raises its own exception types for a corrupt file
            raise ValueError(f"{path}: not a readable ONNX file ({str(error).strip().splitlines()[0]})") from None
        expected = {name: tuple(tensor.shape[1:]) for name, tensor in example_inputs(self.model, 1).items()}
        if onnx_model.input_shapes != expected:
            raise ValueError(f"{path}: the graph takes {onnx_model.input_shapes}; this model takes {expected}")
        self.onnx_model = onnx_model

    def check_options(self, **options: Any) -> tuple[dict, dict]:
        """Check a call's options (``hints``, ``reference``, ``num_samples``, ``seed``, ``temperature``) as a call
        does, and return the preprocess and forward parameters a call would use (a reference read once).

        Raises:
            TypeError: an unknown option.
            ValueError: a request this family does not take, or a bad value.
        """
        preprocess_params, forward_params, _ = self._sanitize_parameters(**options)
        return preprocess_params, forward_params

    def _sanitize_parameters(
        self,
        hints: Any = None,
        reference: Any = None,
        num_samples: int | None = None,
        seed: int | None = None,
        temperature: float | None = None,
        **kwargs: Any,
    ) -> tuple[dict, dict, dict]:
        if kwargs:
            raise TypeError(
                f"unknown argument(s) {', '.join(sorted(kwargs))}: the image-colorization pipeline takes "
                "hints, reference, num_samples, seed, temperature and batch_size"
            )
        requested = set()
        if hints is not None:
            requested.add("hints")
        if reference is not None:
            requested.add("reference")
        if (num_samples is not None and num_samples != 1) or temperature is not None:
            requested.add("samples")
        check_request(self.model.config.model_type, requested)
        if num_samples is not None and (
            isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1
        ):
            raise ValueError(f"num_samples must be a whole number of at least 1, got {num_samples!r}")
        if temperature is not None and not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature!r}")
        if reference is not None:  # read once; a bad reference fails here, before any target is read
            if isinstance(reference, (list, tuple)):
                reference = [self.image_processor.load_reference(item) for item in reference]
            else:
                reference = self.image_processor.load_reference(reference)
        preprocess_params = {
            name: value for name, value in (("hints", hints), ("reference", reference)) if value is not None
        }
        forward_params = {}
        if "samples" in family_capabilities(self.model.config.model_type):
            forward_params = {"num_samples": num_samples or 1, "seed": seed, "temperature": temperature or 1.0}
        return preprocess_params, forward_params, {"as_list": num_samples is not None and num_samples > 1}

    def preprocess(self, image: Any, **request: Any) -> dict[str, Any]:
        """Model inputs for one image; ``request`` holds the call's ``hints`` / ``reference``, which a dict input's
        own ``"hints"`` / ``"reference"`` replace."""
        if isinstance(image, dict):
            if "image" not in image:
                raise ValueError("a dict input needs an 'image' key (and optionally 'hints' or 'reference')")
            own = {name: image[name] for name in ("hints", "reference") if image.get(name) is not None}
            check_request(self.model.config.model_type, set(own))
            request.update(own)
            image = image["image"]
        inputs = self.image_processor(image, **request)
        model_inputs = {name: inputs[name].to(self.dtype) for name in self.image_processor.model_input_names}
        return {**model_inputs, "lightness": inputs["lightness"]}

    def _forward(self, model_inputs: dict[str, Any], **sampling: Any) -> dict[str, Any]:
        """ab ``(batch, samples, 2, h, w)``: one prediction per image, or for a family that samples, ``num_samples``
        drawn by the model's ``generate`` with a generator seeded by ``seed`` (the same seed, the same samples)."""
        lightness = model_inputs.pop("lightness")
        if sampling:
            num_samples, seed = sampling["num_samples"], sampling["seed"]
            generator = torch.Generator().manual_seed(seed) if seed is not None else None
            ab = self.model.generate(
                **model_inputs, num_samples=num_samples, generator=generator, temperature=sampling["temperature"]
            ).ab
            return {"ab": ab.unflatten(0, (-1, num_samples)), "lightness": lightness}
        ab = self.onnx_model(**model_inputs) if self.onnx_model is not None else self.model(**model_inputs).ab
        return {"ab": ab[:, None], "lightness": lightness}

    def postprocess(self, model_outputs: dict[str, Any], as_list: bool = False) -> Image.Image | list[Image.Image]:
        """One image, or with ``num_samples`` > 1 the list of an image's samples."""
        ab = model_outputs["ab"].flatten(0, 1)
        images = self.image_processor.post_process_colorization(ab, model_outputs["lightness"] * len(ab))
        return images if as_list else images[0]


def register_pipeline(default_model: str) -> None:
    """Register the task, with the bundled model as its default."""
    PIPELINE_REGISTRY.register_pipeline(
        TASK,
        pipeline_class=ImageColorizationPipeline,
        pt_model=AutoModelForImageToImage,
        default={"model": (default_model, None)},
        type="image",
    )


def resolve_model(model: str | None = None) -> str:
    """What ``from_pretrained`` loads for a bundled model's name (its folder), a saved model folder or a Hub id;
    the bundled default model for ``None``. A folder of the same name as a bundled model wins.

    Raises:
        ValueError: ``model`` is neither a folder, a bundled model nor a Hub id ``org/name``, so it is not looked
            up on the Hub (:func:`unknown_model_message`).
    """
    model = model or DEFAULT_MODEL
    if Path(model).exists():
        return model
    if model in BUNDLED_MODELS:
        return BUNDLED_MODELS[model]
    if HUB_ID.fullmatch(model) is None:
        raise ValueError(unknown_model_message(model))
    return model


def published_variants() -> list[str]:
    """The variants of :data:`HUB_CONFIGS` (configurations, trained or not)."""
    return sorted(folder.name for folder in HUB_CONFIGS.glob("*") if (folder / "config.json").is_file())


def unknown_model_message(model: str) -> str:
    """Why ``model`` is no model to load: a published variant without trained weights (and how to train it), or an
    unknown name, with the closest bundled name."""
    bundled = ", ".join(BUNDLED_MODELS)
    if model in published_variants():
        return (
            f"{model}: a published variant without trained weights in this package (bundled: {bundled}); train it "
            f"with: python -m hf_colorize.training --config {HUB_CONFIGS / model} --train_data_dir IMAGES "
            f"--output_dir {model}"
        )
    closest = difflib.get_close_matches(model, list(BUNDLED_MODELS), n=1)
    suggestion = f"did you mean {closest[0]}? " if closest else ""
    return f"{model}: unknown model, neither a folder nor a bundled model; {suggestion}bundled models: {bundled}"


def refuse_pickled_weights(model: str) -> None:
    """Raise a ``ValueError`` naming the file when ``model`` is a local folder whose weights exist only pickled
    (``pytorch_model.bin``): they are never loaded, since unpickling a file can run any code in it."""
    folder = Path(model)
    if not folder.is_dir() or any(folder.glob("*.safetensors")):
        return
    for pickled in sorted(folder.glob("*.bin")):
        raise ValueError(
            f"{pickled}: pickled weights are not loaded (unpickling a file can run code); "
            "save the model with save_pretrained, which writes model.safetensors"
        )


UNREADABLE_MODEL_ERRORS = (OSError, ValueError, SafetensorError, StrictDataclassError)
"""What loading a missing, corrupt or unusable model raises."""


def unreadable_model(model: str, error: Exception) -> ValueError:
    """The error for a model that ``from_pretrained`` could not load: its name (or the file at fault: corrupt
    weights, an unusable processor configuration) and the first line of the cause."""
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if isinstance(error, SafetensorError):
        weights = sorted(Path(model).glob("*.safetensors"))
        return ValueError(f"{weights[0] if len(weights) == 1 else model}: truncated or corrupt weights ({first_line})")
    if isinstance(error, ProcessorConfigError):
        return ValueError(f"{Path(model) / IMAGE_PROCESSOR_NAME}: {first_line}")
    return ValueError(f"{model}: unknown or unreadable model ({first_line})")


def load_colorization_pipeline(
    model: str | None = None, device: str | None = None, onnx: str | Path | None = None
) -> ImageColorizationPipeline:
    """The ``image-colorization`` pipeline for a bundled model's name, a saved model folder or a Hub id (default:
    the bundled default model). With ``onnx``, the model's exported graph (``hf_colorize.export.to_onnx``) runs
    in onnxruntime in place of PyTorch; pre- and post-processing stay the same.

    Weights load from safetensors only: a model whose weights are pickled (``pytorch_model.bin``) is refused, never
    unpickled.

    Raises:
        ValueError: the model cannot be found or read (its weights are truncated or pickled, its processor's size is
            not positive), or the ONNX file cannot be used; the message names it.
    """
    from transformers import pipeline

    model = resolve_model(model)
    refuse_pickled_weights(model)
    try:
        pipe = pipeline(TASK, model=model, device=device, model_kwargs={"use_safetensors": True})
    except UNREADABLE_MODEL_ERRORS as error:
        raise unreadable_model(model, error) from None
    if onnx is not None:
        pipe.use_onnx(onnx)
    return pipe
