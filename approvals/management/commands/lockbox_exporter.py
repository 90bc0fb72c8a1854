import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from prometheus_client import CollectorRegistry, start_http_server

from approvals.monitoring import DatabaseCollector
from lockbox_portal import metrics_listener


class Command(BaseCommand):
    help = ("Serve the gauges read from the database (pending requests, outbox, checkpoints, "
            "verification, replica lag) to Prometheus on LOCKBOX_METRICS_ADDR:"
            "LOCKBOX_METRICS_PORT. Run one per deployment.")

    def handle(self, *args, **options):
        where = metrics_listener.address()
        if where is None:
            raise CommandError("Set LOCKBOX_METRICS_PORT (and LOCKBOX_METRICS_ADDR) for the "
                               "exporter to listen on.")
        registry = CollectorRegistry()
        registry.register(DatabaseCollector(settings.LOCKBOX_EXPORTER_TIMEOUT))
        server, thread = start_http_server(where[1], addr=where[0], registry=registry)
        stopping = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopping.set())
        self.stdout.write(f"lockbox_exporter: listening on {where[0]}:{where[1]}")
        self.stdout.flush()
        stopping.wait()
        server.shutdown()
        thread.join(5)
