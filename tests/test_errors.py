"""User errors keep their one-line message, also when raised inside a DataLoader worker."""

import numpy as np
import pytest

from alseg.data.transforms import eval_batches
from alseg.errors import DataError, without_worker_traceback
from tests.fakes import BlobDataset


class CorruptFrame(BlobDataset):
    """Frame 2 is a truncated file."""

    def load(self, index: int):
        if index == 2:
            raise DataError("val/0001TP_000002.png: cannot read image (truncated)")
        return super().load(index)


def test_item01_an_error_in_a_dataloader_worker_keeps_its_own_message():
    with pytest.raises(DataError) as caught:
        list(eval_batches(CorruptFrame(1, 4), np.arange(4), batch_size=2, workers=1))
    assert str(caught.value) == "val/0001TP_000002.png: cannot read image (truncated)"


def test_messages_without_a_worker_traceback_are_kept():
    error = DataError("a.png: missing")
    assert without_worker_traceback(error) is error
    wrapped = DataError(
        "Caught DataError in DataLoader worker process 0.\nOriginal Traceback (most recent "
        'call last):\n  File "x.py", line 1, in f\nalseg.errors.DataError: a.png: missing\n'
    )
    assert str(without_worker_traceback(wrapped)) == "a.png: missing"
