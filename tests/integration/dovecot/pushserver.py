"""pushserver: a local HTTPS notification server for the tests.

usage: pushserver.py PORT CERT KEY LOG
Appends every POSTed body (the device token) as one line to LOG and
answers 410 for tokens starting with "gone-", else 200, each with a
short body (a notifier must not print it). Listens on 127.0.0.1 only.
"""
import http.server
import ssl
import sys

port, cert, key, log = sys.argv[1:5]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode()
        with open(log, "a") as f:
            f.write("%s %s %s\n" % (self.path,
                                    self.headers.get("Content-Type", "-"),
                                    body))
        answer = b"pushserver-answer-body\n"
        self.send_response(410 if body.startswith("gone-") else 200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


srv = http.server.HTTPServer(("127.0.0.1", int(port)), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
