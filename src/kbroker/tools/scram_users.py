"""`kbroker configs --entity-type users`: SCRAM credentials, as kafka-configs manages them.

`--add-config 'SCRAM-SHA-512=[iterations=8192,password=secret]'` salts and hashes the password
here, as Kafka's admin client does, and sends only the salt and salted password
(AlterUserScramCredentials); `--delete-config SCRAM-SHA-512` removes one; `--describe` lists the
mechanisms and iterations of each user (DescribeUserScramCredentials).
"""

from __future__ import annotations

import os
import re

import click
from kproto.messages import AlterUserScramCredentialsRequest, DescribeUserScramCredentialsRequest

from kbroker.security.scram import MECHANISM_BY_ID, MECHANISMS, MIN_ITERATIONS, salted_password
from kbroker.tools.client import Client, ToolError, check
from kbroker.tools.common import print_json

_CREDENTIAL = re.compile(r"(?:iterations=(-?[0-9]*),)?password=(.*)", re.DOTALL)
SALT_BYTES = 32


def alter_users(client: Client, user: str, added: dict[str, str], deleted: list[str]) -> None:
    unknown = [key for key in [*added, *deleted] if key not in MECHANISMS]
    if unknown:
        raise ToolError(f"only SCRAM credential configs ({', '.join(MECHANISMS)}) can be set for users; "
                        f"unexpected config names: {', '.join(unknown)}")
    upsertions = []
    for mechanism, text in added.items():
        match = _CREDENTIAL.fullmatch(text)
        if match is None:
            raise ToolError(f"invalid credential property {mechanism}: expected [iterations=N,]password=...")
        iterations = int(match[1]) if match[1] and match[1] != "-1" else MIN_ITERATIONS
        if iterations < MIN_ITERATIONS:
            raise ToolError(f"Iterations {iterations} is less than the minimum {MIN_ITERATIONS} required for {mechanism}")
        salt = os.urandom(SALT_BYTES)
        upsertions.append(AlterUserScramCredentialsRequest.ScramCredentialUpsertion(
            name=user, mechanism=MECHANISMS[mechanism][0], iterations=iterations, salt=salt,
            salted_password=salted_password(mechanism, match[2], salt, iterations)))
    deletions = [AlterUserScramCredentialsRequest.ScramCredentialDeletion(name=user, mechanism=MECHANISMS[m][0])
                 for m in deleted]
    answer = client.send(AlterUserScramCredentialsRequest(deletions=deletions, upsertions=upsertions))
    for result in answer.results:
        check(result.error_code, f"cannot alter SCRAM credentials of {result.user}", result.error_message)


def scram_credentials(client: Client, user: str | None) -> list[dict]:
    """Each user's SCRAM mechanisms and iterations (every user for None)."""
    request = DescribeUserScramCredentialsRequest(users=None if user is None else [
        DescribeUserScramCredentialsRequest.UserName(name=user)])
    answer = client.send(request)
    check(answer.error_code, "cannot describe SCRAM credentials", answer.error_message)
    docs = []
    for result in answer.results:
        check(result.error_code, f"cannot describe SCRAM credentials of {result.user}", result.error_message)
        docs.append({"entity": result.user, "credentials": [
            {"mechanism": MECHANISM_BY_ID[info.mechanism], "iterations": info.iterations}
            for info in result.credential_infos]})
    return docs


def describe_users(client: Client, user: str | None, output: str) -> None:
    docs = scram_credentials(client, user)
    if output == "json":
        print_json(docs)
        return
    for doc in docs:
        text = ", ".join(f"{c['mechanism']}=iterations={c['iterations']}" for c in doc["credentials"])
        click.echo(f"SCRAM credential configs for user-principal '{doc['entity']}' are {text}")
