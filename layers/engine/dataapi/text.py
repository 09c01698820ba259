"""Text from a request, made safe to echo: JSON may carry lone surrogates, which no encoder takes."""


def printable(text: str) -> str:
    """`text` with lone surrogates spelled out (\\ud800), safe to encode, log and echo."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def valid_text(text: str) -> bool:
    """Whether `text` encodes as UTF-8 (PostgreSQL and the driver refuse lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
