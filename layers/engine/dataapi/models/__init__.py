"""The registered model set. The engine only sees what `Base.registry` maps."""

from dataapi.models.base import Base
from dataapi.models.purchase import (
    Dealer,
    Dealer_History,
    Dealer_Notes,
    Item,
    Item_History,
    Item_Note,
    Item_Notes_Subject,
    Role,
    User,
)

__all__ = [
    "Base",
    "Dealer",
    "Dealer_History",
    "Dealer_Notes",
    "Item",
    "Item_History",
    "Item_Note",
    "Item_Notes_Subject",
    "Role",
    "User",
]
