"""ONNX export of the colorization models and an onnxruntime stand-in for them (``pip install "hf-colorize[onnx]"``).

    from hf_colorize.export import to_onnx
    to_onnx(model, "model.onnx")                                   # fp32 graph, checked against PyTorch
    pipe = load_colorization_pipeline("dlsa-tiny", onnx="model.onnx")   # the pipeline runs it with onnxruntime

The graph takes the model's inputs (``pixel_values``, and ``reference_values`` for exemplar models) at the
resolution of ``config.image_size`` with a free batch size and returns ``ab`` scaled by 1/110, the tensor the
pipeline upsamples. ``cartoon_coltran`` cannot be exported: its colours come from a sampling loop of thousands of
model calls, not from one graph.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from .models import REGISTERED_FAMILIES, Family

OPSET = 18
TOLERANCE = 1e-3
"""Largest absolute ab difference (scaled by 1/110) allowed between the ONNX graph and PyTorch in fp32."""


class OnnxExportError(ValueError):
    """A model that cannot be exported, or whose exported graph does not match PyTorch."""


class _AbOnly(nn.Module):
    """The model with positional inputs and the predicted ab as its one output."""

    def __init__(self, model: nn.Module, input_names: list[str]):
        super().__init__()
        self.model = model
        self.input_names = input_names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.input_names, inputs))).ab


def _family(model: nn.Module) -> Family:
    family = REGISTERED_FAMILIES.get(getattr(getattr(model, "config", None), "model_type", None))
    if family is None:
        raise OnnxExportError(f"not an hf_colorize model: {type(model).__name__}")
    return family


def _image_processor(model: nn.Module):
    size = model.config.image_size
    return _family(model).image_processor(size={"height": size, "width": size})


def example_inputs(model: nn.Module, batch_size: int = 2) -> dict[str, torch.Tensor]:
    """Realistic model inputs for ``batch_size`` synthetic pictures (and three hints / a colour reference where the
    family takes them), made by the family's own image processor."""
    processor = _image_processor(model)
    capabilities = _family(model).accepted_requests
    size = model.config.image_size
    rows, cols = np.mgrid[0:size, 0:size] / size
    images, requests = [], {}
    for index in range(batch_size):
        phase = index / max(batch_size, 1)
        rgb = np.stack([np.sin(6 * cols + phase), rows, np.cos(5 * rows * cols + phase)], axis=-1)
        images.append(Image.fromarray((127.5 * (rgb + 1) * 0.9).astype(np.uint8)))
    if "hints" in capabilities:
        requests["hints"] = [[(size // 4, size // 4, "#e03020"), (size // 2, size // 3, "#2080e0")]] * batch_size
    if "reference" in capabilities:
        requests["reference"] = images[::-1]
    inputs = processor(images, **requests)
    return {name: inputs[name].float() for name in processor.model_input_names}


def to_onnx(model: nn.Module, path: str | Path, opset: int = OPSET, check: bool = True) -> Path:
    """Export ``model`` (any exportable hf_colorize family) to an ONNX file with a free batch size.

    With ``check`` the file is run with onnxruntime on realistic inputs and compared with PyTorch: the largest
    absolute ab difference must stay under ``TOLERANCE`` (1e-3, fp32).

    Raises:
        OnnxExportError: the family cannot be exported (named), or the graph does not match PyTorch.
    """
    reason = _family(model).onnx_unsupported_reason
    if reason is not None:
        raise OnnxExportError(f"the {model.config.model_type!r} model cannot be exported to ONNX: {reason}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = copy.deepcopy(model).float().eval()  # the caller's model keeps its dtype and device
    inputs = example_inputs(model)
    names = list(inputs)
    batch = torch.export.Dim("batch", min=1, max=1024)
    torch.onnx.export(
        _AbOnly(model, names).eval(),
        tuple(inputs.values()),
        str(path),
        input_names=names,
        output_names=["ab"],
        opset_version=opset,
        dynamo=True,
        dynamic_shapes=(tuple({0: batch} for _ in names),),  # one entry: forward takes *inputs
        external_data=False,
        verbose=False,
    )
    if check:
        difference = max_difference(model, path, inputs)
        if difference >= TOLERANCE:
            raise OnnxExportError(f"{path}: ONNX and PyTorch differ by {difference:.2e} in ab (limit {TOLERANCE})")
    return path


class OnnxRuntimeModel:
    """An exported graph run by onnxruntime (CPU), called like the model: ``session(**inputs)`` returns ab."""

    def __init__(self, path: str | Path, threads: int | None = None):
        try:
            import onnxruntime
        except ImportError:
            raise ImportError('running ONNX files needs onnxruntime: pip install "hf-colorize[onnx]"') from None
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such ONNX file")
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [entry.name for entry in self.session.get_inputs()]
        self.input_shapes = {entry.name: tuple(entry.shape[1:]) for entry in self.session.get_inputs()}
        """Each input's shape after the batch axis: ``{"pixel_values": (4, 224, 224)}``."""

    def __call__(self, **inputs: torch.Tensor) -> torch.Tensor:
        missing = sorted(set(self.input_names) - set(inputs))
        if missing:
            raise ValueError(f"the ONNX graph needs input(s) {', '.join(missing)}")
        feed = {name: inputs[name].detach().float().cpu().numpy() for name in self.input_names}
        return torch.from_numpy(self.session.run(["ab"], feed)[0])


def max_difference(model: nn.Module, path: str | Path, inputs: dict[str, torch.Tensor]) -> float:
    """Largest absolute difference between the ab of ``model`` (fp32) and of its ONNX file on ``inputs``."""
    with torch.inference_mode():
        expected = model.float()(**inputs).ab
    return (OnnxRuntimeModel(path)(**inputs) - expected).abs().max().item()
