"""nyxops: the operations toolkit of the nyxcore stack."""

__version__ = "0.1.0"
