"""CPU speed of the bundled models, measured against the machine's arithmetic floor (issue 10).

    python benchmarks/speed.py [--models dlsa-tiny ...] [--backends eager tuned ...] [--threads 2]
                               [--runs 10] [--output benchmarks/results/speed]

In one run:
1. the machine's matmul rate: the best of 10 fp32 2048x2048 products on ``--threads`` threads (GFLOP/s);
2. for each bundled model (all but the cartoon model by default), each input size (224x224, 1024x768 and
   4000x3000 = 12 megapixels) and batch size (1 and 8), the median wall time per image of the whole pipeline call
   (image in memory -> lightness at model size -> model -> ab upsampled and joined with the input's L -> PIL image)
   and of the model call alone, and their ratio, all on ``--threads`` threads, with these back-ends
   (``--backends``, all by default):
   - ``eager``: the pipeline as it loads (fp32; the pipeline runs the model under inference mode);
   - ``tuned``: ``torch.compile`` (inductor) with frozen weights, the C++ wrapper, ``max_autotune`` (inductor times
     its own GEMM templates, AMX micro-kernels among them, against oneDNN and keeps the faster) and channels-last
     layout, which must give the same ab as eager (max abs difference < 1e-3; a model whose autotuned graph does not
     is compiled without ``max_autotune``, and the table says so). Each input shape is compiled and
     run once with Dynamo's guards on, then timed with ``skip_guard_eval_unsafe`` (Dynamo checks only the guards
     that tell its cached graphs apart: at batch 1 its Python-side guard checks were about 1 ms of 19);
   - ``tuned bf16``: the same under CPU bf16 autocast (the AMX / AVX512-BF16 units), and
   - ``int8``: dynamic int8 quantisation of the ``nn.Linear`` layers (``smsanet`` has none),
     each kept only when its PSNR on ``photos/test`` (the quality benchmark's protocol: 10 hints for hint models,
     none for automatic ones, its own reference for exemplar models; measured eagerly) is within 0.2 dB of fp32;
   - ``onnxruntime``: the model exported by ``hf_colorize.export.to_onnx``, run through ``pipe.use_onnx``;
3. the floor of each latency: the model's FLOPs (2 x MACs counted by ``hf_colorize.profiling``) divided by the
   measured matmul rate; "x floor" is model-call time / floor;
4. the import time of ``transformers`` and of ``hf_colorize`` (fresh interpreters, median of 5);
5. the load average (``os.getloadavg``) before and after each model: another process on the machine slows every
   figure.
The cartoon model is left out unless named: a sample costs 4,161 sequential calls (see ``model_costs.md``), seconds
per image, against which the work around the model is small (``profile_stages.py`` measures it); named, it gets
eager rows only (its graph cannot be exported). The PSNR of the lower-precision back-ends is measured only
when one of them is asked for. Writes ``OUTPUT.json`` and ``OUTPUT.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from evaluate_exemplar import model_method as exemplar_method
from evaluate_exemplar import reference_scores
from evaluate_quality import CORPUS, RESULTS, takes_hints
from evaluate_quality import model_method as hint_or_automatic_method
from model_costs import cpu_name
from PIL import Image

import hf_colorize
from hf_colorize.evaluation import load_eval_image, psnr
from hf_colorize.evaluation.report import write_results
from hf_colorize.export import example_inputs, to_onnx
from hf_colorize.models import family_capabilities
from hf_colorize.pipeline import load_colorization_pipeline
from hf_colorize.profiling import count_macs, inference_call

MODELS = tuple(name for name in hf_colorize.BUNDLED_MODELS if not name.startswith("cartoon"))
SIZES = {"224x224": (224, 224), "1024x768": (1024, 768), "4000x3000": (4000, 3000)}
BACKENDS = ("eager", "tuned", "tuned bf16", "int8", "onnxruntime")
EAGER_ONLY = {"cartoon_coltran"}
"""Families timed eagerly only (when asked for with ``--models``): the cartoon model samples with thousands of
sequential calls and has no ONNX graph."""
BATCHES = (1, 8)
QUALITY_FOLDER = "photos/test"
QUALITY_HINTS = 10
MAX_PSNR_DROP_DB = 0.2


def matmul_gflops(threads: int, size: int = 2048, repeats: int = 10) -> float:
    """Best fp32 matrix-product rate, GFLOP/s."""
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def median_seconds(function: Callable[[], object], runs: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        function()
    return statistics.median(_timed(function) for _ in range(runs))


def test_images(size: tuple[int, int], count: int) -> list[Image.Image]:
    """``count`` different photos of ``photos/test`` resized to ``size`` (the pipeline keeps only their lightness)."""
    paths = sorted((CORPUS / QUALITY_FOLDER).iterdir())[:count]
    return [Image.open(path).convert("RGB").resize(size, Image.Resampling.BICUBIC) for path in paths]


def request(pipe, images: list[Image.Image]) -> dict:
    """What a call needs besides the images: two hints for hint models, a reference for exemplar models."""
    capabilities = family_capabilities(pipe.model.config.model_type)
    if "hints" in capabilities:
        width, height = images[0].size
        return {"hints": [(width // 4, height // 4, "#d04020"), (width // 2, height // 2, "#3080d0")]}
    if "reference" in capabilities:
        return {"reference": pipe.image_processor.load_reference(images[-1])}
    return {}


def quality_psnr(model: torch.nn.Module) -> float:
    """Mean PSNR on ``photos/test`` with the quality benchmarks' protocols."""
    images = [load_eval_image(path) for path in sorted((CORPUS / QUALITY_FOLDER).iterdir()) if path.is_file()]
    if model.config.model_type == "axial_exemplar":
        return reference_scores(exemplar_method(model), images, images)["psnr"]  # its own reference
    count = QUALITY_HINTS if takes_hints(model) else 0
    outputs = hint_or_automatic_method(model)(images, count)
    return statistics.mean(psnr(output, image.target_rgb) for output, image in zip(outputs, images))


def quantized(model: torch.nn.Module) -> torch.nn.Module:
    return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


class Bf16Autocast(torch.nn.Module):
    """The model run under CPU bf16 autocast (AMX / AVX512-BF16 matrix units), ab returned in fp32."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model
        self.config = model.config

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32

    @property
    def device(self) -> torch.device:
        return self.model.device

    def forward(self, **inputs: torch.Tensor):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            outputs = self.model(**inputs)
        outputs["ab"] = outputs.ab.float()
        return outputs


def compiled_copy(model: torch.nn.Module, autotune: bool) -> torch.nn.Module:
    """A channels-last copy compiled by inductor with frozen weights, the C++ wrapper and, with ``autotune``, GEMM
    autotuning."""
    torch._inductor.config.freezing = True  # weights become constants: oneDNN pre-packs them
    torch._inductor.config.cpp_wrapper = True  # the graph runs from C++, not Python
    torch._inductor.config.max_autotune = autotune  # benchmark GEMM templates (AMX micro-kernels) against oneDNN
    return torch.compile(copy.deepcopy(model).to(memory_format=torch.channels_last), dynamic=False)


def tuned(model: torch.nn.Module, tolerance: float = 1e-3) -> tuple[torch.nn.Module, str]:
    """The model compiled with GEMM autotuning, or without it when the autotuned graph's ab differs from eager by
    ``tolerance`` or more, and a note saying so (empty when autotuning was kept)."""
    inputs = example_inputs(model, 1)
    with torch.inference_mode():
        expected = model(**inputs).ab
    note = ""
    for autotune in (True, False):
        fast = compiled_copy(model, autotune)
        with torch.inference_mode():
            difference = (fast(**inputs).ab.float() - expected).abs().max().item()
        if difference < tolerance:
            return fast, note
        note = f"with `max_autotune` the ab differed from eager by {difference:.2e}, so it was compiled without it"
    raise RuntimeError(f"compiled model differs from eager by {difference:.2e}")


def measure_backend(
    pipe, model_call: Callable[[dict], object], images: list[Image.Image], runs: int, compiled: bool = False
) -> dict:
    """Seconds per image of the whole pipeline and of the model call alone for one batch of ``images``. A
    ``compiled`` back-end runs both once with Dynamo's guards on (compiling this shape), then is timed with only the
    guards that tell its cached graphs apart."""
    options = request(pipe, images)
    batch = len(images)
    prepared = [pipe.preprocess(image, **options) for image in images]
    names = pipe.image_processor.model_input_names
    model_inputs = {name: torch.cat([inputs[name] for inputs in prepared]).float() for name in names}
    stance = contextlib.nullcontext()
    if compiled:
        pipe(images, batch_size=batch, **options)
        with torch.inference_mode():
            model_call(model_inputs)
        stance = torch.compiler.set_stance("default", skip_guard_eval_unsafe=True)
    with stance:
        pipeline_seconds = median_seconds(lambda: pipe(images, batch_size=batch, **options), runs)
        with torch.inference_mode():
            model_seconds = median_seconds(lambda: model_call(model_inputs), runs)
    return {"pipeline_ms": 1000 * pipeline_seconds / batch, "model_ms": 1000 * model_seconds / batch}


def import_seconds(module: str, repeats: int = 5) -> float:
    """Median seconds to import ``module`` in a fresh interpreter."""
    code = f"import time; start = time.perf_counter(); import {module}; print(time.perf_counter() - start)"
    run = [sys.executable, "-c", code]
    return statistics.median(
        float(subprocess.run(run, capture_output=True, text=True, check=True).stdout) for _ in range(repeats)
    )


def benchmark_model(name: str, runs: int, gflops: float, folder: Path, backends: set[str]) -> dict:
    torch._dynamo.reset()  # the models share Bf16Autocast.forward: its graphs would pile up to the recompile limit
    load_before = os.getloadavg()
    pipe = load_colorization_pipeline(name)
    model = pipe.model.float().eval()
    if model.config.model_type in EAGER_ONLY:
        backends = backends & {"eager"}
    macs_per_image = count_macs(inference_call(model), **example_inputs(model, 1))
    floor_ms = 2 * macs_per_image / (gflops * 1e9) * 1000
    result = {"gmacs": macs_per_image / 1e9, "floor_ms": floor_ms, "psnr": {}, "rows": {}, "errors": {}, "notes": {}}
    if backends & {"tuned bf16", "int8"}:
        result["psnr"] = {"fp32": quality_psnr(model), "int8": quality_psnr(quantized(model))}
        result["psnr"]["bf16"] = quality_psnr(Bf16Autocast(model))
    modules = {"eager": model} if "eager" in backends else {}
    to_compile = {"tuned": (model, 1e-3)} if "tuned" in backends else {}
    if "tuned bf16" in backends and result["psnr"]["fp32"] - result["psnr"]["bf16"] <= MAX_PSNR_DROP_DB:
        to_compile["tuned bf16"] = (Bf16Autocast(model), 0.05)
    for backend, (module, tolerance) in to_compile.items():
        try:
            modules[backend], note = tuned(module, tolerance)
        except Exception as error:  # inductor needs a working C++ compiler; report it and go on
            result["errors"][backend] = f"{type(error).__name__}: {error}"[:300]
            continue
        if note:
            result["notes"][backend] = note
    if "int8" in backends and result["psnr"]["fp32"] - result["psnr"]["int8"] <= MAX_PSNR_DROP_DB:
        modules["int8"] = quantized(model)
    onnx_path = to_onnx(model, folder / f"{name}.onnx") if "onnxruntime" in backends else None
    for size_name, size in SIZES.items():
        for batch in BATCHES:
            images = test_images(size, batch)
            rows = {}
            for backend, module in modules.items():
                pipe.model = module
                rows[backend] = measure_backend(
                    pipe,
                    lambda inputs, m=module: inference_call(m)(**inputs).ab,
                    images,
                    runs,
                    compiled=backend.startswith("tuned"),
                )
            pipe.model = model
            if onnx_path is not None:
                pipe.use_onnx(onnx_path)
                rows["onnxruntime"] = measure_backend(pipe, lambda inputs: pipe.onnx_model(**inputs), images, runs)
                pipe.onnx_model = None
            for backend, row in rows.items():
                row["x_floor"] = row["model_ms"] / floor_ms
                row["ratio"] = row["pipeline_ms"] / row["model_ms"]
                result["rows"][f"{size_name} | batch {batch} | {backend}"] = row
                print(name, size_name, batch, backend, {key: round(value, 2) for key, value in row.items()}, flush=True)
    result["load_average"] = {"before": load_before, "after": os.getloadavg()}
    return result


def markdown(results: dict) -> str:
    lines = [
        "# CPU speed against the arithmetic floor",
        "",
        f"CPU: {results['cpu']}, {results['threads']} threads. Measured matmul rate: "
        f"**{results['matmul_gflops']:.1f} GFLOP/s** (fp32, 2048x2048, best of 10). Floor = model FLOPs / that rate. "
        "It is an fp32 floor: the bf16 back-ends multiply on the AMX units, several times faster than fp32, so "
        "their x floor can fall under 1. "
        "Times are medians per image; *pipeline* = the whole call from an in-memory PIL image to the output image, "
        "*model* = the model call alone on prepared inputs, *whole / model* = their ratio. "
        "Back-ends: *eager* = the pipeline as loaded (fp32); "
        "*tuned* = `torch.compile` (inductor) with frozen weights, the C++ wrapper, GEMM autotuning "
        "(`max_autotune`) and channels-last, each shape warmed with Dynamo's guards on and then timed with "
        "`skip_guard_eval_unsafe`; *tuned bf16* "
        "= the same under CPU bf16 autocast (AMX); *int8* = dynamic int8 quantisation of `nn.Linear`; "
        "*onnxruntime* = the exported graph (`hf_colorize.export`). Method: `benchmarks/speed.py`.",
        "",
        f"Import time (fresh interpreter, median of 5): `transformers` {results['import_transformers_s']:.2f} s, "
        f"`hf_colorize` {results['import_hf_colorize_s']:.2f} s (it registers every family, which imports torch and "
        "transformers' model code). Back-ends measured: " + ", ".join(results["backends"]) + ".",
        "",
    ]
    for name, model in results["models"].items():
        psnr_text = ", ".join(f"{kind} {value:.2f} dB" for kind, value in model["psnr"].items())
        quality = (
            f" PSNR on {QUALITY_FOLDER} (eager): {psnr_text}; a lower-precision back-end is tabled only within "
            f"{MAX_PSNR_DROP_DB} dB of fp32."
            if psnr_text
            else ""
        )
        load = model["load_average"]
        lines += [
            f"## {name}",
            "",
            f"{model['gmacs']:.3f} GMACs per image at the model's resolution; floor {model['floor_ms']:.1f} ms."
            f"{quality} Load average (1 min) {load['before'][0]:.2f} before, {load['after'][0]:.2f} after.",
            "",
            "| input | batch | back-end | pipeline ms/image | model ms/image | whole / model | model x floor |",
            "|---|---|---|---|---|---|---|",
        ]
        for key, row in model["rows"].items():
            size, batch, backend = key.split(" | ")
            lines.append(
                f"| {size} | {batch.split()[1]} | {backend} | {row['pipeline_ms']:.1f} | {row['model_ms']:.1f} | "
                f"{row['ratio']:.2f} | {row['x_floor']:.2f} |"
            )
        for backend, error in model.get("errors", {}).items():
            lines.append(f"\n{backend} failed: {error}")
        for backend, note in model.get("notes", {}).items():
            lines.append(f"\n{backend}: {note}.")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables_only", action="store_true", help="rewrite OUTPUT.md from OUTPUT.json")
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--output", type=Path, default=RESULTS / "speed")
    args = parser.parse_args()
    if args.tables_only:
        results = json.loads(args.output.with_suffix(".json").read_text())
        return write_results(args.output, results, markdown(results))
    results = {
        "cpu": cpu_name(),
        "threads": args.threads,
        "backends": args.backends,
        "import_transformers_s": import_seconds("transformers"),
        "import_hf_colorize_s": import_seconds("hf_colorize"),
        "matmul_gflops": matmul_gflops(args.threads),
        "models": {},
    }
    torch.set_num_threads(args.threads)
    print({key: value for key, value in results.items() if key != "models"})
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            results["models"][name] = benchmark_model(
                name, args.runs, results["matmul_gflops"], Path(folder), set(args.backends)
            )
    write_results(args.output, results, markdown(results))


if __name__ == "__main__":
    main()
