/* tests/unit/test_passes_core.c - autodiff, optimizer lowering, DCE, CSE and the pipeline on small
 * hand-built modules. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"
#include "test_util.h"

static tgc_err err;

#define OK(expr) ck_assert_msg((expr) >= 0, "%s failed: %s", #expr, err.msg)

static int param(tgc_graph *g, const char *name, tgc_shape s) {
    return tgc_graph_state(g, TGC_VAL_PARAM, name, TGC_F32, s, (tgc_init){TGC_INIT_NORMAL, 0, 0.1, 0, 0, NULL});
}

/* The value holding param p's gradient, or -1. */
static int grad_of(const tgc_graph *g, int p) {
    for (int v = 0; v < g->n_vals; v++)
        if (g->vals[v].grad_of == p) return v;
    return -1;
}

/* conv(+bias) -> bn_train -> relu -> conv -> add(residual) -> max_pool -> tanh -> avg_pool -> gap ->
 * matmul -> bias_add -> softmax_ce, plus a param nothing uses. `train` picks batch_norm_train or eval. */
static tgc_graph *build_net(int train, int *out_value) {
    tgc_graph *g = tgc_graph_new(train ? "train" : "eval");
    int x = tgc_graph_input(g, "inputs", TGC_F32, tgc_shape4(4, 3, 16, 16));
    int labels = tgc_graph_input(g, "labels", TGC_I32, tgc_shape1(4));
    int w1 = param(g, "conv1.weight", tgc_shape4(8, 3, 3, 3));
    int b1 = param(g, "conv1.bias", tgc_shape1(8));
    int gam = param(g, "bn1.weight", tgc_shape1(8));
    int bet = param(g, "bn1.bias", tgc_shape1(8));
    int rm = tgc_graph_state(g, TGC_VAL_BUFFER, "bn1.running_mean", TGC_F32, tgc_shape1(8), test_init_const(0));
    int rv = tgc_graph_state(g, TGC_VAL_BUFFER, "bn1.running_var", TGC_F32, tgc_shape1(8), test_init_const(1));
    int w2 = param(g, "conv2.weight", tgc_shape4(8, 8, 3, 3));
    int fw = param(g, "head.fc.weight", tgc_shape2(10, 8));
    int fb = param(g, "head.fc.bias", tgc_shape1(10));
    param(g, "unused.weight", tgc_shape1(5));

    tgc_attrs c = tgc_attrs_default();
    for (int i = 0; i < 4; i++) c.pad[i] = 1;
    tgc_attrs ax = tgc_attrs_default();
    ax.axis = 1;
    int y = tgc_emit1(g, TGC_OP_CONV2D, &c, "conv1", &err, 2, x, w1);
    y = tgc_emit1(g, TGC_OP_BIAS_ADD, &ax, "conv1", &err, 2, y, b1);
    int bn_in[5] = {y, gam, bet, rm, rv}, bn_out[3];
    ck_assert_int_ge(tgc_emit(g, train ? TGC_OP_BN_TRAIN : TGC_OP_BN_EVAL, bn_in, 5, NULL, "bn1", bn_out, &err), 0);
    int r1 = tgc_emit1(g, TGC_OP_RELU, NULL, "relu", &err, 1, bn_out[0]);
    int c2 = tgc_emit1(g, TGC_OP_CONV2D, &c, "conv2", &err, 2, r1, w2);
    int s = tgc_emit1(g, TGC_OP_ADD, NULL, "residual", &err, 2, c2, r1); /* r1 is used twice */
    tgc_attrs p = tgc_attrs_default();
    p.kernel[0] = p.kernel[1] = 2;
    p.stride[0] = p.stride[1] = 2;
    int mp = tgc_emit1(g, TGC_OP_MAX_POOL2D, &p, "pool1", &err, 1, s);
    int t = tgc_emit1(g, TGC_OP_TANH, NULL, "act", &err, 1, mp);
    int ap = tgc_emit1(g, TGC_OP_AVG_POOL2D, &p, "pool2", &err, 1, t);
    int gp = tgc_emit1(g, TGC_OP_GLOBAL_AVG_POOL, NULL, "neck", &err, 1, ap);
    tgc_attrs tb = tgc_attrs_default();
    tb.trans_b = 1;
    int lg = tgc_emit1(g, TGC_OP_MATMUL, &tb, "head.fc", &err, 2, gp, fw);
    lg = tgc_emit1(g, TGC_OP_BIAS_ADD, &ax, "head.fc", &err, 2, lg, fb);
    ck_assert_msg(lg >= 0, "%s", err.msg);
    if (train) {
        int loss = tgc_emit1(g, TGC_OP_SOFTMAX_CE, NULL, "head.loss", &err, 2, lg, labels);
        ck_assert_int_ge(loss, 0);
        g->vals[loss].is_output = 1;
        *out_value = loss;
    } else {
        g->vals[lg].is_output = 1;
        *out_value = lg;
    }
    return g;
}

static void module_init(tgc_module *m) {
    memset(m, 0, sizeof *m);
    m->train = build_net(1, &m->train_loss);
    m->eval = build_net(0, &m->eval_logits);
    m->optim.kind = TGC_OPTIM_SGD;
    m->optim.lr = 0.1;
    m->optim.momentum = 0.9;
    m->optim.weight_decay = 1e-4;
    m->optim.beta1 = 0.9, m->optim.beta2 = 0.999, m->optim.eps = 1e-8;
    m->train_batch = m->eval_batch = 4;
}

/* Every param has exactly one gradient: distinct, defined by an op, named and typed like the param. */
static void assert_one_grad_per_param(const tgc_graph *g) {
    int *seen = calloc((size_t)g->n_vals, sizeof(int));
    for (int p = 0; p < g->n_vals; p++) {
        if (g->vals[p].kind != TGC_VAL_PARAM) continue;
        int n = 0, v = -1;
        for (int u = 0; u < g->n_vals; u++)
            if (g->vals[u].grad_of == p) n++, v = u;
        ck_assert_msg(n == 1, "%s has %d gradients", g->vals[p].name, n);
        ck_assert_int_eq(g->vals[v].kind, TGC_VAL_TEMP);
        ck_assert_int_ge(g->vals[v].def_op, 0);
        ck_assert(tgc_shape_eq(&g->vals[v].type.shape, &g->vals[p].type.shape));
        char want[256];
        snprintf(want, sizeof want, "%s.grad", g->vals[p].name);
        ck_assert_str_eq(g->vals[v].name, want);
        ck_assert_int_eq(seen[v], 0);
        seen[v] = 1;
    }
    free(seen);
}

START_TEST(autodiff_net) {
    tgc_module m;
    module_init(&m);
    OK(tgc_pass_verify(&m, &err));
    int n_fwd = m.train->n_ops;
    OK(tgc_pass_autodiff(&m, &err));
    tgc_graph *g = m.train;
    ck_assert_msg(tgc_graph_verify(g, &err) == 0, "%s", err.msg);
    assert_one_grad_per_param(g);
    ck_assert_int_gt(g->n_ops, n_fwd);
    ck_assert_int_eq(test_count_ops(g, TGC_OP_FILL), 2); /* the seed and the unused param's zeros */
    ck_assert_int_eq(test_count_ops(g, TGC_OP_CONV2D_BWD_FILTER), 2);
    ck_assert_int_eq(test_count_ops(g, TGC_OP_CONV2D_BWD_DATA), 1); /* not for the image */
    ck_assert_int_eq(test_count_ops(g, TGC_OP_BN_BWD), 1);
    ck_assert_int_eq(test_count_ops(g, TGC_OP_SOFTMAX_CE_BWD), 1);
    ck_assert_int_eq(test_count_ops(g, TGC_OP_BIAS_GRAD), 2);
    ck_assert_int_eq(test_count_ops(g, TGC_OP_RELU_BWD), 1);
    ck_assert_int_eq(test_count_ops(g, TGC_OP_TANH_BWD), 1);
    ck_assert_int_eq(test_count_ops(g, TGC_OP_MAX_POOL2D_BWD), 1);
    ck_assert_int_eq(test_count_ops(g, TGC_OP_AVG_POOL2D_BWD), 1);
    ck_assert_int_eq(test_count_ops(g, TGC_OP_GLOBAL_AVG_POOL_BWD), 1);
    ck_assert_int_eq(test_count_ops(g, TGC_OP_MATMUL), 3); /* forward, d features, d weight */
    /* r1 feeds both conv2 and the residual add: its two gradients are summed with an add */
    ck_assert_int_eq(test_count_ops(g, TGC_OP_ADD), 2);
    const tgc_op *last_add = NULL;
    for (int i = n_fwd; i < g->n_ops; i++)
        if (g->ops[i].code == TGC_OP_ADD) last_add = &g->ops[i];
    ck_assert_ptr_nonnull(last_add);
    ck_assert_str_eq(last_add->scope, "conv2"); /* the second contribution came from conv2's rule */

    int unused = tgc_graph_find(g, "unused.weight");
    int ug = grad_of(g, unused);
    const tgc_op *fill = &g->ops[g->vals[ug].def_op];
    ck_assert_int_eq(fill->code, TGC_OP_FILL);
    ck_assert(fill->attrs.alpha == 0);
    ck_assert_str_eq(fill->scope, "unused parameter");
    /* backward ops carry their forward op's scope */
    int w1 = tgc_graph_find(g, "conv1.weight");
    ck_assert_str_eq(g->ops[g->vals[grad_of(g, w1)].def_op].scope, "conv1");
    /* a second run is refused */
    ck_assert_int_lt(tgc_pass_autodiff(&m, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "already"));
    tgc_module_free(&m);
}
END_TEST

/* loss = ce(x + p): p's gradient would be dy itself, also the gradient of the add's result, so it gets a
 * copy. */
START_TEST(autodiff_pass_through_copy) {
    tgc_module m;
    memset(&m, 0, sizeof m);
    tgc_graph *g = m.train = tgc_graph_new("train");
    int x = tgc_graph_input(g, "x", TGC_F32, tgc_shape2(4, 10));
    int lab = tgc_graph_input(g, "labels", TGC_I32, tgc_shape1(4));
    int p = param(g, "p", tgc_shape2(4, 10));
    int s = tgc_emit1(g, TGC_OP_ADD, NULL, "res", &err, 2, x, p);
    int q = param(g, "q", tgc_shape2(4, 10));
    int s2 = tgc_emit1(g, TGC_OP_ADD, NULL, "res2", &err, 2, s, q);
    m.train_loss = tgc_emit1(g, TGC_OP_SOFTMAX_CE, NULL, "loss", &err, 2, s2, lab);
    g->vals[m.train_loss].is_output = 1;
    OK(tgc_pass_autodiff(&m, &err));
    ck_assert_msg(tgc_graph_verify(g, &err) == 0, "%s", err.msg);
    assert_one_grad_per_param(g);
    int gp = grad_of(g, p), gq = grad_of(g, q);
    ck_assert_int_ne(gp, gq);
    ck_assert_int_eq(g->ops[g->vals[gp].def_op].code, TGC_OP_SCALE);
    ck_assert_int_eq(g->ops[g->vals[gq].def_op].code, TGC_OP_SCALE);
    tgc_module_free(&m);
}
END_TEST

/* C = op(A) op(B) for the four flag combinations: gradients typed like A and B, each one matmul. */
START_TEST(autodiff_matmul_cases) {
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            tgc_module m;
            memset(&m, 0, sizeof m);
            tgc_graph *g = m.train = tgc_graph_new("train");
            int lab = tgc_graph_input(g, "labels", TGC_I32, tgc_shape1(3));
            int a = param(g, "a", ta ? tgc_shape2(5, 3) : tgc_shape2(3, 5)); /* M=3, K=5 */
            int b = param(g, "b", tgc_shape2(tb ? 7 : 5, tb ? 5 : 7));       /* N=7 */
            tgc_attrs t = tgc_attrs_default();
            t.trans_a = ta, t.trans_b = tb;
            int c = tgc_emit1(g, TGC_OP_MATMUL, &t, "mm", &err, 2, a, b);
            ck_assert_msg(c >= 0, "%s", err.msg);
            m.train_loss = tgc_emit1(g, TGC_OP_SOFTMAX_CE, NULL, "loss", &err, 2, c, lab);
            g->vals[m.train_loss].is_output = 1;
            ck_assert_msg(tgc_pass_autodiff(&m, &err) == 0, "ta=%d tb=%d: %s", ta, tb, err.msg);
            ck_assert_msg(tgc_graph_verify(g, &err) == 0, "%s", err.msg);
            assert_one_grad_per_param(g);
            ck_assert_int_eq(test_count_ops(g, TGC_OP_MATMUL), 3);
            for (int p = a; p <= b; p++) {
                const tgc_op *op = &g->ops[g->vals[grad_of(g, p)].def_op];
                ck_assert_int_eq(op->code, TGC_OP_MATMUL);
            }
            tgc_module_free(&m);
        }
}
END_TEST

START_TEST(autodiff_errors) {
    tgc_module m;
    module_init(&m);
    m.train_loss = 0; /* the image input is no scalar */
    ck_assert_int_lt(tgc_pass_autodiff(&m, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "f32 scalar"));
    tgc_module_free(&m);
}
END_TEST

/* The update op of param `name`, checked to be at the end in param order by the caller. */
static const tgc_op *update_of(const tgc_graph *g, const char *name) {
    int p = tgc_graph_find(g, name);
    for (int i = 0; i < g->n_ops; i++)
        if ((tgc_op_table[g->ops[i].code].flags & TGC_OPF_OPTIMIZER) && g->ops[i].in[0] == p) return &g->ops[i];
    return NULL;
}

static void assert_updates_at_end(const tgc_graph *g, int n_params) {
    int first = g->n_ops - n_params, last_p = -1;
    for (int i = 0; i < g->n_ops; i++) {
        int is_upd = (tgc_op_table[g->ops[i].code].flags & TGC_OPF_OPTIMIZER) != 0;
        ck_assert_int_eq(is_upd, i >= first);
        if (is_upd) {
            ck_assert_int_gt(g->ops[i].in[0], last_p); /* parameter order */
            last_p = g->ops[i].in[0];
            ck_assert_str_eq(g->ops[i].scope, g->vals[last_p].name);
        }
    }
    /* state and inputs come before every temp */
    int seen_temp = 0;
    for (int v = 0; v < g->n_vals; v++) {
        if (g->vals[v].kind == TGC_VAL_TEMP) seen_temp = 1;
        else ck_assert_msg(!seen_temp, "%s after a temp", g->vals[v].name);
    }
}

START_TEST(optimizer_sgd_momentum) {
    tgc_module m;
    module_init(&m);
    m.optim.nesterov = 1;
    int b1 = tgc_graph_find(m.train, "conv1.bias");
    m.train->vals[b1].decay_mult = 0;
    m.train->vals[b1].lr_mult = 2;
    OK(tgc_pass_autodiff(&m, &err));
    OK(tgc_pass_optimizer(&m, &err));
    tgc_graph *g = m.train;
    ck_assert_msg(tgc_graph_verify(g, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(test_count_ops(g, TGC_OP_SGD_MOMENTUM_UPDATE), 8);
    assert_updates_at_end(g, 8);
    int lr = tgc_graph_find(g, "lr"), step = tgc_graph_find(g, "step");
    ck_assert_int_ge(lr, 0);
    ck_assert_int_ge(step, 0);
    ck_assert_int_eq(g->vals[lr].kind, TGC_VAL_INPUT);
    ck_assert_int_eq(g->vals[step].type.shape.rank, 0);
    int buf = tgc_graph_find(g, "optimizer.conv1.weight.momentum_buffer");
    ck_assert_int_ge(buf, 0);
    ck_assert_int_eq(g->vals[buf].kind, TGC_VAL_OPTSTATE);
    ck_assert_int_eq(g->vals[buf].init.kind, TGC_INIT_CONST);
    ck_assert(g->vals[buf].init.a == 0);
    tgc_shape ws = tgc_shape4(8, 3, 3, 3);
    ck_assert(tgc_shape_eq(&g->vals[buf].type.shape, &ws));

    const tgc_op *u = update_of(g, "conv1.weight");
    ck_assert_ptr_nonnull(u);
    ck_assert_int_eq(u->in[1], grad_of(g, tgc_graph_find(g, "conv1.weight")));
    ck_assert_int_eq(u->in[2], buf);
    ck_assert_int_eq(u->in[3], lr);
    ck_assert_int_eq(u->in[4], step);
    ck_assert(u->attrs.momentum == 0.9 && u->attrs.nesterov == 1 && u->attrs.weight_decay == 1e-4);
    ck_assert(u->attrs.alpha == 1);
    u = update_of(g, "conv1.bias");
    ck_assert(u->attrs.weight_decay == 0 && u->attrs.alpha == 2);
    /* the loss id still names the loss after compaction */
    ck_assert_int_eq(g->ops[g->vals[m.train_loss].def_op].code, TGC_OP_SOFTMAX_CE);
    OK(tgc_pass_verify(&m, &err));
    ck_assert_int_lt(tgc_pass_optimizer(&m, &err), 0); /* not twice */
    tgc_module_free(&m);
}
END_TEST

START_TEST(optimizer_sgd_plain_and_adamw) {
    tgc_module m;
    module_init(&m);
    m.optim.momentum = 0;
    OK(tgc_pass_autodiff(&m, &err));
    OK(tgc_pass_optimizer(&m, &err));
    ck_assert_int_eq(test_count_ops(m.train, TGC_OP_SGD_UPDATE), 8);
    for (int v = 0; v < m.train->n_vals; v++) ck_assert_int_ne(m.train->vals[v].kind, TGC_VAL_OPTSTATE);
    ck_assert_int_eq(update_of(m.train, "head.fc.bias")->n_in, 3);
    assert_updates_at_end(m.train, 8);
    tgc_module_free(&m);

    module_init(&m);
    m.optim.kind = TGC_OPTIM_ADAMW;
    m.optim.weight_decay = 0.05;
    m.optim.lr = 1e-3;
    int fw = tgc_graph_find(m.train, "head.fc.weight");
    m.train->vals[fw].lr_mult = 0.1;
    m.train->vals[fw].decay_mult = 0.5;
    OK(tgc_pass_autodiff(&m, &err));
    OK(tgc_pass_optimizer(&m, &err));
    tgc_graph *g = m.train;
    ck_assert_msg(tgc_graph_verify(g, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(test_count_ops(g, TGC_OP_ADAMW_UPDATE), 8);
    assert_updates_at_end(g, 8);
    int n_state = 0;
    for (int v = 0; v < g->n_vals; v++) n_state += g->vals[v].kind == TGC_VAL_OPTSTATE;
    ck_assert_int_eq(n_state, 16);
    const tgc_op *u = update_of(g, "head.fc.weight");
    ck_assert_int_eq(u->in[2], tgc_graph_find(g, "optimizer.head.fc.weight.exp_avg"));
    ck_assert_int_eq(u->in[3], tgc_graph_find(g, "optimizer.head.fc.weight.exp_avg_sq"));
    ck_assert(u->attrs.alpha == 0.1 && u->attrs.weight_decay == 0.025);
    ck_assert(u->attrs.beta1 == 0.9 && u->attrs.beta2 == 0.999 && u->attrs.eps == 1e-8);
    tgc_module_free(&m);

    module_init(&m);
    m.optim.nesterov = 1;
    m.optim.dampening = 0.5;
    OK(tgc_pass_autodiff(&m, &err));
    ck_assert_int_lt(tgc_pass_optimizer(&m, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "optim_wrapper.optimizer.nesterov"));
    tgc_module_free(&m);
}
END_TEST

START_TEST(dce_removes_dead_keeps_updates) {
    tgc_module m;
    module_init(&m);
    tgc_graph *g = m.train;
    int x = tgc_graph_find(g, "inputs");
    int d1 = tgc_emit1(g, TGC_OP_RELU, NULL, "dead", &err, 1, x);
    int d2 = tgc_emit1(g, TGC_OP_TANH, NULL, "dead", &err, 1, d1);
    ck_assert_int_ge(d2, 0);
    OK(tgc_pass_autodiff(&m, &err));
    OK(tgc_pass_optimizer(&m, &err));
    int n_before = g->n_ops;
    OK(tgc_pass_dce(&m, &err));
    ck_assert_int_eq(g->n_ops, n_before - 2);
    for (int i = 0; i < g->n_ops; i++) ck_assert(!g->ops[i].scope || strcmp(g->ops[i].scope, "dead") != 0);
    ck_assert_int_eq(test_count_ops(g, TGC_OP_SGD_MOMENTUM_UPDATE), 8);
    ck_assert_int_eq(test_count_ops(g, TGC_OP_BN_TRAIN), 1); /* updates running stats */
    ck_assert(g->vals[m.train_loss].is_output);
    OK(tgc_pass_verify(&m, &err));
    /* a second run changes nothing (fixpoint) */
    n_before = g->n_ops;
    OK(tgc_pass_dce(&m, &err));
    ck_assert_int_eq(g->n_ops, n_before);
    tgc_module_free(&m);
}
END_TEST

START_TEST(dce_keeps_grads_without_optimizer) {
    tgc_module m;
    module_init(&m);
    OK(tgc_pass_autodiff(&m, &err));
    OK(tgc_pass_dce(&m, &err));
    OK(tgc_pass_verify(&m, &err));
    assert_one_grad_per_param(m.train);
    tgc_module_free(&m);
}
END_TEST

START_TEST(cse_merges) {
    tgc_module m;
    memset(&m, 0, sizeof m);
    tgc_graph *g = m.eval = tgc_graph_new("eval");
    int x = tgc_graph_input(g, "x", TGC_F32, tgc_shape4(2, 3, 8, 8));
    int w = param(g, "w", tgc_shape4(4, 3, 3, 3));
    tgc_attrs c = tgc_attrs_default();
    c.pad[0] = c.pad[1] = c.pad[2] = c.pad[3] = 1;
    int c1 = tgc_emit1(g, TGC_OP_CONV2D, &c, "a", &err, 2, x, w);
    int c2 = tgc_emit1(g, TGC_OP_CONV2D, &c, "b", &err, 2, x, w);
    tgc_attrs c3a = c;
    c3a.stride[0] = c3a.stride[1] = 1;
    c3a.alpha = 7; /* not a conv attribute: ignored */
    int c3 = tgc_emit1(g, TGC_OP_CONV2D, &c3a, "c", &err, 2, x, w);
    tgc_attrs other = tgc_attrs_default(); /* pad 0: a different conv */
    int c4 = tgc_emit1(g, TGC_OP_CONV2D, &other, "d", &err, 2, x, w);
    int r1 = tgc_emit1(g, TGC_OP_RELU, NULL, "r", &err, 1, c1);
    int r2 = tgc_emit1(g, TGC_OP_RELU, NULL, "r", &err, 1, c2); /* same once c2 -> c1 */
    int s1 = tgc_emit1(g, TGC_OP_ADD, NULL, "s", &err, 2, r1, c3);
    int s2 = tgc_emit1(g, TGC_OP_ADD, NULL, "s", &err, 2, c3, r2); /* swapped operands */
    int o = tgc_emit1(g, TGC_OP_ADD, NULL, "o", &err, 2, s1, s2);
    int gp = tgc_emit1(g, TGC_OP_GLOBAL_AVG_POOL, NULL, "gap", &err, 1, o);
    int gp4 = tgc_emit1(g, TGC_OP_GLOBAL_AVG_POOL, NULL, "gap", &err, 1, c4);
    int out = tgc_emit1(g, TGC_OP_ADD, NULL, "out", &err, 2, gp, gp4);
    ck_assert_int_ge(out, 0);
    g->vals[out].is_output = 1;
    m.eval_logits = out;
    ck_assert_int_eq(g->n_ops, 12);
    OK(tgc_pass_cse(&m, &err));
    ck_assert_msg(tgc_graph_verify(g, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(test_count_ops(g, TGC_OP_CONV2D), 2);
    ck_assert_int_eq(test_count_ops(g, TGC_OP_RELU), 1);
    ck_assert_int_eq(test_count_ops(g, TGC_OP_ADD), 3);
    ck_assert_int_eq(g->n_ops, 8);
    /* o = add(s1, s1) now */
    const tgc_op *o_op = &g->ops[g->vals[m.eval_logits].def_op];
    ck_assert_int_eq(o_op->code, TGC_OP_ADD);
    ck_assert(g->vals[m.eval_logits].is_output);
    int found_double = 0;
    for (int i = 0; i < g->n_ops; i++)
        if (g->ops[i].code == TGC_OP_ADD && g->ops[i].in[0] == g->ops[i].in[1]) found_double = 1;
    ck_assert(found_double);
    tgc_module_free(&m);
}
END_TEST

/* Ops that differ only in an attribute they use are different ops: scale by 2 and by 3 stay two, and so
 * do two cross-entropies with different label smoothing or weight; the exact repeats merge. */
START_TEST(cse_respects_attrs) {
    tgc_module m;
    memset(&m, 0, sizeof m);
    tgc_graph *g = m.eval = tgc_graph_new("eval");
    int x = tgc_graph_input(g, "x", TGC_F32, tgc_shape2(4, 10));
    int y = tgc_graph_input(g, "labels", TGC_I32, tgc_shape1(4));
    tgc_attrs a2 = tgc_attrs_default(), a3 = tgc_attrs_default();
    a2.alpha = 2;
    a3.alpha = 3;
    int s2 = tgc_emit1(g, TGC_OP_SCALE, &a2, "s2", &err, 1, x);
    int s2b = tgc_emit1(g, TGC_OP_SCALE, &a2, "s2b", &err, 1, x); /* a repeat: merges */
    int s3 = tgc_emit1(g, TGC_OP_SCALE, &a3, "s3", &err, 1, x);
    tgc_attrs ce = tgc_attrs_default(), ce_smooth = tgc_attrs_default(), ce_weight = tgc_attrs_default();
    ce_smooth.label_smooth = 0.1;
    ce_weight.alpha = 0.5;
    int l1 = tgc_emit1(g, TGC_OP_SOFTMAX_CE, &ce, "l1", &err, 2, x, y);
    int l2 = tgc_emit1(g, TGC_OP_SOFTMAX_CE, &ce_smooth, "l2", &err, 2, x, y);
    int l3 = tgc_emit1(g, TGC_OP_SOFTMAX_CE, &ce_weight, "l3", &err, 2, x, y);
    int sa = tgc_emit1(g, TGC_OP_ADD, NULL, "sa", &err, 2, s2, s2b);
    int sb = tgc_emit1(g, TGC_OP_ADD, NULL, "sb", &err, 2, sa, s3);
    int la = tgc_emit1(g, TGC_OP_ADD, NULL, "la", &err, 2, l1, l2);
    int lb = tgc_emit1(g, TGC_OP_ADD, NULL, "lb", &err, 2, la, l3);
    ck_assert_int_ge(sb, 0);
    ck_assert_int_ge(lb, 0);
    g->vals[sb].is_output = 1;
    g->vals[lb].is_output = 1;
    m.eval_logits = sb;
    OK(tgc_pass_cse(&m, &err));
    ck_assert_msg(tgc_graph_verify(g, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(test_count_ops(g, TGC_OP_SCALE), 2);
    ck_assert_int_eq(test_count_ops(g, TGC_OP_SOFTMAX_CE), 3);
    tgc_module_free(&m);
}
END_TEST

START_TEST(cse_keeps_distinct_grads) {
    tgc_module m;
    module_init(&m);
    param(m.train, "unused2.weight", tgc_shape1(5)); /* two identical zero-fill gradients */
    OK(tgc_pass_autodiff(&m, &err));
    OK(tgc_pass_cse(&m, &err));
    OK(tgc_pass_verify(&m, &err));
    assert_one_grad_per_param(m.train);
    tgc_module_free(&m);
}
END_TEST

static char *run_dump(tgc_module *m, const char *dump_after, const char **disabled, int n_disabled, int *rc) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    tgc_pipeline_opts o;
    memset(&o, 0, sizeof o);
    o.dump_after = dump_after;
    o.dump_to = f;
    for (int i = 0; i < n_disabled; i++) o.disabled[i] = disabled[i];
    o.n_disabled = n_disabled;
    *rc = tgc_run_pipeline(m, &o, &err);
    fclose(f);
    return buf;
}

START_TEST(pipeline_runs_and_dumps) {
    ck_assert_int_eq(tgc_passes_table_len, 15); /* 9 + the fusion passes (test_passes_fusion.c) + schedule + layout */
    ck_assert_str_eq(tgc_passes_table[0].name, "verify");
    ck_assert_str_eq(tgc_passes_table[6].name, "layout");
    ck_assert_str_eq(tgc_passes_table[14].name, "verify-plan");
    ck_assert_ptr_null(tgc_pass_find("nope"));
    ck_assert(tgc_pass_find("dce")->optional && !tgc_pass_find("autodiff")->optional);

    tgc_module m;
    module_init(&m);
    int rc;
    char *s = run_dump(&m, "*", NULL, 0, &rc);
    ck_assert_msg(rc == 0, "%s", err.msg);
    const char *heads[] = {"// ----- after build -----\ngraph @train {", "// ----- after verify -----",
                           "// ----- after autodiff -----", "// ----- after optimizer -----",
                           "// ----- after dce -----", "// ----- after cse -----", "// ----- after memplan -----",
                           "// ----- after verify-plan -----", "graph @eval {"};
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++)
        ck_assert_msg(strstr(s, heads[i]) != NULL, "no '%s'", heads[i]);
    ck_assert_ptr_nonnull(strstr(s, "conv2d_bwd_filter"));
    ck_assert_ptr_nonnull(strstr(s, "# conv1; grad of conv1.weight"));
    free(s);
    tgc_module_free(&m);

    module_init(&m);
    const char *dis[] = {"cse", "dce"};
    s = run_dump(&m, "autodiff", dis, 2, &rc);
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert_ptr_null(strstr(s, "after build"));
    ck_assert_ptr_nonnull(strstr(s, "// ----- after autodiff -----\ngraph @train {"));
    ck_assert_ptr_null(strstr(s, "sgd_momentum_update"));
    free(s);
    tgc_module_free(&m);
}
END_TEST

START_TEST(pipeline_errors) {
    tgc_module m;
    module_init(&m);
    int rc;
    char *s = run_dump(&m, "autodif", NULL, 0, &rc);
    ck_assert_int_lt(rc, 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "'autodif'"));
    ck_assert_ptr_nonnull(strstr(err.msg, "verify, amp, autodiff, optimizer, dce, cse, layout, fold-bn, fuse-bn-relu, fuse-elementwise, buckets, "
                                          "fuse-optimizer, schedule, memplan, verify-plan"));
    free(s);
    const char *d1[] = {"fusion"};
    s = run_dump(&m, NULL, d1, 1, &rc);
    ck_assert_int_lt(rc, 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "unknown pass 'fusion'"));
    free(s);
    const char *d2[] = {"autodiff"};
    s = run_dump(&m, NULL, d2, 1, &rc);
    ck_assert_int_lt(rc, 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "required"));
    free(s);

    m.train->vals[m.train_loss].is_output = 0;
    s = run_dump(&m, NULL, NULL, 0, &rc);
    ck_assert_int_lt(rc, 0);
    ck_assert_msg(strncmp(err.msg, "pass verify: ", 13) == 0, "%s", err.msg);
    free(s);
    m.train->vals[m.train_loss].is_output = 1;
    m.optim.beta1 = 2;
    m.optim.kind = TGC_OPTIM_ADAMW;
    s = run_dump(&m, NULL, NULL, 0, &rc);
    ck_assert_int_lt(rc, 0);
    ck_assert_msg(strncmp(err.msg, "pass optimizer: ", 16) == 0, "%s", err.msg);
    free(s);
    tgc_module_free(&m);
}
END_TEST

int main(void) {
    Suite *s = suite_create("passes_core");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, autodiff_net);
    tcase_add_test(tc, autodiff_pass_through_copy);
    tcase_add_test(tc, autodiff_matmul_cases);
    tcase_add_test(tc, autodiff_errors);
    tcase_add_test(tc, optimizer_sgd_momentum);
    tcase_add_test(tc, optimizer_sgd_plain_and_adamw);
    tcase_add_test(tc, dce_removes_dead_keeps_updates);
    tcase_add_test(tc, dce_keeps_grads_without_optimizer);
    tcase_add_test(tc, cse_merges);
    tcase_add_test(tc, cse_keeps_distinct_grads);
    tcase_add_test(tc, cse_respects_attrs);
    tcase_add_test(tc, pipeline_runs_and_dumps);
    tcase_add_test(tc, pipeline_errors);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
