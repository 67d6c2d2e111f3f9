"""Schemas: named parameterizations of the attestation algorithms (pyipv8 3.2.1's ``SchemaManager``).

A schema name (``id_metadata``, ``id_metadata_range_18plus``...) maps to a dict holding at least the key
``algorithm`` (``bonehexact`` or ``pengbaorange``) and that algorithm's parameters. Algorithms are imported
on first use, as they pull in the big-number arithmetic.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..identity_formats import IdentityAlgorithm

__all__ = ["SchemaManager", "UnknownAlgorithmError", "UnknownSchemaError"]


class UnknownAlgorithmError(RuntimeError):
    """No implementation is known for the algorithm name."""


class UnknownSchemaError(KeyError):
    """No schema is registered under the name."""


class SchemaManager:
    """The registered schemas (:attr:`formats`) and the algorithm classes loaded so far (:attr:`algorithms`).

    It starts empty; :meth:`register_default_schemas` adds the four formats every IPv8 node knows.
    """

    def __init__(self) -> None:
        #: schema name -> ``{"algorithm": name, **parameters}``
        self.formats: dict[str, dict[str, Any]] = {}
        #: algorithm name -> implementation class
        self.algorithms: dict[str, type[IdentityAlgorithm]] = {}

    def get_algorithm_class(self, algorithm_name: str) -> type[IdentityAlgorithm]:
        """The class implementing ``algorithm_name``: ``bonehexact`` (exact values, Boneh et al.) or
        ``pengbaorange`` (range proofs, Peng and Bao).

        :raises UnknownAlgorithmError: for any other name.
        """
        known = self.algorithms.get(algorithm_name)
        if known is not None:
            return known
        if algorithm_name == "bonehexact":
            from ..wallet.bonehexact.algorithm import BonehExactAlgorithm
            algorithm: type[IdentityAlgorithm] = BonehExactAlgorithm
        elif algorithm_name == "pengbaorange":
            from ..wallet.pengbaorange.algorithm import PengBaoRangeAlgorithm
            algorithm = PengBaoRangeAlgorithm
        else:
            raise UnknownAlgorithmError(f"unknown proof algorithm {algorithm_name!r}")
        self.algorithms[algorithm_name] = algorithm
        return algorithm

    def register_schema(self, schema_name: str, algorithm_name: str, parameters: dict[str, Any]) -> None:
        """Register (or replace) ``schema_name`` as ``algorithm_name`` with ``parameters``."""
        schema: dict[str, Any] = {"algorithm": algorithm_name}
        schema.update(parameters)
        self.formats[schema_name] = schema

    def register_default_schemas(self) -> None:
        """Register every format of :mod:`ipv8.attestation.default_identity_formats` (the three exact-match
        sizes ``id_metadata``, ``id_metadata_big``, ``id_metadata_huge`` and the range proof
        ``id_metadata_range_18plus``)."""
        from ..default_identity_formats import FORMATS
        for name, spec in FORMATS.items():
            self.register_schema(name, spec["algorithm"], spec)

    def get_algorithm_instance(self, schema_name: str) -> IdentityAlgorithm:
        """A new algorithm object for the registered schema ``schema_name``.

        :raises UnknownSchemaError: when no such schema is registered.
        """
        schema = self.formats.get(schema_name)
        if schema is None:
            raise UnknownSchemaError(schema_name)
        return self.get_algorithm_class(schema["algorithm"])(schema_name, self.formats)
