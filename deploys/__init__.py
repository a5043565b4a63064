"""The nyxcore production deploy: ``pyinfra inventory.py deploys/prod.py``."""
