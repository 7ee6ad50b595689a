"""The layering, read from the source (ast, nothing is imported): each package imports only itself and the layers
below it, and imports sit at the top of a module unless deferring one is worth a written reason.

  entry scripts, bench/, scripts/, tests/      anything
  training/ (training + evaluation)  stream/ (the live system)      beside each other, never each other
  models/ (networks)  poemap.sim (synthetic Coast)  poemap.datatools      beside each other, never each other
  poemap (the core: contract, data format, tokens, fog, stitching)      the bottom; no tinygrad
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {".venv", "out", "data", ".git", ".hypothesis", "build", "node_modules"}
CORE = {"poemap"}
BELOW = {  # layer -> the layers it may import (itself included)
  "poemap": CORE,
  "poemap.sim": CORE | {"poemap.sim"},
  "poemap.datatools": CORE | {"poemap.datatools"},
  "models": CORE | {"models"},
  "training": CORE | {"poemap.sim", "poemap.datatools", "models", "training"},
  "stream": CORE | {"poemap.sim", "poemap.datatools", "models", "stream"},
}
FORBIDDEN_THIRD_PARTY = {"poemap": {"tinygrad"}}  # the core and the sim are numpy: the client and the data tools run without tinygrad


def sources() -> list[Path]:
  return sorted(p for p in ROOT.rglob("*.py") if not SKIP_DIRS & set(p.relative_to(ROOT).parts))


def module_name(p: Path) -> str:
  parts = list(p.relative_to(ROOT).with_suffix("").parts)
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str | None:
  """The longest layer name that is `module` or a package above it; None above the layers (entry scripts, bench, tests)."""
  return max((k for k in BELOW if module == k or module.startswith(k + ".")), key=len, default=None)


def is_module(mod: str) -> bool:
  f = ROOT / Path(*mod.split("."))
  return f.with_suffix(".py").is_file() or (f / "__init__.py").is_file()


PROJECT = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").is_file()} | {p.stem for p in ROOT.glob("*.py")}


def imports(p: Path):
  """(line number, imported module, inside a function, source line) for every import statement of a file."""
  tree = ast.parse(p.read_text(encoding="utf-8"), str(p))
  lines = p.read_text(encoding="utf-8").splitlines()
  package = module_name(p) if p.name == "__init__.py" else module_name(p).rpartition(".")[0]
  out: list[tuple[int, str, bool, str]] = []

  def visit(node: ast.AST, inner: bool) -> None:
    for c in ast.iter_child_nodes(node):
      deeper = inner or isinstance(c, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
      if isinstance(c, ast.Import): out.extend((c.lineno, a.name, deeper, lines[c.lineno - 1]) for a in c.names)
      elif isinstance(c, ast.ImportFrom):
        base = c.module or ""
        if c.level: base = ".".join(package.split(".")[:len(package.split(".")) - c.level + 1] + ([base] if base else []))
        # `from poemap import sim` imports the module poemap.sim when there is one
        out.extend((c.lineno, f"{base}.{a.name}" if is_module(f"{base}.{a.name}") else base, deeper, lines[c.lineno - 1]) for a in c.names)
      visit(c, deeper)
  visit(tree, False)
  return out


FILES = sources()


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_imports_go_only_downward(path: Path):
  mine = layer(module_name(path))
  bad = []
  for line, mod, _, _ in imports(path):
    top = mod.split(".")[0]
    if top in PROJECT:
      if not is_module(mod): bad.append(f"line {line}: {mod} is no module of this repository")
      if mine is not None and layer(mod) not in BELOW[mine]:
        bad.append(f"line {line}: {mod} ({layer(mod) or 'above the layers'}) is not below {mine}")
    elif mine is not None and top in FORBIDDEN_THIRD_PARTY.get(mine.split(".")[0], ()):
      bad.append(f"line {line}: {mod} is not for layer {mine}")
  assert not bad, f"{path.relative_to(ROOT)}:\n  " + "\n  ".join(bad)


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_imports_sit_at_the_top(path: Path):
  """An import inside a function hides a dependency; one is kept only with its reason on the line (`# deferred: ...`),
  e.g. a package the client's dependency set lacks."""
  bad = [f"line {line}: {src.strip()}" for line, _, inner, src in imports(path) if inner and "# deferred:" not in src]
  assert not bad, f"{path.relative_to(ROOT)} imports inside functions without a reason:\n  " + "\n  ".join(bad)


def test_every_package_has_a_layer():
  """A new package gets a place in BELOW (or sits above the layers, as tests/ does), so the test above checks it."""
  for k in BELOW: assert is_module(k), k
  packages = {module_name(p) for p in FILES if p.name == "__init__.py"}
  assert {"poemap", "models", "training", "stream"} <= packages
  assert not {m for m in packages if layer(m) is None} - {"tests"}
