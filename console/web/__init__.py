"""`paysync web`: the console in a browser. server.py serves it (textual-serve, one console process
per browser connection); auth.py decides who may open it."""
