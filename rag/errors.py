"""The exception tree: each error carries a stable code and the HTTP status the server maps it to."""

from __future__ import annotations


class PolicyQAError(Exception):
    """Base class; `code` is machine-readable, the message is for people."""

    code = "internal_error"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(PolicyQAError):
    code = "invalid_input"
    status = 422


class NotFound(PolicyQAError):
    code = "not_found"
    status = 404


class UnreadableDocument(PolicyQAError):
    """A file that cannot be turned into text: corrupt, encrypted, empty, binary or too large."""

    code = "unreadable_document"
    status = 422


class IndexMismatch(PolicyQAError):
    """The index was built with another embedding model or chunking; it must be rebuilt."""

    code = "index_mismatch"
    status = 409


class IndexNotReady(PolicyQAError):
    code = "index_not_ready"
    status = 503


class IndexWriteError(PolicyQAError):
    """The index directory cannot be written (read-only, disk full)."""

    code = "index_write_error"
    status = 507


class LLMError(PolicyQAError):
    code = "llm_error"
    status = 502


class PromptError(PolicyQAError):
    code = "prompt_error"
    status = 500


class InvalidSettings(PolicyQAError):
    """A POLICYQA_* variable (or .env line) holds a value of the wrong form."""

    code = "invalid_settings"
    status = 500


class RemoteError(PolicyQAError):
    """A policyqa server asked by a client command (`ask --url`) could not be reached or refused."""

    code = "remote_error"
    status = 502
