import errno
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from test_pipeline import damaged_model

import hf_colorize_cli
from hf_colorize.cli import main


@pytest.fixture()
def inputs(tmp_path, color_image):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    color_image.save(folder / "a.png")
    color_image.convert("L").save(folder / "sub" / "b.jpg")
    return folder


def run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_colorizes_a_file_to_a_named_output(tmp_path, inputs, tiny_model_dir, capsys):
    target = tmp_path / "out.png"
    code, out, err = run([inputs / "a.png", "-o", target, "--model", tiny_model_dir, "--hint", "3,4,#ff0000"], capsys)
    assert code == 0, err
    assert Image.open(target).size == (80, 48)


def test_walks_folders(tmp_path, inputs, tiny_model_dir, capsys):
    code, out, err = run([inputs, "-o", tmp_path / "out", "--model", tiny_model_dir], capsys)
    assert code == 0, err
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png")) == [
        "in/a.png",
        "in/sub/b.png",
    ]


def bad_files(tmp_path, color_image):
    truncated = io.BytesIO()
    color_image.save(truncated, format="PNG")
    (tmp_path / "cut.png").write_bytes(truncated.getvalue()[: len(truncated.getvalue()) // 2])
    (tmp_path / "text.png").write_text("not an image")
    Image.new("L", (10_000, 10_000)).save(tmp_path / "huge.png")
    (tmp_path / "empty.png").write_bytes(b"")
    return {
        "missing.png": "file not found",
        "text.png": "not an image",
        "cut.png": "truncated",
        "huge.png": "too large",
        "empty.png": "file is empty",
    }


def test_bad_inputs_exit_2_with_one_line_each_and_others_go_through(
    tmp_path, inputs, color_image, tiny_model_dir, capsys
):
    problems = bad_files(tmp_path, color_image)
    out_dir = tmp_path / "out"
    argv = [tmp_path / name for name in problems] + [inputs / "a.png", "-o", out_dir, "--model", tiny_model_dir]
    code, out, err = run(argv, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == len(problems)
    for line, (name, problem) in zip(lines, problems.items()):
        assert name in line and problem in line, line
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.png"]


def test_hint_outside_the_image(tmp_path, inputs, tiny_model_dir, capsys):
    code, out, err = run(
        [inputs / "a.png", "-o", tmp_path / "o", "--model", tiny_model_dir, "--hint", "500,4,#ff0000"], capsys
    )
    assert code == 2
    assert "a.png" in err and "outside the 80x48 image" in err
    assert not (tmp_path / "o").exists()


def test_malformed_colour(tmp_path, inputs, tiny_model_dir, capsys):
    code, out, err = run([inputs / "a.png", "--model", tiny_model_dir, "--hint", "1,1,#ff00"], capsys)
    assert code == 2 and "malformed colour '#ff00'" in err and len(err.strip().splitlines()) == 1


def test_unknown_model(tmp_path, inputs, capsys):
    code, out, err = run([inputs / "a.png", "--model", tmp_path / "no-such-model"], capsys)
    assert code == 2 and "no-such-model" in err and "unknown" in err and len(err.strip().splitlines()) == 1


def test_reference_to_a_hint_model(tmp_path, inputs, tiny_model_dir, capsys):
    code, out, err = run([inputs / "a.png", "--model", tiny_model_dir, "--reference", inputs / "a.png"], capsys)
    assert code == 2 and "does not take a reference image" in err


def test_bundled_models_by_name(tmp_path, inputs, capsys):
    target = tmp_path / "auto.png"
    code, out, err = run([inputs / "a.png", "-o", target, "--model", "smsanet-small"], capsys)
    assert code == 0 and err == "" and Image.open(target).size == Image.open(inputs / "a.png").size


def test_exemplar_model_with_a_reference(tmp_path, inputs, tiny_exemplar_dir, capsys):
    out_dir = tmp_path / "out"
    reference = inputs / "a.png"
    code, out, err = run([inputs, "-o", out_dir, "--model", tiny_exemplar_dir, "--reference", reference], capsys)
    assert code == 0 and err == ""
    assert Image.open(out_dir / "in" / "sub" / "b.png").size == Image.open(inputs / "sub" / "b.jpg").size


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "the 'axial_exemplar' model needs --reference IMG"),
        (["--reference", "sub/b.jpg"], "b.jpg: the reference is grey"),
        (["--reference", "missing.png"], "missing.png: file not found"),
    ],
)
def test_exemplar_model_refuses_a_missing_or_bad_reference(tmp_path, inputs, tiny_exemplar_dir, capsys, extra, message):
    extra = [str(inputs / value) if value.endswith((".jpg", ".png")) else value for value in extra]
    code, out, err = run([inputs / "a.png", "-o", tmp_path / "o.png", "--model", tiny_exemplar_dir, *extra], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.png").exists()


def test_samples_of_a_cartoon_model(tmp_path, inputs, tiny_cartoon_dir, capsys):
    out_dir = tmp_path / "out"
    drawing = inputs / "a.png"
    code, out, err = run(
        [drawing, "-o", str(out_dir) + "/", "--model", tiny_cartoon_dir, "--samples", "3", "--seed", "0"], capsys
    )
    assert code == 0 and err == ""
    written = sorted(out_dir.iterdir())
    assert [path.name for path in written] == ["a-1.png", "a-2.png", "a-3.png"]
    assert all(Image.open(path).size == Image.open(drawing).size for path in written)
    assert len({Image.open(path).tobytes() for path in written}) == 3
    code, out, err = run(
        [drawing, "-o", tmp_path / "again", "--model", tiny_cartoon_dir, "--samples", "3", "--seed", "0"], capsys
    )
    assert [Image.open(path).tobytes() for path in sorted((tmp_path / "again").iterdir())] == [
        Image.open(path).tobytes() for path in written
    ]


def test_bundled_exemplar_model_by_name(tmp_path, inputs, color_image, capsys):
    reference = tmp_path / "reference.jpg"
    color_image.save(reference)
    target = tmp_path / "out.png"
    code, out, err = run(
        [inputs / "a.png", "--reference", reference, "--model", "axial-exemplar-small", "-o", target], capsys
    )
    assert code == 0 and err == "" and Image.open(target).size == Image.open(inputs / "a.png").size


def test_bundled_cartoon_model_writes_different_samples(tmp_path, inputs, capsys):
    out_dir = tmp_path / "out"
    arguments = [
        inputs / "a.png",
        "--model",
        "cartoon-coltran-small",
        "--samples",
        "4",
        "--seed",
        "0",
        "-o",
        f"{out_dir}/",
    ]
    code, out, err = run(arguments, capsys)
    assert code == 0 and err == ""
    written = sorted(out_dir.iterdir())
    assert [path.name for path in written] == ["a-1.png", "a-2.png", "a-3.png", "a-4.png"]
    assert all(Image.open(path).size == Image.open(inputs / "a.png").size for path in written)
    assert len({Image.open(path).tobytes() for path in written}) == 4


def test_a_parent_folder_input_stays_inside_the_output_folder(
    tmp_path, color_image, tiny_model_dir, capsys, monkeypatch
):
    """``cd a/b && hf-colorize .. -o ../results`` once wrote ``../results/../orig.png`` over the input."""
    (tmp_path / "a" / "b").mkdir(parents=True)
    color_image.save(tmp_path / "a" / "orig.png")
    original = (tmp_path / "a" / "orig.png").read_bytes()
    monkeypatch.chdir(tmp_path / "a" / "b")
    code, out, err = run(["..", "-o", "../results", "--model", tiny_model_dir], capsys)
    assert code == 0, err
    assert (tmp_path / "a" / "orig.png").read_bytes() == original
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png")) == [
        "a/orig.png",
        "a/results/a/orig.png",
    ]
    code, out, err = run(["..", "-o", "../results", "--model", tiny_model_dir], capsys)  # outputs are not inputs
    assert code == 0 and out.strip().splitlines() == ["../results/a/orig.png"]


def test_an_output_never_replaces_an_input(tmp_path, inputs, tiny_model_dir, capsys, monkeypatch):
    original = (inputs / "a.png").read_bytes()
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["in", "-o", ".", "--model", tiny_model_dir], capsys)
    assert code == 2
    assert err.strip().splitlines() == ["hf-colorize: in/a.png: the output would replace an input file; not written"]
    assert out.strip().splitlines() == ["in/sub/b.png"]  # the other input went on
    code, out, err = run([inputs / "a.png", "-o", inputs / "a.png", "--model", tiny_model_dir], capsys)
    assert code == 2 and "would replace an input file" in err
    assert (inputs / "a.png").read_bytes() == original


def test_name_collisions_keep_both_outputs(tmp_path, color_image, tiny_model_dir, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    color_image.save(folder / "a.png")
    color_image.resize((40, 30)).save(folder / "a.jpg")
    color_image.resize((20, 10)).save(folder / "c.png")
    code, out, err = run([folder, "-o", tmp_path / "out", "--model", tiny_model_dir], capsys)
    assert code == 0, err
    sizes = {p.name: Image.open(p).size for p in (tmp_path / "out" / "in").iterdir()}
    assert sizes == {"a.jpg.png": (40, 30), "a.png.png": (80, 48), "c.png": (20, 10)}


def test_samples_of_colliding_names_keep_both(tmp_path, color_image, tiny_cartoon_dir, capsys):
    color_image.save(tmp_path / "a.png")
    color_image.resize((40, 30)).save(tmp_path / "a.jpg")
    out_dir = tmp_path / "out"
    argv = [tmp_path / "a.png", tmp_path / "a.jpg", "-o", out_dir, "--model", tiny_cartoon_dir, "--samples", "2"]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.jpg-1.png", "a.jpg-2.png", "a.png-1.png", "a.png-2.png"]


def test_an_output_folder_that_is_a_file_gives_one_line_per_output(tmp_path, inputs, tiny_model_dir, capsys):
    not_a_folder = tmp_path / "results"
    not_a_folder.write_text("a file")
    code, out, err = run([inputs, "-o", not_a_folder, "--model", tiny_model_dir], capsys)
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        f"hf-colorize: {not_a_folder}/in/a.png: cannot write the output ({not_a_folder} is a file, not a folder)",
        f"hf-colorize: {not_a_folder}/in/sub/b.png: cannot write the output ({not_a_folder} is a file, not a folder)",
    ]
    assert not_a_folder.read_text() == "a file"


@pytest.mark.parametrize(
    "error, problem",
    [
        (PermissionError(errno.EACCES, "Permission denied"), "Permission denied"),
        (OSError(errno.ENOSPC, "No space left on device"), "No space left on device"),
    ],
)
def test_a_failed_write_names_the_output_and_the_batch_goes_on(
    tmp_path, inputs, tiny_model_dir, capsys, monkeypatch, error, problem
):
    save = Image.Image.save

    def fail_for_a(image, path, *args, **kwargs):
        if Path(path).name.startswith(".a.png"):
            Path(path).write_bytes(b"half a file")
            raise error
        return save(image, path, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", fail_for_a)
    out_dir = tmp_path / "out"
    code, out, err = run([inputs, "-o", out_dir, "--model", tiny_model_dir], capsys)
    assert code == 2
    assert err.strip().splitlines() == [f"hf-colorize: {out_dir}/in/a.png: cannot write the output ({problem})"]
    assert sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file()) == ["in/sub/b.png"]


@pytest.mark.parametrize(
    "command, kind",
    [
        ("colorize", "truncated weights"),
        ("colorize", "pickled weights"),
        ("colorize", "negative size"),
        ("export", "truncated weights"),  # export reads no processor
        ("export", "pickled weights"),
    ],
)
def test_a_damaged_model_folder_is_one_line_and_exit_2(tmp_path, inputs, tiny_model_dir, capsys, command, kind):
    file, problem = damaged_model(kind, tiny_model_dir, tmp_path / "model")
    if command == "export":
        argv = ["export", "--model", tmp_path / "model", "--onnx", tmp_path / "model.onnx"]
    else:
        argv = [inputs / "a.png", "--model", tmp_path / "model", "-o", tmp_path / "out.png"]
    code, out, err = run(argv, capsys)
    assert code == 2 and str(file) in err and problem in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "model" / "unpickled").exists()


@pytest.mark.parametrize("frame", ["²", "١", "x", "-1", ""])
def test_a_frame_number_must_be_ascii_digits(inputs, tiny_model_dir, tmp_path, capsys, frame):
    hint = f"10,10,#ff0000@{frame}"
    code, out, err = run([inputs / "a.png", "--model", tiny_model_dir, "--hint", hint, "-o", tmp_path / "o"], capsys)
    assert code == 2 and err.strip().splitlines() == [
        f"hf-colorize: --hint: malformed hint {hint!r}: FRAME after @ must be a frame number"
    ]


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "hf-colorize export --onnx FILE" in out and "hf-colorize dataset INPUT" in out


def test_help_and_bad_arguments_are_answered_before_the_package_is_imported():
    code = (
        "import sys, hf_colorize_cli\n"
        "for argv in (['--help'], ['export', '--help'], ['--samples', 'x', 'in.png'], []):\n"
        "    try:\n"
        "        hf_colorize_cli.main(argv)\n"
        "    except SystemExit as exit:\n"
        "        print('exit', exit.code)\n"
        "print(sorted(name for name in ('hf_colorize', 'torch', 'transformers') if name in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert [line for line in result.stdout.splitlines() if line.startswith("exit")] == [
        "exit 0",
        "exit 0",
        "exit 2",
        "exit 2",
    ]
    assert result.stdout.splitlines()[-1] == "[]", result.stdout
    assert "dlsa-tiny" in result.stdout and "invalid int value: 'x'" in result.stderr


def test_the_console_script_runs_a_command_with_the_package(tmp_path, inputs, tiny_model_dir):
    target = tmp_path / "out.png"
    assert hf_colorize_cli.main([str(inputs / "a.png"), "-o", str(target), "--model", str(tiny_model_dir)]) == 0
    assert Image.open(target).size == (80, 48)


def test_an_unknown_model_name_suggests_the_closest_bundled_one(tmp_path, inputs, capsys):
    code, out, err = run([inputs / "a.png", "-o", tmp_path / "out", "--model", "dlsa-tyni"], capsys)
    assert code == 2 and "did you mean dlsa-tiny?" in err and "smsanet-small" in err


def test_the_documented_video_commands_read_a_clip_shipped_in_examples(tmp_path, tiny_model_dir, capsys):
    usage = (Path(__file__).parents[1] / "docs" / "usage.md").read_text()
    video_section = usage.split("## Video", 1)[1].split("\n## ", 1)[0]
    assert "../shared" not in video_section and "examples/videos/tree.mp4" in video_section
    clip = Path(__file__).parents[1] / "examples" / "videos" / "tree.mp4"
    assert clip.stat().st_size < 1_000_000
    code, out, err = run([clip, "-o", tmp_path / "tree.mp4", "--model", tiny_model_dir], capsys)
    assert code == 0, err
    assert "(29 frames" in out


def test_an_unknown_option_is_named(capsys):
    # Before: "the following arguments are required: INPUT", with no word of --bogus.
    for argv in (["--bogus"], ["in.png", "--bogus"]):
        with pytest.raises(SystemExit) as exit:
            hf_colorize_cli.main(argv)
        assert exit.value.code == 2
        assert "unrecognized arguments: --bogus" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("suffix", "image_format"), [(".png", "PNG"), (".jpg", "JPEG"), (".webp", "WEBP"), (".tif", "TIFF")]
)
def test_the_output_format_follows_the_extension(tmp_path, inputs, tiny_model_dir, capsys, suffix, image_format):
    target = tmp_path / f"result{suffix}"
    code, out, err = run([inputs / "a.png", "-o", target, "--model", tiny_model_dir], capsys)
    assert code == 0, err
    with Image.open(target) as written:
        assert written.format == image_format and written.size == (80, 48) and written.mode == "RGB"


def test_an_unknown_output_extension_is_refused_in_one_line(tmp_path, inputs, tiny_model_dir, capsys):
    code, out, err = run([inputs / "a.png", "-o", tmp_path / "result.xyz", "--model", tiny_model_dir], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "result.xyz: '.xyz' is no image format" in err and ".png" in err
    assert not list(tmp_path.glob("result*"))
    (tmp_path / "results.v2").mkdir()  # an existing folder of that kind of name is the output folder
    code, out, err = run([inputs / "a.png", "-o", tmp_path / "results.v2", "--model", tiny_model_dir], capsys)
    assert code == 0 and (tmp_path / "results.v2" / "a.png").is_file(), err


@pytest.mark.parametrize(
    ("source", "offline", "message"),
    [
        ("nonexist_dir", "1", "nonexist_dir: no such file or folder (a Hub dataset id is ORG/NAME)"),
        ("nonexist_dir/", "", "nonexist_dir/: no such file or folder (a Hub dataset id is ORG/NAME)"),
        ("some-org/some-dataset", "1", "some-org/some-dataset: no such folder, and the Hub is offline"),
        ("some-org/some-dataset", "", "some-org/some-dataset: no such folder, and the Hub cannot be reached"),
    ],
)
def test_a_dataset_that_cannot_be_found_is_one_line_and_exit_2(tmp_path, tiny_model_dir, source, offline, message):
    # Before: 28 s of retries and a 30-line traceback. Online, the Hub is made unreachable (a closed local port).
    environment = {"HF_HUB_OFFLINE": offline, "HF_ENDPOINT": "http://127.0.0.1:9"}
    command = [sys.executable, "-m", "hf_colorize.cli", "dataset", source, "-o", str(tmp_path / "out")]
    started = time.perf_counter()
    result = subprocess.run(
        [*command, "--model", str(tiny_model_dir)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, **environment},
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"hf-colorize: {message}"), result.stderr
    assert time.perf_counter() - started < 60  # no retries (the import and the model take a few seconds)
    assert not (tmp_path / "out").exists()
