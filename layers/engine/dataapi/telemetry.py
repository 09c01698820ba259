"""The Powertools logger and tracer every function shares (module scope, created once)."""

from aws_lambda_powertools import Logger, Tracer

logger = Logger(service="dataapi")
tracer = Tracer(service="dataapi")
