"""One error base class for every package: the same one-line ``FILE:LINE: field 'X': what``."""

import ast
from pathlib import Path

import pytest

from controllers.errors import ControllerError
from dnn.errors import DNNError
from envs.errors import EnvError
from hw_agents.errors import BoardError, SysfsFormatError
from platform_models import errors
from platform_models.errors import InputError, PlatformError
from traces.errors import TraceError

ERRORS = (PlatformError, TraceError, BoardError, SysfsFormatError, ControllerError, DNNError, EnvError)


@pytest.mark.parametrize("error", ERRORS)
def test_every_package_formats_the_location_the_same_way(error):
    assert issubclass(error, InputError)
    exc = error("expected a number, got 'x\ny'", path="a/b.csv", line=7, field="power_w")
    assert str(exc) == "a/b.csv:7: field 'power_w': expected a number, got 'x\\ny'"
    assert (exc.path, exc.line, exc.field) == ("a/b.csv", 7, "power_w")
    assert exc.what == "expected a number, got 'x\ny'"
    assert str(error("missing", path="f.yml")) == "f.yml: missing"
    assert str(error("missing", line=3)) == "line 3: missing"
    assert str(error("bad", field="--runs")) == "field '--runs': bad"


def test_the_base_module_imports_only_the_standard_library():
    # The board side and the command line's start-up import it: it must pull in nothing else.
    tree = ast.parse(Path(errors.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert imported <= {"__future__", "os"}
