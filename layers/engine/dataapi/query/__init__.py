"""The query engine: parse -> validate -> compile -> execute -> serialize."""
