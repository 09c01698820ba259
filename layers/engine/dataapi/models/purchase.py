"""The purchase-app domain of the original Flask backend.

Table names, column names and nullability are the original ones, so an existing database of that
backend can be adopted by migrations. Every foreign key declares the ON DELETE that matches the
ORM cascade on its relationship (tests/integration/test_schema.py compares the two).
"""

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dataapi.models.base import JSON_DOC, TIMESTAMP, UTC_NOW, Base, FileField
from dataapi.models.links import LinkTable

user_roles = LinkTable(
    "user_roles",
    Base.metadata,
    Column("user_id", Integer, ForeignKey("User.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", Integer, ForeignKey("Role.id", ondelete="CASCADE"), primary_key=True, index=True),
)

Items_Notes = LinkTable(
    "Items_Notes",
    Base.metadata,
    Column("item_id", Integer, ForeignKey("Item.id", ondelete="CASCADE"), primary_key=True),
    Column("note_id", Integer, ForeignKey("Item_Note.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class User(Base):
    __tablename__ = "User"
    __server_managed__: ClassVar[tuple[str, ...]] = ("id", "row_version", "cognito_sub", "tokens_valid_after")
    # The React client's upload folders are the defaults; FILE_PREFIXES overrides them per deployment.
    __file_fields__: ClassVar[dict[str, FileField]] = {
        "profile_picture": FileField(False, ("profiles_pictures/",))
    }
    __write_only__: ClassVar[tuple[str, ...]] = ("password",)  # lives in Cognito, never here

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(120), unique=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    phone: Mapped[str] = mapped_column(String(40))
    profile_picture: Mapped[str | None] = mapped_column(Text)
    metafields: Mapped[Any | None] = mapped_column(JSON_DOC)
    cognito_sub: Mapped[str | None] = mapped_column(String(64), unique=True)
    tokens_valid_after: Mapped[datetime | None] = mapped_column(TIMESTAMP)

    roles: Mapped[list["Role"]] = relationship(
        secondary=user_roles, back_populates="users", passive_deletes=True
    )

    # Emails are unique ignoring case: the caller is found by case-insensitive email (docs/contract.md §7).
    __table_args__ = (Index("ix_User_lower_email", text("lower(email)"), unique=True),)


class Role(Base):
    __tablename__ = "Role"

    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(String(80), unique=True)
    key: Mapped[str] = mapped_column(String(80))
    metafields: Mapped[Any | None] = mapped_column(JSON_DOC)

    users: Mapped[list[User]] = relationship(
        secondary=user_roles, back_populates="roles", passive_deletes=True
    )


class Dealer(Base):
    __tablename__ = "Dealer"
    # The counters are maintained by PostgreSQL triggers (migration 0002): never written by clients.
    __server_managed__: ClassVar[tuple[str, ...]] = (
        "id",
        "row_version",
        "created_at",
        "purchased_count",
        "item_count",
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dealer_type: Mapped[str | None] = mapped_column(String(80), index=True)
    dealer_name: Mapped[str | None] = mapped_column(String(200), index=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(254))
    raw_address: Mapped[str | None] = mapped_column(Text)
    coordinates: Mapped[Any | None] = mapped_column(JSON_DOC)
    age: Mapped[int | None] = mapped_column(Integer)
    gender: Mapped[str | None] = mapped_column(String(40))
    purchased_count: Mapped[int | None] = mapped_column(Integer, server_default=text("0"))
    item_count: Mapped[int | None] = mapped_column(Integer, server_default=text("0"))
    created_at: Mapped[datetime | None] = mapped_column(TIMESTAMP, server_default=UTC_NOW)

    items: Mapped[list["Item"]] = relationship(back_populates="dealer", passive_deletes=True)
    dealer_notes: Mapped[list["Dealer_Notes"]] = relationship(
        back_populates="dealer", cascade="all, delete-orphan", passive_deletes=True
    )
    dealer_history: Mapped[list["Dealer_History"]] = relationship(
        back_populates="dealer", cascade="all, delete-orphan", passive_deletes=True
    )


class Dealer_History(Base):
    __tablename__ = "Dealer_History"

    id: Mapped[int] = mapped_column(primary_key=True)
    column_name: Mapped[str | None] = mapped_column(String(120))
    from_value: Mapped[Any | None] = mapped_column(JSON_DOC)
    to_value: Mapped[Any | None] = mapped_column(JSON_DOC)
    recorder_time: Mapped[datetime | None] = mapped_column(TIMESTAMP, server_default=UTC_NOW)
    dealer_id: Mapped[int | None] = mapped_column(ForeignKey("Dealer.id", ondelete="CASCADE"), index=True)

    dealer: Mapped[Dealer | None] = relationship(back_populates="dealer_history")


class Dealer_Notes(Base):
    __tablename__ = "Dealer_Notes"
    __server_managed__: ClassVar[tuple[str, ...]] = ("id", "row_version", "created_at")

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str | None] = mapped_column(String(200))
    content: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime | None] = mapped_column(TIMESTAMP, server_default=UTC_NOW)
    dealer_id: Mapped[int | None] = mapped_column(ForeignKey("Dealer.id", ondelete="CASCADE"), index=True)

    dealer: Mapped[Dealer | None] = relationship(back_populates="dealer_notes")


class Item_Notes_Subject(Base):
    __tablename__ = "Item_Notes_Subject"
    __server_managed__: ClassVar[tuple[str, ...]] = (
        "id",
        "row_version",
        "notes_counter",
    )  # triggers of migration 0002

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str | None] = mapped_column(String(200), index=True)
    notes_counter: Mapped[int | None] = mapped_column(Integer, server_default=text("0"))

    item_notes: Mapped[list["Item_Note"]] = relationship(back_populates="subject", passive_deletes=True)


class Item_Note(Base):
    __tablename__ = "Item_Note"

    id: Mapped[int] = mapped_column(primary_key=True)
    note_content: Mapped[str | None] = mapped_column(Text)
    # Client event time: offline edits carry their real time, so it is writable.
    creation_time: Mapped[datetime | None] = mapped_column(TIMESTAMP, server_default=UTC_NOW)
    subject_id: Mapped[int | None] = mapped_column(
        ForeignKey("Item_Notes_Subject.id", ondelete="SET NULL"), index=True
    )

    subject: Mapped[Item_Notes_Subject | None] = relationship(back_populates="item_notes")
    items: Mapped[list["Item"]] = relationship(
        secondary=Items_Notes, back_populates="notes", passive_deletes=True
    )


class Item(Base):
    __tablename__ = "Item"
    __server_managed__: ClassVar[tuple[str, ...]] = ("id", "row_version", "created_at")
    __caller_stamped__: ClassVar[tuple[str, ...]] = ("created_by",)
    __file_fields__: ClassVar[dict[str, FileField]] = {"images": FileField(True, ("PurchaseAppReact/",))}

    id: Mapped[int] = mapped_column(primary_key=True)
    article_number: Mapped[str | None] = mapped_column(String(120), index=True)
    reference_number: Mapped[str | None] = mapped_column(String(120), index=True)
    category: Mapped[str | None] = mapped_column(String(120), index=True)
    type: Mapped[str | None] = mapped_column(String(120), index=True)
    properties: Mapped[Any | None] = mapped_column(JSON_DOC)
    dimensions: Mapped[Any | None] = mapped_column(JSON_DOC)
    issues: Mapped[Any | None] = mapped_column(JSON_DOC)
    parts: Mapped[Any | None] = mapped_column(JSON_DOC)
    missing_parts: Mapped[Any | None] = mapped_column(JSON_DOC)
    purchased_price: Mapped[int | None] = mapped_column(Integer)
    valuation: Mapped[int | None] = mapped_column(Integer)
    sold_price: Mapped[int | None] = mapped_column(Integer)
    metafields: Mapped[Any | None] = mapped_column(JSON_DOC)
    state: Mapped[str | None] = mapped_column(String(80), index=True)
    location: Mapped[str | None] = mapped_column(String(200), index=True)
    images: Mapped[Any | None] = mapped_column(JSON_DOC)
    created_at: Mapped[datetime | None] = mapped_column(TIMESTAMP, server_default=UTC_NOW, index=True)
    created_by: Mapped[str | None] = mapped_column(String(120))
    dealer_id: Mapped[int | None] = mapped_column(ForeignKey("Dealer.id", ondelete="SET NULL"), index=True)

    dealer: Mapped[Dealer | None] = relationship(back_populates="items")
    notes: Mapped[list[Item_Note]] = relationship(
        secondary=Items_Notes, back_populates="items", passive_deletes=True
    )
    item_history: Mapped[list["Item_History"]] = relationship(
        back_populates="item", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = tuple(
        Index(f"ix_Item_{name}_gin", name, postgresql_using="gin")
        for name in ("properties", "dimensions", "issues", "parts", "missing_parts", "images", "metafields")
    )


class Item_History(Base):
    __tablename__ = "Item_History"
    __caller_stamped__: ClassVar[tuple[str, ...]] = ("user_name",)

    id: Mapped[int] = mapped_column(primary_key=True)
    column_name: Mapped[str | None] = mapped_column(String(120))
    from_value: Mapped[Any | None] = mapped_column(JSON_DOC)
    to_value: Mapped[Any | None] = mapped_column(JSON_DOC)
    # Client event time, kept as sent.
    recorded_time: Mapped[datetime | None] = mapped_column(TIMESTAMP, server_default=UTC_NOW)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("Item.id", ondelete="CASCADE"), index=True)
    type: Mapped[str | None] = mapped_column(String(80))
    user_name: Mapped[str | None] = mapped_column(String(120))

    item: Mapped[Item | None] = relationship(back_populates="item_history")
