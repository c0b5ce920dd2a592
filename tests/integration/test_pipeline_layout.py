"""The request path's layout holds (issue 13): src/proxy/pipeline.c lists the stages in order,
each stage is src/proxy/stage_NAME.c with one entry lv_stage_NAME, every stage file is in the
list, a stage never calls a function of a stage before it, and the connection layer (conn.c)
reaches the stages only through the pipeline. A source check: it reads the C files."""

import os
import re
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROXY = os.path.join(ROOT, "src", "proxy")


def read(name):
    with open(os.path.join(PROXY, name)) as f:
        return f.read()


def without_comments(src):
    return re.sub(r"/\*.*?\*/", " ", src, flags=re.S)


def exported(src):
    """Functions a C file defines without static (at the start of a line, body follows)."""
    names = set()
    for m in re.finditer(r"^(?!static)[A-Za-z_][\w \*]*?\b(lv_\w+)\s*\([^;{]*\)\s*\{", src,
                         re.M):
        names.add(m.group(1))
    return names


def called(src):
    return set(re.findall(r"\b(lv_\w+)\s*\(", without_comments(src)))


def stage_list():
    """[(name, entry suffix)] of pipeline.c's stages[] array, in order."""
    src = without_comments(read("pipeline.c"))
    body = src[src.index("stages[] = {"):]
    body = body[:body.index("};")]
    return re.findall(r'\{\s*"(\w+)"\s*,\s*lv_stage_(\w+)\s*\}', body)


class PipelineLayout(unittest.TestCase):
    def setUp(self):
        self.stages = stage_list()
        self.order = [entry for _, entry in self.stages]
        self.assertGreaterEqual(len(self.order), 5, "no stage list found in pipeline.c")

    def test_every_stage_is_one_file_with_one_entry(self):
        for name, entry in self.stages:
            self.assertEqual(name, entry, "a stage's name in pipeline.c differs from its entry's")
        files = sorted(f[len("stage_"):-2] for f in os.listdir(PROXY)
                       if f.startswith("stage_") and f.endswith(".c"))
        self.assertEqual(files, sorted(self.order), "stage files and the list differ")
        for name in self.order:
            src = read("stage_%s.c" % name)
            self.assertIn("lv_stage_%s" % name, exported(src), name)
            entries = {f for f in exported(src) if f.startswith("lv_stage_")}
            self.assertEqual(entries, {"lv_stage_%s" % name}, "one entry per stage file")

    def test_no_stage_calls_an_earlier_stage(self):
        defined = {name: exported(read("stage_%s.c" % name)) for name in self.order}
        for i, name in enumerate(self.order):
            calls = called(read("stage_%s.c" % name))
            for earlier in self.order[:i]:
                back = calls & defined[earlier]
                self.assertFalse(back, "stage %s calls %s of the earlier stage %s"
                                 % (name, sorted(back), earlier))

    def test_the_connection_reaches_stages_only_through_the_pipeline(self):
        stage_fns = set()
        for name in self.order:
            stage_fns |= exported(read("stage_%s.c" % name))
        reached = called(read("conn.c")) & stage_fns
        self.assertFalse(reached, "conn.c calls stage functions %s" % sorted(reached))
        self.assertIn("lv__pipeline_start", called(read("conn.c")))


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]] + sys.argv[1:])
