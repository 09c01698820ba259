"""The logger, tracer and metrics every function shares (module scope, created once).

Powertools' Logger and Metrics; the tracer is dataapi.tracing's (X-Ray subsegments without the
X-Ray SDK, which would add about 0.2 s to every cold start). Metrics go out as CloudWatch
embedded-metric logs when a handler decorated with `metrics.log_metrics` returns: rows read and written, statements, and errors by class.
"""

import os

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from dataapi.tracing import Tracer

logger = Logger(service="dataapi")
tracer = Tracer(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "dataapi"))
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "DataApi"), service="dataapi")


def count(name: str, value: int = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
