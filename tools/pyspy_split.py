"""Where a Python service's CPU goes, by library, from a py-spy profile.

    py-spy record --pid PID -d 45 -r 50 --nonblocking --format raw -o worker.txt
    python3 tools/pyspy_split.py worker.txt

py-spy's raw format is one collapsed stack per line with its sample count. Stacks
whose innermost frame waits (select, a lock, a queue, a socket read) are left out, so
what remains approximates time on the CPU; each is counted under the innermost frame
that belongs to a known library. A diagnostic for docs/load.md, not a benchmark: the
sampler itself costs the host CPU.
"""

from __future__ import annotations

import sys
from collections import Counter

WAITING = ("select (", "wait (", "acquire", "_worker (concurrent", "get (queue", "sleep",
           "poll (", "recv_into", "readinto (socket", "accept")  # fmt: skip
S3_CLIENT, TRANSPORT, HTTP = (
    "S3 client (boto3, botocore)",
    "HTTP transport (urllib3)",
    "HTTP server",
)
LIBRARIES = (
    ("PIL", "Pillow (decode, resize, encode)"),
    ("botocore", S3_CLIENT),
    ("boto3", S3_CLIENT),
    ("urllib3", TRANSPORT),
    ("http/client", TRANSPORT),
    ("aiormq", "AMQP (aio-pika)"),
    ("aio_pika", "AMQP (aio-pika)"),
    ("pamqp", "AMQP (aio-pika)"),
    ("werkzeug", f"{HTTP} (Hypercorn, Quart, Werkzeug)"),
    ("quart", f"{HTTP} (Hypercorn, Quart, Werkzeug)"),
    ("hypercorn", f"{HTTP} (Hypercorn, Quart, Werkzeug)"),
    ("h11", f"{HTTP} (Hypercorn, Quart, Werkzeug)"),
    ("prometheus", "metrics"),
    ("imgcloud/", "imgcloud's own code"),
    ("asyncio", "event loop (asyncio)"),
    ("threading", "thread pools"),
    ("concurrent", "thread pools"),
)


def split(lines: list[str]) -> tuple[int, Counter[str]]:
    """On-CPU samples in all, and by library."""
    by_library: Counter[str] = Counter()
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if any(word in frames[-1] for word in WAITING):
            continue
        library = next(
            (name for frame in reversed(frames) for key, name in LIBRARIES if key in frame),
            "other",
        )
        by_library[library] += int(count)
    return sum(by_library.values()), by_library


def main(paths: list[str]) -> int:
    for path in paths:
        with open(path) as handle:
            total, by_library = split(handle.readlines())
        if not total:
            print(f"{path}: no on-CPU samples", file=sys.stderr)
            return 1
        print(f"{path}: {total} on-CPU samples")
        for name, count in by_library.most_common():
            print(f"  {100 * count / total:5.1f} %  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
