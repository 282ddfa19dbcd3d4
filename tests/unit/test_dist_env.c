/* tests/unit/test_dist_env.c - launcher variables as MMEngine reads them (pytorch, slurm, mpi), Slurm node
 * lists, the single-node launcher's defaults, and job tokens. */
#include <check.h>
#include <signal.h>
#include <string.h>

#include "runtime/dist/dist.h"

/* An environment as a NULL-ended list of "NAME=VALUE". */
static const char *lookup(void *ctx, const char *name) {
    size_t n = strlen(name);
    for (const char *const *e = ctx; *e; e++)
        if (!strncmp(*e, name, n) && (*e)[n] == '=') return *e + n + 1;
    return NULL;
}

START_TEST(launcher_names) {
    tgc_launcher l;
    tgc_err err;
    ck_assert_int_eq(tgc_launcher_parse("slurm", &l, &err), 0);
    ck_assert_int_eq(l, TGC_LAUNCHER_SLURM);
    ck_assert_int_eq(tgc_launcher_parse("mpi", &l, &err), 0);
    ck_assert_str_eq(tgc_launcher_name(l), "mpi");
    ck_assert_int_eq(tgc_launcher_parse("torchrun", &l, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "none, pytorch, slurm or mpi (got 'torchrun')"));
}
END_TEST

START_TEST(pytorch_vars) {
    const char *env[] = {"RANK=3", "LOCAL_RANK=1", "WORLD_SIZE=4", "MASTER_ADDR=10.0.0.2", "MASTER_PORT=29501", NULL};
    tgc_dist_env e;
    tgc_err err;
    ck_assert_int_eq(tgc_dist_env_read(TGC_LAUNCHER_PYTORCH, lookup, env, &e, &err), 0);
    ck_assert_int_eq(e.rank, 3);
    ck_assert_int_eq(e.local_rank, 1);
    ck_assert_int_eq(e.world, 4);
    ck_assert_str_eq(e.master_addr, "10.0.0.2");
    ck_assert_int_eq(e.port, 29501);
    ck_assert_str_eq(e.job_token, "");
    ck_assert_double_eq(e.timeout_s, TGC_DIST_DEFAULT_TIMEOUT);

    const char *missing[] = {"RANK=0", "LOCAL_RANK=0", "WORLD_SIZE=2", "MASTER_ADDR=h", NULL};
    ck_assert_int_eq(tgc_dist_env_read(TGC_LAUNCHER_PYTORCH, lookup, missing, &e, &err), -1);
    ck_assert_str_eq(err.msg, "--launcher pytorch: MASTER_PORT is not set");
    const char *bad[] = {"RANK=2", "LOCAL_RANK=0", "WORLD_SIZE=2", "MASTER_ADDR=h", "MASTER_PORT=1", NULL};
    ck_assert_int_eq(tgc_dist_env_read(TGC_LAUNCHER_PYTORCH, lookup, bad, &e, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "rank 2 is not below the world size 2"));
    const char *port[] = {"RANK=0", "LOCAL_RANK=0", "WORLD_SIZE=2", "MASTER_ADDR=h", "MASTER_PORT=70000", NULL};
    ck_assert_int_eq(tgc_dist_env_read(TGC_LAUNCHER_PYTORCH, lookup, port, &e, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "MASTER_PORT='70000' is not an integer in 1..65535"));
    const char *tmo[] = {"RANK=0", "LOCAL_RANK=0", "WORLD_SIZE=2", "MASTER_ADDR=h", "MASTER_PORT=5", "TGC_DIST_TIMEOUT=0",
                         NULL};
    ck_assert_int_eq(tgc_dist_env_read(TGC_LAUNCHER_PYTORCH, lookup, tmo, &e, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "TGC_DIST_TIMEOUT='0'"));
}
END_TEST

START_TEST(slurm_vars) {
    /* MASTER_ADDR from the node list, MASTER_PORT defaulting to 29500, the job id in the token */
    const char *env[] = {"SLURM_PROCID=5", "SLURM_NTASKS=8", "SLURM_NODELIST=gpu-a[07-09,12],gpu-b3",
                         "SLURM_LOCALID=1", "SLURM_JOB_ID=4242", NULL};
    tgc_dist_env e;
    tgc_err err;
    ck_assert_int_eq(tgc_dist_env_read(TGC_LAUNCHER_SLURM, lookup, env, &e, &err), 0);
    ck_assert_int_eq(e.rank, 5);
    ck_assert_int_eq(e.world, 8);
    ck_assert_int_eq(e.local_rank, 1);
    ck_assert_str_eq(e.master_addr, "gpu-a07");
    ck_assert_int_eq(e.port, 29500);
    ck_assert_str_eq(e.job_id, "4242");
    /* MASTER_ADDR and MASTER_PORT in the environment win; SLURM_LOCALID may be absent */
    const char *env2[] = {"SLURM_PROCID=0", "SLURM_NTASKS=2", "SLURM_NODELIST=n1", "MASTER_ADDR=10.1.1.1",
                          "MASTER_PORT=29999", NULL};
    ck_assert_int_eq(tgc_dist_env_read(TGC_LAUNCHER_SLURM, lookup, env2, &e, &err), 0);
    ck_assert_str_eq(e.master_addr, "10.1.1.1");
    ck_assert_int_eq(e.port, 29999);
    ck_assert_int_eq(e.local_rank, 0);
    const char *none[] = {NULL};
    ck_assert_int_eq(tgc_dist_env_read(TGC_LAUNCHER_SLURM, lookup, none, &e, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "is this running under srun?"));
    ck_assert_ptr_nonnull(strstr(err.msg, "SLURM_PROCID is not set"));
}
END_TEST

START_TEST(mpi_vars) {
    const char *env[] = {"OMPI_COMM_WORLD_RANK=1", "OMPI_COMM_WORLD_SIZE=2", "OMPI_COMM_WORLD_LOCAL_RANK=1",
                         "MASTER_ADDR=host0", NULL};
    tgc_dist_env e;
    tgc_err err;
    ck_assert_int_eq(tgc_dist_env_read(TGC_LAUNCHER_MPI, lookup, env, &e, &err), 0);
    ck_assert_int_eq(e.rank, 1);
    ck_assert_int_eq(e.world, 2);
    ck_assert_int_eq(e.port, 29500);
    ck_assert_str_eq(e.master_addr, "host0");
    const char *no_addr[] = {"OMPI_COMM_WORLD_RANK=0", "OMPI_COMM_WORLD_SIZE=2", "OMPI_COMM_WORLD_LOCAL_RANK=0", NULL};
    ck_assert_int_eq(tgc_dist_env_read(TGC_LAUNCHER_MPI, lookup, no_addr, &e, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "MASTER_ADDR is not set"));
}
END_TEST

START_TEST(nodelists) {
    char h[64];
    tgc_err err;
    static const char *const ok[][2] = {
        {"node[01-03]", "node01"},   {"node[01-03],gpu5", "node01"}, {"gpu5,node[1-2]", "gpu5"},
        {"a[3,5-7]", "a3"},          {"rack[2-3]-n[7,9]", "rack2-n7"}, {"host.example.org", "host.example.org"},
        {"n[0010-0012]x", "n0010x"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ck_assert_int_eq(tgc_slurm_first_host(ok[i][0], h, sizeof h, &err), 0);
        ck_assert_str_eq(h, ok[i][1]);
    }
    ck_assert_int_eq(tgc_slurm_first_host("node[1-2", h, sizeof h, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "unclosed '['"));
    ck_assert_int_eq(tgc_slurm_first_host("", h, sizeof h, &err), -1);
    ck_assert_int_eq(tgc_slurm_first_host("n[]", h, sizeof h, &err), -1);
    ck_assert_int_eq(tgc_slurm_first_host("n]1", h, sizeof h, &err), -1);
    ck_assert_int_eq(tgc_slurm_first_host("averyveryverylonghostname", h, 8, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "too long"));
}
END_TEST

START_TEST(node_env_defaults) {
    tgc_node_env n;
    tgc_err err;
    const char *none[] = {NULL};
    ck_assert_int_eq(tgc_node_env_read(lookup, none, &n, &err), 0);
    ck_assert_int_eq(n.nnodes, 1);
    ck_assert_int_eq(n.node_rank, 0);
    ck_assert_int_eq(n.port, 29500);
    ck_assert_str_eq(n.master_addr, "127.0.0.1");
    const char *two[] = {"NNODES=2", "NODE_RANK=1", "PORT=30000", "MASTER_ADDR=10.0.0.1", NULL};
    ck_assert_int_eq(tgc_node_env_read(lookup, two, &n, &err), 0);
    ck_assert_int_eq(n.nnodes * 10 + n.node_rank, 21);
    const char *bad[] = {"NNODES=2", "NODE_RANK=2", NULL};
    ck_assert_int_eq(tgc_node_env_read(lookup, bad, &n, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "NODE_RANK=2 is not below NNODES=2"));
    const char *port[] = {"PORT=abc", NULL};
    ck_assert_int_eq(tgc_node_env_read(lookup, port, &n, &err), -1);
}
END_TEST

START_TEST(tokens) {
    tgc_dist_env e = {0};
    char a[96], b[96];
    e.port = 29500;
    tgc_dist_token(&e, 0x1234, a, sizeof a);
    tgc_dist_token(&e, 0x1234, b, sizeof b);
    ck_assert_str_eq(a, b); /* every node derives the same token */
    e.port = 29501;
    tgc_dist_token(&e, 0x1234, b, sizeof b);
    ck_assert_str_ne(a, b); /* another port */
    e.port = 29500;
    tgc_dist_token(&e, 0x1235, b, sizeof b);
    ck_assert_str_ne(a, b); /* another plan */
    strcpy(e.job_token, "x");
    tgc_dist_token(&e, 0x1234, b, sizeof b);
    ck_assert_str_ne(a, b); /* TGC_JOB_TOKEN */
    e.job_token[0] = 0;
    strcpy(e.job_id, "77");
    tgc_dist_token(&e, 0x1234, b, sizeof b);
    ck_assert_str_ne(a, b); /* another Slurm job */
    ck_assert_uint_le(strlen(a), 64);
}
END_TEST

int main(void) {
    Suite *s = suite_create("dist_env");
    TCase *tc = tcase_create("env");
    tcase_add_test(tc, launcher_names);
    tcase_add_test(tc, pytorch_vars);
    tcase_add_test(tc, slurm_vars);
    tcase_add_test(tc, mpi_vars);
    tcase_add_test(tc, nodelists);
    tcase_add_test(tc, node_env_defaults);
    tcase_add_test(tc, tokens);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
