/* tests/unit/test_cfg_py.c - `.py` configs: the evaluated subset gives the values Python gives; bases in
 * both forms, `{{_base_.x}}`, `_base_.x = v`, read_base(); every construct outside the subset, every
 * syntax error and every exhausted budget is one error naming FILE:LINE:COL and the construct. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/cfg.h"
#include "test_util.h"

static tgc_cfg *py(const char *text) {
    tgc_err err = {{0}};
    tgc_cfg *c = tgc_cfg_parse(text, strlen(text), "t.py", &err);
    ck_assert_msg(c, "%s", err.msg);
    return c;
}

static int n_rejected; /* constructs rejected with their message, counted for the record */

static void fails_len(const char *text, size_t len, const char *const *needles) {
    tgc_err err = {{0}};
    tgc_cfg *c = tgc_cfg_parse(text, len, "bad.py", &err);
    ck_assert_msg(c == NULL, "'%.80s' evaluated but should fail", text);
    for (; *needles; needles++)
        ck_assert_msg(strstr(err.msg, *needles), "'%.80s': message '%s' lacks '%s'", text, err.msg, *needles);
    n_rejected++;
}
#define FAILS(text, ...) fails_len(text, strlen(text), (const char *[]){__VA_ARGS__, NULL})

static void write_file(const char *dir, const char *name, const char *text) {
    char *p = tgc_asprintf("%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    free(p);
}

START_TEST(literals_and_operators) {
    tgc_cfg *c = py("# a comment\n"
                    "'''a docstring'''\n"
                    "a = 1 + 2 * 3 - 4 // 3\n"
                    "b = 7 / 2\n"
                    "c = -7 // 2, -7 % 3, 2 ** 10, 2 ** -1\n"
                    "d = 'data/' + 'coco/' 'ann'\n"
                    "e = [1, 2] + [3] * 2\n"
                    "f = (1,)\n"
                    "g = None, True, False\n"
                    "h = 1e-4\n"
                    "i = 0x10 + 0o7 + 0b11 + 1_000\n"
                    "j = 'x' if a > 3 and not False else 'y'\n"
                    "k = 3 in [1, 3], 'a' not in 'bcd', None is None, 1 == 1.0\n"
                    "l = [10, 20, 30, 40][::-1][1:3]\n"
                    "m = 'abcdef'[-2:]\n"
                    "n = 0 or 'fallback'\n"
                    "o = '\\u00e9\\t' \"\\x41\"\n"
                    "p = 1; q = 2\n"
                    "r = \\\n  5\n");
    ck_assert_int_eq(tgc_cfg_get(c, "a")->i, 6);
    ck_assert(tgc_cfg_get(c, "b")->kind == TGC_CFG_FLOAT && tgc_cfg_get(c, "b")->f == 3.5);
    const tgc_cfg *t = tgc_cfg_get(c, "c");
    ck_assert_int_eq(t->kind, TGC_CFG_LIST); /* tuples become lists, as YAML holds them */
    ck_assert_int_eq(t->items[0]->i, -4);
    ck_assert_int_eq(t->items[1]->i, 2);
    ck_assert_int_eq(t->items[2]->i, 1024);
    ck_assert(t->items[3]->f == 0.5);
    ck_assert_str_eq(tgc_cfg_get(c, "d")->s, "data/coco/ann");
    ck_assert_int_eq(tgc_cfg_get(c, "e")->n, 4);
    ck_assert_int_eq(tgc_cfg_get(c, "f")->n, 1);
    ck_assert_int_eq(tgc_cfg_get(c, "g")->items[0]->kind, TGC_CFG_NULL);
    ck_assert(tgc_cfg_get(c, "h")->f == 1e-4);
    ck_assert_int_eq(tgc_cfg_get(c, "i")->i, 16 + 7 + 3 + 1000);
    ck_assert_str_eq(tgc_cfg_get(c, "j")->s, "x");
    t = tgc_cfg_get(c, "k");
    for (int i = 0; i < 4; i++) ck_assert(t->items[i]->kind == TGC_CFG_BOOL && t->items[i]->b);
    t = tgc_cfg_get(c, "l");
    ck_assert_int_eq(t->n, 2);
    ck_assert_int_eq(t->items[0]->i, 30);
    ck_assert_int_eq(t->items[1]->i, 20);
    ck_assert_str_eq(tgc_cfg_get(c, "m")->s, "ef");
    ck_assert_str_eq(tgc_cfg_get(c, "n")->s, "fallback");
    ck_assert_str_eq(tgc_cfg_get(c, "o")->s, "\xc3\xa9\tA");
    ck_assert_int_eq(tgc_cfg_get(c, "q")->i, 2);
    ck_assert_int_eq(tgc_cfg_get(c, "r")->i, 5);
    tgc_cfg_free(c);
}
END_TEST

START_TEST(dicts_comprehensions_builtins) {
    tgc_cfg *c = py("bgr_mean = [103.53, 116.28, 123.675]\n"
                    "img_scales = [(1333, 800), (666, 400)]\n"
                    "common = dict(type='X', data_root='d/')\n"
                    "ds = dict(**common, test_mode=True)\n"
                    "ds2 = {**common, 'type': 'Y', 'k': {'n': 1}}\n"
                    "resize = [dict(type='Resize', scale=s) for s in img_scales]\n"
                    "rounded = [round(x) for x in bgr_mean]\n"
                    "rgb = bgr_mean[::-1]\n"
                    "sq = {str(i): i * i for i in range(3) if i != 1}\n"
                    "pairs = [w * h for (w, h) in img_scales]\n"
                    "nested = [[i, j] for i in range(2) for j in range(2) if i <= j]\n"
                    "b = (int(2.9), float(3), str(0.1), str(1), len('caf\xc3\xa9'), len(common))\n"
                    "mm = (min(3, 1, 2), max([4, 9, 2]), abs(-2.5), sum([1, 2, 3]), sum([0.5, 0.25], 1))\n"
                    "r = (round(2.5), round(3.5), round(0.125, 2), list(range(1, 10, 4)), tuple('ab'), bool([]))\n"
                    "d2 = dict(common, type='Z')\n"
                    "d3 = dict([('a', 1), ('b', 2)])\n"
                    "common['type'] = 'W'\n"
                    "common.extra = dict(depth=50)\n"
                    "common.extra.depth += 1\n"
                    "bgr_mean[0] = 1\n"
                    "import copy\n"
                    "pipe = copy.deepcopy(resize)\n"
                    "pipe[0].scale = 1\n");
    const tgc_cfg *ds = tgc_cfg_get(c, "ds");
    ck_assert_str_eq(tgc_cfg_get(ds, "type")->s, "X");
    ck_assert(tgc_cfg_get(ds, "test_mode")->b);
    const tgc_cfg *ds2 = tgc_cfg_get(c, "ds2");
    ck_assert_str_eq(ds2->keys[0], "type"); /* a later key replaces in place, as a Python dict */
    ck_assert_str_eq(tgc_cfg_get(ds2, "type")->s, "Y");
    ck_assert_int_eq(tgc_cfg_at(c, "resize[1].scale[0]")->i, 666);
    const tgc_cfg *r = tgc_cfg_get(c, "rounded");
    ck_assert_int_eq(r->items[0]->i, 104);
    ck_assert_int_eq(r->items[2]->i, 124);
    ck_assert(tgc_cfg_at(c, "rgb[0]")->f == 123.675);
    const tgc_cfg *sq = tgc_cfg_get(c, "sq");
    ck_assert_int_eq(sq->n, 2);
    ck_assert_int_eq(tgc_cfg_get(sq, "2")->i, 4);
    ck_assert_int_eq(tgc_cfg_at(c, "pairs[1]")->i, 666 * 400);
    ck_assert_int_eq(tgc_cfg_get(c, "nested")->n, 3);
    const tgc_cfg *b = tgc_cfg_get(c, "b");
    ck_assert_int_eq(b->items[0]->i, 2);
    ck_assert(b->items[1]->kind == TGC_CFG_FLOAT);
    ck_assert_str_eq(b->items[2]->s, "0.1");
    ck_assert_str_eq(b->items[3]->s, "1");
    ck_assert_int_eq(b->items[4]->i, 4);
    ck_assert_int_eq(b->items[5]->i, 2);
    const tgc_cfg *mm = tgc_cfg_get(c, "mm");
    ck_assert_int_eq(mm->items[0]->i, 1);
    ck_assert_int_eq(mm->items[1]->i, 9);
    ck_assert(mm->items[2]->f == 2.5);
    ck_assert_int_eq(mm->items[3]->i, 6);
    ck_assert(mm->items[4]->f == 1.75);
    r = tgc_cfg_get(c, "r");
    ck_assert_int_eq(r->items[0]->i, 2); /* half to even */
    ck_assert_int_eq(r->items[1]->i, 4);
    ck_assert(r->items[2]->f == 0.12);
    ck_assert_int_eq(r->items[3]->n, 3);
    ck_assert_str_eq(r->items[4]->items[1]->s, "b");
    ck_assert(!r->items[5]->b);
    ck_assert_str_eq(tgc_cfg_at(c, "d2.type")->s, "Z");
    ck_assert_int_eq(tgc_cfg_at(c, "d3.b")->i, 2);
    ck_assert_str_eq(tgc_cfg_at(c, "common.type")->s, "W");
    ck_assert_int_eq(tgc_cfg_at(c, "common.extra.depth")->i, 51);
    ck_assert_str_eq(tgc_cfg_at(c, "ds.type")->s, "X"); /* assignment copied: no aliasing */
    ck_assert_int_eq(tgc_cfg_at(c, "bgr_mean[0]")->i, 1);
    ck_assert_int_eq(tgc_cfg_at(c, "pipe[0].scale")->i, 1);
    ck_assert_int_eq(tgc_cfg_at(c, "resize[0].scale[0]")->i, 1333);
    ck_assert_ptr_null(tgc_cfg_get(c, "copy")); /* a module, not a config key */
    ck_assert_str_eq(tgc_cfg_at(c, "resize[0].type")->path, "resize[0].type");
    tgc_cfg_free(c);
}
END_TEST

START_TEST(bases_mixed_refs_and_edits) {
    char *dir = test_tmpdir(NULL, "cfgpy");
    write_file(dir, "model.yaml", "model:\n  type: ImageClassifier\n  backbone: {type: ResNet, depth: 18}\n"
                                  "optim_wrapper: {type: OptimWrapper, optimizer: {type: SGD, lr: 0.1}}\n");
    write_file(dir, "data.py", "data_root = 'data/coco/'\nbatch = 2\n"
                               "train_dataloader = dict(batch_size=batch, dataset=dict(ann_file=data_root + 'a.json'))\n");
    write_file(dir, "child.py", "_base_ = ['./model.yaml', 'data.py']\n"
                                "lr = _base_.optim_wrapper.optimizer.lr * 2\n"
                                "depth = {{_base_.model.backbone.depth}}\n"
                                "depth2 = '{{ _base_.model.backbone.depth }}'\n"
                                "not_ref = '{{_base_.model}} and more'\n"
                                "_base_.optim_wrapper.type = 'AmpOptimWrapper'\n"
                                "_base_.model['backbone'].depth = 50\n"
                                "model = dict(head=dict(num_classes=10))\n"
                                "_base_.model.extra = [dict(a=1)]\n"
                                "_base_.model.extra[0].a = 2\n"
                                "train_dataloader = dict(dataset=dict(_delete_=True, type='X'))\n");
    write_file(dir, "grand.yaml", "_base_: child.py\nextra: 1\n");
    char *p = tgc_asprintf("%s/grand.yaml", dir);
    tgc_err err = {{0}};
    tgc_cfg *c = tgc_cfg_load(p, &err);
    ck_assert_msg(c, "%s", err.msg);
    ck_assert(tgc_cfg_get(c, "lr")->f == 0.2);
    ck_assert_int_eq(tgc_cfg_get(c, "depth")->i, 18);
    ck_assert_int_eq(tgc_cfg_get(c, "depth2")->i, 18);
    ck_assert_str_eq(tgc_cfg_get(c, "not_ref")->s, "{{_base_.model}} and more");
    ck_assert_str_eq(tgc_cfg_at(c, "optim_wrapper.type")->s, "AmpOptimWrapper");
    ck_assert(tgc_cfg_at(c, "optim_wrapper.optimizer.lr")->f == 0.1);
    ck_assert_int_eq(tgc_cfg_at(c, "model.backbone.depth")->i, 50);
    ck_assert_int_eq(tgc_cfg_at(c, "model.head.num_classes")->i, 10);
    ck_assert_int_eq(tgc_cfg_at(c, "model.extra[0].a")->i, 2);
    ck_assert_str_eq(tgc_cfg_at(c, "data_root")->s, "data/coco/");
    const tgc_cfg *ds = tgc_cfg_at(c, "train_dataloader.dataset");
    ck_assert_int_eq(ds->n, 1); /* _delete_ replaced the base's dataset */
    ck_assert_int_eq(tgc_cfg_at(c, "train_dataloader.batch_size")->i, 2);
    ck_assert_int_eq(tgc_cfg_get(c, "extra")->i, 1);
    ck_assert_ptr_null(tgc_cfg_get(c, "_base_"));
    /* messages name the .py file and line of a value */
    const tgc_cfg *nc = tgc_cfg_at(c, "model.head.num_classes");
    ck_assert_ptr_nonnull(strstr(nc->file, "child.py"));
    ck_assert_int_eq(nc->line, 8);
    tgc_cfg_free(c);
    free(p);

    /* an edit through a list index has no unmerged form */
    p = tgc_asprintf("%s/child.py", dir);
    ck_assert_ptr_null(tgc_cfg_load_unmerged(p, &err));
    ck_assert_msg(strstr(err.msg, "child.py:10: edits a base through a list index; only the merged form"), "%s",
                  err.msg);
    free(p);
    write_file(dir, "child2.py", "_base_ = ['./model.yaml', 'data.py']\n"
                                 "_base_.optim_wrapper.type = 'AmpOptimWrapper'\n"
                                 "_base_.model['backbone'].depth = 50\n"
                                 "model = dict(head=dict(num_classes=10))\n"
                                 "train_dataloader = dict(dataset=dict(_delete_=True, type='X'))\n");
    write_file(dir, "scoped.py", "_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'\n");
    p = tgc_asprintf("%s/scoped.py", dir);
    ck_assert_ptr_null(tgc_cfg_load(p, &err));
    ck_assert_msg(strstr(err.msg, "names a config of the package 'mmdet' (MMEngine's scope syntax)"), "%s", err.msg);
    free(p);

    /* unmerged: the file's own keys, `_base_` as written, the base edits as its own keys */
    p = tgc_asprintf("%s/child2.py", dir);
    c = tgc_cfg_load_unmerged(p, &err);
    ck_assert_msg(c, "%s", err.msg);
    ck_assert_str_eq(c->keys[0], "_base_");
    ck_assert_int_eq(tgc_cfg_get(c, "_base_")->n, 2);
    ck_assert_str_eq(tgc_cfg_at(c, "optim_wrapper.type")->s, "AmpOptimWrapper");
    ck_assert_int_eq(tgc_cfg_at(c, "model.backbone.depth")->i, 50);
    ck_assert_int_eq(tgc_cfg_at(c, "model.head.num_classes")->i, 10);
    ck_assert(tgc_cfg_at(c, "train_dataloader.dataset._delete_")->b);
    ck_assert_ptr_null(tgc_cfg_get(c, "data_root"));
    tgc_cfg_free(c);
    free(p);
    test_rm_tree(dir);
    free(dir);
}
END_TEST

START_TEST(read_base_imports) {
    char *dir = test_tmpdir(NULL, "cfgpy");
    char *sub = tgc_asprintf("%s/_base_", dir);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    char *cfgs = tgc_asprintf("%s/cfgs", dir);
    ck_assert_int_eq(mkdir(cfgs, 0755), 0);
    write_file(sub, "runtime.py", "default_scope = 'mmpretrain'\n_private = 1\nlog_level = 'INFO'\n");
    write_file(sub, "sched.yaml", "optim_wrapper: {optimizer: {type: SGD, lr: 0.1}}\nmax_epochs: 12\n");
    write_file(cfgs, "new.py", "from mmengine.config import read_base  # as new-style configs begin\n"
                               "with read_base():\n"
                               "    from .._base_.runtime import *\n"
                               "    from .._base_.sched import optim_wrapper, max_epochs as epochs\n"
                               "optim_wrapper.optimizer.lr = 0.02\n"
                               "train_cfg = dict(max_epochs=epochs)\n");
    char *p = tgc_asprintf("%s/new.py", cfgs);
    tgc_err err = {{0}};
    tgc_cfg *c = tgc_cfg_load(p, &err);
    ck_assert_msg(c, "%s", err.msg);
    ck_assert_str_eq(tgc_cfg_get(c, "default_scope")->s, "mmpretrain");
    ck_assert_ptr_null(tgc_cfg_get(c, "_private")); /* import * skips private names */
    ck_assert(tgc_cfg_at(c, "optim_wrapper.optimizer.lr")->f == 0.02);
    ck_assert_int_eq(tgc_cfg_at(c, "epochs")->i, 12);
    ck_assert_int_eq(tgc_cfg_at(c, "train_cfg.max_epochs")->i, 12);
    tgc_cfg_free(c);
    ck_assert_ptr_null(tgc_cfg_load_unmerged(p, &err));
    ck_assert_msg(strstr(err.msg, "read_base(); only the merged form"), "%s", err.msg);
    free(p);

    /* any other import stays refused, the next module of the same package included */
    write_file(cfgs, "other.py", "from mmengine.config import Config\nx = 1\n");
    p = tgc_asprintf("%s/other.py", cfgs);
    ck_assert_ptr_null(tgc_cfg_load(p, &err));
    ck_assert_msg(strstr(err.msg, "other.py:1:1: 'from ... import' of other modules"), "%s", err.msg);
    free(p);

    write_file(cfgs, "missing.py", "with read_base():\n    from .nothing import *\n");
    p = tgc_asprintf("%s/missing.py", cfgs);
    ck_assert_ptr_null(tgc_cfg_load(p, &err));
    ck_assert_msg(strstr(err.msg, "missing.py:2: _base_: cannot open './nothing.py'"), "%s", err.msg);
    free(p);
    write_file(cfgs, "noname.py", "with read_base():\n    from .._base_.runtime import nope\n");
    p = tgc_asprintf("%s/noname.py", cfgs);
    ck_assert_ptr_null(tgc_cfg_load(p, &err));
    ck_assert_msg(strstr(err.msg, "noname.py:2:5: cannot import name 'nope'"), "%s", err.msg);
    free(p);
    test_rm_tree(dir);
    free(dir);
    free(sub);
    free(cfgs);
}
END_TEST

START_TEST(base_errors) {
    char *dir = test_tmpdir(NULL, "cfgpy");
    write_file(dir, "a.py", "_base_ = 'b.yaml'\nx = 1\n");
    write_file(dir, "b.yaml", "_base_: [c.py]\n");
    write_file(dir, "c.py", "_base_ = ['a.py']\n");
    write_file(dir, "undef.py", "_base_ = 'd.yaml'\ny = x + 1\n");
    write_file(dir, "d.yaml", "x: 1\n");
    write_file(dir, "early.py", "y = _base_.x\n_base_ = 'd.yaml'\n");
    write_file(dir, "badbase.py", "_base_ = 3\n");
    write_file(dir, "mixed.py", "_base_ = 'd.yaml'\nwith read_base():\n    from .d import *\n");
    tgc_err err = {{0}};
    char *p = tgc_asprintf("%s/a.py", dir);
    ck_assert_ptr_null(tgc_cfg_load(p, &err));
    ck_assert_msg(strstr(err.msg, "c.py:1: _base_: cycle: ") && strstr(err.msg, "a.py -> ") &&
                      strstr(err.msg, "b.yaml -> ") && strstr(err.msg, "c.py -> "),
                  "%s", err.msg);
    n_rejected++;
    free(p);
    p = tgc_asprintf("%s/undef.py", dir);
    ck_assert_ptr_null(tgc_cfg_load(p, &err));
    ck_assert_msg(strstr(err.msg, "undef.py:2:5: name 'x' is not defined (it is defined in a base: write _base_.x"),
                  "%s", err.msg);
    n_rejected++;
    free(p);
    p = tgc_asprintf("%s/early.py", dir);
    ck_assert_ptr_null(tgc_cfg_load(p, &err));
    ck_assert_msg(strstr(err.msg, "early.py:1:5: '_base_' is used before"), "%s", err.msg);
    n_rejected++;
    free(p);
    p = tgc_asprintf("%s/badbase.py", dir);
    ck_assert_ptr_null(tgc_cfg_load(p, &err));
    ck_assert_msg(strstr(err.msg, "badbase.py:1:1: '_base_' must be a path or a list of paths (got int)"), "%s",
                  err.msg);
    n_rejected++;
    free(p);
    p = tgc_asprintf("%s/mixed.py", dir);
    ck_assert_ptr_null(tgc_cfg_load(p, &err));
    ck_assert_msg(strstr(err.msg, "mixed.py:2:1: 'with read_base():' cannot be mixed with '_base_ = ...'"), "%s",
                  err.msg);
    n_rejected++;
    free(p);
    test_rm_tree(dir);
    free(dir);
}
END_TEST

START_TEST(unsupported_constructs) {
    FAILS("import os\n", "bad.py:1:1: 'import' of other modules is not supported");
    FAILS("import copy as c\n", "bad.py:1:1: 'import' of other modules is not supported in configs (only 'import copy')");
    FAILS("x = [1]\ny = copy.deepcopy(x)\n", "bad.py:2:5: name 'copy' is not defined");
    FAILS("import copy\nx = copy.replace(1)\n", "bad.py:2:17: method calls ('.replace(...)')");
    FAILS("x = 1\nfrom mmdet.models import ResNet\n", "bad.py:2:1: 'from ... import' of other modules");
    FAILS("f = lambda x: x\n", "bad.py:1:5: lambda is not supported");
    FAILS("def f():\n    return 1\n", "bad.py:1:1: 'def' statements are not supported");
    FAILS("class A:\n    pass\n", "bad.py:1:1: 'class' statements");
    FAILS("if True:\n    x = 1\n", "bad.py:1:1: 'if' statements");
    FAILS("for i in range(3):\n    x = i\n", "bad.py:1:1: 'for' statements");
    FAILS("while False:\n    pass\n", "bad.py:1:1: 'while' statements");
    FAILS("try:\n    x = 1\nexcept Exception:\n    pass\n", "bad.py:1:1: 'try' statements");
    FAILS("x = 1\ndel x\n", "bad.py:2:1: 'del' statements");
    FAILS("assert 1\n", "'assert' statements");
    FAILS("raise ValueError\n", "'raise' statements");
    FAILS("global x\n", "'global' statements");
    FAILS("@dec\nclass A: pass\n", "bad.py:1:1: decorators are not supported");
    FAILS("with open('x') as f:\n    pass\n", "bad.py:1:1: 'with' is supported only as 'with read_base():'");
    FAILS("with read_base():\n    import os\n", "bad.py:2:5: only 'from .MODULE import ...'");
    FAILS("with read_base():\n    from mmpretrain.configs import x\n", "bad.py:2:5: 'from mmpretrain.configs import ...'",
          "only relative imports");
    FAILS("m = dict(a=1)\nm.update(b=2)\n", "bad.py:2:9: method calls ('.update(...)') are not supported");
    FAILS("x = open('/etc/passwd')\n", "bad.py:1:9: call of 'open' is not supported");
    FAILS("x = __import__('os')\n", "call of '__import__' is not supported");
    FAILS("x = eval('1')\n", "call of 'eval' is not supported");
    FAILS("x = frobnicate(1)\n", "call of 'frobnicate' is not supported", "only the builtins dict");
    FAILS("x = dict(a=1)\ny = x()\n", "bad.py:2:6: 'x' is a config value, not a function");
    FAILS("x = (lambda: 1)()\n", "lambda is not supported");
    FAILS("x = 'abc'.upper\n", "bad.py:1:10: attribute access ('.upper') on a str value is not supported");
    FAILS("x = 5\ny = x.real\n", "attribute access ('.real') on a int value");
    FAILS("x = [1]\nx.y = 2\n", "bad.py:2:2: attribute assignment ('.y = ...') on a list value");
    FAILS("x = f'{1}'\n", "bad.py:1:5: f-strings are not supported");
    FAILS("x = b'abc'\n", "bytes literals are not supported");
    FAILS("x = {1, 2}\n", "bad.py:1:6: set literals are not supported");
    FAILS("x = [*[1], 2]\n", "starred expressions");
    FAILS("x = dict(*[1])\n", "starred arguments");
    FAILS("x = (y := 1)\n", "assignment expressions (':=')");
    FAILS("x = 1 < 2 < 3\n", "bad.py:1:11: chained comparisons");
    FAILS("a, b = 1, 2\n", "tuple unpacking in assignments");
    FAILS("x = 'a%s' % 1\n", "%-formatting of strings is not supported");
    FAILS("x = 1 | 2\n", "bad.py:1:7: operator '|' is not supported");
    FAILS("x = ~1\n", "operator '~' is not supported");
    FAILS("x = ...\n", "Ellipsis");
    FAILS("x = 1j\n", "complex numbers are not supported");
    FAILS("x = yield\n", "'yield' is not supported");
    FAILS("x = 1 is 2\n", "'is' is supported only against None, True or False");
    FAILS("x = 1\nx\n", "bad.py:2:1: an expression statement has no effect");
    FAILS("x = sorted([2, 1])\n", "call of 'sorted' is not supported");
    FAILS("x = min([1], key=abs)\n", "min() takes no keyword arguments here");
    FAILS("x = '\\101'\n", "octal escapes");
    FAILS("x = len\n", "the builtin 'len' can only be called");
}
END_TEST

START_TEST(syntax_and_value_errors) {
    FAILS("x = (1, 2\n", "bad.py:2:1: unexpected end of file inside brackets");
    FAILS("x = 'abc\n", "bad.py:1:5: unterminated string literal");
    FAILS("x = '''abc\n", "bad.py:1:5: unterminated string literal");
    FAILS("x = \n", "bad.py:1:5: syntax error: expected an expression, got end of line");
    FAILS("x = 1 2\n", "bad.py:1:7: syntax error: expected the end of the statement, got a number");
    FAILS("x = 1\n  y = 2\n", "bad.py:2:3: unexpected indentation");
    FAILS("x = dict(a=1,, b=2)\n", "bad.py:1:14: syntax error: expected an expression, got ','");
    FAILS("x = [1, 2]]\n", "bad.py:1:11: unmatched ']'");
    FAILS("x = 1 $ 2\n", "unexpected character '$'");
    FAILS("x = 007\n", "leading zeros");
    FAILS("1 = x\n", "bad.py:1:1: cannot assign to this expression");
    FAILS("x = y\n", "bad.py:1:5: name 'y' is not defined");
    FAILS("x = [i for i in range(3)]\ny = i\n", "bad.py:2:5: name 'i' is not defined"); /* no leak */
    FAILS("x = dict(a=1)\ny = x.b\n", "bad.py:2:6: no key 'b' in this dict");
    FAILS("x = dict(a=1)\ny = x['b']\n", "no key 'b' in this dict");
    FAILS("x = [1, 2]\ny = x[5]\n", "bad.py:2:6: index 5 out of range (length 2)");
    FAILS("x = 1 + 'a'\n", "unsupported operand types for +: 'int' and 'str'");
    FAILS("x = 1 / 0\n", "float division by zero");
    FAILS("x = 1 // 0\n", "integer division by zero");
    FAILS("x = 2 ** 64\n", "integer overflow in '**'");
    FAILS("x = 9223372036854775807 + 1\n", "integer overflow in '+'");
    FAILS("x = 99999999999999999999\n", "does not fit in 64 bits");
    FAILS("x = {1: 2}\n", "dict keys are strings in configs, not int");
    FAILS("x = dict(a=1, a=2)\n", "keyword argument 'a' repeated");
    FAILS("x = int('abc')\n", "invalid literal for int(): 'abc'");
    FAILS("x = [a for (a, b) in [1]]\n", "cannot unpack a int into 2 names");
    FAILS("x = '\\0'\n", "octal escapes");
    FAILS("x = '\\x00'\n", "NUL character in a string");
    FAILS("", "bad.py: empty config");
    FAILS("# only comments\n\n", "bad.py: empty config");
    fails_len("x = 1\0", 6, (const char *[]){"bad.py: not a text file (NUL byte at offset 5)", NULL});
}
END_TEST

START_TEST(budgets) {
    /* a 10 MB string literal */
    size_t n = 10u << 20;
    char *t = tgc_malloc(n + 16);
    memcpy(t, "x = '", 5);
    memset(t + 5, 'a', n);
    memcpy(t + 5 + n, "'\n", 3);
    fails_len(t, strlen(t), (const char *[]){"bad.py:1:5: string literal longer than 1048576 bytes (1 MiB)", NULL});
    free(t);
    FAILS("x = 'a' * 10000000\n", "bad.py:1:9: string longer than 1048576 bytes");
    FAILS("x = 'ab'\ny = x + x\nz = y * 300000\n", "string longer than");
    FAILS("x = [0] * 10000000\n", "evaluation produces more than 2000000 values");
    FAILS("x = list(range(10000000))\n", "range() of more than 1000000 elements");
    FAILS("x = [[[0 for a in range(1000)] for b in range(1000)] for c in range(1000)]\n",
          "evaluation produces more than 2000000 values");
    FAILS("r = list(range(1000))\nx = [0 for a in r for b in r for c in r if a < 0]\n",
          "evaluation takes more than 10000000 steps");
    /* deep nesting: brackets, operators, values built by reference */
    t = tgc_malloc(200000);
    strcpy(t, "x = ");
    for (int i = 0; i < 150; i++) strcat(t, "[");
    for (int i = 0; i < 150; i++) strcat(t, "]");
    strcat(t, "\n");
    FAILS(t, "bad.py:1:", "nested deeper than");
    strcpy(t, "x = ");
    for (int i = 0; i < 90; i++) strcat(t, "dict(a=");
    strcat(t, "1");
    for (int i = 0; i < 90; i++) strcat(t, ")");
    strcat(t, "\n");
    FAILS(t, "bad.py:1:", "nested deeper than");
    strcpy(t, "x = ");
    for (int i = 0; i < 10000; i++) strcat(t, "-");
    strcat(t, "1\n");
    FAILS(t, "bad.py:1:", "expression nested deeper than 100 levels");
    /* long chains that loops build (left-deep trees): operators, attributes, calls, powers, clauses */
    static const char *const chains[][3] = {{"x = 1", "+1", "\n"},          {"x = 1", " and 1", "\n"},
                                            {"x = dict(a=1)\ny = x", ".a", "\n"}, {"x = [1]\ny = x", "[0]", "\n"},
                                            {"x = 2", "**2", "\n"},         {"x = [1 for a in [1]", " if 1", "]\n"}};
    for (size_t k = 0; k < sizeof chains / sizeof *chains; k++) {
        tgc_buf b = {0};
        tgc_buf_printf(&b, "%s", chains[k][0]);
        for (int i = 0; i < 100000; i++) tgc_buf_printf(&b, "%s", chains[k][1]);
        tgc_buf_printf(&b, "%s", chains[k][2]);
        fails_len((const char *)b.data, b.len,
                  (const char *[]){"bad.py:", k == 5 ? "comprehension with more than 64 clauses" : "nested deeper than",
                                   NULL});
        tgc_buf_free(&b);
    }
    strcpy(t, "x = 1\n");
    for (int i = 0; i < 70; i++) strcat(t, "x = [x]\n");
    FAILS(t, "value nested deeper than 64 levels");
    free(t);
    /* 60 levels are fine */
    t = tgc_malloc(256);
    strcpy(t, "x = ");
    for (int i = 0; i < 60; i++) strcat(t, "[");
    strcat(t, "1");
    for (int i = 0; i < 60; i++) strcat(t, "]");
    strcat(t, "\n");
    tgc_cfg *c = py(t);
    free(t);
    tgc_cfg_free(c);
}
END_TEST

/* Mutations of real configs (bytes dropped, duplicated, replaced by Python punctuation, truncated), each
 * evaluated: every one gives a tree or one error that starts with the file's name and a line; none crashes
 * or leaks (the ASan build runs this too). Deterministic: a fixed generator. */
START_TEST(mutated_configs) {
    static const char *const files[] = {TGC_SOURCE_DIR "/configs/lenet/lenet5_mnist.py",
                                        TGC_SOURCE_DIR "/configs/fashion/resnet_small_fashionmnist.py",
                                        TGC_SOURCE_DIR "/tests/filecheck/Inputs/mmdet3/retinanet/retinanet_tta.py"};
    static const char alphabet[] = "()[]{}:,.=+-*/%'\"\\#\n \t_abcxyz019eE*@!~<>";
    uint64_t r = 0x9e3779b97f4a7c15ull;
    int errors = 0, trees = 0;
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        size_t len;
        char *orig = test_slurp(files[f], &len);
        char *buf = tgc_malloc(len * 2 + 64);
        for (int it = 0; it < 700; it++) {
            memcpy(buf, orig, len);
            size_t n = len;
            int edits = 1 + it % 4;
            for (int e = 0; e < edits && n > 0; e++) {
                r = r * 6364136223846793005ull + 1442695040888963407ull;
                size_t at = (size_t)(r >> 33) % n;
                switch ((r >> 20) % 4) {
                case 0: memmove(buf + at, buf + at + 1, n - at - 1), n--; break;                   /* drop */
                case 1: memmove(buf + at + 1, buf + at, n - at), n++; break;                       /* duplicate */
                case 2: buf[at] = alphabet[(r >> 8) % (sizeof alphabet - 1)]; break;               /* replace */
                default: n = at; break;                                                           /* truncate */
                }
            }
            tgc_err err = {{0}};
            tgc_cfg *c = tgc_cfg_parse(buf, n, "mut.py", &err);
            if (c) {
                trees++;
                tgc_cfg_free(c);
            } else {
                errors++;
                ck_assert_msg(!strncmp(err.msg, "mut.py:", 7) && strlen(err.msg) > 10, "message '%s'", err.msg);
            }
        }
        free(buf);
        free(orig);
    }
    fprintf(stderr, "cfg_py: %d mutated configs: %d errors with FILE:LINE, %d trees\n", trees + errors, errors, trees);
    ck_assert_int_gt(errors, 100);
}
END_TEST

/* A 2.x key is translated only where its MMEngine counterpart is absent: MMPretrain 1.x configs keep
 * `optimizer` as a variable that optim_wrapper refers to (byol, spark), which must stay as written. */
START_TEST(legacy_names_beside_new_keys) {
    tgc_cfg *c = py("optimizer = dict(type='LARS', lr=4.8)\n"
                    "optim_wrapper = dict(type='AmpOptimWrapper', optimizer=optimizer)\n"
                    "lr_config = dict(policy='step', step=[1])\n"
                    "runner = dict(type='EpochBasedRunner', max_epochs=3)\n");
    tgc_cfg *before = tgc_cfg_clone(c);
    tgc_err err = {{0}};
    FILE *log = tmpfile();
    ck_assert_int_eq(tgc_cfg_translate_legacy(c, log, &err), 0);
    fclose(log);
    ck_assert_ptr_nonnull(tgc_cfg_get(c, "optimizer")); /* a variable next to optim_wrapper: untouched */
    ck_assert_str_eq(tgc_cfg_at(c, "optim_wrapper.optimizer.type")->s, "LARS");
    ck_assert_str_eq(tgc_cfg_at(c, "optim_wrapper.type")->s, "AmpOptimWrapper");
    ck_assert_str_eq(tgc_cfg_at(c, "param_scheduler.type")->s, "MultiStepLR"); /* no param_scheduler: translated */
    ck_assert_int_eq(tgc_cfg_at(c, "train_cfg.max_epochs")->i, 3);
    ck_assert_ptr_null(tgc_cfg_get(c, "lr_config"));
    ck_assert(!tgc_cfg_equal(c, before));
    tgc_cfg_free(before);
    tgc_cfg_free(c);
    /* nothing 2.x at all: no change, no message */
    c = py("optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1))\nresume_from = None\n");
    before = tgc_cfg_clone(c);
    log = tmpfile();
    ck_assert_int_eq(tgc_cfg_translate_legacy(c, log, &err), 0);
    ck_assert_int_eq(ftell(log), 0);
    fclose(log);
    ck_assert(tgc_cfg_equal(c, before));
    tgc_cfg_free(before);
    tgc_cfg_free(c);
}
END_TEST

/* MMClassification 0.x's batch augments become MMPretrain 1.x's, in 0.x and 1.x configs alike: each augment's
 * prob goes into train_cfg.probs (the rest: the batch unchanged), num_classes and Identity go. */
START_TEST(legacy_batch_augments) {
    tgc_cfg *c = py("model = dict(type='ImageClassifier', train_cfg=dict(augments=[\n"
                    "    dict(type='BatchCutMix', alpha=1.0, num_classes=10, prob=0.5, cutmix_minmax=[0.2, 0.8]),\n"
                    "    dict(type='BatchMixup', alpha=0.2, num_classes=10, prob=0.3)]))\n"
                    "train_dataloader = dict(batch_size=8)\n");
    tgc_err err = {{0}};
    char buf[512] = {0};
    FILE *log = tmpfile();
    ck_assert_int_eq(tgc_cfg_translate_legacy(c, log, &err), 0);
    rewind(log);
    ck_assert_uint_gt(fread(buf, 1, sizeof buf - 1, log), 0);
    fclose(log);
    ck_assert_ptr_nonnull(strstr(buf, "model.train_cfg.augments (BatchMixup/BatchCutMix -> Mixup/CutMix"));
    ck_assert_str_eq(tgc_cfg_at(c, "model.train_cfg.augments[0].type")->s, "CutMix");
    ck_assert_double_eq(tgc_cfg_at(c, "model.train_cfg.augments[0].alpha")->f, 1.0);
    ck_assert_int_eq(tgc_cfg_at(c, "model.train_cfg.augments[0].cutmix_minmax")->n, 2);
    ck_assert_ptr_null(tgc_cfg_at(c, "model.train_cfg.augments[0].num_classes"));
    ck_assert_ptr_null(tgc_cfg_at(c, "model.train_cfg.augments[0].prob"));
    ck_assert_str_eq(tgc_cfg_at(c, "model.train_cfg.augments[1].type")->s, "Mixup");
    ck_assert_double_eq(tgc_cfg_at(c, "model.train_cfg.probs[0]")->f, 0.5);
    ck_assert_double_eq(tgc_cfg_at(c, "model.train_cfg.probs[1]")->f, 0.3);
    tgc_cfg_free(c);
    /* one map, prob defaulting to 1; Identity left out */
    c = py("model = dict(train_cfg=dict(augments=[dict(type='BatchCutMix', alpha=1.0, num_classes=10, prob=0.6),\n"
           "                                     dict(type='Identity', num_classes=10, prob=0.4)]))\n");
    ck_assert_int_eq(tgc_cfg_translate_legacy(c, NULL, &err), 0);
    ck_assert_int_eq(tgc_cfg_at(c, "model.train_cfg.augments")->n, 1);
    ck_assert_int_eq(tgc_cfg_at(c, "model.train_cfg.probs")->n, 1);
    ck_assert_double_eq(tgc_cfg_at(c, "model.train_cfg.probs[0]")->f, 0.6);
    tgc_cfg_free(c);
    c = py("model = dict(train_cfg=dict(augments=dict(type='BatchMixup', alpha=0.2, num_classes=10)))\n");
    ck_assert_int_eq(tgc_cfg_translate_legacy(c, NULL, &err), 0);
    ck_assert_str_eq(tgc_cfg_at(c, "model.train_cfg.augments[0].type")->s, "Mixup");
    ck_assert_double_eq(tgc_cfg_at(c, "model.train_cfg.probs[0]")->f, 1.0);
    tgc_cfg_free(c);
    /* 1.x names, or a mix with them: untouched */
    c = py("model = dict(train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='BatchCutMix', alpha=1.0)]))\n");
    tgc_cfg *before = tgc_cfg_clone(c);
    ck_assert_int_eq(tgc_cfg_translate_legacy(c, NULL, &err), 0);
    ck_assert(tgc_cfg_equal(c, before));
    tgc_cfg_free(before);
    tgc_cfg_free(c);
    /* probabilities over 1, or out of [0, 1]: an error naming the key */
    c = py("model = dict(train_cfg=dict(augments=[dict(type='BatchCutMix', alpha=1.0, prob=0.7),\n"
           "                                     dict(type='BatchMixup', alpha=0.2, prob=0.7)]))\n");
    ck_assert_int_eq(tgc_cfg_translate_legacy(c, NULL, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "sum to 1.4"));
    ck_assert_ptr_nonnull(strstr(err.msg, "model.train_cfg.augments"));
    tgc_cfg_free(c);
    c = py("model = dict(train_cfg=dict(augments=dict(type='BatchCutMix', alpha=1.0, prob=2)))\n");
    ck_assert_int_eq(tgc_cfg_translate_legacy(c, NULL, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "prob must be in [0, 1]"));
    tgc_cfg_free(c);
}
END_TEST

START_TEST(count_rejected) {
    /* runs last in its case: the number of rejected inputs these tests check, for the record */
    fprintf(stderr, "cfg_py: %d bad inputs rejected with their message\n", n_rejected);
}
END_TEST

int main(void) {
    Suite *s = suite_create("cfg_py");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, literals_and_operators);
    tcase_add_test(tc, dicts_comprehensions_builtins);
    tcase_add_test(tc, bases_mixed_refs_and_edits);
    tcase_add_test(tc, read_base_imports);
    tcase_add_test(tc, base_errors);
    tcase_add_test(tc, unsupported_constructs);
    tcase_add_test(tc, syntax_and_value_errors);
    tcase_add_test(tc, budgets);
    tcase_add_test(tc, mutated_configs);
    tcase_add_test(tc, legacy_names_beside_new_keys);
    tcase_add_test(tc, legacy_batch_augments);
    tcase_add_test(tc, count_rejected);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK); /* one process, so the count above sums every test */
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
