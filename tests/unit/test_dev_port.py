"""`make dev` checks its port as its server binds: TIME_WAIT leftovers of a finished run do not
count as a running stack; a port really taken is named, with how to choose another."""

from __future__ import annotations

import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from devtools.localstack import port_is_free, port_taken


def _time_wait_port() -> int:
    """A port whose server side closed an accepted connection first (so it sits in TIME_WAIT),
    and whose listener is gone."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        served, _ = listener.accept()
        served.close()  # the active closer keeps the TIME_WAIT entry on this port
        client.recv(1)
        client.close()
    return port


def _plain_bind_fails(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


def test_a_port_with_connections_in_time_wait_is_free_for_the_server() -> None:
    """GIVEN a port whose last server left a connection in TIME_WAIT (a plain bind fails)
    WHEN make dev checks it THEN it is free, and the gateway's server does bind it."""
    port = _time_wait_port()
    assert _plain_bind_fails(port)  # what the old check saw: "port in use"

    assert port_is_free(port)
    server = ThreadingHTTPServer(("127.0.0.1", port), BaseHTTPRequestHandler)
    server.server_close()


def test_a_port_someone_listens_on_is_taken_and_the_message_says_how_to_choose_another() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        port = other.getsockname()[1]

        assert not port_is_free(port)
        message = port_taken(port)
    assert str(port) in message
    assert f"PORT={port + 1} make dev" in message
