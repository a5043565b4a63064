"""pyinfra inventory (see deploys/)."""
