"""What runs on its own: the one `Runtime` that `paysync serve` and the console both run
(runtime.py: the schedule lease, the scheduler, the scheduled job, the Web Connector endpoint and the
push after each session; its events in events.py), the schedule (scheduler.py, the one module that
imports croniter), the runtime's pushes (pusher.py), changing the cutoff before the first push
(cutoff.py) and `paysync status` (status.py). The runtime may import the engine, the QuickBooks side
and Procore; none of them imports the runtime.
"""
