"""tools/pyspy_split.py on planted py-spy stacks: waits left out, libraries by innermost frame."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

import pyspy_split


def test_samples_go_to_the_innermost_known_library_and_waits_are_left_out() -> None:
    lines = [
        "run (imgcloud/worker.py:1);render (imgcloud/imaging.py:2);resize (PIL/Image.py:3) 70\n",
        "write (imgcloud/storage.py:82);_make_api_call (botocore/client.py:1) 20\n",
        "_run_once (asyncio/base_events.py:1);select (selectors.py:468) 500\n",
        "_bootstrap (threading.py:1);_worker (concurrent/futures/thread.py:81) 300\n",
        "main (imgcloud/cli.py:47) 10\n",
    ]
    total, by_library = pyspy_split.split(lines)
    assert total == 100
    assert by_library == {
        "Pillow (decode, resize, encode)": 70,
        "S3 client (boto3, botocore)": 20,
        "imgcloud's own code": 10,
    }
