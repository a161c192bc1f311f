/**
 * python-support as published (PyPI `cloudstate==0.1.1`), described for the conformance runner:
 * how to install it (a virtual environment and generated stubs in the git-ignored
 * `.tck/python-support/`), how to start its user functions (the runner sets `HOST`/`PORT`, which
 * the library reads itself), and which cases it is known to fail.
 */
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { runSetupScript } from "../node-support/index.js";
import type { LanguageSupportHook } from "../support.js";

const file = (name: string) => fileURLToPath(new URL(name, import.meta.url));
/** The cache setup.mjs fills (`.tck/python-support`, or under SWITCHBOARD_TCK_CACHE). */
const cache = join(process.env.SWITCHBOARD_TCK_CACHE ? resolve(process.env.SWITCHBOARD_TCK_CACHE) : file("../../../../.tck"), "python-support");
/** The virtual environment's interpreter. */
const python = join(cache, "venv", "bin", "python");
const env = { PYTHONUNBUFFERED: "1", PYTHONDONTWRITEBYTECODE: "1", CLOUDSTATE_STUBS: join(cache, "stubs") };

/** The hook test/conformance/supports/support.ts adapts with `fromLanguageSupportHook`. */
export const pythonSupport: LanguageSupportHook = {
  name: "python-support",
  displayName: "python-support (PyPI cloudstate 0.1.1)",
  setup: () => runSetupScript(process.execPath, [file("./setup.mjs")], "python-support"),
  tckModelCommand: { cmd: python, args: [file("./tck_model.py")], env },
  shoppingCartCommand: { cmd: python, args: [file("../../../../examples/python-shopping-cart/shopping_cart.py")], env },
  knownFailuresFile: file("./known-failures.txt"),
};

export default pythonSupport;
