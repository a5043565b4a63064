"""``docker-compose.production.yml`` (checked as YAML before it leaves this machine) and the Caddyfile."""

from __future__ import annotations

from pathlib import Path

import jinja2
import yaml

from nyxops.deploy.hostdata import HostData
from nyxops.errors import ConfigError


def render_text(template: Path, data: HostData) -> str:
    """A template with the host data; an undefined name is an error, not an empty string."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template.parent), undefined=jinja2.StrictUndefined, keep_trailing_newline=True
    )
    try:
        return env.get_template(template.name).render(data=data)
    except jinja2.TemplateError as exc:
        raise ConfigError(f"{template}: {exc}") from None


def render(template: Path, data: HostData) -> str:
    text = render_text(template, data)
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"{template} renders invalid YAML{line}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(parsed, dict) or "services" not in parsed:
        raise ConfigError(f"{template} renders YAML without a services: section")
    return text
