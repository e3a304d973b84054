"""Video colorization: frames streamed through a colorization pipeline, with a temporal stabiliser.

A model colorizes each frame on its own, so its colours flicker. The stabiliser (on by default, README "Video")
works on the ab the model predicts at model resolution, before it is upsampled:

1. **Scene cuts** (`SceneCutDetector`): the 32-bin grey histogram of each frame (a 64x64 thumbnail) is compared with the
   previous frame's; an L1 distance above its ``threshold`` (0.3 of 2, the largest possible) starts a new scene.
2. **Chroma smoothing** (`ChromaStabilizer`): within a scene, each pixel's ab is a running blend
   ``ab = w * ab_previous_output + (1 - w) * ab_predicted``, with ``w = strength * exp(-(dL / motion_sigma)^2 / 2)``
   where ``dL`` is the change of the (slightly blurred) lightness at that pixel since the previous frame: still
   pixels keep their colour, moving ones follow the model. The blend restarts at a cut.
3. **Hints carried forward** (`HintSchedule`): hints given for frame ``k`` are used on frames ``k, k+1, ...`` until
   hints are given for a later frame or a scene cut ends the scene they were given in.

Reading and writing use PyAV (``pip install "hf-colorize[video]"``): no system ffmpeg is needed. The output keeps
the input's frame rate, size and audio (re-encoded as AAC in an MP4) and is written under a temporary name that
is renamed only when the whole clip is done (SIGINT or SIGTERM removes it).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .filters import box_mean
from .images import cannot_write

HintsByFrame = Mapping[int, Sequence]

logger = logging.getLogger(__name__)

AAC_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 8: "7.1"}
"""The layout the audio gets in the output by its number of channels (others are mixed to stereo)."""


class InvalidVideoError(ValueError):
    """A video that cannot be read or written; the message names the file."""


def _import_av():
    try:
        import av
    except ImportError:
        raise ImportError(
            'video colorization needs PyAV: pip install "hf-colorize[video]" (or pip install av)'
        ) from None
    return av


class SceneCutDetector:
    """Flags a frame whose lightness histogram differs from the previous frame's by more than ``threshold``.

    The histogram is taken on a 64x64 thumbnail's luma (Rec. 601, as PIL's ``"L"`` mode), which is cheap and,
    for telling scenes apart, as good as CIE L.

    Args:
        threshold: L1 distance between the two normalised histograms (0 = identical, 2 = disjoint).
        bins: histogram bins over the 256 grey levels.
    """

    def __init__(self, threshold: float = 0.3, bins: int = 32):
        self.threshold = threshold
        self.bins = bins
        self.previous: np.ndarray | None = None

    def histogram(self, frame: Image.Image | np.ndarray) -> np.ndarray:
        image = Image.fromarray(frame) if isinstance(frame, np.ndarray) else frame
        grey = np.asarray(image.convert("L").resize((64, 64), Image.Resampling.BILINEAR))
        counts = np.bincount(grey.ravel().astype(np.int64) * self.bins // 256, minlength=self.bins)
        return counts / counts.sum()

    def __call__(self, frame: Image.Image | np.ndarray) -> bool:
        """True when this frame starts a new scene (always for the first frame)."""
        histogram = self.histogram(frame)
        previous, self.previous = self.previous, histogram
        return previous is None or float(np.abs(histogram - previous).sum()) > self.threshold


class ChromaStabilizer:
    """Motion-aware running blend of predicted ab across frames (module docstring, step 2).

    Args:
        strength: weight of the previous output at a pixel whose lightness did not change (0 switches it off).
        motion_sigma: lightness change (model scale, [-1, 1]) at which the weight falls to ``exp(-1/2)`` of
            ``strength``.
        blur: side of the box blur (odd) applied to the lightness before differencing, so noise does not count as
            motion.
    """

    def __init__(self, strength: float = 0.8, motion_sigma: float = 0.06, blur: int = 5):
        if not 0 <= strength < 1:
            raise ValueError(f"strength must be in [0, 1), got {strength}")
        if blur < 1 or blur % 2 == 0:
            raise ValueError(f"blur must be an odd number of pixels, got {blur}")
        self.strength = strength
        self.motion_sigma = motion_sigma
        self.blur = blur
        self.reset()

    def reset(self) -> None:
        self.previous_ab: torch.Tensor | None = None
        self.previous_lightness: torch.Tensor | None = None

    def _smooth(self, lightness: torch.Tensor) -> torch.Tensor:
        return box_mean(lightness, self.blur // 2)

    def __call__(self, ab: torch.Tensor, lightness: torch.Tensor) -> torch.Tensor:
        """Stabilised ab ``(1, 2, h, w)`` for this frame, from the predicted ab and its lightness ``(1, 1, h, w)``."""
        lightness = self._smooth(lightness.float())
        ab = ab.float()
        if self.previous_ab is not None:
            change = (lightness - self.previous_lightness) / self.motion_sigma
            weight = self.strength * torch.exp(-0.5 * change.square())
            ab = weight * self.previous_ab + (1 - weight) * ab
        self.previous_ab, self.previous_lightness = ab, lightness
        return ab


@dataclass
class HintSchedule:
    """Which hints apply to each frame: those given for the latest frame number at or before it, until a cut.

    ``hints`` is a list of hints for frame 0, or ``{frame_number: hints}``.
    """

    hints: Sequence | HintsByFrame | None = None
    _active: Sequence | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.hints is None:
            self.hints = {}
        elif not isinstance(self.hints, Mapping):
            self.hints = {0: self.hints}
        for frame in self.hints:
            if isinstance(frame, bool) or not isinstance(frame, int) or frame < 0:
                raise ValueError(f"hint frame numbers must be whole numbers >= 0, got {frame!r}")

    def __call__(self, frame: int, scene_cut: bool) -> Sequence | None:
        """The hints for ``frame`` (``None`` for none); ``scene_cut`` says whether this frame starts a scene."""
        if frame in self.hints:
            self._active = self.hints[frame] or None
        elif scene_cut:
            self._active = None
        return self._active


class FrameColorizer:
    """Colorizes a stream of frames with a pipeline, one at a time, stabilised unless ``stabilize=False``.

    Args:
        pipe: an ``image-colorization`` pipeline.
        hints: hints for frame 0, or ``{frame_number: hints}`` (hint models); carried forward until a scene cut.
        reference: colour reference for every frame (exemplar models).
        stabilize: use the scene-cut detector and chroma stabiliser (module docstring).
        seed: seed for sampling families, the same for every frame (other families ignore it).
    """

    def __init__(
        self,
        pipe,
        hints: Sequence | HintsByFrame | None = None,
        reference: Any = None,
        stabilize: bool = True,
        seed: int = 0,
    ):
        self.pipe = pipe
        self.schedule = HintSchedule(hints)
        self.stabilize = stabilize
        self.cuts = SceneCutDetector()
        self.stabilizer = ChromaStabilizer()
        self.scene_cuts: list[int] = []
        self.frame = 0
        options = {"reference": reference} if reference is not None else {}
        self.preprocess_params, self.forward_params = pipe.check_options(seed=seed, **options)
        self._hint_params: tuple[int, dict] = (-1, {})

    def _params(self, hints: Sequence | None) -> dict:
        if hints is None:
            return self.preprocess_params
        key = id(hints)
        if self._hint_params[0] != key:  # checked once per hint set, not per frame
            params, _ = self.pipe.check_options(hints=hints)
            self._hint_params = (key, {**self.preprocess_params, **params})
        return self._hint_params[1]

    def __call__(self, frame: Image.Image | np.ndarray) -> Image.Image:
        """The colorized frame, the size of the input, with its own lightness."""
        scene_cut = self.cuts(frame)
        if scene_cut and self.frame > 0:
            self.scene_cuts.append(self.frame)
        hints = self.schedule(self.frame, scene_cut)
        self.frame += 1
        model_inputs = self.pipe.preprocess(frame, **self._params(hints))
        model_lightness = model_inputs["pixel_values"][:, :1].float()  # channel 0 is L in every family
        outputs = self.pipe.forward(model_inputs, **self.forward_params)
        ab = outputs["ab"][:, 0]
        if self.stabilize:
            if scene_cut:
                self.stabilizer.reset()
            ab = self.stabilizer(ab, F.interpolate(model_lightness, size=ab.shape[-2:], mode="area"))
        return self.pipe.image_processor.post_process_colorization(ab, outputs["lightness"])[0]

    def colorize(self, frames: Iterable[Image.Image | np.ndarray]) -> Iterator[Image.Image]:
        for frame in frames:
            yield self(frame)


def read_frames(path: str | Path) -> Iterator[np.ndarray]:
    """The RGB frames ``(H, W, 3)`` uint8 of a video file, one at a time."""
    av = _import_av()
    with _open_input(av, path) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


def _open_input(av, path: str | Path):
    path = Path(path)
    if not path.is_file():
        raise InvalidVideoError(f"{path}: no such video file")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as error:
        raise InvalidVideoError(f"{path}: not a readable video ({error})") from None
    if not container.streams.video:
        container.close()
        raise InvalidVideoError(f"{path}: has no video stream")
    return container


def _decode(av, packet, skipped: list[str]) -> list:
    """The packet's frames; a corrupt packet is skipped (as ffmpeg does) and its stream type noted."""
    try:
        return packet.decode()
    except av.error.InvalidDataError:
        skipped.append(packet.stream.type)
        return []


@dataclass
class VideoResult:
    """What `colorize_video` wrote."""

    output: Path
    frames: int
    seconds: float
    scene_cuts: list[int]
    skipped_packets: int = 0

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds else math.inf


class _VideoWriter:
    """An MP4 (H.264 + AAC) the size and frame rate of the input, with the input's audio re-encoded.

    It is written at ``path`` and named ``output`` in errors: an ``OSError`` (read-only folder, full disk) becomes an
    ``OutputWriteError`` naming ``output``.
    """

    def __init__(self, av, path: Path, output: Path, video_stream, audio_stream):
        self.output = output
        with self.writing():
            self.container = av.open(str(path), mode="w", format="mp4")
        rate = video_stream.average_rate or video_stream.guessed_rate or Fraction(25)
        self.video = self.container.add_stream("libx264", rate=rate)
        self.video.width = video_stream.codec_context.width
        self.video.height = video_stream.codec_context.height
        self.video.time_base = video_stream.time_base
        # 4:2:0 needs even sides; an odd-sized clip keeps its size in 4:4:4
        even = self.video.width % 2 == 0 and self.video.height % 2 == 0
        self.video.pix_fmt = "yuv420p" if even else "yuv444p"
        self.video.options = {"crf": "18", "preset": "medium"}
        self.audio = None
        if audio_stream is not None:
            source = audio_stream.codec_context
            # AAC wants a named layout; a source's unnamed "N channels" one maps to the standard layout of N
            layout = AAC_LAYOUTS.get(source.channels, "stereo")
            self.audio = self.container.add_stream("aac", rate=source.sample_rate or 48000, layout=layout)
        self.frames = 0
        self.last_pts: int | None = None
        self.av = av

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        try:
            yield
        except OSError as error:
            raise cannot_write(self.output, error) from None

    def write_video(self, image: Image.Image, source_frame) -> None:
        """Encode ``image`` at the source frame's time (a clip with held frames keeps its timing); times that do
        not increase (some AVI files) step one tick past the last one."""
        frame = self.av.VideoFrame.from_image(image)
        pts = source_frame.pts
        frame.pts = pts if pts is not None and (self.last_pts is None or pts > self.last_pts) else self.next_pts()
        frame.time_base = source_frame.time_base
        self.last_pts = frame.pts
        with self.writing():
            self.container.mux(self.video.encode(frame))
        self.frames += 1

    def next_pts(self) -> int:
        return 0 if self.last_pts is None else self.last_pts + 1

    def write_audio(self, frame) -> None:
        frame.pts = None
        with self.writing():
            self.container.mux(self.audio.encode(frame))

    def close(self) -> None:
        with self.writing():
            self.container.mux(self.video.encode())
            if self.audio is not None:
                self.container.mux(self.audio.encode())
            self.container.close()


@dataclass
class _VideoReach:
    """How far into the video stream reading got, to tell a clip that ends early (a truncated file) from one read
    whole: the packets read and the end of the last one, against the frame count of the container's header (for
    AVI, frame slots: a held frame is a gap in time, not a packet)."""

    packets: int = 0
    end: int = 0

    def update(self, packet) -> None:
        if packet.size:
            self.packets += 1
            if packet.pts is not None:
                self.end = max(self.end, packet.pts + (packet.duration or 0))

    def ended_early(self, stream) -> bool:
        if not stream.frames:  # the container does not say (Matroska, WebM)
            return False
        rate = stream.average_rate or stream.guessed_rate
        slots = round((self.end - (stream.start_time or 0)) * stream.time_base * rate) if rate else 0
        return max(self.packets, slots) < stream.frames


def _remove(path: Path) -> None:
    """Delete ``path`` if it is there (where it cannot be, writing it fails later with its own error)."""
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM raises ``KeyboardInterrupt`` as SIGINT does, so the same clean-up runs; the
    previous handler comes back after it. Only the main thread receives signals, so elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def colorize_video(
    path: str | Path,
    output: str | Path,
    model: str | None = None,
    hints: Sequence | HintsByFrame | None = None,
    reference: Any = None,
    stabilize: bool = True,
    device: str | None = None,
    progress: bool = True,
    pipe=None,
) -> VideoResult:
    """Colorize a video file into an MP4, frame by frame (memory does not grow with the clip).

    Args:
        path: input video (any container / codec FFmpeg reads).
        output: the MP4 to write; it appears only when the whole clip is done.
        model: bundled model name, saved folder or Hub id (default: the bundled default model).
        hints: hints for frame 0, or ``{frame_number: hints}``; each set is carried forward until a scene cut.
        reference: colour reference picture for exemplar models.
        stabilize: temporal stabiliser (scene cuts + chroma smoothing); ``False`` colorizes frames independently.
        device: ``"cpu"`` / ``"cuda"``.
        progress: show a progress bar with frames per second.
        pipe: an already loaded pipeline (instead of ``model`` / ``device``).

    The output is written as ``.NAME.partial`` next to it (a stale one of the same name, left by a killed run, is
    removed first) and renamed when complete; an interruption (SIGINT, or SIGTERM, handled the same way) removes it.
    A clip that ends before its header says (a truncated file) is colorized up to there, with one warning giving
    the number of frames read.

    Raises:
        InvalidVideoError: the input cannot be read or has no frames (message names the file).
        OutputWriteError: the output cannot be written (message names it and the problem).
    """
    from tqdm.auto import tqdm

    from .pipeline import load_colorization_pipeline

    av = _import_av()
    path, output = Path(path), Path(output)
    partial = output.with_name(f".{output.name}.partial")
    _remove(partial)  # left by a run that was killed
    pipe = pipe or load_colorization_pipeline(model, device)
    colorizer = FrameColorizer(pipe, hints=hints, reference=reference, stabilize=stabilize)
    start = time.perf_counter()
    with _open_input(av, path) as source, _sigterm_as_interrupt():
        video_stream = source.streams.video[0]
        audio_stream = source.streams.audio[0] if source.streams.audio else None
        total = video_stream.frames or None
        skipped: list[str] = []
        reach = _VideoReach()
        try:
            try:
                output.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise cannot_write(output, error) from None
            writer = _VideoWriter(av, partial, output, video_stream, audio_stream)
            streams = [video_stream] + ([audio_stream] if audio_stream is not None else [])
            with tqdm(total=total, unit="frame", desc=path.name, disable=not progress) as bar:
                for packet in source.demux(streams):
                    if packet.stream.type == "video":
                        reach.update(packet)
                    for frame in _decode(av, packet, skipped):
                        if packet.stream.type == "video":
                            writer.write_video(colorizer(frame.to_ndarray(format="rgb24")), frame)
                            bar.update()
                        else:
                            writer.write_audio(frame)
                bar.total = bar.n  # a header's frame count may include held (repeated) frames
            if writer.frames == 0:
                raise InvalidVideoError(f"{path}: no frames could be read (empty or truncated video)")
            writer.close()
            with writer.writing():
                os.replace(partial, output)
        except BaseException:
            _remove(partial)
            raise
        ended_early = reach.ended_early(video_stream)  # read while open: PyAV 18.1.1 refuses a closed input's stream
    if skipped:
        logger.warning("%s: skipped %d undecodable packet(s) (%s)", path, len(skipped), ", ".join(sorted(set(skipped))))
    if ended_early:
        logger.warning("%s: the video ends early (truncated?): %d frames read and colorized", path, writer.frames)
    return VideoResult(output, writer.frames, time.perf_counter() - start, colorizer.scene_cuts, len(skipped))
