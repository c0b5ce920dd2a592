#!/usr/bin/env python3
"""tests/integration/test_config_doc.py: docs/config.md is what `levee --config-doc` prints from
the settings table, so every key's type, default, bounds and meaning there is the binary's.
LV_UPDATE_DOCS=1 rewrites the file.
"""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lvtest as lt  # noqa: E402

DOC = os.path.join(lt.SOURCE_DIR, "docs", "config.md")


class ConfigDoc(unittest.TestCase):
    def test_docs_config_md_is_the_settings_table(self):
        p = subprocess.run([lt.LEVEE, "--config-doc"], capture_output=True, text=True,
                           timeout=30, env=lt.asan_env())
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("`faults[].kind`", p.stdout)  # a key of the newest section is there
        if os.environ.get("LV_UPDATE_DOCS") == "1":
            with open(DOC, "w") as f:
                f.write(p.stdout)
        with open(DOC) as f:
            have = f.read()
        self.assertEqual(have, p.stdout, "docs/config.md is stale: run this test with "
                                         "LV_UPDATE_DOCS=1, or `levee --config-doc > docs/config.md`")


if __name__ == "__main__":
    lt.main()
