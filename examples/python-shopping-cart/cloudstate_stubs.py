"""Makes the generated protobuf modules importable next to PyPI cloudstate 0.1.1.

The modules are generated from this repository's protos (protocols/) by
test/conformance/supports/python-support/setup.mjs into `.tck/python-support/stubs/`; set
CLOUDSTATE_STUBS to use another directory. Two of them belong to the `cloudstate` proto
package, so their modules (cloudstate/eventing_pb2, cloudstate/tck/...) live in the Python
package `cloudstate` too, which is the installed library: that package's search path is
extended with the generated `cloudstate/` directory. The library's own
cloudstate/entity_key_pb2 stays the one in use (it is not generated).
"""

import os
import sys

_default = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".tck", "python-support", "stubs")
STUBS_DIR = os.path.abspath(os.environ.get("CLOUDSTATE_STUBS") or _default)

if not os.path.isdir(STUBS_DIR):
    raise SystemExit(
        "generated protobuf modules not found in %s: run `node test/conformance/supports/python-support/setup.mjs` "
        "(or set CLOUDSTATE_STUBS)" % STUBS_DIR
    )

if STUBS_DIR not in sys.path:
    sys.path.insert(0, STUBS_DIR)

import cloudstate  # noqa: E402  (the library package, PyPI cloudstate 0.1.1)

_generated = os.path.join(STUBS_DIR, "cloudstate")
if _generated not in cloudstate.__path__:
    cloudstate.__path__.append(_generated)
