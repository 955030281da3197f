"""Print intent accuracy and macro F1 from Rasa's intent_report.json; fail below --min."""

from __future__ import annotations

import argparse
import json
import sys

parser = argparse.ArgumentParser()
parser.add_argument("report")
parser.add_argument("--min", type=float, default=0.90)
args = parser.parse_args()

with open(args.report, encoding="utf-8") as f:
    report = json.load(f)
accuracy = report["accuracy"]
macro_f1 = report["macro avg"]["f1-score"]
print(
    f"NLU held-out evaluation: intent accuracy {accuracy:.1%}, macro F1 {macro_f1:.1%} "
    f"(support {report['macro avg']['support']})"
)
worst = sorted((v["f1-score"], k) for k, v in report.items() if isinstance(v, dict) and "confused_with" in v)[:3]
print("weakest intents: " + ", ".join(f"{k} {f:.1%}" for f, k in worst))
if min(accuracy, macro_f1) < args.min:
    print(f"FAILED: below {args.min:.0%}", file=sys.stderr)
    sys.exit(1)
