"""The project's own error types: every failure a user can cause or meet is one of these."""


class RedlineError(Exception):
    """Base class: the message is written for the user, one line, no traceback needed."""


class UserError(RedlineError):
    """Bad input from the user: an unknown item, a malformed URL, a bad option."""


class FetchError(RedlineError):
    """A page could not be fetched: network error, error status, too large, too slow."""


class HTTPStatusError(FetchError):
    """The server answered with an error status; Retry-After kept as sent, if any."""

    def __init__(self, message: str, status: int, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class ExtractError(RedlineError):
    """A fetched page could not be understood as any format redline knows."""
