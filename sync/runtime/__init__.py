"""What runs on its own: the schedule (scheduler.py, the one module that imports croniter), the push
after each Web Connector session (pusher.py), changing the cutoff before the first push (cutoff.py)
and `paysync status` (status.py). The runtime may import the engine, the QuickBooks side and
Procore; none of them imports the runtime.
"""
