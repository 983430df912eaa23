#!/usr/bin/env python3
"""Writes a synthetic 行政处罚决定公示 ledger (CSV, UTF-8) for `xiezhi import`: made-up names,
identifiers whose check characters are valid (GB 32100 credit codes, GB 11643 identity
numbers), amounts in 元, decisions of the past years.

    python3 deploy/examples/make_ledger.py 50 > deploy/examples/ledger-sample.csv
    python3 deploy/examples/make_ledger.py 1000000 > /tmp/ledger-1m.csv   # the speed test
"""
import csv
import random
import sys
from datetime import date, timedelta

USCC = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_W = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
ID_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
ID_CHECK = "10X98765432"
OFFENCES = [
    ("销售不符合食品安全标准的食品", "《中华人民共和国食品安全法》第一百二十四条"),
    ("食品标签存在瑕疵", "《中华人民共和国食品安全法》第一百二十五条第二款"),
    ("未按规定明码标价", "《明码标价和禁止价格欺诈规定》第二十一条"),
    ("生产销售不合格产品", "《中华人民共和国产品质量法》第四十九条"),
    ("虚假宣传", "《中华人民共和国反不正当竞争法》第二十条"),
]
SURNAMES = "王李张刘陈杨黄赵吴周"
TRADES = ["食品", "商贸", "电子", "建材", "餐饮", "科技", "服装", "百货"]


def uscc(n):
    body = f"91330106{n:09d}"
    total = sum(USCC.index(c) * w for c, w in zip(body, USCC_W))
    return body + USCC[(31 - total % 31) % 31]


def resident(n):
    born = date(1960, 1, 1) + timedelta(days=n % 15000)
    body = f"330106{born:%Y%m%d}{n % 1000:03d}"
    return body + ID_CHECK[sum(int(c) * w for c, w in zip(body, ID_W)) % 11]


def main():
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    rng = random.Random(2026)
    out = csv.writer(sys.stdout)
    out.writerow(["决定书文号", "当事人名称", "统一社会信用代码", "违法行为", "处罚依据", "处罚内容",
                  "罚款金额", "决定日期", "处罚机关"])
    for i in range(rows):
        offence, basis = OFFENCES[rng.randrange(len(OFFENCES))]
        decided = date(2017, 1, 1) + timedelta(days=rng.randrange(3000))
        if rng.random() < 0.2:
            name, ident = SURNAMES[rng.randrange(10)] + "某某", resident(rng.randrange(10**6))
        else:
            n = rng.randrange(10**6)
            name, ident = f"杭州示例{TRADES[n % len(TRADES)]}{n}有限公司", uscc(n)
        fine = rng.randrange(1, 2000) * 100
        out.writerow([f"杭西市监罚〔{decided.year}〕{i + 1}号", name, ident, offence, basis,
                      f"罚款{fine}元", fine, decided.isoformat(), "西湖区市场监督管理局"])


if __name__ == "__main__":
    main()
