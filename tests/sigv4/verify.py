"""Checks a SigV4 signature the host computed, with botocore: an implementation independent of
the host's aws-sigv4. Run with the venv that tests/sigv4/venv.sh builds.

    verify.py < request.json     # one request as the test server received it
    verify.py --self-test        # proves the check accepts a good signature and rejects tampering

The input is one JSON object:

    {"method": "POST", "url": "http://127.0.0.1:PORT/model/m/converse" (absolute),
     "headers": [["name", "value"], ...] (as received), "body": "...",
     "access_key": "...", "secret_key": "...", "token": "..." or null,
     "region": "us-east-1", "service": "bedrock"}

botocore signs again at the request's own x-amz-date, over only the headers the received
Authorization lists in SignedHeaders (a client adds others, such as content-length, after
signing). One JSON line is printed: {"match": bool, "expected": ..., "received": ...}, with a
"reason" when they differ for a reason other than the signature. The exit status is 0 on a match,
1 on a mismatch, 2 on bad input.
"""

import datetime
import hashlib
import json
import sys

import botocore.auth
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

MATCH, MISMATCH, BAD_INPUT = 0, 1, 2


class BadInput(Exception):
    """The input is not a request this script can check."""


def signed_header_names(authorization):
    """The header names in an Authorization header's SignedHeaders, lowercase."""
    for part in authorization.split(","):
        name, _, value = part.strip().partition("=")
        if name == "SignedHeaders":
            return [header.strip().lower() for header in value.split(";") if header.strip()]
    raise BadInput(f"the Authorization header has no SignedHeaders: {authorization!r}")


def header_values(headers, name):
    """Every value of the header `name` (case-insensitive), in order."""
    return [value for key, value in headers if key.lower() == name]


def sign(request):
    """botocore's Authorization header for `request` (the input object), the one received, and
    why the request fails whatever the signatures say (None if nothing does)."""
    headers = [(str(name), str(value)) for name, value in request["headers"]]
    authorizations = header_values(headers, "authorization")
    if len(authorizations) != 1:
        raise BadInput(f"expected one Authorization header, got {len(authorizations)}")
    dates = header_values(headers, "x-amz-date")
    if len(dates) != 1:
        raise BadInput(f"expected one x-amz-date header, got {len(dates)}")
    try:
        signed_at = datetime.datetime.strptime(dates[0], SIGV4_TIMESTAMP)
    except ValueError as error:
        raise BadInput(f"x-amz-date {dates[0]!r} is not {SIGV4_TIMESTAMP}") from error

    signed = signed_header_names(authorizations[0])
    body = request["body"].encode("utf-8")
    reason = None
    # botocore trusts an x-amz-content-sha256 header as the payload's hash instead of hashing the
    # body, so without this a body changed after signing would still pass.
    for value in header_values(headers, "x-amz-content-sha256"):
        if value != hashlib.sha256(body).hexdigest():
            reason = f"x-amz-content-sha256 {value} is not the SHA-256 of the body received"

    # With a token botocore signs its own copy of the header; without one it would sign the
    # received header as if it were any other.
    if request.get("token") is None and header_values(headers, "x-amz-security-token"):
        reason = "x-amz-security-token was sent, but the credentials have no session token"

    aws_request = AWSRequest(method=request["method"], url=request["url"], data=body)
    for name, value in headers:
        if name.lower() in signed and name.lower() != "authorization":
            # HTTPHeaders appends: a repeated header keeps every value, in order.
            aws_request.headers[name] = value
    # botocore reads the clock through this name when it signs.
    botocore.auth.get_current_datetime = lambda *_args, **_kwargs: signed_at
    credentials = Credentials(request["access_key"], request["secret_key"], request.get("token"))
    SigV4Auth(credentials, request["service"], request["region"]).add_auth(aws_request)
    return aws_request.headers["Authorization"], authorizations[0], reason


def verify(request):
    """The verdict on one request, as the JSON object to print, and the exit status."""
    expected, received, reason = sign(request)
    match = expected == received and reason is None
    verdict = {"match": match, "expected": expected, "received": received}
    if reason is not None:
        verdict["reason"] = reason
    return verdict, MATCH if match else MISMATCH


def self_test():
    """Signs a sample Bedrock request with botocore as a client would send it (session token,
    a model id with `:` in the path, with and without x-amz-content-sha256), checks that it
    verifies, and that each kind of tampering is caught. Returns the exit status."""
    body = '{"messages":[{"role":"user","content":[{"text":"hi"}]}]}'
    url = "http://127.0.0.1:9/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    access_key, secret_key, token = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "tok"
    botocore.auth.get_current_datetime = lambda *_args, **_kwargs: datetime.datetime(2025, 1, 2)

    def received(extra):
        """The sample's headers as a server receives them: signed by botocore, names lowercase,
        and content-length added after signing."""
        sample = AWSRequest(method="POST", url=url, data=body.encode("utf-8"))
        sample.headers["host"] = "127.0.0.1:9"
        sample.headers["content-type"] = "application/json"
        for name, value in extra:
            sample.headers[name] = value
        signer = SigV4Auth(Credentials(access_key, secret_key, token), "bedrock", "us-east-1")
        signer.add_auth(sample)
        headers = [[name.lower(), value] for name, value in sample.headers.items()]
        return headers + [["content-length", str(len(body))]]

    payload_hash = hashlib.sha256(body.encode("utf-8")).hexdigest()
    hashed = received([("x-amz-content-sha256", payload_hash)])
    good = {
        "method": "POST", "url": url, "headers": hashed, "body": body,
        "access_key": access_key, "secret_key": secret_key, "token": token,
        "region": "us-east-1", "service": "bedrock",
    }
    unhashed = {**good, "headers": received([])}
    retyped = [[n, "text/plain" if n == "content-type" else v] for n, v in hashed]
    cases = [
        ("botocore's own signature", good, True),
        ("no x-amz-content-sha256", unhashed, True),
        ("a signed header changed", {**good, "headers": retyped}, False),
        ("the body changed, x-amz-content-sha256 signed", {**good, "body": body + " "}, False),
        ("the body changed, no x-amz-content-sha256", {**unhashed, "body": body + " "}, False),
        ("another path", {**good, "url": url.replace("%3A0", "%3A1")}, False),
        ("another session token", {**good, "token": "other"}, False),
        ("no session token", {**good, "token": None}, False),
        ("another secret key", {**good, "secret_key": "other"}, False),
        ("another region", {**good, "region": "eu-west-1"}, False),
    ]
    failures = 0
    for name, request, should_match in cases:
        verdict, _ = verify(request)
        if verdict["match"] != should_match:
            failures += 1
            print(f"self-test: {name}: expected match={should_match}, got {verdict}",
                  file=sys.stderr)
    print(json.dumps({"self_test": "passed" if failures == 0 else "failed",
                      "cases": len(cases), "failures": failures}))
    return MATCH if failures == 0 else MISMATCH


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    if sys.argv[1:]:
        print(__doc__, file=sys.stderr)
        return BAD_INPUT
    try:
        request = json.load(sys.stdin)
        verdict, status = verify(request)
    except (BadInput, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        print(json.dumps({"match": False, "error": f"{type(error).__name__}: {error}"}))
        return BAD_INPUT
    print(json.dumps(verdict))
    return status


if __name__ == "__main__":
    sys.exit(main())
