#!/usr/bin/env python3
"""Writes a seed corpus for the fuzz targets (fuzz/corpus/<target>/): one valid request of each
kind, a log record, and rule conditions from rules/thresholds.toml, so the fuzzers start from
inputs that get past decoding. Run from the repository root: python3 fuzz/seeds.py"""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def key(number, wire):
    return varint(number << 3 | wire)


def num(number, value):
    return key(number, 0) + varint(value)


def msg(number, body):
    if isinstance(body, str):
        body = body.encode()
    return key(number, 2) + varint(len(body)) + body


def ts(number, seconds):
    return msg(number, num(1, seconds))


PRODUCED = 1_794_900_000  # shortly before the fuzz entry point's fixed "now"
ORG = msg(1, num(1, 1) + msg(2, "91330106MA2H0Q7W1G") + msg(3, "某某食品有限公司"))
PERSON = num(1, 2) + msg(2, "11010519491231002X") + msg(3, "张三")
FACT = msg(1, "sales_fen") + num(2, 6_200_000)

lead = msg(1, "ev-1") + msg(2, "330100-STHJ") + ts(3, PRODUCED) + msg(
    4,
    ORG + msg(2, "330106") + num(3, 1) + msg(4, "CL-140") + msg(5, "销售不合格食品")
    + msg(6, FACT) + ts(7, PRODUCED) + num(8, 2) + msg(9, "330106-GA"),
) + num(5, 2)
outcome = msg(1, "ev-2") + msg(2, "330106-SCJG") + ts(3, PRODUCED) + msg(
    4,
    msg(1, "杭西市监罚〔2026〕1号") + msg(2, PERSON) + msg(3, "330106") + num(4, 1)
    + msg(5, "CL-140") + num(6, 1) + num(7, 12_000_000) + num(8, 350_000) + msg(9, FACT)
    + ts(10, PRODUCED) + msg(11, msg(1, "330100-STHJ") + msg(2, "ev-1"))
    + msg(12, "《产品质量法》第五十条") + num(13, 2) + num(14, 2),
)
documents = b"".join(
    msg(10, msg(1, name) + num(2, kind) + msg(3, "ab" * 32))
    for kind, name in [(1, "移送书"), (2, "调查报告"), (3, "涉案物品清单")]
)
refer = msg(1, "ev-3") + msg(2, "330106-SCJG") + ts(3, PRODUCED) + msg(
    4,
    msg(1, "R-1") + msg(2, "330106-GA") + msg(3, "杭西市监〔2026〕7号") + msg(4, ORG[2:])
    + msg(5, "330106") + num(6, 11) + msg(7, "CL-140") + msg(8, "销售金额达六万元")
    + msg(9, FACT) + documents,
)
update = msg(1, "ev-4") + msg(2, "330106-GA") + ts(3, PRODUCED) + msg(
    4, msg(1, "330106-SCJG") + msg(2, "R-1") + num(3, 4) + msg(4, "已接收")
)

corpora = {
    "publish_request": [bytes([i]) + body for i, body in enumerate([lead, outcome, refer, update])],
    "log_record": [
        '{"event_id":"ev-1","producer":"330106-SCJG","produced_at":"2026-11-27T08:00:00Z",'
        '"schema_version":1,"payload":{"kind":"lead","body":{"subject":{"kind":"organization",'
        '"id":"91330106MA2H0Q7W1G","name":"某某食品有限公司"},"division":"330106",'
        '"domain":"ecology_environment","offence_code":"CL-338","summary":"夜间偷排含铅废水",'
        '"facts":{"hazardous_waste_kg":3200},"observed_at":null,"sensitivity":"internal",'
        '"target_agencies":[]}}}'.encode()
    ],
    "rule_condition": [
        line.encode()
        for line in re.findall(r'^condition = "(.*)"$', (ROOT.parent / "rules/thresholds.toml").read_text(), re.M)
    ],
}
for target, seeds in corpora.items():
    directory = ROOT / "corpus" / target
    directory.mkdir(parents=True, exist_ok=True)
    for n, seed in enumerate(seeds):
        (directory / f"seed-{n}").write_bytes(seed)
    print(f"{target}: {len(seeds)} seeds in {directory}")
