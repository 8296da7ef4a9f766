"""Turns a pydantic config model into the JSON schema Airbyte's UI renders."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    # The Airbyte UI does not follow $ref, so every definition is inlined.
    if isinstance(node, dict):
        if "$ref" in node:
            target = defs[node["$ref"].split("/")[-1]]
            return {**_inline_refs(target, defs), **{k: v for k, v in node.items() if k != "$ref"}}
        return {key: _inline_refs(value, defs) for key, value in node.items() if key != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(item, defs) for item in node]
    return node


def _tidy(node: Any) -> Any:
    """anyOf -> oneOf for unions, no null branches, no null defaults, no pydantic discriminator."""
    if isinstance(node, dict):
        node = {key: _tidy(value) for key, value in node.items() if key != "discriminator"}
        if "anyOf" in node:
            branches = [b for b in node.pop("anyOf") if b.get("type") != "null"]
            if len(branches) == 1:
                node = {**branches[0], **node}
            else:
                node["oneOf"] = branches
                node["type"] = "object"
        if "default" in node and node["default"] is None:
            del node["default"]
        return node
    if isinstance(node, list):
        return [_tidy(item) for item in node]
    return node


def airbyte_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema = _tidy(_inline_refs(schema, schema.get("$defs", {})))
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    schema["additionalProperties"] = True
    return schema
