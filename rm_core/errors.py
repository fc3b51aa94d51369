"""Errors users act on: each message names the file, row or field and what was expected."""


class RmPipelineError(Exception):
    """Base of every error rm_core raises on purpose."""


class SourceError(RmPipelineError):
    """A data source cannot be read as configured (missing file, wrong columns, ...)."""


class SourceUnavailable(SourceError):
    """A remote source could not be reached or loaded: worth retrying later."""


class DataQualityError(RmPipelineError):
    """Too many rows failed validation; the bad rows were kept in quarantine."""


class ConfigError(RmPipelineError):
    """An experiment config is invalid."""


class ModelError(RmPipelineError):
    """A model could not be located, downloaded, converted or built."""


class RayUnavailable(RmPipelineError):
    """The Ray cluster (its dashboard/job API) could not be reached: worth retrying later."""
