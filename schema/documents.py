"""Checks the trusted-documents manifest (the operations shipped clients send) against the
schema: every document must validate, and no breaking change since the released schema may
touch a type or field a document uses. `quire check-documents` runs it; so does CI.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

from graphql import (
    FieldNode,
    GraphQLSchema,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    build_schema,
    find_breaking_changes,
    get_named_type,
    parse,
    validate,
    visit,
)
from graphql.language import ArgumentNode, VariableDefinitionNode
from graphql.utilities import type_from_ast

from resolvers.persisted import load_manifest

SCHEMA_DIR = Path(__file__).parent
MANIFEST = SCHEMA_DIR / "trusted-documents.json"
RELEASED_SCHEMA = SCHEMA_DIR / "released.graphql"


@dataclass
class Usage:
    """The schema coordinates a set of documents depends on."""

    types: set[str] = field(default_factory=set)
    fields: set[str] = field(default_factory=set)  # "Type.field"


class _Collector(Visitor):
    def __init__(self, schema: GraphQLSchema, type_info: TypeInfo, usage: Usage) -> None:
        super().__init__()
        self.schema, self.type_info, self.usage = schema, type_info, usage

    def enter_field(self, node: FieldNode, *_args: object) -> None:
        parent = self.type_info.get_parent_type()
        definition = self.type_info.get_field_def()
        if parent is not None:
            self.usage.types.add(parent.name)
            self.usage.fields.add(f"{parent.name}.{node.name.value}")
        if definition is not None:
            self.usage.types.add(get_named_type(definition.type).name)

    def enter_argument(self, _node: ArgumentNode, *_args: object) -> None:
        argument = self.type_info.get_argument()
        if argument is not None:
            self.usage.types.add(get_named_type(argument.type).name)

    def enter_variable_definition(self, node: VariableDefinitionNode, *_args: object) -> None:
        declared = type_from_ast(self.schema, node.type)
        if declared is not None:
            self.usage.types.add(get_named_type(declared).name)


def usage_of(schema: GraphQLSchema, documents: dict[str, str]) -> Usage:
    usage = Usage()
    for document in documents.values():
        type_info = TypeInfo(schema)
        visit(parse(document), TypeInfoVisitor(type_info, _Collector(schema, type_info, usage)))
    return usage


def _touches(description: str, usage: Usage) -> bool:
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?", description))
    return bool(words & usage.fields) or bool(words & usage.types)


@dataclass
class Report:
    invalid: list[str] = field(default_factory=list)
    breaking: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.invalid or self.breaking)


def check_documents(
    schema: GraphQLSchema, documents: dict[str, str], released: GraphQLSchema | None = None
) -> Report:
    """Validates every document against `schema`; with `released`, also lists the breaking
    changes from `released` to `schema` that touch what the documents use."""
    report = Report()
    for sha256, document in documents.items():
        for error in validate(schema, parse(document)):
            report.invalid.append(f"{sha256[:12]}: {error.message}")
    if released is not None:
        usage = usage_of(released, documents)
        for change in find_breaking_changes(released, schema):
            if _touches(change.description, usage):
                report.breaking.append(f"{change.type.name}: {change.description}")
    return report


def check_manifest(
    schema: GraphQLSchema, manifest: Path = MANIFEST, released: Path | None = RELEASED_SCHEMA
) -> Report:
    baseline = build_schema(released.read_text()) if released and released.exists() else None
    return check_documents(schema, load_manifest(manifest), baseline)
