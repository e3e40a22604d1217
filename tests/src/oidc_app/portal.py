"""A hospital web portal that signs its users in with OpenID Connect, written the way an app
team would: Flask, and Authlib's Flask client (Debian python3-flask, python3-authlib).

Nothing here knows Vigie: the portal is given an issuer, a client id and secret, and trusts
what the issuer's discovery document and keys say. It shows who signed in, as the ID token
names them, and records the back-channel logout tokens it receives (after checking their
signature with the issuer's keys) in the file named by PORTAL_LOGOUTS.

Environment: OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, PORTAL_BASE_URL,
PORTAL_LISTEN (host:port), PORTAL_LOGOUTS; REQUESTS_CA_BUNDLE names the CAs to trust.
"""

import json
import os

import requests
from authlib.integrations.flask_client import OAuth
from authlib.jose import JsonWebKey, jwt
from flask import Flask, abort, redirect, request, session

ISSUER = os.environ["OIDC_ISSUER"]
BASE = os.environ["PORTAL_BASE_URL"]
LOGOUTS = os.environ["PORTAL_LOGOUTS"]

app = Flask("portal")
app.secret_key = os.urandom(32)
oauth = OAuth(app)
oauth.register(
    "hospital",
    client_id=os.environ["OIDC_CLIENT_ID"],
    client_secret=os.environ["OIDC_CLIENT_SECRET"],
    server_metadata_url=ISSUER + "/.well-known/openid-configuration",
    client_kwargs={"scope": "openid profile", "code_challenge_method": "S256"},
)


@app.route("/")
def index():
    user = session.get("user")
    if user is None:
        return redirect(BASE + "/login")
    professions = [e.get("codeProfession") for e in user["SubjectRefPro"]["exercices"]]
    return (
        "<p>Signed in</p>"
        f"<p>idnat={user['SubjectNameID']}</p>"
        f"<p>name={user['given_name']} {user['family_name']}</p>"
        f"<p>profession={','.join(professions)}</p>"
        f"<p>amr={','.join(user['amr'])}</p>"
        f"<p>sid={user['sid']}</p>\n"
    )


@app.route("/login")
def login():
    return oauth.hospital.authorize_redirect(BASE + "/callback")


@app.route("/callback")
def callback():
    token = oauth.hospital.authorize_access_token()
    session["user"] = dict(token["userinfo"])
    return redirect(BASE + "/")


@app.route("/backchannel-logout", methods=["POST"])
def backchannel_logout():
    logout_token = request.form.get("logout_token")
    if not logout_token:
        abort(400)
    keys = requests.get(oauth.hospital.load_server_metadata()["jwks_uri"], timeout=5).json()
    claims = jwt.decode(logout_token, JsonWebKey.import_key_set(keys))
    claims.validate()
    if claims["iss"] != ISSUER or "sid" not in claims:
        abort(400)
    with open(LOGOUTS, "a", encoding="utf-8") as out:
        out.write(json.dumps({"sid": claims["sid"], "aud": claims["aud"]}) + "\n")
    return "", 200


if __name__ == "__main__":
    host, port = os.environ["PORTAL_LISTEN"].rsplit(":", 1)
    app.run(host=host, port=int(port))
