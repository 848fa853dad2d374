"""Fail unless every module is covered >= 95 % and config_flow.py fully."""

from __future__ import annotations

import json
from pathlib import Path
import sys

MINIMUM = 95.0
FULL = {"custom_components/prepaid_sim/config_flow.py"}


def main() -> int:
    """Check the per-file percentages of a coverage JSON report."""
    report = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    failures = []
    for path, data in sorted(report["files"].items()):
        percent = data["summary"]["percent_covered"]
        needed = 100.0 if path in FULL else MINIMUM
        if percent < needed:
            failures.append(f"{path}: {percent:.1f} % < {needed:.0f} %")
    for failure in failures:
        print(f"coverage too low: {failure}")
    if not failures:
        print(f"coverage: {len(report['files'])} modules, each >= {MINIMUM:.0f} %")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
