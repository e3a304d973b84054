"""ONNX export: each exportable family's graph matches PyTorch, the pipeline and CLI run it, errors are clear."""

import numpy as np
import pytest
import torch
from conftest import TINY_SIZE, tiny_axial_exemplar_config, tiny_config, tiny_smsanet_config

from hf_colorize import (
    AxialExemplarForColorization,
    CartoonColtranForColorization,
    DlsaForColorization,
    DlsaImageProcessor,
    SmsanetForColorization,
)
from hf_colorize.cli import main
from hf_colorize.export import OnnxExportError, OnnxRuntimeModel, example_inputs, max_difference, to_onnx
from hf_colorize.pipeline import load_colorization_pipeline


def colorful(model: torch.nn.Module, *heads: torch.nn.Module) -> torch.nn.Module:
    """A tiny random model whose output layers are far from their all-grey start, so ab is not all zero."""
    torch.manual_seed(0)
    for head in heads:
        torch.nn.init.normal_(head.weight, std=0.5)
    return model.eval()


def tiny_models():
    torch.manual_seed(0)  # the same weights whatever ran before: the graphs' outputs do not depend on test order
    dlsa = DlsaForColorization(tiny_config())
    smsanet = SmsanetForColorization(tiny_smsanet_config(chroma_gain=1.4))  # as the bundled one
    exemplar = AxialExemplarForColorization(tiny_axial_exemplar_config(chroma_filter_radius=2))  # as the bundled one
    return {
        "dlsa": colorful(dlsa, dlsa.head.reconstruction),
        "smsanet": colorful(smsanet, smsanet.head),
        "axial_exemplar": colorful(exemplar, *(head[-1] for head in exemplar.heads)),
    }


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    return {name: (model, to_onnx(model, folder / f"{name}.onnx")) for name, model in tiny_models().items()}


@pytest.mark.parametrize("family", ["dlsa", "smsanet", "axial_exemplar"])
@pytest.mark.parametrize("batch_size", [1, 3])
def test_graph_matches_pytorch_at_any_batch_size(exported, family, batch_size):
    model, path = exported[family]
    inputs = example_inputs(model, batch_size)
    with torch.inference_mode():
        ab = model(**inputs).ab
    assert ab.abs().mean() > 0.01  # a real colour output, not the grey start
    assert OnnxRuntimeModel(path)(**inputs).shape == ab.shape
    assert max_difference(model, path, inputs) < 1e-3


def test_export_leaves_the_model_as_it_was(exported):
    model, _ = exported["dlsa"]
    inputs = example_inputs(model, 1)
    with torch.inference_mode():
        assert type(model(**inputs).ab) is torch.Tensor  # no tracing placeholder cached in the model


def test_cartoon_model_is_refused_by_name(tmp_path):
    from conftest import tiny_cartoon_config

    with pytest.raises(OnnxExportError, match="'cartoon_coltran' model cannot be exported"):
        to_onnx(CartoonColtranForColorization(tiny_cartoon_config()), tmp_path / "cartoon.onnx")
    assert not (tmp_path / "cartoon.onnx").exists()


@pytest.fixture(scope="module")
def dlsa_folder(exported, tmp_path_factory):
    folder = tmp_path_factory.mktemp("colorful-dlsa")
    exported["dlsa"][0].save_pretrained(folder)
    DlsaImageProcessor(size={"height": TINY_SIZE, "width": TINY_SIZE}).save_pretrained(folder)
    return str(folder)


def test_pipeline_runs_the_onnx_graph(exported, dlsa_folder, color_image):
    hints = [(5, 5, "#ff0000"), (40, 30, "#00ff00")]
    expected = np.asarray(load_colorization_pipeline(dlsa_folder)(color_image, hints=hints), dtype=int)
    pipe = load_colorization_pipeline(dlsa_folder, onnx=exported["dlsa"][1])
    calls = []
    run = pipe.onnx_model.session.run
    pipe.onnx_model.session.run = lambda *args: calls.append(1) or run(*args)  # type: ignore[method-assign]
    output = np.asarray(pipe(color_image, hints=hints), dtype=int)
    assert calls == [1]
    assert output.shape == expected.shape and np.abs(output - expected).max() <= 1


def test_pipeline_refuses_another_familys_graph(exported, dlsa_folder, tmp_path):
    with pytest.raises(ValueError, match="the graph takes"):
        load_colorization_pipeline(dlsa_folder, onnx=exported["smsanet"][1])
    with pytest.raises(ValueError, match="no such ONNX file"):
        load_colorization_pipeline(dlsa_folder, onnx=tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable ONNX file"):
        load_colorization_pipeline(dlsa_folder, onnx=junk)


def test_cli_exports_and_colorizes_with_onnx(dlsa_folder, tmp_path, color_image, capsys):
    graph = tmp_path / "model.onnx"
    assert main(["export", "--model", dlsa_folder, "--onnx", str(graph)]) == 0
    assert graph.is_file()
    color_image.save(tmp_path / "in.png")
    code = main([str(tmp_path / "in.png"), "--model", dlsa_folder, "--onnx", str(graph), "-o", str(tmp_path / "o.png")])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "o.png").is_file()
    assert main([str(tmp_path / "in.png"), "--model", dlsa_folder, "--onnx", str(tmp_path / "none.onnx")]) == 2
    assert "--onnx" in capsys.readouterr().err


def test_graph_keeps_the_gain_of_images_without_hints(tmp_path):
    torch.manual_seed(0)
    model = DlsaForColorization(tiny_config(automatic_chroma_gain=1.65, fine_head_channels=4))  # as dlsa-lite0
    model = colorful(model, model.head.reconstruction, model.fine_head.projection)
    inputs = example_inputs(model, 2)
    inputs["pixel_values"][1, 1:] = 0  # the second picture without its hints
    path = to_onnx(model, tmp_path / "dlsa.onnx")
    with torch.inference_mode():
        ab = model(**inputs).ab
        model.config.automatic_chroma_gain = 1.0
        ungained = model(**inputs).ab
    assert torch.equal(ab[0], ungained[0]) and not torch.allclose(ab[1], ungained[1])
    graph = OnnxRuntimeModel(path)
    assert (graph(**inputs) - ab).abs().max() < 1e-3
    assert (graph(pixel_values=inputs["pixel_values"][1:]) - ab[1:]).abs().max() < 1e-3  # any batch size
