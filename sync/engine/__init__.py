"""The sync engine: match -> plan -> apply (journaled). See docs/sync-engine.md.

- snapshot.py  one read of everything the plan needs, as rows read by column name
- matching.py  which Procore invoice a QuickBooks bill belongs to (DESIGN rule 7)
- desired.py   what each Procore payment should say (DESIGN rule 3); PROCORE_FIELDS, the fields
               PaySync owns and which of them Procore does not echo back
- currency.py  a payment is posted only in its commitment's currency (rule 10)
- plan.py      compute_plan(): create / update / void / flag_deleted / skip, writing nothing
- listings.py  a commitment's Payments Issued, listed at most once per contract per run
- journal.py   the intent journal: every Procore write, journaled (rule 4)
- resolve.py   open intents settled against Procore at the start of every push
- erp_lock.py  unlock_patch_relock() and retract(): changing a synced payment (rule 5)
- apply.py     carrying out the plan, item by item
- summary.py   what a push and a sync did
- runs.py      every sync on record (SyncRun), including the ones that could not start
- service.py   SyncService, the facade the CLI, `paysync serve` and the console use
- bills.py     a QuickBooks bill as PaySync read it, and its vendor in Procore (for the two below)
- suggestions.py  suggested invoices for bills matching cannot place, ranked with their reasons
- mappings.py  the mappings a person confirms (`paysync map` / `unmap`): checked, stored, audited

The engine never imports the runtime (sync/runtime), which runs it.
"""
