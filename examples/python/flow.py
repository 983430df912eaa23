#!/usr/bin/env python3
"""An agency's flow against a broker over mutual TLS, printing one JSON line per step:
publish a lead and an outcome, read the inbox, acknowledge, reconnect and resume after the
acknowledged cursor, show the field violations of a refused publish, and publish a batch on
PublishStream.

    python generate.py
    python flow.py --target 127.0.0.1:50051 --ca certs/ca.pem \\
        --cert certs/330106-SCJG.pem --key certs/330106-SCJG-key.pem --run demo1
"""
import argparse
import json
import time

from google.protobuf.timestamp_pb2 import Timestamp

from xiezhi_client import Refused, XiezhiClient
from xiezhi.v1 import events_pb2, services_pb2

# A valid 统一社会信用代码 (GB 32100 check character) in 西湖区 (330106).
SUBJECT = events_pb2.Subject(kind=events_pb2.SUBJECT_KIND_ORGANIZATION,
                             id="91330106MA2H0Q7W1G", name="杭州某某食品有限公司")


def now():
    stamp = Timestamp()
    stamp.GetCurrentTime()
    return stamp


def lead(summary, subject=SUBJECT):
    return events_pb2.Lead(subject=subject, division="330106",
                           domain=events_pb2.DOMAIN_ECOLOGY_ENVIRONMENT, offence_code="CL-338",
                           summary=summary, sensitivity=events_pb2.SENSITIVITY_INTERNAL)


def say(step, **fields):
    print(json.dumps({"step": step, **fields}, ensure_ascii=False), flush=True)


def main():
    parser = argparse.ArgumentParser()
    for flag in ("--target", "--ca", "--cert", "--key"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--run", default=str(int(time.time())))
    args = parser.parse_args()
    client = XiezhiClient(args.target, args.ca, args.cert, args.key)

    ack = client.publish_lead(f"py-{args.run}-lead", lead("夜间偷排含铅废水"), now())
    say("lead", event_id=ack.event_id, partition=ack.position.partition,
        duplicate=ack.duplicate, signed=len(ack.receipt.signature) == 64)
    outcome = events_pb2.CaseOutcome(
        case_number=f"杭西市监罚〔2026〕py{args.run}号", subject=SUBJECT, division="330106",
        domain=events_pb2.DOMAIN_MARKET_REGULATION, offence_code="CL-140",
        decision=events_pb2.DECISION_PENALTY, fine_fen=500_000, decided_at=now(),
        sensitivity=events_pb2.SENSITIVITY_INTERNAL)
    ack = client.publish_outcome(f"py-{args.run}-outcome", outcome, now())
    say("outcome", event_id=ack.event_id)

    first = client.deliveries(from_cursor=0)
    say("inbox", cursors=[d.cursor for d in first],
        events=[d.event.event_id for d in first if d.HasField("event")])
    if first:
        client.acknowledge(first[0].cursor)
        say("acknowledged", cursor=first[0].cursor)
    client.close()
    # A new connection, as after a restart: it resumes after the acknowledged cursor.
    client = XiezhiClient(args.target, args.ca, args.cert, args.key)
    resumed = client.deliveries()
    say("resumed", cursors=[d.cursor for d in resumed])

    bad = lead("统一社会信用代码校验位错误", events_pb2.Subject(
        kind=events_pb2.SUBJECT_KIND_ORGANIZATION, id="91330106MA2H0Q7W1A", name="某公司"))
    try:
        client.publish_lead(f"py-{args.run}-bad", bad, now())
        say("refused", violations=[])
    except Refused as refused:
        say("refused", code=refused.code.name, violations=refused.violations)

    requests = [services_pb2.PublishStreamRequest(lead=services_pb2.PublishLeadRequest(
        event_id=f"py-{args.run}-stream-{i}", lead=lead(f"批量线索 {i}"), produced_at=now()))
        for i in range(5)]
    answers = list(client.publish_stream(requests))
    say("stream", acked=sum(1 for a in answers if a.HasField("ack")),
        sequences=[a.sequence for a in answers])
    client.close()


if __name__ == "__main__":
    main()
