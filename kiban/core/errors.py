"""Errors a person can act on, in Japanese and English, with a machine-readable code."""

from __future__ import annotations

from typing import Any


class KibanError(Exception):
    """Base of every refusal kiban reports to a user.

    ``code`` is stable and machine-readable; ``message_ja`` / ``message_en`` are what a
    person reads; ``status`` is the HTTP status the API and the web answer with.
    """

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message_ja: str,
        message_en: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(f"{message_ja} / {message_en}")
        self.message_ja = message_ja
        self.message_en = message_en
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "code": self.code,
            "message_ja": self.message_ja,
            "message_en": self.message_en,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


class ValidationFailed(KibanError):
    status = 422
    code = "invalid"


class NotFound(KibanError):
    """Also used for another municipality's records: their existence is not revealed."""

    status = 404
    code = "not_found"

    def __init__(self, what_ja: str = "対象", what_en: str = "record", **kw: Any) -> None:
        super().__init__(f"{what_ja}が見つかりません。", f"The {what_en} was not found.", **kw)


class Forbidden(KibanError):
    status = 403
    code = "forbidden"

    def __init__(
        self,
        message_ja: str = "この操作を行う権限がありません。",
        message_en: str = "You are not allowed to do this.",
        **kw: Any,
    ) -> None:
        super().__init__(message_ja, message_en, **kw)


class Conflict(KibanError):
    status = 409
    code = "conflict"
