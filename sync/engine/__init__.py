"""The sync engine: match -> plan -> apply (journaled). See docs/sync-engine.md.

- snapshot.py  one read of everything the plan needs, as plain rows
- matching.py  which Procore invoice a QuickBooks bill belongs to (DESIGN rule 7)
- desired.py   what each Procore payment should say (DESIGN rule 3)
- plan.py      compute_plan(): create / update / void / flag_deleted / skip, writing nothing
- journal.py   the intent journal of Procore writes and how open intents are resolved (rule 4)
- apply.py     carrying out the plan; unlock_patch_relock() (rule 5); retract
- lease.py     one push at a time across threads and processes

sync/service.py (SyncService) is the facade the CLI, `paysync serve` and the console use.
"""
