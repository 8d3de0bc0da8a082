"""`panel doctor`: can this machine run a panel, on which backend, and if not, what to do.

Each backend's checks live with its registry entry (panel.backends.registry); this module picks
the backend a panel would use, as `--backend auto` would, and concludes.
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from panel.backends.registry import AUTO_CANDIDATES, AUTO_FALLBACK, Check, Findings, get_spec
from panel.records.personas import load_personas
from panel.settings import Settings

__all__ = ["Check", "DoctorReport", "diagnose", "diagnose_async"]


class DoctorReport(BaseModel):
    """The checklist and its conclusion: the backend a panel would use, and whether it can run."""

    backend: str
    ready: bool
    summary: str
    checks: list[Check]


async def run_checks(name: str, settings: Settings, models: dict[str, str]) -> Findings:
    return await get_spec(name).doctor(settings, models)


def report_for(name: str, findings: Findings, checks: list[Check], note: str = "") -> DoctorReport:
    return DoctorReport(backend=name, ready=findings.ready, summary=findings.summary + note, checks=checks)


async def diagnose_async(settings: Settings) -> DoctorReport:
    personas = load_personas(settings.personas_dir)
    models = {lp.persona.id: settings.model_for(lp.persona.id, lp.persona.model) for lp in personas}
    if settings.backend != "auto":
        findings = await run_checks(settings.backend, settings, models)
        return report_for(settings.backend, findings, findings.checks)
    checks: list[Check] = []
    tried = []
    for name in AUTO_CANDIDATES:
        findings = await run_checks(name, settings, models)
        checks += findings.checks
        if findings.reachable:
            return report_for(name, findings, checks)
        tried.append(get_spec(name).label)
    fallback = await run_checks(AUTO_FALLBACK, settings, models)
    note = f" ({' or '.join(tried)} did not answer at {settings.host}.)"
    return report_for(AUTO_FALLBACK, fallback, checks + fallback.checks, note)


def diagnose(settings: Settings) -> DoctorReport:
    """Run every check; the report says whether the backend a panel would use can run it."""
    return asyncio.run(diagnose_async(settings))
