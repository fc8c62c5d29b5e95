"""`paysync doctor`: a go-live and health check of what documentation cannot verify (docs/operations.md, "Go-live step").

    check.py        Check (name, verdict ok|warn|fail, why, fix) and running groups of checks so
                    that one failing never stops the others
    local.py        configuration and secrets, the database, the Web Connector, the schedule, the cutoff
    procore.py      Procore: reachable, the token, the company, permissions, Payments Issued enabled,
                    invoices' origin_id, and the stored probe findings
    run.py          run_checks: every group in order; the text and JSON forms
    probes.py       `--probe`: the undocumented behaviours tried once against a named commitment
    (what the probes found is kept by sync/engine/probe_findings.py, which the engine reads)

No textual here: the CLI (console/commands/doctor.py) and the Health screen (console/screens/health.py)
share these checks.
"""
