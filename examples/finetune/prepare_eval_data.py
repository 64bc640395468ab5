"""Writes the data files the example jobs read, from the evaluation sets in ../shared/eval (not shipped).

    .venv/bin/python examples/finetune/prepare_eval_data.py [--shared ../shared/eval] [--out runs/data]

sst2_train.tsv: the first 2,000 rows of GLUE SST-2 train; sst2_val.tsv: its last 1,000 rows (disjoint), our
validation split. chnsenticorp_train.tsv: the first 2,000 rows of ChnSentiCorp train; dev.tsv is used as is.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", type=Path, default=Path("../shared/eval"))
    parser.add_argument("--out", type=Path, default=Path("runs/data"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sst2 = (args.shared / "sst2" / "train.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
    (args.out / "sst2_train.tsv").write_text("".join(sst2[:2001]), encoding="utf-8")
    (args.out / "sst2_val.tsv").write_text(sst2[0] + "".join(sst2[-1000:]), encoding="utf-8")
    chn = (args.shared / "chnsenticorp" / "train.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
    (args.out / "chnsenticorp_train.tsv").write_text("".join(chn[:2001]), encoding="utf-8")
    shutil.copyfile(args.shared / "chnsenticorp" / "dev.tsv", args.out / "chnsenticorp_dev.tsv")


if __name__ == "__main__":
    main()
