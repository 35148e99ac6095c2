"""DescribeUserScramCredentials (key 50, v0) and AlterUserScramCredentials (key 51, v0).

Both are flexible from v0. The checks and messages are those of Kafka's ZooKeeper-mode admin
manager: a user with any refused change has none of its changes applied; the credentials
themselves come as a salt and a salted password, never as the password. With an authorizer,
describing needs DESCRIBE on the cluster and altering ALTER, else every user asked about gets
CLUSTER_AUTHORIZATION_FAILED (a description, at the top level too), as from Kafka.
"""

from __future__ import annotations

from collections import Counter

from kproto import ErrorCode
from kproto.messages import (
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, DescribeUserScramCredentialsRequest,
    DescribeUserScramCredentialsResponse,
)

from kbroker.handlers.authorized_operations import MESSAGES, Op, cluster_allowed
from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import handles
from kbroker.security.store import STORE_FAILURES
from kbroker.security.scram import MAX_ITERATIONS, MECHANISM_BY_ID, MECHANISMS, MIN_ITERATIONS, ScramCredential

DESCRIBE_USER_SCRAM_CREDENTIALS = 50
ALTER_USER_SCRAM_CREDENTIALS = 51
EMPTY_USER = "Username must not be empty"
REFUSED = ErrorCode.CLUSTER_AUTHORIZATION_FAILED

Result = DescribeUserScramCredentialsResponse.DescribeUserScramCredentialsResult
Info = DescribeUserScramCredentialsResponse.CredentialInfo
AlterResult = AlterUserScramCredentialsResponse.AlterUserScramCredentialsResult


@handles(DESCRIBE_USER_SCRAM_CREDENTIALS, 0, 0)
def describe_user_scram_credentials(ctx: RequestContext, request: DescribeUserScramCredentialsRequest) \
        -> DescribeUserScramCredentialsResponse:
    store = ctx.broker.scram
    asked = [user.name for user in request.users or []]
    if not cluster_allowed(ctx, Op.DESCRIBE):
        return DescribeUserScramCredentialsResponse(error_code=REFUSED, error_message=MESSAGES[REFUSED], results=[
            Result(user="", error_code=REFUSED, error_message=MESSAGES[REFUSED]) for _ in asked])
    if not asked:  # null or empty: every user with a credential
        return DescribeUserScramCredentialsResponse(error_message=None, results=[_described(store.mechanisms(user), user)
                                                                                 for user in store.names()])
    counts = Counter(asked)
    results = []
    for user in dict.fromkeys(asked):
        if not user:
            results.append(Result(user=user, error_code=ErrorCode.RESOURCE_NOT_FOUND, error_message=EMPTY_USER))
        elif counts[user] > 1:
            results.append(Result(user=user, error_code=ErrorCode.DUPLICATE_RESOURCE, error_message=(
                f"Cannot describe SCRAM credentials for the same user twice in a single request: {user}")))
        elif not store.mechanisms(user):
            results.append(Result(user=user, error_code=ErrorCode.RESOURCE_NOT_FOUND,
                                  error_message=f"Attempt to describe a user credential that does not exist: {user}"))
        else:
            results.append(_described(store.mechanisms(user), user))
    return DescribeUserScramCredentialsResponse(error_message=None, results=results)


def _described(mechanisms: dict[str, int], user: str) -> Result:
    return Result(user=user, error_message=None, credential_infos=[
        Info(mechanism=MECHANISMS[name][0], iterations=iterations) for name, iterations in sorted(mechanisms.items())])


@handles(ALTER_USER_SCRAM_CREDENTIALS, 0, 0)
def alter_user_scram_credentials(ctx: RequestContext, request: AlterUserScramCredentialsRequest) \
        -> AlterUserScramCredentialsResponse:
    store = ctx.broker.scram
    if not cluster_allowed(ctx, Op.ALTER):
        return AlterUserScramCredentialsResponse(results=[
            AlterResult(user=user, error_code=REFUSED, error_message=MESSAGES[REFUSED])
            for user in sorted({c.name for c in [*request.deletions, *request.upsertions]})])
    errors: dict[str, tuple[ErrorCode, str]] = {}
    for change in [*request.deletions, *request.upsertions]:
        problem = _problem(change)
        if problem is not None:
            errors.setdefault(change.name, problem)
    pairs = Counter((c.name, c.mechanism) for c in [*request.deletions, *request.upsertions] if c.name not in errors)
    for (user, _), count in pairs.items():
        if count > 1:
            errors.setdefault(user, (ErrorCode.DUPLICATE_RESOURCE, "A user credential cannot be altered twice in the same request"))
    for deletion in request.deletions:
        if deletion.name not in errors and MECHANISM_BY_ID[deletion.mechanism] not in store.mechanisms(deletion.name):
            errors[deletion.name] = (ErrorCode.RESOURCE_NOT_FOUND, "Attempt to delete a user credential that does not exist")
    users = dict.fromkeys(c.name for c in [*request.deletions, *request.upsertions])
    try:
        store.change(
            [(u.name, MECHANISM_BY_ID[u.mechanism], ScramCredential.from_salted_password(
                MECHANISM_BY_ID[u.mechanism], u.salt, u.salted_password, u.iterations))
             for u in request.upsertions if u.name not in errors],
            [(d.name, MECHANISM_BY_ID[d.mechanism]) for d in request.deletions if d.name not in errors])
    except STORE_FAILURES as exc:  # nothing was changed
        for user in users:
            errors.setdefault(user, (ErrorCode.UNKNOWN_SERVER_ERROR, f"Could not store the credentials: {exc}"))
    return AlterUserScramCredentialsResponse(results=[
        AlterResult(user=user, error_code=errors[user][0], error_message=errors[user][1]) if user in errors
        else AlterResult(user=user, error_message=None) for user in users])


def _problem(change: object) -> tuple[ErrorCode, str] | None:
    """What Kafka refuses in a deletion or upsertion on its own: empty user, unknown mechanism, iterations."""
    if not change.name:  # type: ignore[attr-defined]
        return ErrorCode.UNACCEPTABLE_CREDENTIAL, EMPTY_USER
    if change.mechanism not in MECHANISM_BY_ID:  # type: ignore[attr-defined]
        return ErrorCode.UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism"
    iterations = getattr(change, "iterations", None)
    if iterations is not None and iterations < MIN_ITERATIONS:
        return ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too few iterations"
    if iterations is not None and iterations > MAX_ITERATIONS:
        return ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too many iterations"
    return None
