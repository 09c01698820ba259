"""The mutation engine: requests -> validated row values -> set-based statements or ORM unit of work."""
