"""Video colorization: PyAV reading / writing, the stabiliser's parts, the CLI on a video."""

import signal
import subprocess
import sys

import av  # noqa: E402
import numpy as np
import pytest
import torch
from conftest import TINY_SIZE, tiny_config
from PIL import Image

from hf_colorize import DlsaForColorization, DlsaImageProcessor
from hf_colorize.cli import main
from hf_colorize.color import rgb_to_lab
from hf_colorize.pipeline import load_colorization_pipeline
from hf_colorize.video import (
    ChromaStabilizer,
    FrameColorizer,
    HintSchedule,
    InvalidVideoError,
    SceneCutDetector,
    colorize_video,
    read_frames,
)

WIDTH, HEIGHT, FRAMES, CUT, RATE, SAMPLE_RATE = 48, 32, 12, 6, 10, 16000


def scene_frame(index: int) -> np.ndarray:
    """A colour gradient drifting one pixel a frame; from frame ``CUT`` on, a darker, differently coloured scene."""
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    cols = cols + index
    if index < CUT:
        rgb = np.stack([cols * 5, rows * 7, 255 - cols * 4], axis=-1)
    else:
        rgb = np.stack([rows * 2, 40 + cols, cols * 0 + 30], axis=-1)
    return rgb.clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 12-frame 48x32 AVI at 10 fps with a scene cut at frame 6 and a mono 16 kHz tone."""
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    with av.open(str(path), mode="w") as container:
        video = container.add_stream("mpeg4", rate=RATE)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        audio = container.add_stream("pcm_s16le", rate=SAMPLE_RATE, layout="mono")
        samples_per_frame = SAMPLE_RATE // RATE
        for index in range(FRAMES):
            container.mux(video.encode(av.VideoFrame.from_ndarray(scene_frame(index), format="rgb24")))
            time = np.arange(index * samples_per_frame, (index + 1) * samples_per_frame) / SAMPLE_RATE
            tone = (np.sin(2 * np.pi * 440 * time) * 8000).astype(np.int16)[None]
            sound = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")
            sound.sample_rate = SAMPLE_RATE
            sound.pts = index * samples_per_frame
            container.mux(audio.encode(sound))
        container.mux(video.encode())
        container.mux(audio.encode())
    return path


@pytest.fixture(scope="module")
def colorful_model_dir(tmp_path_factory):
    """A tiny random dlsa whose output head is far from the all-grey start, so frames get visible colour."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("colorful-dlsa")
    model = DlsaForColorization(tiny_config())
    torch.nn.init.normal_(model.head.reconstruction.weight, std=0.5)
    model.eval().save_pretrained(folder)
    DlsaImageProcessor(size={"height": TINY_SIZE, "width": TINY_SIZE}).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def pipe(colorful_model_dir):
    return load_colorization_pipeline(colorful_model_dir)


def test_writes_an_mp4_with_the_size_frames_rate_and_audio(clip, tmp_path, pipe):
    target = tmp_path / "out" / "clip.mp4"
    result = colorize_video(clip, target, pipe=pipe, progress=False)
    assert result.frames == FRAMES and result.scene_cuts == [CUT]
    assert sorted(p.name for p in target.parent.iterdir()) == ["clip.mp4"]  # no temporary file left
    with av.open(str(target)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert (video.codec_context.name, audio.codec_context.name) == ("h264", "aac")
        assert audio.codec_context.sample_rate == SAMPLE_RATE
        frames = list(container.decode(video=0))
        assert len(frames) == FRAMES
        assert (frames[0].width, frames[0].height) == (WIDTH, HEIGHT)
        assert frames[-1].time - frames[0].time == pytest.approx((FRAMES - 1) / RATE, abs=0.01)
    colorful = [frame.to_ndarray(format="rgb24").astype(int) for frame in frames]
    assert max(np.ptp(frame, axis=-1).mean() for frame in colorful) > 1  # coloured, not grey


def test_interrupted_run_leaves_no_output(clip, tmp_path, pipe, monkeypatch):
    calls = []

    def interrupt_at_third_frame(self, frame):
        calls.append(frame)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return Image.fromarray(frame)

    monkeypatch.setattr(FrameColorizer, "__call__", interrupt_at_third_frame)
    with pytest.raises(KeyboardInterrupt):
        colorize_video(clip, tmp_path / "clip.mp4", pipe=pipe, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_unreadable_video_names_the_file(tmp_path, pipe):
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"not a video")
    with pytest.raises(InvalidVideoError, match="bad.avi"):
        colorize_video(bad, tmp_path / "out.mp4", pipe=pipe, progress=False)
    with pytest.raises(InvalidVideoError, match="no such video file"):
        colorize_video(tmp_path / "missing.avi", tmp_path / "out.mp4", pipe=pipe, progress=False)
    assert not (tmp_path / "out.mp4").exists()


def test_frames_are_read_one_at_a_time(clip):
    frames = read_frames(clip)
    first = next(frames)
    assert first.shape == (HEIGHT, WIDTH, 3) and first.dtype == np.uint8
    assert 1 + sum(1 for _ in frames) == FRAMES


def test_scene_cut_detector_flags_the_cut_only():
    detector = SceneCutDetector()
    flags = [detector(scene_frame(index)) for index in range(FRAMES)]
    assert [index for index, flag in enumerate(flags) if flag] == [0, CUT]


def test_stabiliser_holds_still_pixels_and_follows_moving_ones():
    stabilizer = ChromaStabilizer(strength=0.8)
    lightness = torch.zeros(1, 1, 8, 8)
    first = stabilizer(torch.zeros(1, 2, 8, 8), lightness)
    assert torch.equal(first, torch.zeros(1, 2, 8, 8))  # the first frame is the prediction
    moved = lightness.clone()
    moved[..., :, 4:] = 1.0  # the right half changed brightness: motion
    second = stabilizer(torch.ones(1, 2, 8, 8), moved)
    assert second[..., :, 0].max() == pytest.approx(0.2)  # still: 0.8 of the previous output kept
    assert second[..., :, 7].min() == pytest.approx(1.0, abs=1e-3)  # moving: the new prediction
    stabilizer.reset()
    assert torch.equal(stabilizer(torch.ones(1, 2, 8, 8), moved), torch.ones(1, 2, 8, 8))


def test_stabiliser_strength_and_blur_are_checked():
    with pytest.raises(ValueError, match="strength"):
        ChromaStabilizer(strength=1.0)
    with pytest.raises(ValueError, match="blur must be an odd number"):
        ChromaStabilizer(blur=4)


def test_hints_carry_forward_until_a_cut_or_new_hints():
    first, later = [(1, 1, "#ff0000")], [(2, 2, "#00ff00")]
    schedule = HintSchedule({0: first, 5: later})
    cuts = {3: True, 8: True}
    active = [schedule(frame, cuts.get(frame, frame == 0)) for frame in range(10)]
    assert active[:3] == [first] * 3
    assert active[3:5] == [None, None]  # the cut at 3 ends frame 0's scene
    assert active[5:8] == [later] * 3
    assert active[8:] == [None, None]
    assert HintSchedule(first)(0, True) == first  # a plain list is for frame 0
    with pytest.raises(ValueError, match="frame numbers"):
        HintSchedule({-1: first})


def test_stabilised_output_flickers_less(pipe):
    """A still clip with noise: the output's frame-to-frame ab change falls with the stabiliser."""
    rng = np.random.default_rng(0)
    base = scene_frame(0).astype(int)
    frames = [(base + rng.integers(-3, 4, base.shape)).clip(0, 255).astype(np.uint8) for _ in range(6)]

    def flicker(stabilize):
        images = FrameColorizer(pipe, stabilize=stabilize).colorize(frames)
        ab = [rgb_to_lab(torch.from_numpy(np.asarray(image) / 255).permute(2, 0, 1))[1:] for image in images]
        return np.mean([(b - a).abs().mean().item() for a, b in zip(ab, ab[1:])])

    assert flicker(True) < 0.8 * flicker(False)


def test_hints_on_a_later_frame_change_that_frame(clip, pipe):
    frames = list(read_frames(clip))[:4]
    plain = list(FrameColorizer(pipe, stabilize=False).colorize(frames))
    hinted = list(FrameColorizer(pipe, hints={2: [(10, 10, "#00ff00")]}, stabilize=False).colorize(frames))
    assert [np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(plain, hinted)] == [True, True, False, False]


def test_cli_colorizes_a_video(clip, tmp_path, colorful_model_dir, capsys):
    code = main(
        [str(clip), "-o", str(tmp_path / "named.mp4"), "--model", colorful_model_dir, "--hint", "5,5,#ff0000@2"]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "12 frames" in captured.out
    with av.open(str(tmp_path / "named.mp4")) as container:
        assert container.streams.video[0].codec_context.width == WIDTH


def test_cli_video_errors(clip, tmp_path, colorful_model_dir, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"junk")
    assert main([str(bad), "-o", str(tmp_path / "out"), "--model", colorful_model_dir]) == 2
    assert "bad.mp4: not a readable video" in capsys.readouterr().err
    assert main([str(clip), "--model", colorful_model_dir, "--hint", "1,1,#ff0000@x", "-o", str(tmp_path / "o")]) == 2
    assert "frame number" in capsys.readouterr().err
    assert main([str(clip), "--model", colorful_model_dir, "--hint", "100,1,#ff0000", "-o", str(tmp_path / "o")]) == 2
    assert "outside the 48x32 image" in capsys.readouterr().err
    assert [path.name for path in tmp_path.rglob("*.mp4*")] == ["bad.mp4"]  # nothing written, not even partly


def cut_clip(clip, folder, fraction: float):
    """A copy of the AVI ``clip`` cut ``fraction`` of the way through its frame data (0: just after its headers)."""
    data = clip.read_bytes()
    start, index = data.index(b"movi") + 4, data.index(b"idx1")
    path = folder / f"cut-{fraction}.avi"
    path.write_bytes(data[: start + int((index - start) * fraction)])
    return path


def test_a_video_with_no_frames_is_an_error_and_stale_partials_go(clip, tmp_path, pipe):
    stale = tmp_path / ".out.mp4.partial"
    stale.write_bytes(b"left by a killed run")
    (tmp_path / "in").mkdir()
    empty = cut_clip(clip, tmp_path / "in", 0)
    with pytest.raises(InvalidVideoError, match="cut-0.avi: no frames could be read"):
        colorize_video(empty, tmp_path / "out.mp4", pipe=pipe, progress=False)
    assert list(tmp_path.iterdir()) == [tmp_path / "in"]


def test_cli_video_with_no_frames_is_one_line(clip, tmp_path, colorful_model_dir, capsys):
    empty = cut_clip(clip, tmp_path, 0)
    assert main([str(empty), "-o", str(tmp_path / "out.mp4"), "--model", colorful_model_dir]) == 2
    messages = [line for line in capsys.readouterr().err.splitlines() if line.startswith("hf-colorize")]  # no bar
    assert messages == [f"hf-colorize: {empty}: no frames could be read (empty or truncated video)"]
    assert not (tmp_path / "out.mp4").exists()


def test_a_truncated_clip_is_colorized_up_to_the_cut_with_one_warning(clip, tmp_path, pipe, caplog):
    truncated = cut_clip(clip, tmp_path, 0.5)
    result = colorize_video(truncated, tmp_path / "out.mp4", pipe=pipe, progress=False)
    assert 0 < result.frames < FRAMES
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert warnings == [f"{truncated}: the video ends early (truncated?): {result.frames} frames read and colorized"]
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == result.frames


def test_a_complete_clip_gets_no_warning(clip, tmp_path, pipe, caplog):
    colorize_video(clip, tmp_path / "out.mp4", pipe=pipe, progress=False)
    assert [record for record in caplog.records if record.levelname == "WARNING"] == []


SIGTERM_AT_THIRD_FRAME = """
import os, signal, sys
from PIL import Image
from hf_colorize.video import FrameColorizer, colorize_video

calls = []

def terminate_at_third_frame(self, frame):
    calls.append(frame)
    if len(calls) == 3:
        os.kill(os.getpid(), signal.SIGTERM)
    return Image.fromarray(frame)

FrameColorizer.__call__ = terminate_at_third_frame
try:
    colorize_video(sys.argv[1], sys.argv[2], model=sys.argv[3], progress=False)
except KeyboardInterrupt:
    sys.exit(130)
sys.exit(0)
"""


def test_sigterm_is_handled_as_an_interrupt(clip, tmp_path, colorful_model_dir):
    out_dir = tmp_path / "out"
    command = [sys.executable, "-c", SIGTERM_AT_THIRD_FRAME, str(clip), str(out_dir / "clip.mp4"), colorful_model_dir]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 130, finished.stderr
    assert list(out_dir.iterdir()) == []  # the partial file was removed
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # this process's handler is untouched


def test_sigterm_handler_is_restored_after_a_run(clip, tmp_path, pipe):
    before = signal.getsignal(signal.SIGTERM)
    colorize_video(clip, tmp_path / "out.mp4", pipe=pipe, progress=False)
    assert signal.getsignal(signal.SIGTERM) is before


def test_cli_video_output_that_cannot_be_written(clip, tmp_path, colorful_model_dir, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "clip.avi").write_bytes(clip.read_bytes())
    not_a_folder = tmp_path / "results"
    not_a_folder.write_text("a file")
    assert main([str(folder), "-o", str(not_a_folder), "--model", colorful_model_dir]) == 2
    assert capsys.readouterr().err == (
        f"hf-colorize: {not_a_folder}/in/clip.mp4: cannot write the output ({not_a_folder} is a file, not a folder)\n"
    )
