"""`kbroker reassign-partitions` and `kbroker leader-election`, as kafka-reassign-partitions.sh and
kafka-leader-election.sh do them, with their JSON files and their lines of output.

Both talk to the controller, which moves replicas (AlterPartitionReassignments) and elects leaders
(ElectLeaders); the plan files are Kafka's: `{"version":1,"partitions":[{"topic":..,"partition":..,
"replicas":[..]}]}` for a reassignment and `{"topics":[{"topic":..}],"version":1}` for the topics
a generated plan moves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from kproto import ErrorCode
from kproto.messages import (
    AlterPartitionReassignmentsRequest, ElectLeadersRequest, ListPartitionReassignmentsRequest, MetadataResponse,
)

from kbroker.cluster.assignment import AssignmentError, assign_replicas
from kbroker.tools.client import Client, ToolError, check
from kbroker.tools.common import bootstrap_option, connect, one_line_errors

ELECTION_TYPES = {"PREFERRED": 0, "UNCLEAN": 1}


def read_json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ToolError(f"cannot read the {what} file {path}: {exc}") from None


def plan_json(assignment: dict[tuple[str, int], list[int]]) -> str:
    return json.dumps({"version": 1, "partitions": [
        {"topic": t, "partition": p, "replicas": r, "log_dirs": ["any"] * len(r)}
        for (t, p), r in sorted(assignment.items())]}, separators=(",", ":"))


def plan_partitions(doc: Any) -> dict[tuple[str, int], list[int]]:
    try:
        return {(e["topic"], int(e["partition"])): [int(b) for b in e["replicas"]] for e in doc["partitions"]}
    except (KeyError, TypeError, ValueError):
        raise ToolError("the reassignment file is not Kafka's format: "
                        '{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2]}]}') from None


def current_assignment(meta: MetadataResponse, topics: set[str] | None = None) -> dict[tuple[str, int], list[int]]:
    return {(t.name, p.partition_index): list(p.replica_nodes) for t in meta.topics
            if topics is None or t.name in topics for p in t.partitions}


def controller(client: Client) -> int:
    return client.metadata([]).controller_id


@click.command("reassign-partitions")
@bootstrap_option
@click.option("--generate", "action", flag_value="generate", help="Propose a plan moving --topics-to-move-json-file.")
@click.option("--execute", "action", flag_value="execute", help="Start the moves of --reassignment-json-file.")
@click.option("--verify", "action", flag_value="verify", help="Say whether the moves of --reassignment-json-file are done.")
@click.option("--cancel", "action", flag_value="cancel", help="Cancel the moves of --reassignment-json-file.")
@click.option("--list", "action", flag_value="list", help="List the moves under way.")
@click.option("--topics-to-move-json-file", metavar="FILE", help='{"topics":[{"topic":"t"}],"version":1}')
@click.option("--broker-list", metavar="ID[,ID...]", help="With --generate: the brokers to place replicas on.")
@click.option("--reassignment-json-file", metavar="FILE", help="A plan, as --generate prints it.")
@one_line_errors
def reassign_partitions(bootstrap: str, timeout: float, action: str | None, topics_to_move_json_file: str | None,
                        broker_list: str | None, reassignment_json_file: str | None) -> None:
    """Move partition replicas between brokers, as kafka-reassign-partitions.sh does."""
    if action is None:
        raise click.UsageError("one of --generate, --execute, --verify, --cancel, --list is needed")
    with connect(bootstrap, timeout) as client:
        if action == "generate":
            generate(client, topics_to_move_json_file, broker_list)
        elif action == "list":
            list_moves(client)
        else:
            if not reassignment_json_file:
                raise click.UsageError(f"--{action} needs --reassignment-json-file")
            plan = plan_partitions(read_json(reassignment_json_file, "reassignment"))
            {"execute": execute, "verify": verify, "cancel": cancel}[action](client, plan)


def generate(client: Client, topics_file: str | None, broker_list: str | None) -> None:
    if not topics_file or not broker_list:
        raise click.UsageError("--generate needs --topics-to-move-json-file and --broker-list")
    try:
        topics = {entry["topic"] for entry in read_json(topics_file, "topics-to-move")["topics"]}
        brokers = [int(b) for b in broker_list.split(",")]
    except (KeyError, TypeError, ValueError):
        raise ToolError('the topics file is not {"topics":[{"topic":"t"}],"version":1}, '
                        "or the broker list is not numbers") from None
    current = current_assignment(client.metadata(sorted(topics)), topics)
    proposed: dict[tuple[str, int], list[int]] = {}
    for topic in sorted(topics):
        mine = sorted(p for t, p in current if t == topic)
        if not mine:
            raise ToolError(f"topic {topic} does not exist")
        try:
            placed = assign_replicas(len(mine), len(current[topic, mine[0]]), brokers)
        except AssignmentError as exc:
            raise ToolError(str(exc)) from None
        proposed.update({(topic, p): placed[p] for p in mine})
    click.echo(f"Current partition replica assignment\n{plan_json(current)}\n")
    click.echo(f"Proposed partition reassignment configuration\n{plan_json(proposed)}")


def reassignment_request(plan: dict[tuple[str, int], list[int] | None]) -> AlterPartitionReassignmentsRequest:
    by_topic: dict[str, list] = {}
    for (topic, partition), replicas in sorted(plan.items()):
        entry = AlterPartitionReassignmentsRequest.ReassignablePartition(partition_index=partition)
        entry.replicas = replicas  # None cancels; the constructor would turn it into []
        by_topic.setdefault(topic, []).append(entry)
    return AlterPartitionReassignmentsRequest(topics=[
        AlterPartitionReassignmentsRequest.ReassignableTopic(name=t, partitions=p) for t, p in by_topic.items()])


def send_moves(client: Client, plan: dict[tuple[str, int], list[int] | None], what: str) -> None:
    response = client.send(reassignment_request(plan), node=controller(client))
    check(response.error_code, what, response.error_message)
    failed = [f"{t.name}-{p.partition_index}: {ErrorCode(p.error_code).name} ({p.error_message})"
              for t in response.responses for p in t.partitions if p.error_code]
    if failed:
        raise ToolError(f"{what} failed for " + "; ".join(failed))


def execute(client: Client, plan: dict[tuple[str, int], list[int]]) -> None:
    current = current_assignment(client.metadata(sorted({t for t, _ in plan})))
    missing = [f"{t}-{p}" for t, p in plan if (t, p) not in current]
    if missing:
        raise ToolError(f"no such partitions: {', '.join(missing)}")
    click.echo("Current partition replica assignment\n\n"
               f"{plan_json({tp: current[tp] for tp in plan})}\n\n"
               "Save this to use as the --reassignment-json-file option during rollback")
    send_moves(client, plan, "reassignment")
    click.echo("Successfully started partition reassignments for " + ",".join(f"{t}-{p}" for t, p in sorted(plan)))


def ongoing(client: Client) -> dict[tuple[str, int], Any]:
    request = ListPartitionReassignmentsRequest()
    request.topics = None  # every partition; the constructor would turn None into []
    response = client.send(request, node=controller(client))
    check(response.error_code, "listing reassignments", response.error_message)
    return {(t.name, p.partition_index): p for t in response.topics for p in t.partitions}


def verify(client: Client, plan: dict[tuple[str, int], list[int]]) -> None:
    moving = ongoing(client)
    current = current_assignment(client.metadata(sorted({t for t, _ in plan})))
    click.echo("Status of partition reassignment:")
    for topic, partition in sorted(plan):
        if (topic, partition) in moving:
            state = "is still in progress"
        elif current.get((topic, partition)) == plan[topic, partition]:
            state = "is completed"
        else:
            state = "failed"
        click.echo(f"Reassignment of partition {topic}-{partition} {state}.")


def cancel(client: Client, plan: dict[tuple[str, int], list[int]]) -> None:
    moving = ongoing(client)
    under_way = {tp: None for tp in plan if tp in moving}
    if under_way:
        send_moves(client, under_way, "cancellation")
    click.echo("Successfully cancelled partition reassignments for: "
               + ",".join(f"{t}-{p}" for t, p in sorted(under_way)))
    idle = sorted(tp for tp in plan if tp not in moving)
    if idle:
        click.echo("None of the specified partition moves are active: " + ",".join(f"{t}-{p}" for t, p in idle))


def list_moves(client: Client) -> None:
    moving = ongoing(client)
    if not moving:
        click.echo("No partition reassignments found.")
        return
    click.echo("Current partition reassignments:")
    for (topic, partition), p in sorted(moving.items()):
        click.echo(f"{topic}-{partition}: replicas: {','.join(map(str, p.replicas))}. "
                   f"adding: {','.join(map(str, p.adding_replicas))}. "
                   f"removing: {','.join(map(str, p.removing_replicas))}.")


@click.command("leader-election")
@bootstrap_option
@click.option("--election-type", type=click.Choice(list(ELECTION_TYPES), case_sensitive=False), required=True,
              help="PREFERRED: back to the first replica; UNCLEAN: any live replica for a partition without leader.")
@click.option("--topic", help="The topic of --partition.")
@click.option("--partition", type=int, help="One partition of --topic.")
@click.option("--all-topic-partitions", is_flag=True, help="Every partition of every topic.")
@click.option("--path-to-json-file", metavar="FILE", help='{"partitions":[{"topic":"t","partition":0}]}')
@one_line_errors
def leader_election(bootstrap: str, timeout: float, election_type: str, topic: str | None, partition: int | None,
                    all_topic_partitions: bool, path_to_json_file: str | None) -> None:
    """Elect partition leaders, as kafka-leader-election.sh does."""
    kind = election_type.upper()
    wanted: list[tuple[str, int]] | None
    if all_topic_partitions:
        wanted = None
    elif path_to_json_file:
        try:
            wanted = [(e["topic"], int(e["partition"]))
                      for e in read_json(path_to_json_file, "partitions")["partitions"]]
        except (KeyError, TypeError, ValueError):
            raise ToolError('the file is not {"partitions":[{"topic":"t","partition":0}]}') from None
    elif topic is not None and partition is not None:
        wanted = [(topic, partition)]
    else:
        raise click.UsageError("name partitions: --topic and --partition, --path-to-json-file, "
                               "or --all-topic-partitions")
    request = ElectLeadersRequest(election_type=ELECTION_TYPES[kind], timeout_ms=int(timeout * 1000))
    request.topic_partitions = None if wanted is None else [
        ElectLeadersRequest.TopicPartitions(topic=t, partitions=[p for tt, p in wanted if tt == t])
        for t in dict.fromkeys(t for t, _ in wanted)]
    with connect(bootstrap, timeout) as client:
        response = client.send(request, node=controller(client), min_version=1)
    check(response.error_code, "leader election")
    results = [(f"{r.topic}-{p.partition_id}", p) for r in response.replica_election_results for p in r.partition_result]
    done = [name for name, p in results if p.error_code == ErrorCode.NONE]
    noop = [name for name, p in results if p.error_code == ErrorCode.ELECTION_NOT_NEEDED]
    if done:
        click.echo(f"Successfully completed leader election ({kind}) for partitions {', '.join(done)}")
    if noop:
        click.echo(f"Valid replica already elected for partitions {', '.join(noop)}")
    failed = [(name, p) for name, p in results if p.error_code not in (ErrorCode.NONE, ErrorCode.ELECTION_NOT_NEEDED)]
    for name, p in failed:
        click.echo(f"Error completing leader election ({kind}) for partition: {name}: "
                   f"{ErrorCode(p.error_code).name}: {p.error_message}", err=True)
    if failed:
        raise SystemExit(1)
