"""A lab web app: Python's own HTTP server serving the files of its folder (GET), and
taking uploads (PUT), answering with the SHA-256 of what it received, so a test can prove
large transfers cross the tunnel intact both ways.

    python3 web.py PORT ADDRESS      (run in the folder to serve)
"""
import hashlib
import http.server
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    def do_PUT(self):
        remaining = int(self.headers.get("Content-Length", "0"))
        digest = hashlib.sha256()
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 16))
            if not chunk:
                break
            digest.update(chunk)
            remaining -= len(chunk)
        if remaining:
            self.send_error(400, "the upload ended early")
            return
        body = (digest.hexdigest() + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    port, address = int(sys.argv[1]), sys.argv[2]
    http.server.ThreadingHTTPServer((address, port), Handler).serve_forever()
