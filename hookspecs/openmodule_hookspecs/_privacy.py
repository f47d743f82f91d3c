"""Privacy (DSGVO) on the wire (wire-protocol.md 5.12): anonymisation requests and retention settings."""

from __future__ import annotations

from datetime import datetime, timedelta

from ._models import OpenModuleModel, ZMQMessage, utcnow

__all__ = ["AnonymizeMessage", "AnonymizeRequest", "AnonymizeResponse", "PrivacySettings", "PrivacyTime"]


class AnonymizeMessage(ZMQMessage):
    """Topic ``privacy``: delete personal data of these vehicles (and session)."""

    type: str = "anonymize"
    session_id: str | None = None
    vehicle_ids: list[str] | None = []


class AnonymizeRequest(OpenModuleModel):
    """RPC ``privacy``/``anonymize``: asks the DSGVO service to anonymise sessions."""

    session_ids: list[str]


class AnonymizeResponse(OpenModuleModel):
    pass


class PrivacyTime(OpenModuleModel):
    minutes: int | None = None
    hours: int | None = None
    days: int | None = None

    def timedelta(self) -> timedelta | None:
        parts = {key: value for key, value in self.model_dump().items() if value}
        return timedelta(**parts) if parts else None

    def time(self) -> datetime | None:
        """The oldest moment still within the retention period (naive UTC)."""
        delta = self.timedelta()
        return utcnow() - delta if delta is not None else None


class PrivacySettings(OpenModuleModel):
    """Retention periods by session kind, with openmodule's defaults."""

    paid: PrivacyTime = PrivacyTime(days=1)
    unpaid: PrivacyTime = PrivacyTime(days=90)
    registered_free: PrivacyTime = PrivacyTime(days=30)
    pay_via_invoice: PrivacyTime = PrivacyTime(days=30)
    open: PrivacyTime = PrivacyTime(days=90)
    free: PrivacyTime = PrivacyTime(minutes=5)
    honest_payment: PrivacyTime = PrivacyTime(days=90)
    erroneous: PrivacyTime = PrivacyTime(days=30)
    rejected: PrivacyTime = PrivacyTime(days=7)

    def max_timedelta(self) -> timedelta:
        periods = [value.timedelta() for value in self.__dict__.values() if isinstance(value, PrivacyTime)]
        return max(period for period in periods if period is not None)
