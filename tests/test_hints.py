import numpy as np
import pytest
import torch
from PIL import Image

from hf_colorize.color import normalize_ab, rgb_to_lab
from hf_colorize.hints import (
    HINT_SIZE,
    InvalidHintError,
    encode_hints,
    hints_from_ground_truth,
    parse_color,
    parse_hint_string,
    parse_hints,
    sample_hint_positions,
)


def expected_ab(rgb):
    lab = rgb_to_lab(torch.tensor(rgb, dtype=torch.float32).view(3, 1, 1) / 255)
    return normalize_ab(lab[1:, 0, 0])


@pytest.mark.parametrize(
    "color, expected",
    [("#ff8800", (255, 136, 0)), ("FF8800", (255, 136, 0)), ((30, 90, 200), (30, 90, 200)), ([0, 0, 0], (0, 0, 0))],
)
def test_parse_color(color, expected):
    assert parse_color(color) == expected


@pytest.mark.parametrize("color", ["#ff88", "red", "#gg0000", (1, 2), (0, 0, 256), (0.5, 0, 0), (-1, 0, 0), 7])
def test_parse_color_rejects_malformed(color):
    with pytest.raises(InvalidHintError, match="malformed colour"):
        parse_color(color)


def test_parse_hint_string():
    assert parse_hint_string("12,30,#00ff00") == (12.0, 30.0, "#00ff00")
    for bad in ["12,30", "a,3,#00ff00", "1,2,#zz0000"]:
        with pytest.raises(InvalidHintError):
            parse_hint_string(bad)


def test_hint_outside_image_is_named():
    with pytest.raises(InvalidHintError, match=r"\(100, 5\) is outside the 100x50 image"):
        parse_hints([(100, 5, "#ffffff")], 100, 50)
    with pytest.raises(InvalidHintError, match="outside"):
        parse_hints([(-1, 5, "#ffffff")], 100, 50)
    with pytest.raises(InvalidHintError, match="malformed hint"):
        parse_hints([(1, 2)], 100, 50)


def test_point_hints_fill_two_by_two_squares_at_model_resolution():
    hint_ab, hint_mask = encode_hints([(50, 25, "#ff0000"), (199, 99, (0, 0, 255))], (200, 100), (64, 32))
    assert hint_ab.shape == (2, 32, 64) and hint_mask.shape == (1, 32, 64)
    assert hint_mask.sum() == 2 * HINT_SIZE**2
    assert hint_mask[0, 8:10, 16:18].eq(1).all()
    assert torch.allclose(hint_ab[:, 8, 16], expected_ab((255, 0, 0)), atol=1e-5)
    assert hint_mask[0, 30:32, 62:64].eq(1).all()  # clamped inside the image
    assert torch.allclose(hint_ab[:, 31, 63], expected_ab((0, 0, 255)), atol=1e-5)
    assert hint_ab[:, hint_mask[0] == 0].abs().max() == 0


def test_no_hints_encode_to_zeros():
    hint_ab, hint_mask = encode_hints(None, (10, 10), (8, 8))
    assert hint_ab.abs().sum() == 0 and hint_mask.sum() == 0
    hint_ab, hint_mask = encode_hints([], (10, 10), (8, 8))
    assert hint_mask.sum() == 0


def test_scribble_alpha_marks_hints():
    scribble = np.zeros((40, 80, 4), dtype=np.uint8)
    scribble[0:20, 0:40] = (0, 200, 0, 255)
    for hints in (scribble, Image.fromarray(scribble)):
        hint_ab, hint_mask = encode_hints(hints, (80, 40), (16, 8))
        assert hint_mask[0, 0:4, 0:8].eq(1).all() and hint_mask.sum() == 32
        assert torch.allclose(hint_ab[:, 0, 0], expected_ab((0, 200, 0)), atol=1e-5)
        assert hint_ab[:, 4:, :].abs().sum() == 0


def test_points_and_a_scribble_together_points_win_where_they_overlap():
    scribble = np.zeros((40, 80, 4), dtype=np.uint8)
    scribble[0:20, 0:40] = (0, 200, 0, 255)
    hint_ab, hint_mask = encode_hints(
        [(0, 0, "#ff0000"), Image.fromarray(scribble), (70, 30, "#0000ff")], (80, 40), (16, 8)
    )
    assert hint_mask.sum() == 32 + 2 * 2  # the scribble's block (the red point inside it) and the blue point
    assert torch.allclose(hint_ab[:, 0, 0], expected_ab((255, 0, 0)), atol=1e-5)
    assert torch.allclose(hint_ab[:, 3, 7], expected_ab((0, 200, 0)), atol=1e-5)
    assert torch.allclose(hint_ab[:, 6, 14], expected_ab((0, 0, 255)), atol=1e-5)


def test_scribble_errors_name_the_problem():
    with pytest.raises(InvalidHintError, match="must be RGBA"):
        encode_hints(Image.new("RGB", (8, 8)), (8, 8), (8, 8))
    with pytest.raises(InvalidHintError, match="hint image is 8x8 but the input image is 16x8"):
        encode_hints(Image.new("RGBA", (8, 8)), (16, 8), (8, 8))
    with pytest.raises(InvalidHintError, match="must be a list"):
        encode_hints("#ff0000", (8, 8), (8, 8))


def test_ground_truth_hints_take_the_mean_over_the_square():
    ab = torch.arange(2 * 6 * 6, dtype=torch.float32).view(2, 6, 6)
    positions = sample_hint_positions(3, 6, 6, torch.Generator().manual_seed(0))
    assert len(set(map(tuple, positions.tolist()))) == 3
    hint_ab, hint_mask = hints_from_ground_truth(ab, positions)
    row, col = positions[0].tolist()
    assert torch.allclose(hint_ab[:, row, col], ab[:, row : row + 2, col : col + 2].mean(dim=(1, 2)))
    assert hint_mask.sum() <= 12 and hint_mask.sum() >= 4
