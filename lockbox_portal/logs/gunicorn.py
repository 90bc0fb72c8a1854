"""gunicorn's logger (`logger_class` in gunicorn.conf.py): its error log as configured by
`config.gunicorn_config`; its access log only where `--access-logfile` sends it, never into the
app's stream, where the app's own access line (with request id and user) already is."""

from __future__ import annotations

from typing import Any

from gunicorn import glogging


class GunicornLogger(glogging.Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        self.access_log.propagate = False
