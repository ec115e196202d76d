"""The one base of the tests' local HTTP servers: quiet about errors, which it keeps instead.

socketserver prints the traceback of any exception raised while a request is served (a client that hangs up on a
cut-short response, an upstream already stopped at a test's teardown) to sys.stderr, from the handler's thread and
whenever it happens: a request still in flight when its test ends then prints into the captured stderr of whichever
test this process runs next, which fails if it asserts that its output has no traceback. The server keeps the
exceptions in `errors` instead, for a test that wants to look at them.
"""

import sys
from http.server import ThreadingHTTPServer
from typing import Any


class QuietHTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a handler still running at exit never keeps the test process alive

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.errors: list[BaseException] = []

    def handle_error(self, request: object, client_address: object) -> None:
        error = sys.exc_info()[1]
        if error is not None:
            self.errors.append(error)


def started_moto_server(port: int = 0) -> Any:
    """moto's S3 server (ThreadedMotoServer) started on 127.0.0.1, as quiet about request errors as QuietHTTPServer
    (its werkzeug server prints them the same way); `.errors` keeps them."""
    from moto.server import ThreadedMotoServer

    server: Any = ThreadedMotoServer(ip_address='127.0.0.1', port=port, verbose=False)
    server.start()
    server.errors = []

    def keep(request: object, client_address: object) -> None:
        error = sys.exc_info()[1]
        if error is not None:
            server.errors.append(error)

    server._server.handle_error = keep  # the werkzeug server of the started thread (moto exposes no option)
    return server
