"""The Powertools logger, tracer and metrics every function shares (module scope, created once).

Metrics go out as CloudWatch embedded-metric logs when a handler decorated with
`metrics.log_metrics` returns: rows read and written, statements, and errors by class.
"""

import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger(service="dataapi")
tracer = Tracer(service="dataapi")
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "DataApi"), service="dataapi")


def count(name: str, value: int = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
