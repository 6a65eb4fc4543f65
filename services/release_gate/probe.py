"""One GET of the service and the judgement of its answer: the single implementation that both the release gate
(gate.py, on AWS Lambda) and the verifier (operate/verify.py) use, so that a release passes the gate exactly
when it would pass `make verify`'s http check (the gate only accepts any 2xx where the verifier wants 200).

Standard library only: this file ships to Lambda as it is, beside gate.py, with nothing installed.
"""

from __future__ import annotations

import base64
import http.client
import urllib.error
import urllib.request
from dataclasses import dataclass

DEFAULT_TIMEOUT = 5.0  # seconds per request
BODY_LIMIT = 65536  # bytes read from an answer: enough for any page the service serves, bounded against a flood
SHOWN_BODY_CHARS = 80  # of a wrong body, in a problem: enough to recognise the page, no more of what it holds
# What a GET raises when no HTTP answer comes back: refused, reset or timed out (OSError, which urllib's
# URLError is), a URL urllib cannot use (ValueError), a peer that does not speak HTTP (HTTPException).
TRANSPORT_ERRORS = (OSError, ValueError, http.client.HTTPException)

EXACTLY_200 = range(200, 201)  # the verifier's rule
ANY_2XX = range(200, 300)  # the gate's rule: a 204 or 203 from a healthy task is still a healthy task


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    challenge: str = ""  # the WWW-Authenticate header of a 401


@dataclass(frozen=True)
class Expectation:
    """What a healthy service answers to one GET."""

    body: str = "Hello Docker!!"
    statuses: range = EXACTLY_200
    # The service asks for a Basic login and the request carries no credentials: all that can be checked is that
    # the door is shut, a 401 with a Basic challenge; neither `body` nor `statuses` applies then.
    login_challenge: bool = False


def http_get(url: str, timeout: float = DEFAULT_TIMEOUT, credentials: str | None = None) -> Answer:
    """Status and body of a GET; an HTTP error status is an answer too, not an exception. `credentials`
    (user:password) go in an Authorization: Basic header. Raises one of TRANSPORT_ERRORS when nothing answers."""
    request = urllib.request.Request(url)
    if credentials:
        request.add_header("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, response.read(BODY_LIMIT).decode("utf-8", "replace"))
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.read(BODY_LIMIT).decode("utf-8", "replace"),
                      error.headers.get("WWW-Authenticate", ""))


def transport_problem(error: BaseException) -> str:
    """The reason of one of TRANSPORT_ERRORS, as a person reads it: urllib wraps the socket's error in `reason`."""
    return str(getattr(error, "reason", None) or error)


def judge(answer: Answer, expected: Expectation) -> str | None:
    """None when `answer` is what a healthy service gives, else the problem in one phrase (no URL: the caller
    knows which request it made). Of a body, at most SHOWN_BODY_CHARS characters are quoted; headers never."""
    if expected.login_challenge:
        if answer.status == 401 and answer.challenge.lower().startswith("basic"):
            return None
        return f"HTTP {answer.status}, expected 401 with a Basic challenge"
    if answer.status not in expected.statuses:
        return f"HTTP {answer.status}, expected {_describe(expected.statuses)}"
    body = received_body(answer)
    if body != expected.body:
        return f"body {body[:SHOWN_BODY_CHARS]!r}, expected {expected.body!r}"
    return None


def received_body(answer: Answer) -> str:
    """The body as compared: echo ends its body with a newline, which is not part of what it says."""
    return answer.body.rstrip("\r\n")


def _describe(statuses: range) -> str:
    if len(statuses) == 1:
        return str(statuses.start)
    if statuses.start % 100 == 0 and len(statuses) == 100:
        return f"{statuses.start // 100}xx"
    return f"{statuses.start} to {statuses.stop - 1}"
