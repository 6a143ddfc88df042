"""What the validator found: one ``Finding`` per problem, naming the shard, row and key; a ``Report`` of them.

The report reads two ways: ``text()`` for a person (grouped, long groups shortened) and ``to_dict()`` for
machines (every finding).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Optional

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    code: str
    message: str
    severity: Severity = "error"
    shard: Optional[str] = None
    row: Optional[int] = None
    key: Optional[str] = None

    def line(self) -> str:
        where = [self.shard, None if self.row is None else f"row {self.row}", self.key and f"key {self.key}"]
        place = ", ".join(w for w in where if w)
        return f"{self.severity.upper()} {self.code}: " + (f"{place}: " if place else "") + self.message


@dataclass
class Report:
    source: str
    findings: list[Finding] = field(default_factory=list)
    shards: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    summary: dict[str, dict[str, Any]] = field(default_factory=dict)  # distributions, e.g. clip_score

    def add(self, code: str, message: str, severity: Severity = "error", shard: Optional[str] = None,
            row: Optional[int] = None, key: Optional[str] = None) -> None:
        self.findings.append(Finding(code, message, severity, shard, row, key))

    @property
    def errors(self) -> int:
        return sum(f.severity == "error" for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.severity == "warning" for f in self.findings)

    @property
    def ok(self) -> bool:
        return self.errors == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "ok": self.ok,
            "errors": self.errors,
            "warnings": self.warnings,
            "shards": self.shards,
            "rows": self.rows,
            "summary": self.summary,
            "findings": [asdict(f) for f in self.findings],
        }

    def text(self, per_code: int = 10) -> str:
        """The report for a person: a summary line, then at most ``per_code`` findings of each kind."""
        rows = ", ".join(f"{n} {name}" for name, n in self.rows.items()) or "no rows"
        verdict = "OK" if self.ok else "INVALID"
        lines = [f"{self.source}: {verdict}: {self.shards} shards ({rows}); "
                 f"{self.errors} errors, {self.warnings} warnings"]
        for name, values in self.summary.items():
            lines.append(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in values.items()))
        shown: Counter = Counter()
        totals = Counter(f.code for f in self.findings)
        for finding in self.findings:
            shown[finding.code] += 1
            if shown[finding.code] <= per_code:
                lines.append("  " + finding.line())
            elif shown[finding.code] == totals[finding.code]:
                lines.append(f"  ... {totals[finding.code] - per_code} more {finding.code} (all with --json)")
        return "\n".join(lines)
