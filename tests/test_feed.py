"""The executor's data feed and spill, without Spark: every row once per epoch, in full
batches, shuffled or in order, with bounded windows and synchronous wrap-around."""
import numpy as np
import pytest

from sparkeras.executor.feed import Spill, blocks_from_rows


def _spill(rows=1000, block=97, window_rows=None):
    x = np.arange(rows * 3, dtype=np.float32).reshape(rows, 3)
    y = np.arange(rows)
    blocks = [([x[i:i + block]], y[i:i + block]) for i in range(0, rows, block)]
    row_bytes = 3 * 4 + 8
    return Spill(iter(blocks), buffer_bytes=(window_rows or rows * 10) * row_bytes)


@pytest.mark.parametrize("window_rows", [None, 40, 16])
@pytest.mark.parametrize("shuffle", [False, True])
def test_one_pass_yields_every_row_once_in_full_batches(window_rows, shuffle):
    with _spill(window_rows=window_rows) as spill:
        assert spill.rows == 1000 and (window_rows is None or spill.window_rows == window_rows)
        batches = list(spill.batches(0, 900, 64, np.random.default_rng(1) if shuffle else None))
        ys = np.concatenate([y for _, y in batches])
        xs = np.concatenate([x[0] for x, _ in batches])
        assert sorted(ys.tolist()) == list(range(900))
        assert (xs[:, 0] == ys * 3).all(), "features and labels stay paired"
        assert [len(y) for _, y in batches] == [64] * 14 + [900 - 14 * 64]
        assert (ys == np.arange(900)).all() != shuffle


@pytest.mark.parametrize("window_rows", [None, 16])
def test_a_fixed_number_of_steps_wraps_around_with_full_batches(window_rows):
    with _spill(window_rows=window_rows) as spill:
        batches = list(spill.batches(0, 100, 64, np.random.default_rng(2), steps=7))
        assert [len(y) for _, y in batches] == [64] * 7
        assert set(np.concatenate([y for _, y in batches]).tolist()) == set(range(100))


def test_validation_rows_are_read_back_in_order():
    with _spill() as spill:
        ys = np.concatenate([y for _, y in spill.blocks(900, 1000, 32)])
        assert (ys == np.arange(900, 1000)).all()


def test_rows_become_blocks_for_one_or_several_inputs():
    rows = [([float(i)] * 4, i) for i in range(10)]  # features as a plain list: one input
    [(xs, y)] = list(blocks_from_rows(rows))
    assert len(xs) == 1 and xs[0].shape == (10, 4) and xs[0].dtype == np.float32 and y.tolist() == list(range(10))
    rows = [((np.zeros(2), np.ones(5)), 1.5) for _ in range(5)]
    [(xs, y)] = list(blocks_from_rows(rows, inputs=2))
    assert [a.shape for a in xs] == [(5, 2), (5, 5)] and y.dtype == np.float32
    assert [len(y) for _, y in blocks_from_rows(rows * 3, inputs=2, block_rows=4)] == [4, 4, 4, 3]


def test_a_nan_or_infinite_value_is_refused_with_its_row():
    from sparkeras import ModelSpecError
    x = np.ones((300, 4), np.float32)
    x[257, 2] = np.nan
    with pytest.raises(ModelSpecError, match="NaN or infinity in the features at row 257 of this partition"):
        Spill(iter([([x[:200]], np.zeros(200)), ([x[200:]], np.zeros(100))]))
    y = np.zeros(300, np.float32)
    y[3] = np.inf
    with pytest.raises(ModelSpecError, match="NaN or infinity in the label at row 3"):
        Spill(iter([([np.ones((300, 4), np.float32)], y)]))
