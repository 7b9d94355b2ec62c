"""A request body limit that holds while the body streams.

Quart refuses a declared ``Content-Length`` over ``MAX_CONTENT_LENGTH`` at once, and
otherwise compares the limit with what its body buffer holds. But a reader that
iterates the body (the multipart parser does) empties that buffer chunk by chunk, so a
chunked upload of any size passed, spooled to disk by the parser and read whole into
memory afterwards. This body counts every byte received: past the limit it drops the
rest unread and the reader gets ``RequestEntityTooLarge`` (the app's ``413``), while the
client may still be sending.
"""

from __future__ import annotations

from quart.wrappers.request import Body, Request
from werkzeug.exceptions import RequestEntityTooLarge


class LimitedBody(Body):
    """A :class:`quart.wrappers.request.Body` whose limit counts the whole body."""

    def __init__(self, expected_content_length: int | None, max_content_length: int | None):
        super().__init__(expected_content_length, max_content_length)
        self.received = 0

    def append(self, data: bytes) -> None:
        # `_must_raise` and `_max_content_length` are Quart's own (0.19-0.22): the
        # exception the reader is handed, and the app's limit. tests/apps pin them.
        if not data or self._must_raise is not None:
            return
        self.received += len(data)
        limit = self._max_content_length
        if limit is not None and self.received > limit:
            self._must_raise = RequestEntityTooLarge()
            self.set_complete()  # wake a reader waiting for data: it raises at once
            return
        super().append(data)

    async def __anext__(self) -> bytes:
        try:
            return await super().__anext__()
        except StopAsyncIteration:
            # A reader that was waiting for data wakes to an empty, complete body:
            # it must see the refusal, not a body that merely ended early.
            if self._must_raise is not None:
                raise self._must_raise from None
            raise


class LimitedRequest(Request):
    body_class = LimitedBody
