"""The QuickBooks Web Connector's web service: SOAP over HTTP (app.py, soap.py, wsdl.py), the .qwc
file (qwc.py), and what PaySync answers to each call (service.py and the parts it delegates to)."""
