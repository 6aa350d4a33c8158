"""What peers may hold of the node: connections per host, associations in all, silent time, TLS.

pynetdicom alone counts a TCP connection that never sends a byte as an association: a dozen
idle connections fill its limit and the scanner is rejected, silently. With TLS it does the
handshake in its accepting thread, so one silent client stops every other connection, and
a failed handshake is dropped without a word. :class:`ConnectionGuard` bounds each of these
and logs every refusal with the peer's address.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import weakref

from pynetdicom import evt

__all__ = ["ConnectionGuard", "HandshakeInConnectionThread"]

logger = logging.getLogger(__name__)

#: what pynetdicom's own association limit is set to: the guard's limit counts only
#: associations that were requested, so pynetdicom's (which counts silent connections) is moot
PYNETDICOM_LIMIT = 1000


class HandshakeInConnectionThread:
    """An ``ssl.SSLContext`` stand-in for pynetdicom's server that defers the TLS handshake.

    pynetdicom wraps each accepted socket in its accepting thread, where the handshake would
    wait for a client that sends nothing; here the socket is wrapped without the handshake,
    which :class:`ConnectionGuard` then does in the connection's own thread, with a timeout.
    """

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context

    def wrap_socket(self, sock: socket.socket, server_side: bool = False, **kwargs) -> ssl.SSLSocket:
        return self.context.wrap_socket(sock, server_side=server_side, do_handshake_on_connect=False, **kwargs)


class ConnectionGuard:
    """Bound and log what peers hold of the node (module docstring).

    - at most ``per_host`` open connections from one address: a further one is closed at once;
    - at most ``associations`` associations at a time, counting those that asked for one (a
      silent connection is not an association): a further request is rejected (A-ASSOCIATE-RJ,
      local limit exceeded);
    - a connection that sends no association request within ``idle_timeout`` seconds is
      closed (pynetdicom's ARTIM timer, set by the node from the same value);
    - with TLS, the handshake runs in the connection's thread within ``idle_timeout``
      seconds, and a failed one (a plain client, an unknown CA, an expired certificate) is
      closed.

    Each refusal is logged at WARNING with the peer's address and the reason.

    Args:
        per_host: open connections allowed from one address.
        associations: associations allowed at a time.
        idle_timeout: seconds a connection may stay silent (and a TLS handshake may take).

    Example::

        >>> guard = ConnectionGuard(per_host=8, associations=10, idle_timeout=10)
        >>> len(guard.handlers())
        1
    """

    def __init__(self, per_host: int = 8, associations: int = 10, idle_timeout: float = 10.0) -> None:
        for name, value in (("per_host", per_host), ("associations", associations)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}.")
        if not idle_timeout > 0:
            raise ValueError(f"idle_timeout must be > 0 seconds, got {idle_timeout!r}.")
        self.per_host, self.associations, self.idle_timeout = per_host, associations, float(idle_timeout)
        self._lock = threading.Lock()
        # live connections and requested associations, by their pynetdicom Association (a
        # thread): one that has ended is no longer alive, whichever way it ended
        self._connections: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._requested: weakref.WeakSet = weakref.WeakSet()

    def handlers(self) -> list[tuple]:
        """The pynetdicom event handlers to bind to the server."""
        return [(evt.EVT_CONN_OPEN, self._opened)]

    def admit(self, assoc) -> str:
        """Record an association request; the reason to reject it ("" to go on)."""
        with self._lock:
            if sum(other.is_alive() for other in self._requested if other is not assoc) >= self.associations:
                return f"{self.associations} associations are open, the node's limit"
            self._requested.add(assoc)
        return ""

    def _opened(self, event) -> None:
        host = _host(event.address)
        with self._lock:
            # the others from its host whose thread is about to start (no ident yet) or still runs
            open_here = sum(h == host and (a.ident is None or a.is_alive()) for a, h in self._connections.items())
            self._connections[event.assoc] = host
        if open_here >= self.per_host:
            self._refuse(event.assoc, host, f"{self.per_host} connections from that address are open, the limit")
            return
        sock = event.assoc.dul.socket.socket
        if isinstance(sock, ssl.SSLSocket) and not self._handshake(event.assoc, sock, host):
            return
        watch = threading.Timer(self.idle_timeout + 1.0, self._log_if_silent, args=(weakref.ref(event.assoc), host))
        watch.daemon = True
        watch.start()

    def _handshake(self, assoc, sock: ssl.SSLSocket, host: str) -> bool:
        previous = sock.gettimeout()
        try:
            sock.settimeout(self.idle_timeout)
            sock.do_handshake()
        except (OSError, ValueError) as error:  # ssl.SSLError, a timeout, a reset
            self._refuse(assoc, host, f"TLS handshake failed: {_reason(error)}")
            return False
        sock.settimeout(previous)
        return True

    def _log_if_silent(self, assoc_ref, host: str) -> None:
        assoc = assoc_ref()
        if assoc is not None and assoc not in self._requested:
            logger.warning("closed a connection from %s: no association request within %g s", host, self.idle_timeout)

    @staticmethod
    def _refuse(assoc, host: str, reason: str) -> None:
        logger.warning("refused a connection from %s: %s", host, reason)
        try:
            assoc.dul.socket.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already gone


def _host(address) -> str:
    return str(address[0]) if isinstance(address, (tuple, list)) else str(address)


def _reason(error: BaseException) -> str:
    if isinstance(error, ssl.SSLError) and error.reason:
        return error.reason.replace("_", " ").lower()
    return str(error) or type(error).__name__
