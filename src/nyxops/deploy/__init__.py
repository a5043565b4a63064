"""The deploy engine: host data, secrets, the compose file, and custom pyinfra facts and operations.

It lives in the package (tests import it); ``deploys/`` holds only the thin pyinfra stages.
"""
