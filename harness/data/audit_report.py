"""The audit's report: findings with a severity, the checks that ran and those that could not (and why), and the
exit status ``python -m harness audit`` derives from them."""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field


SEVERITIES = ("error", "warning", "info")


@dataclass
class Finding:
    check: str  # class_overlap | label_mismatch | duplicate_video | class_sets | shots | files
    severity: str  # error | warning | info
    dataset: str
    message: str
    details: dict = field(default_factory=dict)


@dataclass
class AuditReport:
    title: str
    findings: list[Finding] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    done: list[str] = field(default_factory=list)  # "check: what" for every check that ran
    not_done: list[dict] = field(default_factory=list)  # {check, dataset, what, why} for every check that could not

    def ran(self, check: str, what: str) -> None:
        self.done.append(f"{check}: {what}")

    def skipped(self, check: str, dataset: str, what: str, why: str) -> None:
        self.not_done.append({"check": check, "dataset": dataset, "what": what, "why": why})

    def add(self, check: str, severity: str, dataset: str, message: str, **details) -> Finding:
        finding = Finding(check, severity, dataset, message, details)
        self.findings.append(finding)
        return finding

    def extend(self, other: "AuditReport") -> None:
        self.findings.extend(other.findings)
        self.done.extend(other.done)
        self.not_done.extend(other.not_done)
        for key, value in other.summary.items():
            if isinstance(value, dict) and isinstance(self.summary.get(key), dict):
                self.summary[key].update(value)
            else:
                self.summary[key] = value

    def counts(self) -> dict[str, int]:
        counter = Counter(f.severity for f in self.findings)
        return {s: counter.get(s, 0) for s in SEVERITIES}

    def select(self, check: str | None = None, severity: str | None = None, dataset: str | None = None) -> list[Finding]:
        return [
            f
            for f in self.findings
            if (check is None or f.check == check)
            and (severity is None or f.severity == severity)
            and (dataset is None or f.dataset == dataset)
        ]

    @property
    def exit_code(self) -> int:
        """0 only when the checks ran and found nothing: a check that could not run is not a clean result."""
        counts = self.counts()
        return 1 if counts["error"] or counts["warning"] or self.not_done or not self.done else 0

    def to_dict(self) -> dict:
        return {
            "title": self.title,
            "counts": self.counts(),
            "exit_code": self.exit_code,
            "checks_done": self.done,
            "checks_not_done": self.not_done,
            "summary": self.summary,
            "findings": [asdict(f) for f in self.findings],
        }

    def to_text(self, verbose: bool = False) -> str:
        lines = [f"Audit: {self.title}"]
        order = {s: i for i, s in enumerate(SEVERITIES)}
        for f in sorted(self.findings, key=lambda f: order[f.severity]):
            if f.severity == "info" and not verbose and f.check in ("shots",):
                continue
            lines.append(f"  {f.severity.upper():7s} {f.check:15s} {f.message}")
        counts = self.counts()
        lines.append(f"Checks done ({len(self.done)}): {'; '.join(self.done) or 'none'}")
        if self.not_done:
            lines.append(f"Checks not done ({len(self.not_done)}):")
            lines += [f"  {d['check']}: {d['what']} — {d['why']}" for d in self.not_done]
        verdict = ("clean" if self.exit_code == 0 else
                   "findings" if counts["error"] or counts["warning"] else "incomplete: not every check ran")
        lines.append(
            f"Summary: {counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info, "
            f"{len(self.done)} check(s) done, {len(self.not_done)} not done ({verdict})"
        )
        return "\n".join(lines)
