#!/usr/bin/env python3
"""tests/integration/test_man_pages.py: the man pages say what the binary does.
docs/man/levee.yaml.5 is what `levee --config-man` prints from the settings table
(LV_UPDATE_DOCS=1 rewrites it); docs/man/levee.8, written by hand, names every option that
`levee --help` and `levee proxy --help` print, and the binary's version; both render with
groff's man macros without a warning (skipped without groff).
"""

import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lvtest as lt  # noqa: E402

MAN_DIR = os.path.join(lt.SOURCE_DIR, "docs", "man")
LEVEE_8 = os.path.join(MAN_DIR, "levee.8")
LEVEE_YAML_5 = os.path.join(MAN_DIR, "levee.yaml.5")


def run(args):
    p = subprocess.run([lt.LEVEE] + args, capture_output=True, text=True, timeout=30,
                       env=lt.asan_env())
    assert p.returncode == 0, (args, p.returncode, p.stderr)
    return p.stdout


def roff_plain(path):
    """The page's text with the escapes that matter here undone (\\- is '-', fonts dropped)."""
    with open(path) as f:
        text = f.read()
    return re.sub(r"\\f[BIRP]", "", text.replace("\\-", "-"))


class ManPages(unittest.TestCase):
    def test_levee_yaml_5_is_the_settings_table(self):
        out = run(["--config-man"])
        self.assertIn(".B faults[].kind\n", out)  # a key of the newest section is there
        if os.environ.get("LV_UPDATE_DOCS") == "1":
            with open(LEVEE_YAML_5, "w") as f:
                f.write(out)
        with open(LEVEE_YAML_5) as f:
            have = f.read()
        self.assertEqual(have, out, "docs/man/levee.yaml.5 is stale: run this test with "
                                    "LV_UPDATE_DOCS=1, or `levee --config-man > "
                                    "docs/man/levee.yaml.5`")

    def test_levee_8_names_every_option_of_help(self):
        page = roff_plain(LEVEE_8)
        helps = run(["--help"]) + run(["proxy", "--help"])
        opts = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-z])\b", helps))
        self.assertIn("--config-man", opts)
        self.assertIn("-t", opts)
        missing = sorted(o for o in opts if not re.search(r"(?<![\w-])%s\b" % re.escape(o), page))
        self.assertEqual(missing, [], "options in --help that docs/man/levee.8 does not name")
        for sig in ("SIGHUP", "SIGUSR1", "SIGTERM", "SIGINT"):
            self.assertIn(sig, page)

    def test_levee_8_has_the_binary_version(self):
        version = run(["--version"]).split()[1]
        for path in (LEVEE_8, LEVEE_YAML_5):
            with open(path) as f:
                th = next(line for line in f if line.startswith(".TH "))
            self.assertIn('"levee %s"' % version, th, path)

    @unittest.skipUnless(shutil.which("groff"), "groff not installed (Debian groff-base)")
    def test_pages_render_without_warnings(self):
        for path in (LEVEE_8, LEVEE_YAML_5):
            p = subprocess.run(["groff", "-man", "-ww", "-z", "-Tutf8", path],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual((p.returncode, p.stderr), (0, ""), path)


if __name__ == "__main__":
    lt.main()
