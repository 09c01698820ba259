"""The data API's shared layer: models, the query/mutation engine, DB access and errors."""
