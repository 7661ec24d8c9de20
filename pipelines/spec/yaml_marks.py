"""YAML loading that remembers where every key and value stands (file:line:column)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from pipelines.errors import SpecError, SpecIssue


class Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false are booleans, so `OFF`, `no` and `y` stay strings."""


Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"] for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


class Located:
    """A parsed YAML document plus its node tree, to turn a key path into a line and column."""

    def __init__(self, path: Path, display: str) -> None:
        self.path = path
        self.display = display
        text = path.read_text(encoding="utf-8")
        try:
            self.node = yaml.compose(text, Loader=Loader)
            self.data: Any = yaml.load(text, Loader=Loader)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            problem = getattr(e, "problem", None) or str(e)
            raise SpecError(
                [
                    SpecIssue(
                        file=display,
                        line=mark.line + 1 if mark else None,
                        column=mark.column + 1 if mark else None,
                        key_path="",
                        message=f"not valid YAML: {problem}",
                        hint="check indentation and quoting around this place",
                    )
                ]
            ) from None

    def locate(self, loc: tuple[Any, ...], *, at_key: bool = False) -> tuple[int | None, int | None]:
        """Line and column (1-based) of the value at `loc`; parts that are not in the document are skipped.

        With `at_key`, the last part names a mapping key and its key node is located instead.
        """
        node = self.node
        if node is None:
            return None, None
        best = node
        for i, part in enumerate(loc):
            last = i == len(loc) - 1
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if k.value == part:
                        node = k if (last and at_key) else v
                        best = node
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                node = node.value[part]
                best = node
        return best.start_mark.line + 1, best.start_mark.column + 1
