"""wire.watched: nested watchers (the test session records every statement while a test watches its own)."""

from dataapi.db import wire


def test_nested_watchers_with_equal_lists_leave_each_its_own():
    with wire.watched() as outer:
        with wire.watched() as inner:
            assert outer == inner == []
        wire._sent(object(), "SELECT 1")
    assert outer == ["SELECT 1"] and inner == []
