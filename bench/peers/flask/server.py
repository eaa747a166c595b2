"""Minimal room-broadcast server on the seeds' stack: Flask + gevent-websocket.

Protocol ("plain"): open ws://HOST:PORT/ws/<room>; the server sends the text
frame "ready" once the socket is in the room; every text frame a client sends is
sent to every socket in its room, the sender included.

Usage: python server.py PORT
"""

from gevent import monkey

monkey.patch_all()

import socket  # noqa: E402
import sys  # noqa: E402

from flask import Flask, request  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402
from geventwebsocket.exceptions import WebSocketError  # noqa: E402
from geventwebsocket.handler import WebSocketHandler  # noqa: E402


class NoDelayHandler(WebSocketHandler):
    """TCP_NODELAY on every connection, as latency-minded servers set it (Node
    does by default): without it Nagle's algorithm holds small frames back
    until the client's delayed ACK."""

    def handle(self):
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle()


app = Flask(__name__)
rooms = {}


# websocket=True: Werkzeug only routes upgrade requests to rules that say so.
@app.route("/ws/<room>", websocket=True)
def ws(room):
    sock = request.environ.get("wsgi.websocket")
    if sock is None:
        return "websocket expected", 400
    members = rooms.setdefault(room, set())
    members.add(sock)
    try:
        sock.send("ready")
        while True:
            message = sock.receive()
            if message is None:
                break
            for member in list(members):
                try:
                    member.send(message)
                except WebSocketError:
                    members.discard(member)
    except WebSocketError:
        pass
    finally:
        members.discard(sock)
    return ""


def main():
    port = int(sys.argv[1])
    server = WSGIServer(
        ("127.0.0.1", port),
        app,
        handler_class=NoDelayHandler,
        backlog=1024,
        log=None,
        error_log=None,
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
