"""Tests of a `make build` output (marker `build`); skipped unless DATAAPI_BUILD_DIR names one."""
