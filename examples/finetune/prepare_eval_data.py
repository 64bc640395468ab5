"""Writes the data files the example jobs read, from a folder of the public evaluation sets (not shipped).

    .venv/bin/python examples/finetune/prepare_eval_data.py --shared PATH/TO/eval [--out ~/llmapp-examples/data]

--shared holds sst2/train.tsv, chnsenticorp/{train,dev}.tsv and cmrc2018/cmrc2018_trial.json. The output goes
to ~/llmapp-examples/data by default, where the example jobs read it (never into the repository).

sst2_train.tsv: the first 2,000 rows of GLUE SST-2 train; sst2_val.tsv: its last 1,000 rows (disjoint), our
validation split. chnsenticorp_train.tsv: the first 2,000 rows of ChnSentiCorp train (the SmolLM2 comparison);
chnsenticorp_train_full.tsv: all 9,600 (the e5-small example); dev.tsv is used as is.
kbqa_train.jsonl / kbqa_val.jsonl: 300 / 100 question-answer pairs from the CMRC 2018 trial set, each question
asked with the passage it comes from (a window of 120 characters around the answer), as a retrieval chain
would ask it: chat `messages` for the causal SFT job (kbqa-sft.yaml). Passages of the two files do not overlap.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

SFT_TRAIN, SFT_VAL, WINDOW = 300, 100, 120
DEFAULT_OUT = Path("~/llmapp-examples/data")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", type=Path, required=True,
                        help="Folder with sst2/, chnsenticorp/ and cmrc2018/ (e.g. ../shared/eval)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"Where to write (default {DEFAULT_OUT})")
    args = parser.parse_args()
    args.shared, args.out = args.shared.expanduser(), args.out.expanduser()
    if not (args.shared / "sst2" / "train.tsv").is_file():
        raise SystemExit(f"{args.shared} has no sst2/train.tsv: give the folder of the evaluation sets")
    args.out.mkdir(parents=True, exist_ok=True)
    sst2 = (args.shared / "sst2" / "train.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
    (args.out / "sst2_train.tsv").write_text("".join(sst2[:2001]), encoding="utf-8")
    (args.out / "sst2_val.tsv").write_text(sst2[0] + "".join(sst2[-1000:]), encoding="utf-8")
    chn = (args.shared / "chnsenticorp" / "train.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
    (args.out / "chnsenticorp_train.tsv").write_text("".join(chn[:2001]), encoding="utf-8")
    (args.out / "chnsenticorp_train_full.tsv").write_text("".join(chn), encoding="utf-8")
    shutil.copyfile(args.shared / "chnsenticorp" / "dev.tsv", args.out / "chnsenticorp_dev.tsv")
    write_kbqa(args.shared / "cmrc2018" / "cmrc2018_trial.json", args.out)


def write_kbqa(squad: Path, out: Path) -> None:
    """CMRC questions with their passage window -> chat messages; split by article so passages never repeat."""
    articles = json.loads(squad.read_text(encoding="utf-8"))["data"]
    pairs: list[list[dict[str, str]]] = []
    for article in articles:
        group = []
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                answer = qa["answers"][0]
                start = max(0, answer["answer_start"] - WINDOW // 2)
                passage = context[start : start + WINDOW]
                if answer["text"] not in passage:
                    continue
                group.append([
                    {"role": "user", "content": f"资料：{passage}\n问题：{qa['question']}"},
                    {"role": "assistant", "content": answer["text"]},
                ])
        pairs.append(group)  # type: ignore[arg-type]
    train = [m for group in pairs[: len(pairs) * 3 // 4] for m in group][:SFT_TRAIN]
    val = [m for group in pairs[len(pairs) * 3 // 4 :] for m in group][:SFT_VAL]
    for name, rows in (("kbqa_train.jsonl", train), ("kbqa_val.jsonl", val)):
        with open(out / name, "w", encoding="utf-8") as handle:
            for messages in rows:
                handle.write(json.dumps({"messages": messages}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
