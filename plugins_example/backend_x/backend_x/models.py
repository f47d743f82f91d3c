"""backend_x's tables (the migrations in ``migrations/`` create them)."""

from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class WhitelistEntry(Base):
    __tablename__ = "whitelist"

    plate: Mapped[str] = mapped_column(String(32), primary_key=True)  # normalised, see whitelist.normalise_plate
    added_at: Mapped[datetime] = mapped_column(DateTime())
    note: Mapped[str | None] = mapped_column(String(200), nullable=True)
