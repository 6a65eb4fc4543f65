"""IAM managed policy documents: their size as IAM counts it, and packing statements into as few as fit."""

from __future__ import annotations

import json

from bootstrap import schemas

# IAM's quota for a managed policy, counted without whitespace; a role takes at most 10 managed policies.
MAX_POLICY_CHARS = 6144
MAX_POLICIES_PER_ROLE = 10
# The placeholders at their longest real values, so a document that fits here fits in every region.
WORST_CASE = {"${AWS::Partition}": "aws-us-gov", "${AWS::AccountId}": "123456789012",
              "${AWS::Region}": max(schemas.regions(), key=len)}


def size(document: dict) -> int:
    text = json.dumps(document, separators=(",", ":"))
    for placeholder, value in WORST_CASE.items():
        text = text.replace(placeholder, value)
    return len("".join(text.split()))


def document(statements: list[dict]) -> dict:
    return {"Version": "2012-10-17", "Statement": statements}


def _halves(statement: dict) -> list[dict]:
    actions = statement["Action"]
    middle = len(actions) // 2
    return [{**statement, "Sid": f"{statement['Sid']}{part}", "Action": chunk}
            for part, chunk in (("A", actions[:middle]), ("B", actions[middle:]))]


def pack(statements: list[dict]) -> list[dict]:
    """First fit, in order; a statement too big for one document is cut in two by its actions."""
    queue, documents = list(statements), []
    while queue:
        statement = queue.pop(0)
        if size(document([statement])) > MAX_POLICY_CHARS:
            queue[:0] = _halves(statement)
            continue
        for doc in documents:
            if size(document([*doc["Statement"], statement])) <= MAX_POLICY_CHARS:
                doc["Statement"].append(statement)
                break
        else:
            documents.append(document([statement]))
    return documents
