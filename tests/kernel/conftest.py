"""Host-side pytest hook: never collect the guest tests on the host.

tests/kernel/guest/ needs a real kernel with gpio-sim, configfs etc.; it only runs
inside the QEMU guest started by ``python tests/kernel/run.py`` (which sets KT_GUEST=1
and uses tests/kernel/guest/pytest.ini, so this file is not even loaded there).
"""

import os
import pathlib

_GUEST = pathlib.Path(__file__).resolve().parent / "guest"


def pytest_ignore_collect(collection_path: pathlib.Path) -> bool | None:
    if os.environ.get("KT_GUEST") != "1" and collection_path.resolve() == _GUEST:
        return True
    return None
