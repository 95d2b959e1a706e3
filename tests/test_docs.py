"""The user guide's troubleshooting page covers every error a user can meet.

Two checks, both read from the source so a new error cannot slip past the guide:
- every exception class nbvideo defines that reaches users is named on the page (and every
  other one is listed here as internal, with the reason);
- every message template raised with such a class (the constant text of the message at each
  `raise` site, its export checks, package limits and routing warning) appears on the page.
The guide's build and its code examples run in `make test` too (`make docs-check`).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import typing
from pathlib import Path

import pytest

import nbvideo
from nbvideo.errors import NbvideoError

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "nbvideo"
PAGE = ROOT / "docs" / "troubleshooting.md"

# Exceptions that reach a user although they are not NbvideoErrors: none. Every error a user
# can meet is an NbvideoError (ffmpeg's failures are RenderFailed, a cancel is Canceled).
ALSO_USER_FACING: set[str] = set()
# Exceptions that never leave nbvideo, and why. Internal ones are underscore-named
# (_HTTPStatus, _Unusable, _SmartUnsupported), which the scan skips; tests/test_errors.py
# drives each and checks that what escapes is an NbvideoError.
INTERNAL: dict[str, str] = {
    "WebhookRefused": "the Jupyter server extension answers it to Replicate's webhook sender as "
                      "an HTTP status; it never reaches a notebook",
}
# Lookups that raise KeyError or IndexError here reach users as InvalidInput with the same
# text (`InvalidInput(str(exc.args[0]))` at the call site), so their messages count too.
PASSED_THROUGH = {"nbvideo/model/state.py": {"KeyError", "IndexError"},
                  "nbvideo/campaign/models.py": {"KeyError"}}
# A message fragment must be at least this long to say something (shorter ones are glue
# such as ', got ').
MIN_FRAGMENT = 10


def _modules() -> list[object]:
    mods = []
    for info in pkgutil.walk_packages(nbvideo.__path__, "nbvideo."):
        mods.append(importlib.import_module(info.name))
    return mods


def _exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for mod in _modules():
        for name, obj in vars(mod).items():
            if (inspect.isclass(obj) and issubclass(obj, BaseException)
                    and obj.__module__.startswith("nbvideo") and not name.startswith("_")):
                found[name] = obj
    return found


def _user_facing() -> set[str]:
    return {name for name, cls in _exception_classes().items()
            if issubclass(cls, NbvideoError | Warning) or name in ALSO_USER_FACING}


def _normalize(text: str) -> str:
    return " ".join(text.split())


def _page() -> str:
    return _normalize(PAGE.read_text(encoding="utf-8"))


def _constants(node: ast.AST) -> list[str]:
    """The constant text pieces of a message expression: f-string parts, concatenations,
    conditional branches, and what is passed through a redacting helper."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [v.value for v in node.values
                if isinstance(v, ast.Constant) and isinstance(v.value, str)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _constants(node.left) + _constants(node.right)
    if isinstance(node, ast.IfExp):
        return _constants(node.body) + _constants(node.orelse)
    if isinstance(node, ast.Call) and node.args and _name(node.func) in ("_redact", "redact",
                                                                         "_clean"):
        return _constants(node.args[0])
    return []


def _name(func: ast.AST) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _fragment(node: ast.AST) -> str | None:
    """The longest constant piece of a message, trimmed; None when it has no telling text
    (a message passed through from elsewhere, e.g. `str(exc.args[0])`)."""
    pieces = [_normalize(p).strip(" ;:,.$()") for p in _constants(node)]
    best = max(pieces, key=len, default="")
    return best if len(best) >= MIN_FRAGMENT else None


def _messages() -> list[tuple[str, str, str]]:
    """(where, class or kind, fragment) for every user-facing message template in src/."""
    user = _user_facing()
    out = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            parent = _name(node.func)
            msg: ast.AST | None = None
            if parent in user and node.args or (
                    parent in PASSED_THROUGH.get(rel, ()) and node.args):  # SomeError("...")
                msg = node.args[0]
            elif parent == "warn" and node.args:  # warnings.warn("...", RoutingWarning)
                msg = node.args[0]
            elif parent == "append" and _name(getattr(node.func, "value", None)) == "problems":
                msg = node.args[0]  # package limits: problems.append("...")
            elif parent == "add" and rel.endswith("presets.py") and len(node.args) >= 3:
                msg = node.args[2]  # export checks: add(code, severity, "...")
            elif parent == "Violation":
                msg = next((k.value for k in node.keywords if k.arg == "message"), None)
            if msg is None:
                continue
            frag = _fragment(msg)
            if frag is not None:
                out.append((f"{rel}:{node.lineno}", parent or "", frag))
    return out


def test_every_exception_class_is_classified() -> None:
    """A new exception class must be either user-facing (and then documented) or listed as
    internal with a reason."""
    unclassified = sorted(name for name, cls in _exception_classes().items()
                          if name not in _user_facing() and name not in INTERNAL)
    assert not unclassified, (
        f"exception classes neither user-facing (NbvideoError, Warning) nor in INTERNAL: "
        f"{unclassified}")
    gone = sorted(set(INTERNAL) - set(_exception_classes()))
    assert not gone, f"INTERNAL names classes that no longer exist: {gone}"


def test_troubleshooting_names_every_user_facing_error() -> None:
    page = _page()
    user = _user_facing()
    # The ones the public API exports, and the ones people meet most, must be among them.
    assert {"BudgetExceeded", "MissingKey", "ExportCheckFailed", "PackageCheckFailed",
            "ClipFailed", "TemplateError", "ProjectLocked", "RoutingWarning"} <= user
    missing = sorted(name for name in user if not re.search(rf"\b{name}\b", page))
    assert not missing, f"docs/troubleshooting.md does not mention: {missing}"


def test_troubleshooting_lists_every_message_template() -> None:
    page = _page()
    messages = _messages()
    assert len(messages) > 150, "the scan found too few raise sites; is it still working?"
    missing = [f"{where} ({kind}): {frag!r}" for where, kind, frag in messages
               if frag not in page]
    assert not missing, ("docs/troubleshooting.md lacks these messages (add each with its "
                         "cause and fix):\n" + "\n".join(missing))


def test_troubleshooting_lists_every_export_check_code() -> None:
    from nbvideo.model.presets import Violation

    codes = typing.get_args(Violation.model_fields["code"].annotation)
    assert "too_long" in codes
    page = _page()
    missing = [c for c in codes if f"`{c}`" not in page]
    assert not missing, f"export check codes missing from docs/troubleshooting.md: {missing}"


@pytest.mark.parametrize("fragment", ["no nbvideo project at", "refused before sending",
                                      "is out of range 1", "exports it as it is: the line runs over"])
def test_the_scan_finds_known_messages(fragment: str) -> None:
    """The AST scan itself: messages we know exist are found (so an empty scan cannot pass)."""
    assert any(fragment in frag for _, _, frag in _messages())


def test_mkdocs_config_keeps_the_site_offline() -> None:
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert re.search(r"^\s+font: false\s*$", text, re.M), "Google fonts must stay off"
    assert re.search(r"^strict: true\s*$", text, re.M)
    assert "://" not in re.sub(r"#.*", "", text), "no remote assets in mkdocs.yml"
