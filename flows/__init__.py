"""Prefect flows, schedules and the `salvage` command line: composes the domain packages."""
