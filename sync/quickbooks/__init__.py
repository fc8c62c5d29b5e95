"""The QuickBooks side: qbXML (qbxml/), the Web Connector endpoint (webconnector/), one step class
per kind of QuickBooks query (steps/), storing what QuickBooks sent (ingest.py, watermarks.py,
cutoff.py, company_file.py) and the work queue the Web Connector's polls drain (workqueue.py).
Nothing here imports the engine, Procore or the runtime.
"""
