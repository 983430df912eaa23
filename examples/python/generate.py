#!/usr/bin/env python3
"""Generates the Python stubs of Xiezhi's API from the project's own proto/ into gen/ (no copied
.proto files): `python generate.py`. Needs grpcio-tools (requirements.txt)."""
import pathlib
import sys

from grpc_tools import protoc
import grpc_tools

HERE = pathlib.Path(__file__).resolve().parent
PROTO = HERE.parent.parent / "proto"
OUT = HERE / "gen"


def main():
    OUT.mkdir(exist_ok=True)
    files = sorted(str(p.relative_to(PROTO)) for p in (PROTO / "xiezhi" / "v1").glob("*.proto"))
    include = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    code = protoc.main(["protoc", f"-I{PROTO}", f"-I{include}", f"--python_out={OUT}",
                        f"--grpc_python_out={OUT}", *files])
    if code != 0:
        sys.exit(f"protoc failed ({code})")
    print(f"generated {len(files)} files' stubs into {OUT}")


if __name__ == "__main__":
    main()
