"""Citations of docs/DESIGN.md in code and docs (the file name, a comma, the section title in double quotes) name sections it has."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {".venv", "out", "data", ".git", ".hypothesis"}


def test_design_citations_name_real_sections():
  sections = set(re.findall(r"^## (.+)$", (ROOT / "docs" / "DESIGN.md").read_text(encoding="utf-8"), re.M))
  cites = [(p.relative_to(ROOT), s) for p in [*ROOT.rglob("*.py"), *ROOT.rglob("*.md")] if not SKIP_DIRS & set(p.relative_to(ROOT).parts)
           for s in re.findall(r'DESIGN\.md\]?(?:\([^)]*\))?,\s*(?:#\s*)?"([^"]+)"', p.read_text(encoding="utf-8"))]
  assert len(cites) >= 5 and {s for _, s in cites} & {"The contract"}
  assert not [c for c in cites if " ".join(c[1].split()) not in sections], sections
