"""A hospital web app without OpenID Connect that trusts Vigie's identity header: it checks the
header's signature with the issuer's published keys (Authlib's JOSE, Debian python3-authlib),
its issuer, its audience (the app's own name) and its expiry, and shows who it names. Without
a valid header it answers 401.

Environment: OIDC_ISSUER, APP_AUDIENCE, APP_HEADER, APP_LISTEN (host:port);
REQUESTS_CA_BUNDLE names the CAs to trust.
"""

import os
from http.server import BaseHTTPRequestHandler, HTTPServer

import requests
from authlib.jose import JsonWebKey, jwt
from authlib.jose.errors import JoseError

ISSUER = os.environ["OIDC_ISSUER"]
AUDIENCE = os.environ["APP_AUDIENCE"]
HEADER = os.environ["APP_HEADER"]


def keys():
    discovery = requests.get(ISSUER + "/.well-known/openid-configuration", timeout=5).json()
    return JsonWebKey.import_key_set(requests.get(discovery["jwks_uri"], timeout=5).json())


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        assertion = self.headers.get(HEADER)
        try:
            if assertion is None:
                raise JoseError("no identity header")
            options = {"iss": {"essential": True, "value": ISSUER},
                       "aud": {"essential": True, "value": AUDIENCE}}
            claims = jwt.decode(assertion, keys(), claims_options=options)
            claims.validate()
        except (JoseError, ValueError) as error:
            self.answer(401, f"no valid identity: {error}\n")
            return
        self.answer(200, f"asserted idnat={claims['SubjectNameID']} aud={claims['aud']}\n")

    def answer(self, status, text):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    host, port = os.environ["APP_LISTEN"].rsplit(":", 1)
    HTTPServer((host, int(port)), Handler).serve_forever()
