"""Read content packs from YAML into a :class:`~content.models.Library`.

Content is written by programme staff, not programmers, so every failure names the file
and the place in it (``faq.yaml: faq[3].answer.en: ...``) instead of surfacing a YAML or
pydantic traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from content.models import FaqEntry, Library, Pack, Quiz, Topic

PACKS_DIR = Path(__file__).resolve().parent / "packs"

PACK_FILE = "pack.yaml"
# Optional files: a pack may hold only some kinds of content (e.g. a city's extra FAQ).
TOPICS_FILE = "topics.yaml"
FAQ_FILE = "faq.yaml"
QUIZ_FILE = "quiz.yaml"


class ContentError(Exception):
    """A pack cannot be loaded; ``path`` is the offending file or directory."""

    def __init__(self, path: Path | str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = Path(path)
        self.message = message


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys.

    Plain YAML keeps the last of two ``en:`` keys without a word, silently dropping a
    translation; for content that is always a mistake.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _File(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _TopicsFile(_File):
    topics: tuple[Topic, ...] = ()


class _FaqFile(_File):
    faq: tuple[FaqEntry, ...] = ()


class _QuizFile(_File):
    quizzes: tuple[Quiz, ...] = ()


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContentError(path, f"cannot read file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ContentError(path, "file is not valid UTF-8") from None
    try:
        data = yaml.load(raw, Loader=_UniqueKeyLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ContentError(path, f"invalid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ContentError(path, f"expected a mapping at the top, got {type(data).__name__}")
    return data


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _describe(exc: ValidationError, limit: int = 5) -> str:
    errors = exc.errors(include_url=False)
    lines = [f"{_where(tuple(e['loc']))}: {e['msg']}" for e in errors[:limit]]
    if len(errors) > limit:
        lines.append(f"... and {len(errors) - limit} more")
    return "; ".join(lines)


def _validate(model: type[BaseModel], data: dict[str, Any], path: Path) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ContentError(path, _describe(exc)) from None


def load_pack(directory: Path) -> Pack:
    """Load one pack directory; its ``id`` must equal the directory name."""
    pack_path = directory / PACK_FILE
    if not pack_path.is_file():
        raise ContentError(directory, f"not a content pack: {PACK_FILE} is missing")
    data = _read_yaml(pack_path)
    for key in ("topics", "faq", "quizzes"):
        if key in data:
            raise ContentError(pack_path, f"{key!r} belongs in its own file, not {PACK_FILE}")
    sources = data.get("sources")
    first = sources[0] if isinstance(sources, list) and sources else None
    # Without a readable first source there is no default; validation says why.
    default = first.get("id") if isinstance(first, dict) else None
    _default_source(data, default, ("areas", None), ("service_types", None))
    # Validate pack.yaml alone first so its errors point at pack.yaml.
    _validate(Pack, data, pack_path)

    topics: _TopicsFile = _optional(
        directory / TOPICS_FILE, _TopicsFile, default, ("topics", "lessons")
    )
    faq: _FaqFile = _optional(directory / FAQ_FILE, _FaqFile, default, ("faq", None))
    quiz: _QuizFile = _optional(
        directory / QUIZ_FILE, _QuizFile, default, ("quizzes", "questions")
    )
    pack: Pack = _validate(
        Pack,
        {**data, "topics": topics.topics, "faq": faq.faq, "quizzes": quiz.quizzes},
        pack_path,
    )
    if pack.id != directory.name:
        raise ContentError(
            pack_path, f"pack id {pack.id!r} must match its directory name {directory.name!r}"
        )
    return pack


def _optional(
    path: Path, model: type[BaseModel], default: str | None, where: tuple[str, str | None]
) -> Any:
    if not path.exists():
        return model()
    data = _read_yaml(path)
    _default_source(data, default, where)
    return _validate(model, data, path)


def _default_source(data: dict[str, Any], default: str | None, *where: tuple[str, str | None]) -> None:
    """Items that name no ``source`` cite the pack's first one. ``where`` is (list key,
    nested list key): ``("faq", None)`` for the entries themselves, ``("topics",
    "lessons")`` for each topic's lessons. Anything not shaped as expected is left for
    validation to report."""
    if not isinstance(default, str):
        return
    for key, nested in where:
        for item in data.get(key) or ():
            if not isinstance(item, dict):
                continue
            targets = item.get(nested) if nested else [item]
            for target in targets if isinstance(targets, list) else ():
                if isinstance(target, dict):
                    target.setdefault("source", default)


def load_library(root: Path | None = None) -> Library:
    """Load every pack under ``root`` (default: ``content/packs``), in name order.

    Each non-hidden sub-directory is a pack. Name order makes the menu order stable
    across machines; prefix directories with a number if a pack must come first.
    """
    root = Path(root) if root is not None else PACKS_DIR
    if not root.is_dir():
        raise ContentError(root, "content directory does not exist")
    dirs = sorted(
        p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
    )
    return Library(packs=tuple(load_pack(d) for d in dirs))
