"""Keyset ("cursor") pagination over an SQLAlchemy query (openmodule's ``utils/pagination.py`` and
``models/pagination.py``).

Rows are ordered by one field and then the primary key; a page ends at a row, and the cursor to the next page
says "starting after (field, key...) of that row". Cursors travel as URL-safe base64 JSON. Because JSON loses
types, a service subclasses :class:`RequestCursor` with the tuple types of its sort key, e.g. for rows sorted
by a datetime with an integer key::

    class SessionCursor(RequestCursor):
        starting_after: tuple[datetime, int] | None = None
        ending_before: tuple[datetime, int] | None = None

    cursor = SessionCursor.from_urlsafe_base64(token) if token else None
    rows, page = do_cursor_pagination(cursor, session.query(Row), Row, "created", descending=True, limit=20)
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any, Self

import orjson
from openmodule_hookspecs import OpenModuleModel
from pydantic import ValidationError, model_validator
from sqlalchemy import tuple_

__all__ = ["RequestCursor", "ResponseCursor", "do_cursor_pagination", "get_cursor_for_no_elements"]


class RequestCursor(OpenModuleModel):
    """Where a page starts (after a row) or ends (before a row); subclass it with typed tuples."""

    starting_after: tuple[Any, ...] | None = None
    ending_before: tuple[Any, ...] | None = None
    include_element: bool = False  # the row named is on the page too

    @model_validator(mode="after")
    def _not_both(self) -> Self:
        if self.starting_after is not None and self.ending_before is not None:
            raise ValueError("only one of starting_after and ending_before must be set")
        return self

    def to_urlsafe_base64(self) -> str:
        return base64.urlsafe_b64encode(self.json_bytes()).decode("ascii")

    @classmethod
    def from_urlsafe_base64(cls, data: str | bytes) -> Self:
        """The cursor in ``data``; ``ValueError`` when it is not one (a client sent garbage)."""
        try:
            decoded = orjson.loads(base64.urlsafe_b64decode(data))
        except (ValueError, TypeError) as error:
            raise ValueError(f"not a cursor: {error}") from None
        try:
            return cls.model_validate(decoded)
        except ValidationError as error:
            raise ValueError(f"not a cursor: {error}") from None


class ResponseCursor(OpenModuleModel):
    next_page: str  # a RequestCursor.to_urlsafe_base64
    previous_page: str
    has_next: bool | None = None  # None: unknown; False: none at the moment
    has_previous: bool | None = None


def _token(**fields: Any) -> str:
    return RequestCursor(**fields).to_urlsafe_base64()


def get_cursor_for_no_elements(cursor: RequestCursor | None, descending: bool, min_value: tuple[Any, ...],
                               max_value: tuple[Any, ...]) -> ResponseCursor:
    """The cursors of an empty page: they point back at where the request pointed (or at the ends)."""
    if cursor is None:
        first, last = (max_value, min_value) if descending else (min_value, max_value)
        return ResponseCursor(next_page=_token(starting_after=first), previous_page=_token(ending_before=last),
                              has_next=False, has_previous=False)
    if cursor.starting_after:
        return ResponseCursor(next_page=_token(starting_after=cursor.starting_after),
                              previous_page=_token(ending_before=cursor.starting_after, include_element=True),
                              has_next=False, has_previous=True)
    return ResponseCursor(next_page=_token(starting_after=cursor.ending_before, include_element=True),
                          previous_page=_token(ending_before=cursor.ending_before), has_next=True, has_previous=False)


def do_cursor_pagination(cursor: RequestCursor | None, query: Any, model_class: Any, order_by: str, descending: bool,
                         limit: int | None, cursor_min_value: tuple[Any, ...] = (datetime.min, None),
                         cursor_max_value: tuple[Any, ...] = (datetime.max, None),
                         collection_idx: int | None = None) -> tuple[list[Any], ResponseCursor]:
    """One page of ``query`` (an ``orm.Query`` over ``model_class``) ordered by ``order_by`` then the primary
    key, and the cursors around it. ``cursor_min_value``/``cursor_max_value`` bound every row's sort key (they
    name the ends of an empty result); ``collection_idx`` picks the model out of result tuples (joins).

    Rows whose ``order_by`` is NULL are left out. A plain :class:`RequestCursor` is refused (``TypeError``):
    its tuples would compare untyped JSON values with the columns."""
    if cursor is not None and type(cursor) is RequestCursor:
        raise TypeError("define a subclass of RequestCursor typing starting_after and ending_before "
                        "(e.g. tuple[datetime, int] when ordering by a datetime with an integer key)")
    fields = tuple(getattr(model_class, name)
                   for name in [order_by, *(column.name for column in model_class.__table__.primary_key)])
    query = query.filter(fields[0].is_not(None))
    key = tuple_(*fields)
    flipped = bool(cursor and not cursor.starting_after and cursor.ending_before)
    if cursor and cursor.starting_after:
        bound = tuple_(*cursor.starting_after)
        include = cursor.include_element
        if descending:
            query = query.filter(key <= bound if include else key < bound)
        else:
            query = query.filter(key >= bound if include else key > bound)
    elif cursor and cursor.ending_before:
        bound = tuple_(*cursor.ending_before)
        include = cursor.include_element
        if descending:
            query = query.filter(key >= bound if include else key > bound)
        else:
            query = query.filter(key <= bound if include else key < bound)
    ascending = descending == flipped  # an ending_before page is read backwards, then turned around
    query = query.order_by(*(field.asc() if ascending else field.desc() for field in fields))
    if limit is not None:
        query = query.limit(limit + 1)  # one more tells whether there is more
    elements: list[Any] = list(query.all())
    has_more = bool(limit and len(elements) > limit)
    if limit is not None:
        elements = elements[:limit]
    if not elements:
        return elements, get_cursor_for_no_elements(cursor, descending, cursor_min_value, cursor_max_value)
    if flipped:
        elements.reverse()
    first = elements[0] if collection_idx is None else elements[0][collection_idx]
    last = elements[-1] if collection_idx is None else elements[-1][collection_idx]
    page = ResponseCursor(next_page=_token(starting_after=tuple(getattr(last, field.name) for field in fields)),
                          previous_page=_token(ending_before=tuple(getattr(first, field.name) for field in fields)))
    if flipped:
        page.has_next, page.has_previous = True, has_more
    elif cursor:
        page.has_next, page.has_previous = has_more, True
    else:
        page.has_next, page.has_previous = has_more, False
    return elements, page
